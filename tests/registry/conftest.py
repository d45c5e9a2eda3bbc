"""Registry fixtures: a real sqlite MLflow store, a real `mlflow server` process, and training
runs that log a real (small) pyfunc model with an author, as the trainer does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from registry_testkit import FAST_RETRY

from affectgpt.registry.connection import RegistryClient


@pytest.fixture(scope="module")
def sqlite_uri(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("mlflow-sqlite") / "mlflow.db"
    return f"sqlite:///{db}"


@pytest.fixture(scope="module")
def sqlite_client(sqlite_uri: str) -> RegistryClient:
    return RegistryClient(sqlite_uri, FAST_RETRY)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MlflowServer:
    """A real `mlflow server` on 127.0.0.1 with a sqlite backend; restartable on the same DB.
    With `auth=True` it runs MLflow's basic-auth app with a test-local auth ini and database."""

    ADMIN_PASSWORD = "admin-password-for-tests"

    def __init__(self, root: Path, auth: bool = False) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.auth = auth
        self.env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
            self.env.pop(key, None)
        self.extra_args: list[str] = []
        if auth:
            ini = root / "auth.ini"
            ini.write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = sqlite:///{root / 'auth.db'}\n"
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
            self.extra_args = ["--app-name", "basic-auth"]

    def start(self, timeout_s: float = 90.0) -> None:
        import requests

        self.log = open(self.root / "server.log", "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.root / 'srv.db'}",
                "--artifacts-destination",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                *self.extra_args,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.env,
            cwd=self.root,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: see {self.root / 'server.log'}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {timeout_s} s: see {self.root / 'server.log'}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # our own process group only
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def server_client(mlflow_server: MlflowServer) -> RegistryClient:
    return RegistryClient(mlflow_server.url, FAST_RETRY)
