"""Three-state drift verdicts: when nothing could be tested the report says `retrain: null`
(inconclusive) with the reasons and a banner, and the CLI exits 3, never "no retraining"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.monitor import drift_report


@pytest.fixture()
def fast_config(tmp_path: Path) -> Path:
    path = tmp_path / "monitoring.yaml"
    path.write_text("text: {content_drift: false, descriptors: [length]}\nembeddings: {plot_components: 1}\n")
    return path


def _batch(seed: int, n_rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"clip_id": [f"c{seed}_{i}" for i in range(n_rows)],
                         "duration_s": rng.normal(4.0, 1.0, n_rows), "face_ratio": rng.uniform(0, 1, n_rows),
                         "language": rng.choice(["en", "zh"], n_rows)})


def _assert_inconclusive(summary, out: Path, words: str) -> None:
    assert summary.retrain is None and summary.verdict == "inconclusive"
    assert any(words in reason for reason in summary.inconclusive), summary.inconclusive
    written = json.loads((out / "drift.json").read_text())
    assert written["retrain"] is None and written["inconclusive"]
    page = (out / "drift.html").read_text()
    assert "INCONCLUSIVE" in page and "no retraining" not in page
    assert json.loads((out / "manifest.json").read_text())["extra"]["verdict"] == "inconclusive"


def test_no_common_columns_is_inconclusive(tmp_path: Path, fast_config: Path) -> None:
    reference = _batch(0)[["clip_id", "duration_s"]]
    current = _batch(1)[["clip_id", "face_ratio"]]
    summary = drift_report(reference, current, tmp_path / "out", config_path=fast_config)
    _assert_inconclusive(summary, tmp_path / "out", "no column could be tested")


def test_all_nan_columns_are_inconclusive(tmp_path: Path, fast_config: Path) -> None:
    current = _batch(1).assign(duration_s=np.nan, face_ratio=np.nan, language=None)
    summary = drift_report(_batch(0), current, tmp_path / "out", config_path=fast_config)
    _assert_inconclusive(summary, tmp_path / "out", "all_missing")


def test_one_row_batch_is_inconclusive(tmp_path: Path, fast_config: Path) -> None:
    summary = drift_report(_batch(0), _batch(1, n_rows=1), tmp_path / "out", config_path=fast_config)
    _assert_inconclusive(summary, tmp_path / "out", "too few rows")


def test_cli_exits_3_on_an_inconclusive_report(tmp_path: Path, fast_config: Path) -> None:
    _batch(0).to_parquet(tmp_path / "ref.parquet")
    _batch(1, n_rows=1).to_parquet(tmp_path / "cur.parquet")
    result = CliRunner().invoke(app, ["drift", "report", "--reference", str(tmp_path / "ref.parquet"),
                                      "--current", str(tmp_path / "cur.parquet"), "--out", str(tmp_path / "out"),
                                      "--config", str(fast_config)])
    assert result.exit_code == 3, result.output
    assert "INCONCLUSIVE" in result.output and "no retraining" not in result.output


def test_a_testable_batch_still_decides(tmp_path: Path, fast_config: Path) -> None:
    summary = drift_report(_batch(0), _batch(1), tmp_path / "out", config_path=fast_config)
    assert summary.retrain is False and summary.verdict == "no_retrain" and not summary.inconclusive
