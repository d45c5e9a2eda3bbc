"""Who is acting: the person behind a registry command, for the audit log."""

from __future__ import annotations

import getpass
import os


def current_actor(explicit: str | None = None) -> str:
    """An explicit id, else `AFFECTGPT_ACTOR`, else MLflow's user name, else the OS login."""
    if explicit and explicit.strip():
        return explicit.strip()
    for key in ("AFFECTGPT_ACTOR", "MLFLOW_TRACKING_USERNAME"):
        if os.environ.get(key):
            return os.environ[key]
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "unknown"


def same_person(first: str | None, second: str | None) -> bool:
    """Identities compare without case or surrounding blanks ('Alice ' is 'alice')."""
    return bool(first) and bool(second) and first.strip().casefold() == second.strip().casefold()
