"""Registry fixtures: a real sqlite MLflow store, a real `mlflow server` process (plain, and
running the registry gate with its users) on sqlite and on PostgreSQL, and training runs that
log a real (small) pyfunc model with an author, as the trainer does.

The registry's core (register, review, approve/reject, promote, the race for the alias lease,
the dishonest moves, tamper detection) runs on both stores through `gate_on_each_store` and
`server_on_each_store`; the rest of the folder runs on sqlite only, to keep the suite short."""

from __future__ import annotations

import pytest
from registry_testkit import FAST_RETRY, GATE_RULES, MlflowServer, postgres_store_uris, start_gate_server
from stores_testkit import postgres_server  # noqa: F401 (a fixture of this folder's tests)

from affectgpt.registry.connection import RegistryClient

STORES = ["sqlite", "postgresql"]


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


@pytest.fixture(scope="session")
def mlflow_server_on_postgres(tmp_path_factory, postgres_server):  # noqa: F811
    """A plain `mlflow server` whose backend store is a PostgreSQL database, migrated by the
    deployment's init container first, as in the cluster."""
    root = tmp_path_factory.mktemp("mlflow-server-pg")
    server = MlflowServer(root, backend_store_uri=postgres_store_uris(postgres_server, "plain", root)["backend_store_uri"])
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=STORES)
def server_on_each_store(request) -> MlflowServer:
    """The plain server on sqlite, then on PostgreSQL (the test runs once per store)."""
    return request.getfixturevalue("mlflow_server" if request.param == "sqlite" else "mlflow_server_on_postgres")


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
def gate_server_on_postgres(tmp_path_factory, postgres_server):  # noqa: F811
    """The registry gate server with its backend store, its users and the gate's own tables in
    PostgreSQL databases, as in the cluster."""
    root = tmp_path_factory.mktemp("mlflow-gate-pg")
    server = start_gate_server(root, **postgres_store_uris(postgres_server, "gate", root))
    yield server
    server.stop()


@pytest.fixture(params=STORES)
def gate_on_each_store(request) -> MlflowServer:
    """The registry gate server on sqlite, then on PostgreSQL (the test runs once per store)."""
    return request.getfixturevalue("gate_server" if request.param == "sqlite" else "gate_server_on_postgres")


@pytest.fixture(scope="session")
def gate_rules(tmp_path_factory):
    path = tmp_path_factory.mktemp("gate-rules") / "promotion.yaml"
    path.write_text(GATE_RULES)
    return path
