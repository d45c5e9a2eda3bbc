"""Helpers shared by the registry tests: fast retries, a real `mlflow server` process and
training runs that log a real (small) pyfunc model with an author, as the trainer does. (Test
modules import from here, never from `conftest`: with several conftest.py files in one run,
`import conftest` finds whichever was loaded last.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from testkit.processes import ServerProcess, free_port

import affectgpt
from affectgpt.registry.connection import RegistryClient, RetryPolicy

if TYPE_CHECKING:
    from stores_testkit import PostgresServer

FAST_RETRY = RetryPolicy(attempts=3, first_delay_s=0.2, max_delay_s=0.5)


def _python_model():
    import mlflow.pyfunc

    class EmotionEcho(mlflow.pyfunc.PythonModel):
        """Answers every clip with one fixed emotion: enough to load and call a served champion."""

        def __init__(self, emotion: str) -> None:
            self.emotion = emotion

        def predict(self, context, model_input: list[str], params=None) -> list[str]:
            return [self.emotion] * len(model_input)

    return EmotionEcho


def log_training_run(
    tracking_uri: str, author: str, emotion: str = "happy", experiment: str = "train"
) -> str:
    """A finished run whose `mlflow.user` is `author`, with a pyfunc model under `model`."""
    import mlflow

    client = RegistryClient(tracking_uri, FAST_RETRY).mlflow
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(experiment, artifact_location=_artifact_location(tracking_uri))
    )
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id, tags={"mlflow.user": author}) as run:
        mlflow.log_param("emotion", emotion)
        mlflow.pyfunc.log_model(
            name="model", python_model=_python_model()(emotion), pip_requirements=["mlflow"]
        )
    return run.info.run_id


def _artifact_location(tracking_uri: str) -> str | None:
    from affectgpt.registry.connection import artifact_root_for

    return artifact_root_for(tracking_uri)


@contextmanager
def environ(values: dict[str, str | None]) -> Iterator[None]:
    """The body runs with `values` in os.environ (None: unset), as a client reading its
    credentials from the environment sees them; the environment is restored after."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        _set_environ(values)
        yield
    finally:
        _set_environ(saved)


