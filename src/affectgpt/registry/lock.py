"""A mutual-exclusion lease for moving a model's aliases.

MLflow has no transactions and tag writes are last-writer-wins, so a tag alone cannot elect one
winner. Creating a registered model, however, is atomic: the name is the primary key, and a
second create fails with RESOURCE_ALREADY_EXISTS on every backend. The lease is therefore a
short-lived registered model `<name>--promotion-lock` whose tags carry a random token, the
holder and an expiry. Whoever creates it holds it; a lost response is resolved by reading the
token back. A lease cannot be held hostage: its expiry is capped (`MAX_LEASE_S`), and a lease
past its expiry, older than the cap by the server's own creation time, or claiming an expiry
beyond the cap (forged with the plain client) is broken automatically by the next taker, which
logs a `lock_broken` event. `registry unlock` (administrators) breaks one at once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import Refused

LOCK_SUFFIX = "--promotion-lock"
TOKEN_TAG = "affectgpt.lock.token"
HOLDER_TAG = "affectgpt.lock.holder"
EXPIRES_TAG = "affectgpt.lock.expires_at_unix"
MAX_LEASE_S = 300.0  # a lease never lasts longer than this, whatever its tags claim


def lock_model_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def _already_exists(error: Exception) -> bool:
    text = str(error)
    return (
        "RESOURCE_ALREADY_EXISTS" in text
        or "already exists" in text.lower()
        or (getattr(error, "error_code", "") in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"))
    )


def _not_found(error: Exception) -> bool:
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower()


class AliasLease:
    """The lease on one model's aliases; use `hold_lease` rather than this class directly."""

    def __init__(self, client: RegistryClient, model_name: str, holder: str, lease_s: float) -> None:
        self.client = client
        self.model_name = model_name
        self.name = lock_model_name(model_name)
        self.holder = holder
        self.lease_s = lease_s
        self.token = uuid.uuid4().hex

        self.broken: dict[str, str] | None = None  # the expired lease this one replaced, if any

    def _read(self) -> dict[str, str] | None:
        return read_lock(self.client, self.model_name)

    def try_acquire(self) -> bool:
        """One attempt: True when this lease now holds the lock (verified by reading it back)."""
        expires_at = time.time() + self.lease_s
        tags = {
            TOKEN_TAG: self.token,
            HOLDER_TAG: self.holder,
            EXPIRES_TAG: f"{expires_at:.3f}",
        }

        def attempt() -> bool:
            try:
                self.client.mlflow.create_registered_model(
                    self.name,
                    tags=tags,
                    description=json.dumps(
                        {
                            "purpose": f"lease on the aliases of {self.model_name}; removed when released",
                            "holder": self.holder,
                            "since": datetime.now(UTC).isoformat(),
                        }
                    ),
                )
            except Exception as error:
                if not _already_exists(error):
                    raise
            current = self._read()
            if current is None:
                return False
            if current.get(TOKEN_TAG) == self.token:
                return True
            self._break_if_expired(current)
            return False

        return self.client.call(f"take the promotion lease of {self.model_name}", attempt)

    def _break_if_expired(self, current: dict[str, str]) -> None:
        if not lock_expired(current):
            return
        # Re-read right before deleting so a lease taken meanwhile by someone else survives.
        again = self._read()
        if again is not None and again.get(TOKEN_TAG) == current.get(TOKEN_TAG):
            try:
                self.client.mlflow.delete_registered_model(self.name)
                self.broken = current
            except Exception as error:
                if not _not_found(error):
                    raise

    def verify(self) -> None:
        """Raise unless this lease still holds the lock and has not expired (checked right
        before the alias write, so a holder slowed past its lease never writes)."""
        current = self.client.call(f"check the promotion lease of {self.model_name}", self._read)
        if current is None or current.get(TOKEN_TAG) != self.token:
            raise Refused(f"{self.model_name}: the promotion lease was lost (expired); run the command again")
        if lock_expired(current):
            raise Refused(f"{self.model_name}: the promotion lease expired mid-change; run the command again")

    def release(self) -> None:
        def attempt() -> None:
            current = self._read()
            if current is not None and current.get(TOKEN_TAG) == self.token:
                try:
                    self.client.mlflow.delete_registered_model(self.name)
                except Exception as error:
                    if not _not_found(error):
                        raise

        self.client.call(f"release the promotion lease of {self.model_name}", attempt)


def read_lock(client: RegistryClient, model_name: str) -> dict[str, str] | None:
    """The lease's tags plus the server's creation time (`created_ms`), or None when free."""
    try:
        registered = client.mlflow.get_registered_model(lock_model_name(model_name))
    except Exception as error:
        if _not_found(error):
            return None
        raise
    return {**dict(registered.tags or {}), "created_ms": str(registered.creation_timestamp or 0)}


def lock_expired(current: dict[str, str], now: float | None = None) -> bool:
    """Past its expiry, older than the cap, or claiming more than the cap: a lease to break."""
    now = time.time() if now is None else now
    try:
        expires_at = float(current.get(EXPIRES_TAG, "0"))
        created = float(current.get("created_ms", "0")) / 1000.0
    except ValueError:
        return True
    if expires_at < now:
        return True
    if created and (now - created > MAX_LEASE_S or expires_at - created > MAX_LEASE_S + 5.0):
        return True
    return expires_at - now > MAX_LEASE_S + 5.0


def break_lock(client: RegistryClient, model_name: str) -> dict[str, str] | None:
    """Delete the lease whatever its state (administrators); returns what it said, or None."""
    current = client.call(f"read the promotion lease of {model_name}", read_lock, client, model_name)
    if current is None:
        return None

    def delete() -> None:
        try:
            client.mlflow.delete_registered_model(lock_model_name(model_name))
        except Exception as error:
            if not _not_found(error):
                raise

    client.call(f"break the promotion lease of {model_name}", delete)
    return current


@contextmanager
def hold_lease(
    client: RegistryClient,
    model_name: str,
    *,
    holder: str,
    lease_s: float = 120.0,
    wait_s: float = 60.0,
    actor=None,
) -> Iterator[AliasLease]:
    """Hold the alias lease for the body, polling (with backoff) while another holder has it.

    While held, `client.held_leases` names the model, so audit appends in the body reuse it."""
    if model_name in client.held_leases:
        raise RuntimeError(f"{model_name}: the alias lease is already held by this client")
    lease = AliasLease(client, model_name, holder, min(lease_s, MAX_LEASE_S))
    deadline = time.monotonic() + wait_s
    delay_s = 0.05
    while not lease.try_acquire():
        if time.monotonic() >= deadline:
            current = lease._read() or {}
            raise Refused(
                f"{model_name}: another alias change holds the lease "
                f"(holder {current.get(HOLDER_TAG, '?')}); try again when it finishes"
            )
        time.sleep(delay_s)
        delay_s = min(delay_s * 2, 1.0)
    client.held_leases.add(model_name)
    try:
        if lease.broken is not None and actor is not None:
            from affectgpt.registry.audit import try_append_event

            try_append_event(client, model_name, "lock_broken", actor=actor,
                             details={"reason": "expired or over the cap", "lock": lease.broken})
        yield lease
    finally:
        client.held_leases.discard(model_name)
        lease.release()
