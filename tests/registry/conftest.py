"""Registry fixtures: a real sqlite MLflow store, a real `mlflow server` process (plain, and
running the registry gate with its users), and training
runs that log a real (small) pyfunc model with an author, as the trainer does."""

from __future__ import annotations

import pytest
from registry_testkit import FAST_RETRY, GATE_RULES, MlflowServer, start_gate_server

from affectgpt.registry.connection import RegistryClient


@pytest.fixture(scope="module")
def sqlite_uri(tmp_path_factory) -> str:
    db = tmp_path_factory.mktemp("mlflow-sqlite") / "mlflow.db"
    return f"sqlite:///{db}"


@pytest.fixture(scope="module")
def sqlite_client(sqlite_uri: str) -> RegistryClient:
    return RegistryClient(sqlite_uri, FAST_RETRY)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def server_client(mlflow_server: MlflowServer) -> RegistryClient:
    return RegistryClient(mlflow_server.url, FAST_RETRY)


@pytest.fixture(scope="session")
def gate_server(tmp_path_factory):
    """One registry gate server (MLflow basic-auth + the gate) for every governed test module."""
    server = start_gate_server(tmp_path_factory.mktemp("mlflow-gate"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gate_rules(tmp_path_factory):
    path = tmp_path_factory.mktemp("gate-rules") / "promotion.yaml"
    path.write_text(GATE_RULES)
    return path
