"""The enforcement point's own storage: frozen evidence (bench reports, by sha256) and the
registered models the enforcement point created. Only the MLflow server process opens it.

It lives in a database no registry user can reach through MLflow: `AFFECTGPT_GATE_DATABASE_URI`,
else the basic-auth app's own user database (`database_uri` of the auth ini), which in the
cluster is PostgreSQL and in tests a sqlite file. Rows are only ever inserted, keyed by what
they hold (the content's sha256, the model's name), so a retried or repeated write is a no-op
and a crash leaves either the whole row or none.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime

import sqlalchemy as sa

GATE_DATABASE_ENV = "AFFECTGPT_GATE_DATABASE_URI"

_metadata = sa.MetaData()
EVIDENCE = sa.Table(
    "affectgpt_gate_evidence", _metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("stored_at", sa.String(40), nullable=False),
    sa.Column("stored_by", sa.String(256), nullable=False),
)
OWNED_MODELS = sa.Table(
    "affectgpt_gate_models", _metadata,
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("governed_model", sa.String(256), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("created_for", sa.String(256), nullable=False),
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_database_uri() -> str:
    """`AFFECTGPT_GATE_DATABASE_URI`, else the auth app's user database."""
    if os.environ.get(GATE_DATABASE_ENV):
        return os.environ[GATE_DATABASE_ENV]
    return _auth_database_uri()


def upgrade_gate_databases(database_uri: str | None = None) -> dict[str, str]:
    """Bring the server's user database (MLflow's basic-auth tables, its own alembic history)
    and the gate's tables to this release, before a server starts on them: the cluster's init
    container `migrate-auth` (infra/base/mlflow/deployment.yaml) runs it, so the server's
    workers, which otherwise each migrate that database at start, find nothing to do and never
    race on an empty one. Idempotent: a current database is left as it is. Returns the database
    (password hidden), the auth schema revision and the gate's tables."""
    from mlflow.server.auth.db.utils import migrate

    from affectgpt.errors import Unavailable

    uri = database_uri or _auth_database_uri()
    engine = sa.create_engine(uri)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        migrate(engine, "head")
        _metadata.create_all(engine, checkfirst=True)
        with engine.connect() as connection:
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version_auth")).scalar_one()
    except sa.exc.OperationalError as exc:
        raise Unavailable(f"{shown}: the user database did not answer ({str(exc.orig).strip().splitlines()[0]}); "
                          "check the database_uri of the auth ini and that the database server is up") from None
    finally:
        engine.dispose()
    return {"database": shown, "auth_revision": str(revision), "gate_tables": ", ".join(sorted(_metadata.tables))}


def _auth_database_uri() -> str:
    """The user database of the auth ini (`MLFLOW_AUTH_CONFIG_PATH`), as the server reads it."""
    from mlflow.server.auth.config import read_auth_config

    return read_auth_config().database_uri


class GateStore:
    """Insert-only tables of the enforcement point (see the module docstring)."""

    def __init__(self, database_uri: str | None = None) -> None:
        self.engine = sa.create_engine(database_uri or default_database_uri())
        _metadata.create_all(self.engine, checkfirst=True)

    def put_evidence(self, content: bytes, stored_by: str) -> str:
        """Store `content` under its sha256 (a second store of the same bytes changes nothing)."""
        digest = hashlib.sha256(content).hexdigest()
        if self.evidence(digest) is None:
            try:
                with self.engine.begin() as connection:
                    connection.execute(EVIDENCE.insert().values(
                        sha256=digest, content=content, stored_at=_now(), stored_by=stored_by))
            except sa.exc.IntegrityError:  # a concurrent store of the same bytes won
                pass
        return digest

    def evidence(self, sha256: str) -> bytes | None:
        with self.engine.connect() as connection:
            row = connection.execute(sa.select(EVIDENCE.c.content).where(EVIDENCE.c.sha256 == sha256)).first()
        return bytes(row[0]) if row else None

    def record_owned(self, name: str, governed_model: str, created_for: str) -> None:
        """Remember that the enforcement point created (or adopted, checked) registered model `name`."""
        if self.owns(name):
            return
        try:
            with self.engine.begin() as connection:
                connection.execute(OWNED_MODELS.insert().values(
                    name=name, governed_model=governed_model, created_at=_now(), created_for=created_for))
        except sa.exc.IntegrityError:
            pass

    def owns(self, name: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(OWNED_MODELS.c.name).where(OWNED_MODELS.c.name == name)).first() \
                is not None
