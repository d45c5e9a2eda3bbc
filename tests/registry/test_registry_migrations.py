"""The cluster's MLflow migrates its PostgreSQL schema before the server starts: the init
container of infra/base/mlflow/deployment.yaml (same image, same Secret as the server) runs
here as written there. The PostgreSQL servers of this folder are prepared that way (a fresh
database, migrated, then a server started on it); this test checks the result and that a
restarted pod, which runs the migration again, finds nothing to do."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import yaml
from registry_testkit import FAST_RETRY, MLFLOW_DEPLOYMENT, MlflowServer, migrate_as_the_deployment_does
from testkit.pods import secret_refs

from affectgpt.registry.connection import RegistryClient

pytestmark = pytest.mark.integration


def test_the_deployments_init_container_migrates_postgres_before_the_server_starts(mlflow_server_on_postgres:
                                                                                   MlflowServer):
    from mlflow.store.db.utils import _get_latest_schema_revision

    pod = yaml.safe_load(MLFLOW_DEPLOYMENT.read_text())["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    (migrate,) = pod["initContainers"]
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
