"""`affectgpt registry` as a newcomer runs it, in fresh processes from a fresh folder: with the
default store (the workspace's `.affectgpt/mlflow.db`) and with `--tracking-uri sqlite:///…`.

Registering must find the run's logged model in the store it was given, never fall back to
MLflow's process default (`./mlflow.db`, artifacts in `./mlruns`); artifacts stay beside the
store; and normal output carries no MLflow INFO chatter unless `--verbose`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import affectgpt

pytestmark = pytest.mark.integration

REGISTRY_TESTS = Path(__file__).resolve().parent
# As training does: the experiment made by `setup_experiment`, then a run that logs a model.
LOG_RUN = (
    "import mlflow\n"
    "from registry_testkit import log_training_run\n"
    "from affectgpt.paths import tracking_uri\n"
    "from affectgpt.train.tracking import setup_experiment\n"
    "print(mlflow.get_experiment(setup_experiment('train')).artifact_location)\n"
    "print(log_training_run(tracking_uri(), 'alice', experiment='train'))\n"
)
REGISTER = ["registry", "register", "--model", "demo", "--data-rev", "d1", "--code-rev", "c1",
            "--config-hash", "h1", "--score", "mer2023=50", "--scorer-mode", "official"]


def _env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("MLFLOW_TRACKING_URI", "AFFECTGPT_HOME", "MLFLOW_LOGGING_LEVEL")}
    src = str(Path(affectgpt.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, str(REGISTRY_TESTS), str(REGISTRY_TESTS.parent),
                                                     env.get("PYTHONPATH")]))
    env["AFFECTGPT_ACTOR"] = "alice"
    env["AFFECTGPT_REGISTRY_RETRIES"] = "1"
    return env


def _python(cwd: Path, *args: str, tracking_uri: str | None = None) -> subprocess.CompletedProcess:
    env = {**_env(), **({"MLFLOW_TRACKING_URI": tracking_uri} if tracking_uri else {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def _affectgpt(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return _python(cwd, "-m", "affectgpt.cli", *args)


def _log_run(cwd: Path, tracking_uri: str | None = None) -> tuple[str, str]:
    """(the training experiment's artifact location, the run id)."""
    done = _python(cwd, "-c", LOG_RUN, tracking_uri=tracking_uri)
    assert done.returncode == 0, done.stderr[-2000:]
    artifact_location, run_id = done.stdout.strip().splitlines()[-2:]
    return artifact_location, run_id


def _mlflow_chatter(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " INFO " in line or " mlflow" in line.lower()]


def test_register_with_the_default_store_from_a_fresh_folder(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    artifact_location, run_id = _log_run(project)
    assert artifact_location == (project / ".affectgpt" / "mlartifacts" / "train").as_uri()
    registered = _affectgpt(project, *REGISTER, "--run-id", run_id)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert f"run {run_id} registered version 1" in registered.stdout
    assert "config: promotion.yaml (packaged: " in registered.stderr
    assert _mlflow_chatter(registered.stderr) == [], registered.stderr
    assert not (project / "mlflow.db").exists() and not (project / "mlruns").exists()
    assert (project / ".affectgpt" / "mlartifacts").is_dir()


def test_register_with_an_explicit_sqlite_uri_leaves_the_current_folder_alone(tmp_path):
    store = tmp_path / "store" / "mlflow.db"
    store.parent.mkdir()
    uri = f"sqlite:///{store}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    artifact_location, run_id = _log_run(elsewhere, uri)
    assert artifact_location == (store.parent / "mlartifacts" / "train").as_uri()  # not ./mlruns
    registered = _affectgpt(elsewhere, *REGISTER, "--run-id", run_id, "--tracking-uri", uri)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert f"run {run_id} registered version 1" in registered.stdout
    assert sorted(p.name for p in elsewhere.iterdir()) == []  # no ./mlflow.db, ./mlruns or .affectgpt


def test_library_logs_are_quiet_unless_verbose(tmp_path):
    """Creating a store makes MLflow log its schema migration at INFO: hidden by default,
    shown with --verbose (so the check can see it when it is there)."""
    quiet = _affectgpt(tmp_path, "registry", "init", "-m", "demo", "--tracking-uri", f"sqlite:///{tmp_path / 'a.db'}")
    assert quiet.returncode == 0, quiet.stderr
    assert _mlflow_chatter(quiet.stderr) == [], quiet.stderr
    verbose = _affectgpt(tmp_path, "-v", "registry", "init", "-m", "demo",
                         "--tracking-uri", f"sqlite:///{tmp_path / 'b.db'}")
    assert verbose.returncode == 0, verbose.stderr
    assert any("INFO mlflow" in line for line in verbose.stderr.splitlines()), verbose.stderr
