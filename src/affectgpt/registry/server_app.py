"""The registry gate as an MLflow server app: MLflow's basic-auth app plus the governed
endpoints under `/api/2.0/affectgpt/registry/`, in the same process.

    mlflow server --app-name affectgpt-gate --backend-store-uri postgresql+psycopg2://... \\
        --artifacts-destination s3://...      # plus the basic-auth ini and secrets, see docs/registry.md

The entry point `affectgpt-gate` (group `mlflow.app`, pyproject.toml) names `create_app`. The
caller is authenticated by the auth app's own check (`authenticate_request`, the user store's
password hash), never by a field of the request; the work is done by `enforcement` with the
server's backend store opened directly, so no registry user needs write access to what the
gate governs. Frozen evidence and the models the gate created live in `gate_store`. MLflow's own
create and rename endpoints refuse (HTTP 403) a name the gate keeps for itself
(`enforcement.reserved_for_gate`) to anyone but an MLflow administrator.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from affectgpt.registry.errors import InvalidInput, NotFound, Refused, RegistryError, RegistryUnavailable
from affectgpt.registry.gate_client import GATE_PATH

_log = logging.getLogger(__name__)

# MLflow's endpoints that give a registered model its name, and the request field holding it.
NAMING_ROUTES = {"/mlflow/registered-models/create": "name", "/mlflow/registered-models/rename": "new_name"}

STATUS = {Refused: (403, "REFUSED"), InvalidInput: (400, "INVALID_INPUT"), NotFound: (404, "NOT_FOUND"),
          RegistryUnavailable: (503, "UNAVAILABLE")}


def _backend_uri() -> str:
    """The server's own backend store (what `mlflow server --backend-store-uri` passed on)."""
    from mlflow.server import BACKEND_STORE_URI_ENV_VAR, REGISTRY_STORE_URI_ENV_VAR

    registry = os.environ.get(REGISTRY_STORE_URI_ENV_VAR)
    backend = os.environ.get(BACKEND_STORE_URI_ENV_VAR)
    if registry and backend and registry != backend:
        raise RuntimeError("the registry gate needs the tracking and registry stores in one backend store")
    if not (registry or backend):
        raise RuntimeError("the registry gate runs inside `mlflow server` (no backend store URI is set)")
    return registry or backend


def _caller():
    """The authenticated user of this request, from the auth app; None when not authenticated."""
    from flask import Response
    from mlflow.server.auth import authenticate_request, store

    from affectgpt.registry.identity import Identity

    authorization = authenticate_request()
    if isinstance(authorization, Response) or authorization is None:
        return None
    user = store.get_user(authorization.username)
    return Identity(name=user.username, authenticated=True, is_admin=bool(user.is_admin))


def _answer(body: Any, status: int = 200):
    from flask import Response

    return Response(json.dumps(body, default=str), status=status, mimetype="application/json")


def _error(error: Exception):
    from mlflow.exceptions import MlflowException

    if isinstance(error, RegistryError):
        status, code = next(((s, c) for kind, (s, c) in STATUS.items() if isinstance(error, kind)), (403, "REFUSED"))
        return _answer({"error_code": code, "message": str(error)}, status)
    if isinstance(error, MlflowException):
        code = getattr(error, "error_code", "")
        kind = {"RESOURCE_DOES_NOT_EXIST": (404, "NOT_FOUND"), "INVALID_PARAMETER_VALUE": (400, "INVALID_INPUT"),
                "RESOURCE_ALREADY_EXISTS": (400, "INVALID_INPUT")}.get(code, (403, "REFUSED"))
        return _answer({"error_code": kind[1], "message": str(error).strip().splitlines()[0]}, kind[0])
    _log.exception("registry gate: unexpected error")
    return _answer({"error_code": "INTERNAL", "message": f"registry gate error: {type(error).__name__}: {error}"}, 500)


