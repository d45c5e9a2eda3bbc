"""A stopped command or step (SIGTERM: a scheduler, `kill`, a cancelled run) ends its MLflow run
as KILLED and leaves no scratch folder, in real child processes: `drift report` stopped while its
MLflow run is open on a real sqlite store, and `pipeline run --local`'s runner stopped while a
kfp.local step holds a scratch folder (the runner passes the signal on and waits)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

import affectgpt


def _child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This checkout's code, and a temporary folder of the test's own (so what a child leaves
    there is seen)."""
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(scratch_root), **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(affectgpt.__file__).resolve().parents[1]),
                                                     env.get("PYTHONPATH")]))
    return env


def test_a_stopped_drift_report_ends_its_mlflow_run_killed(tmp_path, killkit):
    from mlflow.tracking import MlflowClient

    for name, shift in (("reference", 0.0), ("current", 1.0)):
        rng = np.random.default_rng(int(shift))
        pd.DataFrame({"clip_id": [f"{name}{i}" for i in range(40)],
                      "duration_s": rng.normal(4 + shift, 1, 40)}).to_parquet(tmp_path / f"{name}.parquet")
    config = tmp_path / "monitoring.yaml"
    config.write_text("text: {content_drift: false, descriptors: [length]}\n")
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = _child_env(tmp_path, MLFLOW_TRACKING_URI=store, AFFECTGPT_HOME=str(tmp_path / "home"))
    stopped = killkit.run(["drift", "report", "--reference", tmp_path / "reference.parquet", "--current",
                           tmp_path / "current.parquet", "--out", tmp_path / "out", "--config", config],
                          kill_at="drift:started:run", kill_signal="TERM", env=env, timeout=300)
    assert stopped.returncode != 0 and "Traceback" not in stopped.stderr, stopped.stderr[-3000:]
    runs = MlflowClient(store).search_runs([e.experiment_id for e in MlflowClient(store).search_experiments()])
    assert [run.info.status for run in runs] == ["KILLED"]
    assert list((tmp_path / "tmp").glob("affectgpt-*")) == []


def _running(pid: int) -> bool:
    """The process exists and has not ended (a zombie waits only for its status to be read)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


RUNNER = textwrap.dedent('''
    import sys
    from kfp import dsl
    from affectgpt_kfp.pipelines.local_run import run_local

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def hold_scratch(ready: str) -> str:
        import os
        import time

        from affectgpt.signals import scratch_dir

        with scratch_dir("affectgpt-probe-") as scratch:
            with open(ready + ".tmp", "w") as handle:
                handle.write(f"{os.getpid()} {scratch}")
            os.rename(ready + ".tmp", ready)
            time.sleep(60)
        return "finished"

    @dsl.pipeline(name="hold")
    def hold(ready: str) -> str:
        return hold_scratch(ready=ready).output

    run_local(hold, {"ready": sys.argv[1]}, sys.argv[2])
''')


def test_a_stopped_local_run_stops_its_step_which_removes_its_scratch_folder(tmp_path):
    script, ready = tmp_path / "runner.py", tmp_path / "ready"
    script.write_text(RUNNER)
    env = _child_env(tmp_path)
    env.pop("AFFECTGPT_KILL_AT", None)
    runner = subprocess.Popen([sys.executable, str(script), str(ready), str(tmp_path / "root")], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    step_pid = None
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and runner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), runner.stderr.read() if runner.poll() is not None else "the step never started"
        pid_text, scratch = ready.read_text().split(" ", 1)
        step_pid = int(pid_text)
        assert Path(scratch).is_dir() and Path(scratch).name.startswith("affectgpt-probe-")
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=30)
        assert not Path(scratch).exists()  # the step cleaned up before it ended ...
        assert not _running(step_pid)  # ... and it did end: the runner waited for it
        assert list((tmp_path / "tmp").glob("affectgpt-*")) == []
    finally:
        if runner.poll() is None:
            runner.kill()
        if step_pid is not None and _running(step_pid):
            os.kill(step_pid, signal.SIGKILL)  # a step the runner left behind (as before the fix)
