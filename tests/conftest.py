"""Shared test fixtures: offline environment and the research reference data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from testkit.required import missing
from xdist_groups import scheduling_group

from affectgpt.paths import reference_data_dir

MLFLOW_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME")


def _mlflow_uris() -> tuple[str | None, str | None]:
    """The tracking and registry URIs set in-process (None: not set, MLflow falls back to the
    environment). Read from MLflow's module globals: the public getters return the resolved
    default instead, and setting that back would pin it for every later test."""
    if "mlflow" not in sys.modules:
        return None, None
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    return tracking_utils._tracking_uri, registry_utils._registry_uri


def _active_experiment() -> str | None:
    if "mlflow" not in sys.modules:
        return None
    from mlflow.tracking import fluent

    return fluent._active_experiment_id


@pytest.fixture(autouse=True)
def restore_mlflow_uris():
    """Tests point MLflow at their own sqlite store (`mlflow.set_tracking_uri`, which also
    exports MLFLOW_TRACKING_URI) and experiment; put the process globals and the environment
    back after each test, so no test runs against a store or experiment another test left behind."""
    saved_env = {name: os.environ.get(name) for name in MLFLOW_URI_ENV}
    saved_tracking, saved_registry = _mlflow_uris()
    saved_experiment = _active_experiment()
    yield
    if "mlflow" in sys.modules and _active_experiment() != saved_experiment:
        # `mlflow.set_experiment` keeps the id in a module global: another test's store has
        # no experiment of that id ("No Experiment with id=N exists").
        from mlflow.tracking import fluent

        fluent._active_experiment_id = saved_experiment
    if "mlflow" in sys.modules and _mlflow_uris() != (saved_tracking, saved_registry):
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        tracking_utils.set_tracking_uri(saved_tracking)  # also resets the tracer, which caches the URI
        registry_utils._registry_uri = saved_registry
    for name, value in saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(scope="session")
def reference_data() -> Path:
    """The shared reference-data folder. Skips where absent (a user's fresh clone); CI sets
    AFFECTGPT_REQUIRE_REFERENCE_DATA=1 so the skip becomes a failure there."""
    found = reference_data_dir(required=False)
    if found is None:
        missing("the reference data is absent: set AFFECTGPT_REFERENCE_DATA to ../shared/reference-data")
    return found


@pytest.fixture(scope="session")
def mertools(reference_data: Path) -> Path:
    return reference_data / "zeroQiaoba-MERTools"


@pytest.fixture(scope="session")
def demo_clip(reference_data: Path) -> dict[str, Path]:
    demo = reference_data / "ouyangjutian-AffectGPT" / "AffectGPT" / "demo"
    return {"video": demo / "sample_00000000.mp4", "audio": demo / "sample_00000000.wav"}


@pytest.fixture()
def chat_endpoint():
    """Factory: `chat_endpoint(answer)` starts a ChatEndpoint, closed after the test."""
    from testkit.chat import ChatEndpoint

    started: list[ChatEndpoint] = []

    def start(answer) -> ChatEndpoint:
        started.append(ChatEndpoint(answer))
        return started[-1]

    yield start
    for endpoint in started:
        endpoint.close()


@pytest.fixture(scope="session")
def s3_emulator():
    """An EMULATOR of S3, not an object store: moto's server on 127.0.0.1 (testkit/s3.py; no
    S3-compatible server installs here from Debian). Signed requests are checked: a wrong key is
    refused (403). Yields its endpoint and the key pair it accepts; `bucket(name)` makes one."""
    import importlib.util

    from testkit.s3 import start_s3_emulator

    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("dvc_s3") is None:
        missing("moto or dvc-s3 is not installed: pip install --no-deps --require-hashes -c constraints.txt "
                "-r requirements.lock (scripts/bootstrap.sh does)")

    with start_s3_emulator() as emulator:
        yield emulator


class KillKit:
    """Run an `affectgpt` command in a child process that SIGKILLs (or SIGTERMs) itself right
    after a named event (`AFFECTGPT_KILL_AT`, see affectgpt.publish.fault_point): the fault tests
    interrupt a step at an exact point instead of after a sleep."""

    @staticmethod
    def run(args: list[str], kill_at: str | None = None, timeout: float = 600, *, kill_signal: str = "KILL",
            env: dict[str, str] | None = None):
        """`affectgpt ARGS` in a child process (this checkout's code) that sends itself
        `kill_signal` (KILL, or TERM as a scheduler stops a job) at the event `kill_at`."""
        import subprocess
        import sys

        import affectgpt

        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(affectgpt.__file__).resolve().parents[1]),
                                                         env.get("PYTHONPATH")]))
        env.pop("AFFECTGPT_KILL_AT", None)
        env["AFFECTGPT_KILL_SIGNAL"] = kill_signal
        # An in-process training test earlier in the session leaves its rendezvous (MASTER_PORT, ...)
        # in this process's environment; a child inheriting it would reuse the port a killed child
        # left in TIME_WAIT (EADDRINUSE). Each child picks its own, as a fresh CLI run does.
        for name in ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"):
            env.pop(name, None)
        if kill_at:
            env["AFFECTGPT_KILL_AT"] = kill_at
        return subprocess.run([sys.executable, "-c", "from affectgpt.cli import app; app()", *map(str, args)],
                              env=env, capture_output=True, text=True, timeout=timeout, check=False)

    @staticmethod
    def snapshot(folder: Path) -> dict[str, str]:
        """Relative path -> SHA-256 of every file under `folder` (the exact set a reader sees)."""
        from affectgpt.manifest import hash_file

        return {str(p.relative_to(folder)): hash_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}

    @staticmethod
    def leftovers(target: Path) -> list[str]:
        """Staging, ready or old siblings of a published folder."""
        return sorted(p.name for p in target.parent.glob(f".{target.name}.*"))


@pytest.fixture()
def killkit() -> type[KillKit]:
    return KillKit


# -- parallel runs (pytest-xdist, `make test` runs `-n auto --dist loadscope`) -------------------
# A worker runs a whole group: one folder of tests (its conftest's session fixtures, such as the
# registry gate server or the demo corpus, are built once, not once per worker), or one top-level
# file, in file order. The heaviest groups go first (measured with `make test --durations=0`), so
# no worker is left at the end with a long group while the other idles.
# The group is given to xdist's scheduler directly (`pytest_xdist_make_scheduler`): the
# `xdist_group` marker works by rewriting a test's id, which pytest 9 no longer lets a plugin do,
# so under it every test was scheduled alone.
HEAVIEST_GROUPS_FIRST = ("test_readme", "registry", "pipelines", "cluster", "train", "data", "bench",
                         "test_installed_wheel")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: index for index, name in enumerate(HEAVIEST_GROUPS_FIRST)}
    # sort is stable: within a group, and among the unranked groups, collection order stays
    items.sort(key=lambda item: rank.get(scheduling_group(item.nodeid), len(rank)))


def pytest_xdist_make_scheduler(config: pytest.Config, log):  # type: ignore[no-untyped-def]
    """Under `--dist loadscope`, a scope is a `scheduling_group`, not xdist's default (a file)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scheduling_group(nodeid)

    return GroupScheduling(config, log)
