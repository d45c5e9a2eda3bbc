"""`monitor` under kfp.local: the real drift report decides; no drift ends the run, drift that
crosses the threshold launches the nested `retrain` (seen here by its first step running and
failing on an empty corpus folder, which also shows the step's own error surfacing)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.cli import app


def clip_metadata(path: Path, seed: int, duration_s: float, fps: float, language: str, source: str) -> Path:
    """40 clips of metadata (the monitor needs >= 30 rows before it may ask for retraining)."""
    rng = np.random.default_rng(seed)
    n = 40
    pd.DataFrame({
        "clip_id": [f"{source}-{i}" for i in range(n)], "duration_s": rng.normal(duration_s, 0.5, n),
        "fps": rng.normal(fps, 0.1, n), "language": [language] * n, "source": [source] * n,
    }).to_parquet(path)
    return path


@pytest.mark.integration
def test_monitor_branches_on_the_drift_decision(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    reference = clip_metadata(tmp_path / "reference.parquet", 0, 4.0, 25.0, "en", "demo")
    shifted = clip_metadata(tmp_path / "shifted.parquet", 1, 12.0, 30.0, "zh", "tv")
    empty_corpus = tmp_path / "corpus"
    empty_corpus.mkdir()
    # As the README writes it: no data_rev, test sets, gate or sizes; the command fills in what
    # the nested retrain needs (corpus revision, MER-UniBench fixture, demo gate, CPU sizes).
    # (1 fixture clip a set: the nested retrain never gets to score here)
    common = ["--fixture-clips", "1", "--param", f"reference={reference}", "--param", f"raw_dir={empty_corpus}"]

    calm = CliRunner().invoke(app, ["pipeline", "run", "monitor", "--local", "--param", f"current={reference}", *common])
    assert calm.exit_code == 0, calm.output
    assert "retrain launched: no" in calm.output
    assert "data_rev=sha256:" in calm.output and "unibench_rev=sha256:" in calm.output
    assert list((tmp_path / "home" / "pipeline-runs").glob("affectgpt-monitor-*/drift-report/report/drift.html"))

    drifted = CliRunner().invoke(app, ["pipeline", "run", "monitor", "--local", "--param", f"current={shifted}", *common])
    assert drifted.exit_code == 1
    assert "step 'build-dataset-shard' failed" in drifted.output and "subtitles.csv" in drifted.output
    assert "Traceback" not in drifted.output and "missing 1 required argument" not in drifted.output
