"""With MLFLOW_TRACKING_URI set, the drift report is logged to MLflow (metrics, retrain tag,
the report folder as artifacts) against a real sqlite-backed tracking store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectgpt.monitor import drift_report

pytestmark = pytest.mark.integration


def test_report_is_logged_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # local artifact store lands under tmp_path
    mlflow.set_tracking_uri(uri)
    config = tmp_path / "monitoring.yaml"
    config.write_text("text: {content_drift: false}\nmlflow_experiment: drift-test\n")
    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"duration_s": rng.normal(4, 1, 80), "language": rng.choice(["en", "zh"], 80)})
    current = pd.DataFrame({"duration_s": rng.normal(7, 1, 80), "language": rng.choice(["en", "zh"], 80)})

    summary = drift_report(reference, current, tmp_path / "report", config_path=config)

    assert summary.mlflow_run_id
    run = MlflowClient(tracking_uri=uri).get_run(summary.mlflow_run_id)
    assert run.data.tags["retrain"] == str(summary.retrain).lower()
    assert run.data.metrics["drifted_share"] == pytest.approx(summary.drifted_share)
    artifacts = {item.path for item in MlflowClient(tracking_uri=uri).list_artifacts(summary.mlflow_run_id, "drift")}
    assert {"drift/drift.html", "drift/drift.json", "drift/manifest.json"} <= artifacts
