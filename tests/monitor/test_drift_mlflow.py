"""With MLFLOW_TRACKING_URI set, the drift report is logged to MLflow (metrics, retrain tag,
the report folder as artifacts) against a real sqlite-backed tracking store; a real `mlflow
server` that refuses the credentials, or no server at all, stops the report before any work."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
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


@pytest.fixture(scope="module")
def login_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `mlflow server` with basic authentication: its admin user only (no users to create)
    and a file store (no database migrations), the cheapest server that authenticates."""
    sys.path.append(str(Path(__file__).resolve().parents[1] / "registry"))
    from registry_testkit import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-login"), auth=True, light=True)
    server.start()
    yield server
    server.stop()


def _report(tmp_path: Path, env: dict[str, str], current: str | None = None):
    rng = np.random.default_rng(0)
    for name, shift in (("ref", 0.0), ("cur", 3.0)):
        pd.DataFrame({"duration_s": rng.normal(4 + shift, 1, 40)}).to_parquet(tmp_path / f"{name}.parquet")
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["drift", "report", "--reference", str(tmp_path / "ref.parquet"),
                                      "--current", current or str(tmp_path / "cur.parquet"),
                                      "--out", str(tmp_path / "out")], env=env)
    return result, time.perf_counter() - started


@pytest.mark.parametrize(("credentials", "words"), [
    ({}, "requires a login: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"),
    ({"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "wrong"}, "refused the credentials of 'admin'"),
])
def test_a_server_refusing_the_credentials_stops_the_report_before_any_work(
        login_server, tmp_path: Path, credentials: dict[str, str], words: str) -> None:
    """Before, the report was computed and written, then logging failed with a raw 401 (exit 1).
    Now the server is asked first: one line, exit 2 (bad input: the credentials, as the registry
    says for a 401), nothing written, and the batches never read (a missing one is not reported)."""
    env = {"MLFLOW_TRACKING_URI": login_server.url, "MLFLOW_TRACKING_USERNAME": None,
           "MLFLOW_TRACKING_PASSWORD": None, "MLFLOW_TRACKING_TOKEN": None, **credentials}

    result, _ = _report(tmp_path, env)
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "out").exists()

    early, _ = _report(tmp_path, env, current=str(tmp_path / "no-such-batch.parquet"))
    assert early.exit_code == 2 and words in early.output  # not "no such file" (4): asked before reading


def test_a_server_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    from testkit.processes import free_port

    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", "MLFLOW_TRACKING_USERNAME": None}
    result, _ = _report(tmp_path, env)
    assert result.exit_code == 5, result.output
    assert "does not answer" in result.output and "unset MLFLOW_TRACKING_URI" in result.output
    assert not (tmp_path / "out").exists()


def test_a_server_that_lets_the_user_read_but_not_write_says_so_in_one_line(login_server, tmp_path: Path) -> None:
    """Read access passes the early check; the write is refused only when the run is logged: one
    line saying the report is written and not logged (exit 3), not a traceback."""
    from mlflow.server import get_app_client
    from mlflow.tracking import MlflowClient

    admin = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": login_server.ADMIN_PASSWORD}
    sys.path.append(str(Path(__file__).resolve().parents[1] / "registry"))
    from registry_testkit import environ

    with environ(admin):
        get_app_client("basic-auth", tracking_uri=login_server.url).create_user("reader", "reader-password-1")
        MlflowClient(tracking_uri=login_server.url).create_experiment("affectgpt-drift")  # default: READ for others
    env = {"MLFLOW_TRACKING_URI": login_server.url, "MLFLOW_TRACKING_USERNAME": "reader",
           "MLFLOW_TRACKING_PASSWORD": "reader-password-1", "MLFLOW_TRACKING_TOKEN": None}

    result, _ = _report(tmp_path, env)

    assert result.exit_code == 3, result.output
    assert "the report is written in" in result.output and "HTTP 403" in result.output
    assert "Traceback" not in result.output and (tmp_path / "out" / "drift.json").is_file()
