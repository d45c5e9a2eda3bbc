"""`affectgpt pipeline submit`, `schedule`, `runs` and `status` against a small HTTP server on
127.0.0.1 that answers the Kubeflow Pipelines v2beta1 REST paths. No KFP server can run on this
machine (it needs a Kubernetes cluster), so this server stands in for one: the real `kfp.Client`
code path runs unchanged and the test checks the requests it makes (paths, auth header, pipeline
spec, arguments, cron). Every reply the stand-in sends is first read back with the
`kfp_server_api` model of that endpoint (`check_reply`), so its shape cannot drift from the
real API's."""

from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from testkit.http import QuietHandler, read_json, send_body
from typer.testing import CliRunner

from affectgpt.cli import app


def check_reply(payload: dict, model: str) -> None:
    """Refuse a stand-in reply the real client could not have received: it must deserialise into
    the `kfp_server_api` model (types, enum values such as run states) and carry no field the
    model lacks (the client drops unknown fields silently, which would hide a wrong name)."""
    import kfp_server_api

    client = kfp_server_api.ApiClient()
    client.configuration.client_side_validation = True
    obj = client._ApiClient__deserialize(payload, model)  # the client's own response path
    _check_fields(payload, obj, model)


def _check_fields(payload, obj, where: str) -> None:
    """Every field known to the model, every enum value allowed (the generated client reads enum
    fields as plain strings without checking them)."""
    from kfp_server_api import models

    if isinstance(payload, list):
        for item, value in zip(payload, obj):
            _check_fields(item, value, where + "[]")
        return
    if not isinstance(payload, dict) or not hasattr(obj, "attribute_map"):
        return
    by_json = {json_name: attr for attr, json_name in obj.attribute_map.items()}
    unknown = set(payload) - set(by_json)
    assert not unknown, f"stand-in reply {where} has fields the KFP API does not: {sorted(unknown)}"
    for key, value in payload.items():
        enum = getattr(models, obj.openapi_types[by_json[key]], None)
        if hasattr(enum, "allowable_values") and value not in enum.allowable_values:
            raise ValueError(f"stand-in reply {where}.{key}={value!r}: not one of {enum.allowable_values}")
        _check_fields(value, getattr(obj, by_json[key]), f"{where}.{key}")


def a_run(run_id: str, name: str, state: str, created: str, finished: str | None = None,
          tasks: list[dict] | None = None) -> dict:
    run = {"run_id": run_id, "experiment_id": "exp-1", "display_name": name, "state": state,
           "created_at": created, "storage_state": "AVAILABLE"}
    if finished:
        run["finished_at"] = finished
    if tasks is not None:
        run["run_details"] = {"task_details": tasks}
    return run


RUNS = [
    a_run("run-42", "retrain by alice", "SUCCEEDED", "2026-12-01T03:00:05Z", "2026-12-01T04:12:40Z", tasks=[
        {"task_id": "t1", "display_name": "build-dataset", "state": "SUCCEEDED",
         "start_time": "2026-12-01T03:00:10Z", "end_time": "2026-12-01T03:20:00Z"},
        {"task_id": "t2", "display_name": "train", "state": "SUCCEEDED",
         "start_time": "2026-12-01T03:20:05Z", "end_time": "2026-12-01T04:10:00Z"},
        {"task_id": "t3", "display_name": "register", "state": "SKIPPED",
         "start_time": "2026-12-01T04:10:05Z"},
    ]),
    a_run("run-43", "monitor by cron", "RUNNING", "2026-12-02T03:00:01Z", tasks=[]),
]


