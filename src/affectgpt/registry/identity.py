"""Who is acting: the server's authenticated user, never a name typed on the command line.

Against an MLflow server running its basic-auth app, the identity is the user whose
`MLFLOW_TRACKING_USERNAME`/`MLFLOW_TRACKING_PASSWORD` the server accepts (checked with the
server before anything is written). A local sqlite store, or a server without authentication,
cannot tell people apart: there the identity is the claimed name (`--reviewer`/`--actor`, else
`AFFECTGPT_ACTOR`, else the OS login) and every decision made with it is marked
**unauthenticated**, which the production gate refuses (`require_authenticated`).
"""

from __future__ import annotations

import getpass
import os
from urllib.parse import urlparse

from pydantic import BaseModel

from affectgpt.registry.errors import InvalidInput

USERNAME_ENV = "MLFLOW_TRACKING_USERNAME"
PASSWORD_ENV = "MLFLOW_TRACKING_PASSWORD"
ACTOR_ENV = "AFFECTGPT_ACTOR"


class Identity(BaseModel):
    """The person (or service) behind a registry command."""

    name: str
    authenticated: bool
    is_admin: bool = False


def _claimed_name(explicit: str | None) -> str:
    if explicit and explicit.strip():
        return explicit.strip()
    for key in (ACTOR_ENV, USERNAME_ENV):
        if os.environ.get(key):
            return os.environ[key].strip()
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def is_server_uri(tracking_uri: str) -> bool:
    return urlparse(tracking_uri).scheme in ("http", "https")


def probe_server_identity(tracking_uri: str) -> Identity | None:
    """Ask the server who the configured credentials belong to.

    Returns None when the server has no authentication (its user API is absent and it answers
    anonymous requests). Raises InvalidInput when it requires credentials that are missing or
    refused; network errors propagate so the caller's retry policy handles them.
    """
    import requests

    base = tracking_uri.rstrip("/")
    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if username and password:
        answer = requests.get(
            f"{base}/api/2.0/mlflow/users/get", params={"username": username}, auth=(username, password), timeout=30
        )
        if answer.status_code == 401:
            raise InvalidInput(
                f"MLflow at {tracking_uri} refused the credentials of {username!r} "
                f"({USERNAME_ENV}/{PASSWORD_ENV}); check them with your administrator"
            )
        if answer.status_code == 200:
            user = answer.json().get("user", {})
            return Identity(name=str(user.get("username", username)), authenticated=True,
                            is_admin=bool(user.get("is_admin", False)))
        if answer.status_code >= 500:
            answer.raise_for_status()
    anonymous = requests.get(
        f"{base}/api/2.0/mlflow/registered-models/search", params={"max_results": 1}, timeout=30
    )
    if anonymous.status_code in (401, 403):
        raise InvalidInput(
            f"MLflow at {tracking_uri} requires a login: set {USERNAME_ENV} and {PASSWORD_ENV} "
            "to your own account"
        )
    if anonymous.status_code >= 500:
        anonymous.raise_for_status()
    return None


def resolve_identity(tracking_uri: str, claimed: str | None = None, *, probe=probe_server_identity) -> Identity:
    """The acting identity; a claimed name must equal the authenticated user where there is one."""
    server = probe(tracking_uri) if is_server_uri(tracking_uri) else None
    if server is None:
        return Identity(name=_claimed_name(claimed), authenticated=False)
    if claimed and claimed.strip() and not same_person(claimed, server.name):
        raise InvalidInput(
            f"you are authenticated as {server.name!r} but named {claimed.strip()!r}; the registry "
            "acts as the authenticated user only (drop the option or log in as that user)"
        )
    return server


def same_person(first: str | None, second: str | None) -> bool:
    """Identities compare without case or surrounding blanks ('Alice ' is 'alice')."""
    return bool(first) and bool(second) and first.strip().casefold() == second.strip().casefold()
