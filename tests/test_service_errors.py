"""A service at a wrong address, or not running, is one line that says which: a real HTTP server on
127.0.0.1 that answers 404 to every path (what a wrong port or path reaches) and a port nobody
listens on, for the KFP commands, the registry (MLflow) and the chat endpoint of the LLM judge.
An auth proxy that answers 401 or 403 to every path gives every command the same exit code."""

from __future__ import annotations

import time

import pytest
from testkit.http import LocalServer, QuietHandler, send_body
from testkit.processes import free_port
from typer.testing import CliRunner

from affectgpt.cli import app


class NotFoundHandler(QuietHandler):
    """Every path is a 404 HTML page, as a web server that is not the API answers."""

    def do_GET(self):
        send_body(self, 404, b"<html><body>404 Not Found</body></html>", "text/html")

    do_POST = do_GET


@pytest.fixture(scope="module")
def wrong_address():
    server = LocalServer(NotFoundHandler)
    yield f"http://127.0.0.1:{server.port}"
    server.close()


def _auth_proxy(status: int):
    """A server answering `status` to every path, as an auth proxy in front of a service does
    (401: no or wrong credentials; 403: the user is known and not allowed)."""

    class Handler(QuietHandler):
        def do_GET(self):
            send_body(self, status, b"<html><body>not allowed</body></html>", "text/html")

        do_POST = do_GET

    return LocalServer(Handler)


@pytest.fixture()
def nobody_listens() -> str:
    return f"http://127.0.0.1:{free_port()}"


def _one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


KFP_COMMANDS = [["runs"], ["status", "run-1"], ["submit", "retrain", "-p", "raw_dir=/x", "-p", "data_rev=r"]]


@pytest.mark.parametrize("command", KFP_COMMANDS, ids=lambda command: command[0])
def test_kfp_at_a_wrong_address_is_a_404_line_at_once(command, wrong_address, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # kfp reads ~/.config/kfp/context.json
    started = time.monotonic()
    result = CliRunner().invoke(app, ["pipeline", command[0], *command[1:], "--host", wrong_address])
    assert result.exit_code == 4, result.output
    assert _one_line(result) == (f"error: KFP API answered 404 at {wrong_address}/apis/v2beta1/healthz: is this the KFP "
                                 "API endpoint? (check --host)")
    assert time.monotonic() - started < 5  # no retries of a definite answer


@pytest.mark.parametrize("command", KFP_COMMANDS, ids=lambda command: command[0])
def test_kfp_not_running_is_a_refused_line(command, nobody_listens, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    result = CliRunner().invoke(app, ["pipeline", command[0], *command[1:], "--host", nobody_listens])
    assert result.exit_code == 5, result.output
    line = _one_line(result)
    assert f"KFP API at {nobody_listens}" in line and "refused the connection: is it running?" in line
    assert "404" not in line and "TimeoutError" not in line


def test_mlflow_at_a_wrong_address_is_not_a_missing_model(wrong_address, monkeypatch):
    """The 404 page is not MLflow's JSON: the address is wrong, not the model name."""
    result = CliRunner().invoke(app, ["registry", "history", "-m", "affectgpt", "--tracking-uri", wrong_address])
    assert result.exit_code == 4, result.output
    line = _one_line(result)
    assert line.startswith(f"error: MLflow API answered 404 at {wrong_address}/api/2.0/mlflow/") and \
        "is this the MLflow API endpoint? (check --tracking-uri or MLFLOW_TRACKING_URI)" in line
    assert "not in the registry" not in line


def test_mlflow_not_running_is_a_refused_line(nobody_listens, monkeypatch):
    monkeypatch.setenv("AFFECTGPT_REGISTRY_RETRIES", "1")
    result = CliRunner().invoke(app, ["registry", "history", "-m", "affectgpt", "--tracking-uri", nobody_listens])
    assert result.exit_code == 5, result.output
    assert f"MLflow at {nobody_listens} did not answer while trying to read model affectgpt: it refused the " \
        "connection" in _one_line(result)


def test_the_chat_endpoint_says_404_or_refused(wrong_address, nobody_listens):
    from affectgpt.llm_client import LLMCallError, complete_endpoint

    with pytest.raises(LLMCallError, match=r"answered 404 at .*/v1/chat/completions: is this the OpenAI-compatible API endpoint"):
        complete_endpoint(f"{wrong_address}/v1", "judge", "hi", timeout_s=5)
    with pytest.raises(LLMCallError, match="refused the connection"):
        complete_endpoint(f"{nobody_listens}/v1", "judge", "hi", timeout_s=5)


@pytest.mark.parametrize(("status", "code"), [(401, 2), (403, 3)])
def test_refused_credentials_are_one_exit_code_in_every_command(status, code, tmp_path, monkeypatch):
    """docs/platform.md, "Exit codes": missing or wrong credentials (HTTP 401) are bad input, 2;
    a server that knows the user and denies the request (HTTP 403) refuses, 3; the same for
    `pipeline submit`/`runs` (KFP), `registry history` (MLflow) and `drift report` (MLflow)."""
    import pandas as pd

    monkeypatch.setenv("HOME", str(tmp_path))
    proxy = _auth_proxy(status)
    url = f"http://127.0.0.1:{proxy.port}"
    batch = tmp_path / "batch.parquet"
    pd.DataFrame({"duration_s": [1.0, 2.0]}).to_parquet(batch)
    try:
        commands = {
            "pipeline submit": (["pipeline", "submit", "retrain", "-p", "raw_dir=/x", "-p", "data_rev=r",
                                 "--host", url], {}),
            "pipeline runs": (["pipeline", "runs", "--host", url], {}),
            "registry history": (["registry", "history", "-m", "affectgpt", "--tracking-uri", url], {}),
            "drift report": (["drift", "report", "--reference", str(batch), "--current", str(batch), "--out",
                              str(tmp_path / "drift")], {"MLFLOW_TRACKING_URI": url}),
        }
        for name, (args, env) in commands.items():
            result = CliRunner().invoke(app, args, env={"MLFLOW_TRACKING_USERNAME": "u",
                                                        "MLFLOW_TRACKING_PASSWORD": "p", **env})
            assert result.exit_code == code, (name, result.output)
            assert _one_line(result).startswith("error: "), (name, result.output)
    finally:
        proxy.close()