class FakeKfpServer:
    """`fail_status` refuses every POST with that status (as KFP's authorization refuses a write);
    with `fail_everything` every request, the health check too (as an auth proxy in front of KFP
    answers a request without valid credentials)."""

    def __init__(self, fail_status: int | None = None):
        self.requests: list[dict] = []
        self.fail_status = fail_status
        self.fail_everything = False
        self.experiments: list[dict] = []
        self.runs = list(RUNS)
        server = self

        class Handler(QuietHandler):
            def _reply(self, code: int, payload: dict, model: str | None = None):
                if model:
                    check_reply(payload, model)
                send_body(self, code, payload)

            def _handle(self):
                body = read_json(self)
                server.requests.append({"method": self.command, "path": self.path, "body": body,
                                        "auth": self.headers.get("Authorization", "")})
                url = urlsplit(self.path)
                path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
                if server.fail_status and (self.command == "POST" or server.fail_everything):
                    code = {401: 16, 403: 7}.get(server.fail_status, 2)  # UNAUTHENTICATED, PERMISSION_DENIED
                    return self._reply(server.fail_status, {"code": code, "message": "denied"},
                                       "GoogleRpcStatus")
                if path.endswith("/healthz"):
                    return self._reply(200, {"multi_user": False}, "V2beta1GetHealthzResponse")
                if path == "/apis/v2beta1/experiments" and self.command == "GET":
                    wanted = [p["string_value"] if "string_value" in p else p.get("stringValue")
                              for p in json.loads(query.get("filter") or '{"predicates": []}')["predicates"]]
                    found = [e for e in server.experiments if not wanted or e["display_name"] in wanted]
                    return self._reply(200, {"experiments": found, "total_size": len(found)},
                                       "V2beta1ListExperimentsResponse")
                if path == "/apis/v2beta1/experiments":
                    server.experiments.append({"experiment_id": "exp-1", "display_name": body["display_name"]})
                    return self._reply(200, server.experiments[-1], "V2beta1Experiment")
                if path == "/apis/v2beta1/runs" and self.command == "GET":
                    runs = [r for r in server.runs
                            if "experiment_id" not in query or r["experiment_id"] == query["experiment_id"]]
                    runs = runs[: int(query.get("page_size", 10))]
                    return self._reply(200, {"runs": runs, "total_size": len(runs)}, "V2beta1ListRunsResponse")
                if path.startswith("/apis/v2beta1/runs/") and self.command == "GET":
                    run = next((r for r in server.runs if r["run_id"] == path.rsplit("/", 1)[1]), None)
                    if run is None:
                        return self._reply(404, {"code": 5, "message": "run not found"}, "GoogleRpcStatus")
                    return self._reply(200, run, "V2beta1Run")
                if path == "/apis/v2beta1/runs":
                    return self._reply(200, {"run_id": "run-42", "experiment_id": body.get("experiment_id"),
                                             "display_name": body.get("display_name"), "state": "PENDING"},
                                       "V2beta1Run")
                if path == "/apis/v2beta1/recurringruns":
                    return self._reply(200, {"recurring_run_id": "rr-7", "display_name": body.get("display_name"),
                                             "status": "ENABLED"}, "V2beta1RecurringRun")
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


def test_in_a_pod_submit_authenticates_with_the_projected_kfp_token(kfp_server, monkeypatch, tmp_path):
    """The nightly CronJob has no KFP_TOKEN: its credential is the projected service-account
    token (audience pipelines.kubeflow.org) at KF_PIPELINES_SA_TOKEN_PATH, sent as the bearer."""
    token = tmp_path / "token"
    token.write_text("projected-sa-token")
    monkeypatch.delenv("KFP_TOKEN", raising=False)
    monkeypatch.setenv("KF_PIPELINES_SA_TOKEN_PATH", str(token))
    result = CliRunner().invoke(app, ["pipeline", "submit", "monitor-k8s", "--host", kfp_server.host,
                                      "--param", "reference=/data/ref", "--param", "current=/data/new",
                                      "--param", "raw_dir=/data/raw", "--param", "data_rev=dvc:1"])
    assert result.exit_code == 0, result.output
    assert kfp_server.posted("/apis/v2beta1/runs")["auth"] == "Bearer projected-sa-token"


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


