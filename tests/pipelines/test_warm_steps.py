"""Warm step processes (`affectgpt.warm_steps`): a step's work runs in a fresh fork of a
preloaded server, with the step's own streams, environment and directory; its result or its
exception comes back; killing the step kills the work; without a ready server the step runs
its work itself. The last test runs a kfp.local pipeline whose step hands its work over."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kfp import dsl

from affectgpt.errors import BadInput
from affectgpt.warm_steps import SOCKET_ENV, WarmStepDied, WarmStepError, call, resolve, warm_step_server
from pipelines.local_run import run_local


def _wait_ready(socket_path: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not socket_path.exists():
        assert time.monotonic() < deadline, "the step server never became ready"
        time.sleep(0.05)


@pytest.fixture
def server(tmp_path: Path, monkeypatch):
    log = tmp_path / "warm.log"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))  # the server imports this module's targets
    with warm_step_server(["json"], log) as socket_path:
        _wait_ready(socket_path)
        yield socket_path, log


# Targets the child runs: module-level, so the server's children can import them.
def report_where(marker_name: str) -> dict:
    print("line on stdout from the work")
    print("line on stderr from the work", file=sys.stderr)
    return {"pid": os.getpid(), "cwd": os.getcwd(), "marker": os.environ.get(marker_name),
            "socket_seen_by_work": os.environ.get(SOCKET_ENV)}


def refuse(reason: str) -> None:
    raise BadInput(f"refused: {reason}")


class NeedsTwoArguments(Exception):
    def __init__(self, first: str, second: str):
        super().__init__(f"{first} and {second}")


def raise_unrebuildable() -> None:
    raise NeedsTwoArguments("one", "two")


def exit_code_of_a_subprocess() -> int:
    return subprocess.run([sys.executable, "-c", "raise SystemExit(7)"], check=False).returncode


def wait_to_be_killed(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        signal.pause()  # returns only on a handled signal; SIGKILL ends it


def die_hard() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def test_the_work_runs_in_another_process_with_the_steps_env_cwd_and_streams(server, tmp_path, monkeypatch, capfd):
    workdir = tmp_path / "step-cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("STEP_MARKER", "set by the step after the server started")
    seen = call(f"{__name__}:report_where", "STEP_MARKER")
    assert seen["pid"] != os.getpid()
    assert seen["cwd"] == str(workdir)
    assert seen["marker"] == "set by the step after the server started"
    assert seen["socket_seen_by_work"] is None  # what the work starts runs cold, as it would have
    out, err = capfd.readouterr()
    assert "line on stdout from the work" in out and "line on stderr from the work" in err
    _, log = server
    assert f"runs {__name__}:report_where" in log.read_text()


def test_the_steps_own_error_comes_back_with_its_type(server, capfd):
    with pytest.raises(BadInput, match="refused: no labels"):
        call(f"{__name__}:refuse", "no labels")
    assert "BadInput: refused: no labels" in capfd.readouterr().err  # the work's traceback, in the step log


def test_an_error_that_cannot_be_rebuilt_keeps_its_type_name_and_text(server):
    with pytest.raises(WarmStepError, match="NeedsTwoArguments: one and two"):
        call(f"{__name__}:raise_unrebuildable")


def test_subprocesses_of_the_work_are_waited_for_normally(server):
    assert call(f"{__name__}:exit_code_of_a_subprocess") == 7


def test_work_that_dies_without_a_result_is_reported(server):
    with pytest.raises(WarmStepDied, match="ended without a result"):
        call(f"{__name__}:die_hard")


def test_killing_the_step_kills_its_work(server, tmp_path):
    socket_path, _ = server
    pid_file = tmp_path / "work.pid"
    step_code = f"from affectgpt.warm_steps import call; call('{__name__}:wait_to_be_killed', {str(pid_file)!r})"
    step = subprocess.Popen([sys.executable, "-c", step_code],
                            env={**os.environ, SOCKET_ENV: str(socket_path), "PYTHONPATH": os.pathsep.join(sys.path)})
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and step.poll() is None, "the work never started"
        time.sleep(0.05)
    work_pid = int(pid_file.read_text())
    assert work_pid != step.pid
    step.send_signal(signal.SIGKILL)
    step.wait()
    deadline = time.monotonic() + 20
    while Path(f"/proc/{work_pid}").exists() and "Z" not in _state(work_pid):
        assert time.monotonic() < deadline, f"work process {work_pid} outlived its killed step"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return "Z"


def test_only_this_user_can_reach_the_server(server):
    socket_path, _ = server
    assert socket_path.parent.stat().st_mode & 0o077 == 0  # no group or other access to the socket's folder


def test_without_a_server_the_work_runs_here(monkeypatch):
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    assert call("os:getpid") == os.getpid()


def test_a_server_that_is_not_ready_leaves_the_work_here_and_says_so(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv(SOCKET_ENV, str(tmp_path / "not-yet.sock"))
    assert call("os:getpid") == os.getpid()
    assert "not ready" in capfd.readouterr().err


def test_a_module_that_cannot_be_preloaded_is_logged_and_the_server_still_serves(tmp_path):
    log = tmp_path / "warm.log"
    with warm_step_server(["json", "no_such_module_here"], log) as socket_path:
        _wait_ready(socket_path)
        assert call("os:getpid") != os.getpid()
    assert "could not preload no_such_module_here" in log.read_text()
    assert not socket_path.exists()  # the server removed its socket on the way out
    assert SOCKET_ENV not in os.environ


def test_a_bad_target_is_a_clear_error():
    with pytest.raises(ValueError, match="package.module:function"):
        resolve("os.getpid")


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def where_the_work_ran() -> str:
    import os
    import time

    from affectgpt.warm_steps import SOCKET_ENV, call

    socket_path = os.environ.get(SOCKET_ENV, "")
    deadline = time.monotonic() + 60
    while socket_path and not os.path.exists(socket_path) and time.monotonic() < deadline:
        time.sleep(0.05)  # this test's server preloads nothing, but may still be starting
    return "elsewhere" if call("os:getpid") != os.getpid() else "in the step"


@dsl.pipeline(name="warm-probe")
def warm_probe() -> str:
    return where_the_work_ran().output


def test_a_kfp_local_step_hands_its_work_to_the_server(tmp_path):
    assert run_local(warm_probe, {}, tmp_path / "warm", warm_imports=()).output == "elsewhere"
    assert "runs os:getpid" in (tmp_path / "warm" / "warm-steps.log").read_text()
    assert run_local(warm_probe, {}, tmp_path / "cold", warm=False).output == "in the step"
