"""The client side of the enforcement point: on an MLflow server that authenticates its users,
every registry change (`init`, `register`, `review`, `approve`/`reject`, `promote`, `rollback`,
`unlock`, `repair`) is one request to the `affectgpt-gate` app inside the server, made with the
caller's own credentials, and the server decides. The caller never writes what the gate reads.

The gate answers JSON; a refusal comes back as `{"error_code": ..., "message": ...}` and is
raised here as the registry error of the same kind, with the server's message.
"""

from __future__ import annotations

import os
from typing import Any

from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import InvalidInput, NotFound, Refused, RegistryError, RegistryUnavailable
from affectgpt.registry.identity import PASSWORD_ENV, USERNAME_ENV, is_server_uri

GATE_PATH = "/api/2.0/affectgpt/registry"
APP_NAME = "affectgpt-gate"
ERRORS: dict[str, type[RegistryError]] = {
    "REFUSED": Refused,
    "INVALID_INPUT": InvalidInput,
    "NOT_FOUND": NotFound,
    "UNAVAILABLE": RegistryUnavailable,
}


def governed(client: RegistryClient) -> bool:
    """True when `client` talks to a server that authenticated its user: changes go through the
    gate there. A local store, a server without authentication, or the gate's own direct-store
    client inside the server act in-process (the local demo, or the enforcement point itself)."""
    return is_server_uri(client.tracking_uri) and client.identity().authenticated


class GateError(RegistryError):
    """The gate answered something that is neither a result nor a refusal."""


def call_gate(client: RegistryClient, operation: str, payload: dict[str, Any] | None = None, *,
              method: str = "POST") -> dict[str, Any]:
    """One request to the gate as the caller (their MLflow credentials), retried like any other
    remote call while the server is unreachable; a refusal raises the matching registry error."""
    import requests

    url = f"{client.tracking_uri.rstrip('/')}{GATE_PATH}/{operation}"
    credentials = (os.environ.get(USERNAME_ENV, ""), os.environ.get(PASSWORD_ENV, ""))

    def send() -> requests.Response:
        if method == "GET":
            answer = requests.get(url, params=payload, auth=credentials, timeout=120)
        else:
            answer = requests.post(url, json=payload or {}, auth=credentials, timeout=120)
        if answer.status_code in (502, 503, 504):
            answer.raise_for_status()  # transient: retried by client.call
        return answer

    answer = client.call(f"ask the registry gate to {operation}", send)
    if answer.status_code == 404 and "error_code" not in answer.text:
        raise Refused(
            f"MLflow at {client.tracking_uri} does not run the registry gate; its administrator starts it "
            f"with `mlflow server --app-name {APP_NAME}` (docs/registry.md). Nothing was changed"
        )
    if answer.status_code == 401:
        raise InvalidInput(f"MLflow at {client.tracking_uri} refused the credentials in {USERNAME_ENV}/"
                           f"{PASSWORD_ENV}")
    try:
        body = answer.json()
    except ValueError as error:
        raise GateError(f"the registry gate at {client.tracking_uri} answered HTTP {answer.status_code}: "
                        f"{answer.text[:300]}") from error
    if answer.status_code >= 400:
        kind = ERRORS.get(str(body.get("error_code")), Refused)
        raise kind(str(body.get("message") or f"refused by the registry gate (HTTP {answer.status_code})"))
    return body
