"""The cluster's MLflow migrates its PostgreSQL schemas before the server starts: the init
containers of infra/base/mlflow/deployment.yaml (same image, same Secrets as the server) run
here as written there, `migrate` for the backend store and `migrate-auth` for the user
database (basic-auth tables, the gate's tables). The PostgreSQL servers of this folder are prepared that way (a fresh
database, migrated, then a server started on it); this test checks the result and that a
restarted pod, which runs the migration again, finds nothing to do."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import yaml
from registry_testkit import (
    FAST_RETRY,
    MLFLOW_DEPLOYMENT,
    MlflowServer,
    acting,
    init_container,
    migrate_as_the_deployment_does,
    migrate_auth_as_the_deployment_does,
)
from testkit.pods import secret_refs

from affectgpt.registry.connection import RegistryClient

pytestmark = pytest.mark.integration


def test_the_deployments_init_container_migrates_postgres_before_the_server_starts(mlflow_server_on_postgres:
                                                                                   MlflowServer):
    from mlflow.store.db.utils import _get_latest_schema_revision

    pod = yaml.safe_load(MLFLOW_DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    migrate = init_container("migrate")
    assert migrate["image"] == server["image"]
    assert secret_refs(migrate) == {"MLFLOW_BACKEND_STORE_URI": secret_refs(server)["MLFLOW_BACKEND_STORE_URI"]}
    assert "--backend-store-uri=$(MLFLOW_BACKEND_STORE_URI)" in server["args"]  # the database it migrated

    uri = mlflow_server_on_postgres.backend_store_uri  # migrated by the fixture, then served
    assert uri.startswith("postgresql+psycopg2://")
    assert migrate_as_the_deployment_does(uri) == ["mlflow", "db", "upgrade", uri]  # again: a restarted pod
    engine = sa.create_engine(uri)
    try:
        with engine.connect() as connection:
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert revision == _get_latest_schema_revision()
    client = RegistryClient(mlflow_server_on_postgres.url, FAST_RETRY).mlflow
    experiment_id = client.create_experiment("after-migration")
    assert client.get_experiment(experiment_id).name == "after-migration"
    client.create_registered_model("migrated")
    assert client.get_registered_model("migrated").name == "migrated"


def test_the_user_database_is_migrated_before_the_server_starts(postgres_server, gate_server_on_postgres, tmp_path):
    """`migrate-auth` brings an empty PostgreSQL user database to this release (MLflow's auth
    schema at its head, the gate's tables), finds nothing to do on a current one (a restarted
    pod; the gate server of this folder started on a database it migrated), and says in one
    line, exit 5, that an unreachable database did not answer."""
    from alembic.script import ScriptDirectory
    from mlflow.server.auth.db.utils import _get_alembic_config

    pod = yaml.safe_load(MLFLOW_DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    (mlflow,) = pod["containers"]
    migrate_auth = init_container("migrate-auth")
    assert [c["name"] for c in pod["initContainers"]] == ["migrate", "migrate-auth"]
    assert migrate_auth["image"] == mlflow["image"]
    server_ini = {e["name"]: e.get("value") for e in mlflow["env"]}["MLFLOW_AUTH_CONFIG_PATH"]
    assert {e["name"]: e.get("value") for e in migrate_auth["env"]}["MLFLOW_AUTH_CONFIG_PATH"] == server_ini
    assert {m["name"]: m["mountPath"] for m in migrate_auth["volumeMounts"]}["auth-config"] == \
        {m["name"]: m["mountPath"] for m in mlflow["volumeMounts"]}["auth-config"]

    head = ScriptDirectory.from_config(_get_alembic_config("sqlite://")).get_current_head()
    uri = postgres_server.uri(postgres_server.create_database("fresh_auth"))
    for attempt in ("first", "again"):
        done = migrate_auth_as_the_deployment_does(uri, tmp_path / attempt)
        assert done.returncode == 0, done.stderr
        assert f"auth schema {head}" in done.stdout and "affectgpt_gate_evidence" in done.stdout
        assert postgres_server.password not in done.stdout + done.stderr  # the URI is shown, its password not
    engine = sa.create_engine(uri)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"users", "alembic_version_auth", "affectgpt_gate_evidence", "affectgpt_gate_models"} <= tables

    with acting(gate_server_on_postgres, "admin"):  # the gate server started on a database migrated so
        client = RegistryClient(gate_server_on_postgres.url, FAST_RETRY).mlflow
        assert client.search_registered_models() is not None

    unreachable = migrate_auth_as_the_deployment_does("postgresql+psycopg2://nobody:pw@127.0.0.1:9/none", tmp_path / "down")
    assert unreachable.returncode == 5 and "did not answer" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1 and "pw@" not in unreachable.stderr
