"""`monitor` under kfp.local with a batch that cannot be tested (one row): the drift step
succeeds, reports `retrain: null` (inconclusive) and the pipeline does not launch retraining."""

import json
from pathlib import Path

import pandas as pd
import pytest
from test_pipeline_monitor import clip_metadata
from typer.testing import CliRunner

from affectgpt.cli import app


@pytest.mark.integration
def test_inconclusive_drift_neither_retrains_nor_crashes(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reference = clip_metadata(tmp_path / "reference.parquet", 0, 4.0, 25.0, "en", "demo")
    one_row = tmp_path / "one-row.parquet"
    pd.read_parquet(clip_metadata(tmp_path / "shifted.parquet", 1, 12.0, 30.0, "zh", "tv")).head(1).to_parquet(one_row)
    empty_corpus = tmp_path / "corpus"
    empty_corpus.mkdir()
    result = CliRunner().invoke(app, ["pipeline", "run", "monitor", "--local", "--fixture-clips", "1",
                                      "--param", f"reference={reference}",
                                      "--param", f"current={one_row}", "--param", f"raw_dir={empty_corpus}",
                                      "--param", "data_rev=test"])
    assert result.exit_code == 0, result.output
    assert "retrain launched: no" in result.output and "Traceback" not in result.output
    [summary] = list((tmp_path / "home" / "pipeline-runs").glob("affectgpt-monitor-*/drift-report/report/drift.json"))
    written = json.loads(summary.read_text())
    assert written["retrain"] is None and any("too few rows" in reason for reason in written["inconclusive"])