def add_gate_routes(app) -> None:
    """Add the gate's endpoints to MLflow's Flask app, each allowed past the auth app's
    fail-closed check (they authenticate and authorize the caller themselves)."""
    from flask import Response, request
    from mlflow.server import auth

    from affectgpt.registry import enforcement
    from affectgpt.registry.connection import RegistryClient
    from affectgpt.registry.gate_store import GateStore

    state: dict[str, GateStore] = {}

    def store() -> GateStore:
        if "store" not in state:
            state["store"] = GateStore()
        return state["store"]

    def run(operation: str):
        identity = _caller()
        if identity is None:
            return auth.make_basic_auth_response()
        try:
            payload = request.get_json(force=True, silent=True) or {}
            client = RegistryClient.enforcement_point(_backend_uri(), identity, store(),
                                                      provide_owned_model=enforcement.provide_owned_model)
            if operation == "init":
                return _answer(enforcement.init(client, store(), identity, payload))
            return _answer(enforcement.OPERATIONS[operation](client, identity, payload))
        except Exception as error:  # noqa: BLE001 - every refusal becomes one JSON answer
            return _error(error)

    def evidence():
        if _caller() is None:
            return auth.make_basic_auth_response()
        try:
            content = enforcement.evidence(store(), str(request.args.get("sha256", "")))
        except Exception as error:  # noqa: BLE001
            return _error(error)
        return Response(content, mimetype="application/octet-stream")

    for operation in ("init", *enforcement.OPERATIONS):
        path = f"{GATE_PATH}/{operation}"
        app.add_url_rule(path, endpoint=f"affectgpt_gate_{operation}",
                         view_func=lambda operation=operation: run(operation), methods=["POST"])
        auth.BEFORE_REQUEST_VALIDATORS[(path, "POST")] = _authenticated_only
    app.add_url_rule(f"{GATE_PATH}/evidence", endpoint="affectgpt_gate_evidence", view_func=evidence, methods=["GET"])
    auth.BEFORE_REQUEST_VALIDATORS[(f"{GATE_PATH}/evidence", "GET")] = _authenticated_only
    for (path, method), validator in list(auth.BEFORE_REQUEST_VALIDATORS.items()):
        field = next((field for route, field in NAMING_ROUTES.items() if path.endswith(route)), None)
        if field and not getattr(validator, "refuses_reserved_names", False):
            auth.BEFORE_REQUEST_VALIDATORS[(path, method)] = _refusing_reserved_names(validator, field)


def _refusing_reserved_names(validator, field: str):
    """MLflow's validator for a create or rename, after a check that the new name is not one the
    gate keeps for itself: a user who created it first would be its manager, and the gate could
    not take it over (the auth app lets administrators past every validator)."""
    from flask import request
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED

    from affectgpt.registry.enforcement import reserved_for_gate

    def check() -> bool:
        body = request.get_json(force=True, silent=True)
        name = (body.get(field) if isinstance(body, dict) else None) or request.args.get(field) or ""
        if reserved_for_gate(name):
            raise MlflowException(f"registered model {name!r}: names ending in '-audit-copy' are kept for the "
                                  "registry gate, which creates them; choose another name", PERMISSION_DENIED)
        return validator()

    check.refuses_reserved_names = True  # type: ignore[attr-defined]
    return check


def _authenticated_only() -> bool:
    """The auth app's validator for the gate's routes: the caller is authenticated by then; what
    they may do is decided by the gate from the registry's roles."""
    return True


def create_app(app=None):
    """The `affectgpt-gate` app: the gate's routes on MLflow's app, then MLflow's basic-auth app
    around all of it (`mlflow.server.auth.create_app`)."""
    from mlflow.server import app as mlflow_app
    from mlflow.server.auth import create_app as create_basic_auth_app

    flask_app = app or mlflow_app
    add_gate_routes(flask_app)
    return create_basic_auth_app(flask_app)