def _set_environ(values: dict[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


GATE_APP = "affectgpt-gate"


def _this_checkout_src() -> str:
    import affectgpt

    return str(Path(affectgpt.__file__).resolve().parents[1])


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1, restartable on the same databases. Its backend store
    is a sqlite file unless `backend_store_uri` names another (`postgresql://...`, as in the
    cluster). With `auth=True` it runs the registry gate app (MLflow's basic-auth app plus the
    governed registry endpoints) with a test-local auth ini whose `database_uri` (the users, and
    the gate's own tables) is `auth_database_uri`, else a sqlite file. `light=True` is for tests
    that only need a server that authenticates: MLflow's own basic-auth app on a file store,
    which has no database migrations to run (a third of the start-up time)."""

    ADMIN_PASSWORD = "admin-password-for-tests"

    def __init__(self, root: Path, auth: bool = False, light: bool = False, *,
                 backend_store_uri: str | None = None, auth_database_uri: str | None = None) -> None:
        self.root = root
        self.light = light
        self.backend_store_uri = (str(root / "mlruns") if light else
                                  backend_store_uri or f"sqlite:///{root / 'srv.db'}")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: ServerProcess | None = None
        self.auth = auth
        # No MLflow server jobs (GenAI judges, trace rollups): the platform runs none, and each
        # server would start six huey consumer processes, each importing MLflow, as the
        # deployment in infra/base/mlflow also switches off.
        self.env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        # The server imports the gate app (`affectgpt-gate`) from this checkout's code, not from
        # wherever the package happens to be installed (another checkout's src, in a worktree).
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [_this_checkout_src(), self.env.get("PYTHONPATH")]))
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
            self.env.pop(key, None)
        # The gate app (entry point `affectgpt-gate`) is imported from this checkout, the code under
        # test: pytest's `pythonpath` puts it first in this process only, and the server process
        # would otherwise import whichever copy the environment was installed from.
        checkout_src = str(Path(affectgpt.__file__).resolve().parents[1])
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [checkout_src, self.env.get("PYTHONPATH")]))
        self.extra_args: list[str] = []
        if auth:
            ini = root / "auth.ini"
            ini.write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = {auth_database_uri or 'sqlite:///' + str(root / 'auth.db')}\n"
                "admin_username = admin\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                "grant_default_workspace_access = false\n"
                "auth_cache_ttl_seconds = 600\n"  # PBKDF2 per request is slow on a busy CI runner
            )
            self.env.update({
                "MLFLOW_AUTH_CONFIG_PATH": str(ini),
                "MLFLOW_AUTH_ADMIN_PASSWORD": self.ADMIN_PASSWORD,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": "secret-key-for-tests-only",
            })
            self.extra_args = ["--app-name", "basic-auth" if light else GATE_APP]
        if light:
            self.env["MLFLOW_ALLOW_FILE_STORE"] = "true"

    def start(self, timeout_s: float = 90.0) -> None:
        self.process = ServerProcess("mlflow server", [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", self.backend_store_uri,
            "--artifacts-destination", str(self.root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1", *self.extra_args,
        ], self.root / "server.log", env=self.env, cwd=self.root)
        self.process.wait_healthy(f"{self.url}/health", timeout_s)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


# -- a governed server: the registry gate app with its users ---------------------------------

GATE_PASSWORDS = {"pipeline": "pipeline-password-1", "bob": "bob-password-12", "carol": "carol-password-1",
                  "alice": "alice-password-1", "mallory": "mallory-password-1",
                  "admin": MlflowServer.ADMIN_PASSWORD}
GATE_RULES = ("required_datasets: [mer2023, meld]\nmin_mean_improvement: 0.5\nmax_regression: 2.0\n"
              "min_scores: {}\nmin_mean: 20.0\nrequire_same_scorer_mode: true\nrequire_authenticated: true\n")


@contextmanager
def acting(server: MlflowServer, user: str | None) -> Iterator[RegistryClient]:
    """Run the body as `user` with their own credentials (None: none; an unknown user: a wrong
    password), as the plain MLflow client and the registry CLI read them from the environment."""
    credentials = {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD":
                   None if user is None else GATE_PASSWORDS.get(user, "wrong-password")}
    with environ(credentials):
        yield RegistryClient(server.url, FAST_RETRY)


MLFLOW_DEPLOYMENT = Path(__file__).resolve().parents[2] / "infra" / "base" / "mlflow" / "deployment.yaml"


def migrate_as_the_deployment_does(backend_store_uri: str) -> list[str]:
    """Run the init container of infra/base/mlflow/deployment.yaml here, as the kubelet would:
    its command line with the Secret `mlflow-db`'s URI set to `backend_store_uri` (`mlflow` is
    this environment's). Returns the command line it ran; raises with its stderr if it failed."""
    from testkit.pods import container_env, kubelet_argv

    migrate = init_container("migrate")
    env = container_env(migrate, {("mlflow-db", "uri"): backend_store_uri})
    argv = kubelet_argv(migrate, env)
    if argv[0] != "mlflow":
        raise AssertionError(f"the init container runs {argv[0]!r}, not the image's mlflow")
    done = subprocess.run([sys.executable, "-m", *argv], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(migrate['command'])} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return argv


def init_container(name: str) -> dict:
    """The init container `name` of infra/base/mlflow/deployment.yaml."""
    import yaml

    pod = yaml.safe_load(MLFLOW_DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    return next(c for c in pod["initContainers"] if c["name"] == name)


def migrate_auth_as_the_deployment_does(auth_database_uri: str, root: Path) -> subprocess.CompletedProcess:
    """Run the init container `migrate-auth` here, as the kubelet would: its command line and
    env, with its Secret volume (the auth ini, `database_uri` = `auth_database_uri`) mounted from
    a folder under `root`. `affectgpt` is this environment's, importing this checkout."""
    from testkit.pods import container_env, kubelet_argv

    migrate = init_container("migrate-auth")
    (mount,) = [m for m in migrate["volumeMounts"] if m["name"] == "auth-config"]
    folder = root / "mlflow-auth"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "basic_auth.ini").write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = {auth_database_uri}\n"
                                           "admin_username = admin\n")
    env = {name: value.replace(mount["mountPath"], str(folder), 1) if value.startswith(mount["mountPath"] + "/")
           else value for name, value in container_env(migrate, {}).items()}
    argv = kubelet_argv(migrate, env)
    if argv[0] != "affectgpt":
        raise AssertionError(f"the init container runs {argv[0]!r}, not the image's affectgpt")
    checkout_src = str(Path(affectgpt.__file__).resolve().parents[1])
    return subprocess.run([str(Path(sys.executable).parent / "affectgpt"), *argv[1:]], capture_output=True, text=True,
                          env={**os.environ, **env, "HOME": str(root), "PYTHONPATH": checkout_src},
                          timeout=300, check=False)


def postgres_store_uris(postgres: PostgresServer, name: str, root: Path) -> dict[str, str]:
    """`MlflowServer` arguments for a server on PostgreSQL, as in the cluster: a new database for
    the backend store and one for the auth app's users and the gate's tables, each migrated by
    the deployment's init container (`migrate`, `migrate-auth`) before the server starts."""
    backend = postgres.uri(postgres.create_database(f"{name}_mlflow"))
    migrate_as_the_deployment_does(backend)
    auth = postgres.uri(postgres.create_database(f"{name}_auth"))
    done = migrate_auth_as_the_deployment_does(auth, root)
    if done.returncode != 0:
        raise AssertionError(f"migrate-auth failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {"backend_store_uri": backend, "auth_database_uri": auth}


def start_gate_server(root: Path, **store_uris: str) -> MlflowServer:
    """The registry gate app with users pipeline, bob, carol (reviewers to be), alice (an author)
    and mallory (nobody: the server's default READ), created by the admin. `store_uris`: where
    its databases are (`postgres_store_uris`; default: sqlite files under `root`)."""
    from mlflow.server import get_app_client

    server = MlflowServer(root, auth=True, **store_uris)
    server.start()
    try:
        with acting(server, "admin"):
            users = get_app_client("basic-auth", tracking_uri=server.url)
            for name in ("pipeline", "bob", "carol", "alice", "mallory"):
                users.create_user(name, GATE_PASSWORDS[name])
    except BaseException:
        server.stop()
        raise
    return server


def bench_report(folder: Path, level: float, mode: str = "corrected", **overrides: float) -> Path:
    """A bench report.json scoring mer2023 and meld at `level` percent (plus `overrides`)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    scores = {"mer2023": level, "meld": level, **overrides}
    path = folder / f"report-{level}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps({"units": "percent", "mode": mode, "datasets": {
        name: {"value": value, "status": "scored"} for name, value in scores.items()}}))
    return path


def init_governed(server: MlflowServer, rules_file: Path, model: str) -> None:
    """`registry init` as the admin: pipeline identity `pipeline`, reviewers bob and carol."""
    from affectgpt.registry import init_registry

    with acting(server, "admin") as client:
        init_registry(model, pipeline_user="pipeline", reviewers=["bob", "carol"], rules_path=rules_file,
                      client=client)


def pipeline_registers(server: MlflowServer, model: str, folder: Path, level: float, *, author: str = "alice",
                       mode: str = "corrected", **kwargs):
    """The pipeline identity trains (a real run) and registers it for `author`."""
    from affectgpt.registry import register_candidate

    with acting(server, "pipeline") as client:
        run_id = log_training_run(server.url, "pipeline", experiment="train-governed")
        scores = kwargs.pop("scores", None) or bench_report(folder, level, mode)
        return register_candidate(run_id, model, scores, data_rev=f"dvc-{level}", code_rev="c1", config_hash="h1",
                                  scorer_mode=mode, submitted_by=author, client=client, **kwargs)


def forbidden(call) -> str:
    """Run `call` and insist the MLflow server refused it up front (HTTP 403)."""
    try:
        call()
    except Exception as error:  # noqa: BLE001 - the server's refusal, whatever the client wraps it in
        text = str(error)
        assert "403" in text or "Permission denied" in text or "PERMISSION_DENIED" in text, text
        return text
    raise AssertionError("the server accepted a write it must refuse")


def lay_out_the_old_way(client: RegistryClient, model: str) -> None:
    """Turn `model`'s registry into the layout it had before `<name>-audit-copy` existed: the
    first copy of the audit log in the tags of `model` itself, no first-copy model."""
    from affectgpt.registry.audit import AUDIT_TAG_PREFIX, audit_copy_name

    first = audit_copy_name(model)
    for key, value in client.mlflow.get_registered_model(first).tags.items():
        if key.startswith(AUDIT_TAG_PREFIX):
            client.mlflow.set_registered_model_tag(model, key, value)
    client.mlflow.delete_registered_model(first)


def audit_keys(client: RegistryClient, name: str) -> list[str]:
    """The audit tags on registered model `name`."""
    from affectgpt.registry.audit import AUDIT_TAG_PREFIX

    return sorted(key for key in client.mlflow.get_registered_model(name).tags if key.startswith(AUDIT_TAG_PREFIX))