def test_with_a_dvc_repo_submit_takes_the_revision_its_pointer_records(kfp_server, tmp_path):
    """With dvc_repo, raw_dir names the tracked folder inside the repository (the pull step
    brings it onto the data volume): raw_dir goes as given, data_rev is what raw.dvc records."""
    repo = tmp_path / "repo"
    (repo / ".dvc").mkdir(parents=True)
    (repo / "raw.dvc").write_text("outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  hash: md5\n  path: raw\n")
    result = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host,
                                      "--param", f"dvc_repo={repo}", "--param", "raw_dir=raw"])
    assert result.exit_code == 0, result.output
    sent = kfp_server.posted("/apis/v2beta1/runs")["body"]["runtime_config"]["parameters"]
    assert sent["data_rev"] == "dvc:0123456789abcdef0123456789abcdef.dir"
    assert sent["raw_dir"] == "raw" and sent["dvc_repo"] == str(repo)
    result = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host,  # a git URL
                                      "--param", "dvc_repo=https://git.example/corpus.git", "--param", "raw_dir=raw"])
    assert result.exit_code == 2 and "missing required input 'data_rev'" in result.output


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
    for cron in ("daily", "61 3 * * *", "0 3 * * * * *"):
        result = CliRunner().invoke(app, ["pipeline", "schedule", "monitor", "--host", kfp_server.host, "--cron", cron,
                                          "-p", "reference=r", "-p", "current=c", "-p", "raw_dir=/x", "-p", "data_rev=d"])
        assert result.exit_code == 2 and "not a valid cron expression" in result.output, (cron, result.output)
    assert not kfp_server.requests  # refused before any call
    result = CliRunner().invoke(app, ["pipeline", "schedule", "monitor", "--host", kfp_server.host, "--cron",
                                      "30 0 3 * * 1-5", "-p", "reference=r", "-p", "current=c", "-p", "raw_dir=/x",
                                      "-p", "data_rev=d"])
    assert result.exit_code == 0, result.output  # 6 fields, seconds first: sent as written
    assert kfp_server.posted("/apis/v2beta1/recurringruns")["body"]["trigger"]["cron_schedule"]["cron"] == "30 0 3 * * 1-5"
    kfp_server.fail_status = 403
    result = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host,
                                      "--param", "raw_dir=/x", "--param", "data_rev=r"])
    assert result.exit_code == 3 and "HTTP 403" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("command", [["submit"], ["schedule", "--cron", "0 3 * * *"]])
@pytest.mark.parametrize("at_the_proxy", [False, True], ids=["kfp-answers", "proxy-answers"])
def test_refused_credentials_exit_2_and_a_denied_request_3_as_in_every_command(kfp_server, command, at_the_proxy):
    """One code per kind of answer across commands (docs/platform.md, "Exit codes"; the registry
    and `drift report` give the same): missing or wrong credentials (HTTP 401) are bad input, 2;
    a server that knows the user and denies the request (HTTP 403) refuses, 3. The same whether
    KFP itself answers or an auth proxy in front of it does (then the health check gets it)."""
    kfp_server.fail_everything = at_the_proxy
    args = ["pipeline", command[0], "retrain", *command[1:], "--host", kfp_server.host,
            "--param", "raw_dir=/x", "--param", "data_rev=r"]
    for status, code in ((401, 2), (403, 3)):
        kfp_server.fail_status = status
        result = CliRunner().invoke(app, args)
        assert result.exit_code == code, (status, result.output)
        assert f"HTTP {status}" in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


