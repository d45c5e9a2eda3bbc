"""Bad input to the drift monitor: clear errors for batches that cannot be compared, and a report
that lists every column it could not use (never a silent narrowing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.monitor import drift_report
from affectgpt.monitor.config import MonitoringConfigError, load_monitoring_config
from affectgpt.monitor.inputs import DriftInputError

N_ROWS = 60


@pytest.fixture()
def fast_config(tmp_path: Path) -> Path:
    path = tmp_path / "monitoring.yaml"
    path.write_text("text: {content_drift: false, descriptors: [length]}\nembeddings: {plot_components: 1}\n")
    return path


def _batch(seed: int, n_rows: int = N_ROWS, dim: int = 8, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "clip_id": [f"clip{seed}_{i}" for i in range(n_rows)],
        "duration_s": rng.normal(4.0 + shift, 1.0, n_rows),
        "language": rng.choice(["en", "zh"], n_rows),
        "subtitle": [f"line number {i}" for i in range(n_rows)],
        "face_emb": list(rng.normal(shift, 1.0, (n_rows, dim)).astype(np.float32)),
        "predicted_label": rng.choice(["happy", "sad"], n_rows),
        "model_version": "affectgpt-tiny:3",
    })


def test_empty_current_batch_is_a_clear_error(tmp_path: Path, fast_config: Path) -> None:
    with pytest.raises(DriftInputError, match="no rows"):
        drift_report(_batch(0), _batch(1).iloc[:0], tmp_path, config_path=fast_config)


def test_reference_from_another_model_is_refused(tmp_path: Path, fast_config: Path) -> None:
    current = _batch(1).assign(model_version="affectgpt-tiny:4")
    with pytest.raises(DriftInputError, match="another model|produced by model"):
        drift_report(_batch(0), current, tmp_path, config_path=fast_config)


def test_unusable_columns_are_listed_not_fatal(tmp_path: Path, fast_config: Path) -> None:
    reference = _batch(0).assign(fps=np.nan, extra_col=1.0)
    current = _batch(1, dim=16).drop(columns=["language"]).assign(fps=np.nan)
    current["predicted_label"] = None

    summary = drift_report(reference, current, tmp_path, config_path=fast_config)

    skipped = {item.column: item.reason for item in summary.skipped}
    assert skipped["language"] == "missing_from_current"
    assert skipped["fps"] == "all_missing"
    assert skipped["predicted_label"] == "all_missing"
    assert skipped["face_emb"] == "embedding_size_mismatch"
    assert skipped["extra_col"] == "not_configured"
    tested = {check.column for check in summary.columns}
    assert "duration_s" in tested and "face_emb" not in tested
    written = json.loads((tmp_path / "drift.json").read_text())
    assert {"column": "face_emb", "reason": "embedding_size_mismatch"}.items() <= next(
        s for s in written["skipped"] if s["column"] == "face_emb").items()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["skipped_by_reason"]["all_missing"] == 2


def test_ragged_embeddings_are_skipped(tmp_path: Path, fast_config: Path) -> None:
    current = _batch(1)
    current.at[3, "face_emb"] = np.zeros(5, np.float32)
    summary = drift_report(_batch(0), current, tmp_path, config_path=fast_config)
    assert {s.column: s.reason for s in summary.skipped}["face_emb"] == "ragged_embedding"


def test_shifted_embedding_drifts_and_same_distribution_does_not(tmp_path: Path, fast_config: Path) -> None:
    drifted = drift_report(_batch(0), _batch(1, shift=1.0), tmp_path / "a", config_path=fast_config)
    steady = drift_report(_batch(0), _batch(1), tmp_path / "b", config_path=fast_config)
    assert {c.column: c.drifted for c in drifted.columns}["face_emb"]
    assert not {c.column: c.drifted for c in steady.columns}["face_emb"]


def test_invalid_config_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("retrain: {metadata_drifted_share: 3}\nembeddings: {method: magic}\n")
    with pytest.raises(MonitoringConfigError) as error:
        load_monitoring_config(path)
    message = str(error.value)
    assert str(path) in message and "retrain.metadata_drifted_share" in message and "embeddings.method" in message


def test_repo_config_file_is_valid() -> None:
    config, source = load_monitoring_config()
    assert source is not None and source.name == "monitoring.yaml"
    assert config.columns.embeddings == ["frame_emb", "face_emb", "audio_emb", "text_emb"]
    assert all(config.columns.ignore.values()), "every ignored column says why"


def test_cli_reports_bad_input_without_traceback(tmp_path: Path) -> None:
    _batch(0).to_parquet(tmp_path / "ref.parquet")
    _batch(1).iloc[:0].to_parquet(tmp_path / "cur.parquet")
    runner = CliRunner()
    result = runner.invoke(app, ["drift", "report", "--reference", str(tmp_path / "ref.parquet"),
                                 "--current", str(tmp_path / "cur.parquet"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no rows" in result.output and "Traceback" not in result.output
    missing = runner.invoke(app, ["drift", "report", "--reference", str(tmp_path / "nope.parquet"),
                                  "--current", str(tmp_path / "cur.parquet"), "--out", str(tmp_path / "out")])
    assert missing.exit_code == 4 and "no such file" in missing.output  # not found


def test_cli_writes_report_and_prints_decision(tmp_path: Path, fast_config: Path) -> None:
    _batch(0).to_parquet(tmp_path / "ref.parquet")
    _batch(1, shift=1.5).to_parquet(tmp_path / "cur.parquet")
    result = CliRunner().invoke(app, ["drift", "report", "--reference", str(tmp_path / "ref.parquet"),
                                      "--current", str(tmp_path / "cur.parquet"), "--out", str(tmp_path / "out"),
                                      "--config", str(fast_config)])
    assert result.exit_code == 0, result.output
    assert "RETRAIN" in result.output and "duration_s" in result.output
    assert json.loads((tmp_path / "out" / "drift.json").read_text())["retrain"] is True
