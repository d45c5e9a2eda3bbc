"""`affectgpt pipeline submit` and `schedule` against a small HTTP server on 127.0.0.1 that
answers the Kubeflow Pipelines v2beta1 REST paths. No KFP server can run on this machine (it
needs a Kubernetes cluster), so this server stands in for one: the real `kfp.Client` code path
runs unchanged and the test checks the requests it makes (paths, auth header, pipeline spec,
arguments, cron)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from typer.testing import CliRunner

from affectgpt.cli import app


class FakeKfpServer:
    def __init__(self, fail_status: int | None = None):
        self.requests: list[dict] = []
        self.fail_status = fail_status
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code: int, payload: dict):
                body = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                server.requests.append({"method": self.command, "path": self.path, "body": body,
                                        "auth": self.headers.get("Authorization", "")})
                path = self.path.split("?")[0]
                if path.endswith("/healthz"):
                    return self._reply(200, {"multi_user": False})
                if server.fail_status and self.command == "POST":
                    return self._reply(server.fail_status, {"error": "denied", "code": 7, "message": "denied"})
                if path == "/apis/v2beta1/experiments" and self.command == "GET":
                    return self._reply(200, {"experiments": []})
                if path == "/apis/v2beta1/experiments":
                    return self._reply(200, {"experiment_id": "exp-1", "display_name": body["display_name"]})
                if path == "/apis/v2beta1/runs":
                    return self._reply(200, {"run_id": "run-42", "experiment_id": body.get("experiment_id"),
                                             "display_name": body.get("display_name"), "state": "PENDING"})
                if path == "/apis/v2beta1/recurringruns":
                    return self._reply(200, {"recurring_run_id": "rr-7", "display_name": body.get("display_name"),
                                             "status": "ENABLED"})
                return self._reply(404, {"error": f"no route {path}"})

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def posted(self, path: str) -> dict:
        return next(r for r in self.requests if r["method"] == "POST" and r["path"].startswith(path))


def pipeline_name(body: dict) -> str:
    spec = body["pipeline_spec"]  # {"pipeline_spec", "platform_spec"} when there is a platform spec
    return spec.get("pipeline_spec", spec)["pipelineInfo"]["name"]


@pytest.fixture
def kfp_server(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp reads ~/.config/kfp/context.json
    monkeypatch.setenv("KFP_TOKEN", "secret-token")
    server = FakeKfpServer()
    yield server
    server.close()


def test_submit_sends_the_compiled_spec_arguments_and_token(kfp_server, monkeypatch):
    monkeypatch.setenv("AFFECTGPT_ACTOR", "alice")  # no MLflow login here: the claimed submitter
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = CliRunner().invoke(app, [
        "pipeline", "submit", "retrain", "--host", kfp_server.host, "--experiment", "nightly",
        "--param", "raw_dir=/data/raw", "--param", "data_rev=dvc:abc123", "--param", "workers=2"])
    assert result.exit_code == 0, result.output
    assert "run run-42" in result.output and f"{kfp_server.host}/#/runs/details/run-42" in result.output
    assert kfp_server.posted("/apis/v2beta1/experiments")["body"]["display_name"] == "nightly"
    run = kfp_server.posted("/apis/v2beta1/runs")
    assert run["auth"] == "Bearer secret-token"
    assert run["body"]["experiment_id"] == "exp-1"
    assert run["body"]["runtime_config"]["parameters"] == {"raw_dir": "/data/raw", "data_rev": "dvc:abc123", "workers": 2,
                                                           "submitted_by": "alice"}
    assert run["body"]["display_name"] == "retrain by alice"
    assert pipeline_name(run["body"]) == "affectgpt-retrain"
    assert run["body"]["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]  # ConfigMap env, pod labels


def test_submit_computes_data_rev_from_a_mounted_corpus(kfp_server, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "subtitles.csv").write_text("name,english\nc1,hello\n")
    result = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host,
                                      "--param", f"raw_dir={raw}"])
    assert result.exit_code == 0, result.output
    data_rev = kfp_server.posted("/apis/v2beta1/runs")["body"]["runtime_config"]["parameters"]["data_rev"]
    assert data_rev.startswith("sha256:")
    (raw / "subtitles.csv").write_text("name,english\nc1,hello again\n")
    CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host, "--param", f"raw_dir={raw}"])
    runs = [r for r in kfp_server.requests if r["method"] == "POST" and r["path"] == "/apis/v2beta1/runs"]
    assert runs[1]["body"]["runtime_config"]["parameters"]["data_rev"] != data_rev  # other data, other key


def test_schedule_creates_a_recurring_run_with_a_six_field_cron(kfp_server):
    result = CliRunner().invoke(app, [
        "pipeline", "schedule", "monitor", "--host", kfp_server.host, "--cron", "0 3 * * *",
        "--param", "reference=/data/ref", "--param", "current=/data/new", "--param", "raw_dir=/data/raw",
        "--param", "data_rev=dvc:1"])
    assert result.exit_code == 0, result.output
    recurring = kfp_server.posted("/apis/v2beta1/recurringruns")["body"]
    assert recurring["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"
    assert recurring["display_name"] == "affectgpt-monitor" and str(recurring["max_concurrency"]) == "1"
    assert recurring["no_catchup"] is True and recurring["mode"] == "ENABLE"
    assert pipeline_name(recurring) == "affectgpt-monitor"
    assert recurring["runtime_config"]["parameters"]["current"] == "/data/new"


def test_bad_cron_and_refused_auth_are_one_clear_line(kfp_server, monkeypatch):
    result = CliRunner().invoke(app, ["pipeline", "schedule", "monitor", "--host", kfp_server.host, "--cron", "daily"])
    assert result.exit_code == 1 and "expected 5 or 6 space-separated fields" in result.output
    kfp_server.fail_status = 403
    result = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host,
                                      "--param", "raw_dir=/x", "--param", "data_rev=r"])
    assert result.exit_code == 1 and "HTTP 403" in result.output and "Traceback" not in result.output


def test_the_shipped_cronjob_submits_the_monitor_pipeline():
    """infra's recurring run calls this same command: its arguments must parse."""
    from pathlib import Path

    cronjob = yaml.safe_load((Path(__file__).resolve().parents[2] / "infra/base/pipelines/monitor-cronjob.yaml").read_text())
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["affectgpt", "pipeline", "submit", "monitor"]
    result = CliRunner().invoke(app, ["pipeline", "submit", "monitor", "--help"])
    for arg in container["args"]:
        assert arg.split("=", 1)[0] in result.output


@pytest.mark.integration
def test_submit_passes_the_dvc_revision_of_a_tracked_corpus(kfp_server, tmp_path):
    """A real git+DVC repo: the corpus revision recorded in data.dvc becomes the run's data_rev."""
    from affectgpt.data.dvc import add_and_push, init_repo

    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "subtitles.csv").write_text("name,english\nc1,I am so happy today\n")
    init_repo(repo, remote_url=tmp_path / "remote")
    revision = add_and_push(repo, "data")
    result = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host,
                                      "--param", f"raw_dir={repo / 'data'}"])
    assert result.exit_code == 0, result.output
    assert kfp_server.posted("/apis/v2beta1/runs")["body"]["runtime_config"]["parameters"]["data_rev"] == f"dvc:{revision}"