def test_submit_and_schedule_refuse_a_training_job_no_node_can_run_before_sending(kfp_server, tmp_path,
                                                                                     monkeypatch):
    """A cluster pipeline's PyTorchJob is checked as `cluster train-job` checks one
    (affectgpt.cluster.job_shape): pods of more GPUs than a node of the pool has (--node-gpus,
    else $AFFECTGPT_NODE_GPUS, else 8) and a world size the model config's batch cannot make are
    refused, exit 2, before anything is sent. The in-pod variant (`retrain`) launches no job."""
    from affectgpt.paths import packaged_config

    base = ["--host", kfp_server.host, "-p", "raw_dir=/x", "-p", "data_rev=r"]
    submit = ["pipeline", "submit", "retrain-k8s", *base]
    schedule = ["pipeline", "schedule", "monitor-k8s", "--cron", "0 3 * * *", *base, "-p", "reference=r",
                "-p", "current=c"]
    for args in (submit, schedule):
        result = CliRunner().invoke(app, [*args, "-p", "gpus_per_node=12", "-p", "nodes=3"])
        assert result.exit_code == 2, result.output
        assert ("--param gpus_per_node=12: 12 GPUs per node, but a node of the pool has 8: no node can schedule "
                "the pod") in " ".join(result.output.split())
    assert not kfp_server.requests  # refused before any call
    monkeypatch.setenv("AFFECTGPT_NODE_GPUS", "4")
    by_env = CliRunner().invoke(app, submit)  # the defaults, 2 x 8, on nodes of 4
    assert by_env.exit_code == 2 and "8 GPUs per node, but a node of the pool has 4" in by_env.output
    assert CliRunner().invoke(app, [*submit, "--node-gpus", "8"]).exit_code == 0  # the option wins
    assert CliRunner().invoke(app, ["pipeline", "submit", "retrain", *base, "-p", "gpus_per_node=12"]).exit_code == 0
    exact = tmp_path / "exact.yaml"
    exact.write_text(packaged_config("affectgpt-7b.yaml").read_text().replace("batch_policy: per-rank",
                                                                             "batch_policy: exact"))
    batch = CliRunner().invoke(app, [*submit, "--node-gpus", "8", "-p", f"model_config={exact}"])
    assert batch.exit_code == 2 and "= 16 rank(s): train.global_batch_size 3 != " in " ".join(batch.output.split())


@pytest.mark.parametrize("command", [["submit", "retrain"], ["schedule", "retrain", "--cron", "0 3 * * *"]])
@pytest.mark.parametrize("params, expected", [
    (["raw_dir=/d", "data_rev=r", "worker=2"], "unknown input 'worker' (did you mean 'workers'?)"),
    (["raw_dir=/d"], "missing required input 'data_rev'"),
    (["raw_dir=/d", "data_rev=r", "workers=two"], "--param workers=two: expected an integer"),
    (["raw_dir=/d", "data_rev=r", "nodes=1.5"], "--param nodes=1.5: expected an integer"),
    (["raw_dir", "data_rev=r"], "write it as NAME=VALUE"),
])
def test_submit_and_schedule_check_inputs_against_the_compiled_pipeline_offline(command, params, expected):
    """No server at all: the host is a closed port, so any network call would fail differently."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    host = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    args = ["pipeline", *command[:2], "--host", host, *command[2:]]
    for item in params:
        args += ["-p", item]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    if "NAME=VALUE" not in expected:  # the valid inputs are listed with their types and defaults
        assert "raw_dir (text, required)" in result.output and "workers (an integer = 4)" in result.output
    assert "Traceback" not in result.output


def test_values_are_converted_to_the_declared_types(kfp_server, monkeypatch):
    """A text input that looks like a number stays text; an integer input given as text is sent as a number."""
    monkeypatch.setenv("AFFECTGPT_ACTOR", "alice")
    result = CliRunner().invoke(app, ["pipeline", "submit", "retrain", "--host", kfp_server.host, "-p", "raw_dir=/d",
                                      "-p", "data_rev=20261202", "-p", "nodes=2", "-p", "model_name=true"])
    assert result.exit_code == 0, result.output
    sent = kfp_server.posted("/apis/v2beta1/runs")["body"]["runtime_config"]["parameters"]
    assert sent["data_rev"] == "20261202" and sent["model_name"] == "true" and sent["nodes"] == 2


def test_runs_lists_the_newest_runs_as_a_table_and_json(kfp_server):
    kfp_server.experiments.append({"experiment_id": "exp-1", "display_name": "nightly"})
    result = CliRunner().invoke(app, ["pipeline", "runs", "--host", kfp_server.host, "--limit", "5"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    row = next(line for line in lines if "run-42" in line)
    for cell in ("retrain", "SUCCEEDED", "2026-12-01T03:00:05Z", "2026-12-01T04:12:40Z"):
        assert cell in row, (cell, row)
    running = next(line for line in lines if "run-43" in line)
    assert "RUNNING" in running and "monitor" in running and "by cron" in result.output
    listed = kfp_server.requests[-1]
    assert listed["method"] == "GET" and "page_size=5" in listed["path"] and listed["auth"] == "Bearer secret-token"

    result = CliRunner().invoke(app, ["pipeline", "runs", "--host", kfp_server.host, "--experiment", "nightly", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["run_id"], r["state"], r["finished"]) for r in rows] == [
        ("run-42", "SUCCEEDED", "2026-12-01T04:12:40Z"), ("run-43", "RUNNING", "")]
    assert "experiment_id=exp-1" in kfp_server.requests[-1]["path"]

    result = CliRunner().invoke(app, ["pipeline", "runs", "--host", kfp_server.host, "--experiment", "nope"])
    assert result.exit_code == 4 and "experiment 'nope': not found" in result.output


def test_status_shows_the_run_state_and_each_task(kfp_server):
    result = CliRunner().invoke(app, ["pipeline", "status", "run-42", "--host", kfp_server.host])
    assert result.exit_code == 0, result.output
    assert "SUCCEEDED" in next(line for line in result.output.splitlines() if "state" in line)
    for task, state in (("build-dataset", "SUCCEEDED"), ("train", "SUCCEEDED"), ("register", "SKIPPED")):
        line = next(line for line in result.output.splitlines() if f" {task} " in line)
        assert state in line, line
    result = CliRunner().invoke(app, ["pipeline", "status", "run-42", "--host", kfp_server.host, "--json"])
    detail = json.loads(result.output)
    assert detail["state"] == "SUCCEEDED" and [t["name"] for t in detail["tasks"]] == ["build-dataset", "train", "register"]
    assert detail["tasks"][2]["finished"] == ""
    result = CliRunner().invoke(app, ["pipeline", "status", "run-999", "--host", kfp_server.host])
    assert result.exit_code == 4 and "run run-999: not found" in result.output


def test_an_unreachable_host_is_exit_5_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    host = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    for args in (["runs", "--host", host], ["status", "run-1", "--host", host]):
        result = CliRunner().invoke(app, ["pipeline", *args])
        assert result.exit_code == 5, result.output
        assert "refused the connection" in result.output and "Traceback" not in result.output


def test_the_stand_in_refuses_a_reply_the_real_api_could_not_send():
    """The reply check itself: a wrong state or a misspelt field is caught."""
    check_reply(RUNS[0], "V2beta1Run")
    with pytest.raises(ValueError):
        check_reply({**RUNS[0], "state": "DONE"}, "V2beta1Run")
    with pytest.raises(AssertionError, match="finish_at"):
        check_reply({**RUNS[0], "finish_at": "2026-12-01T04:12:40Z"}, "V2beta1Run")


def test_the_shipped_cronjob_submits_the_monitor_pipeline():
    """infra's recurring run calls this same command: its arguments must parse."""
    from pathlib import Path

    cronjob = yaml.safe_load((Path(__file__).resolve().parents[2] / "infra/steps/monitor-cronjob.yaml").read_text())
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["affectgpt", "pipeline", "submit", "monitor-k8s"]
    result = CliRunner().invoke(app, ["pipeline", "submit", "monitor-k8s", "--help"])
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
