"""A mutual-exclusion lease for moving a model's aliases.

MLflow has no transactions and tag writes are last-writer-wins, so a tag alone cannot elect one
winner. Creating a registered model, however, is atomic: the name is the primary key, and a
second create fails with RESOURCE_ALREADY_EXISTS on every backend. The lease is therefore a
short-lived registered model `<name>--promotion-lock` whose tags carry a random token, the
holder and an expiry. Whoever creates it holds it; a lost response is resolved by reading the
token back; a lease left by a crashed process can be broken once it has expired.
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

    def _read(self) -> dict[str, str] | None:
        try:
            return dict(self.client.mlflow.get_registered_model(self.name).tags)
        except Exception as error:
            if _not_found(error):
                return None
            raise

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
        try:
            expired = float(current.get(EXPIRES_TAG, "0")) < time.time()
        except ValueError:
            expired = True
        if not expired:
            return
        # Re-read right before deleting so a lease taken meanwhile by someone else survives.
        again = self._read()
        if again is not None and again.get(TOKEN_TAG) == current.get(TOKEN_TAG):
            try:
                self.client.mlflow.delete_registered_model(self.name)
            except Exception as error:
                if not _not_found(error):
                    raise

    def verify(self) -> None:
        """Raise unless this lease still holds the lock and has not expired (checked right
        before the alias write, so a holder slowed past its lease never writes)."""
        current = self.client.call(f"check the promotion lease of {self.model_name}", self._read)
        if current is None or current.get(TOKEN_TAG) != self.token:
            raise Refused(f"{self.model_name}: the promotion lease was lost (expired); run the command again")
        if float(current.get(EXPIRES_TAG, "0")) < time.time():
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


@contextmanager
def hold_lease(
    client: RegistryClient,
    model_name: str,
    *,
    holder: str,
    lease_s: float = 120.0,
    wait_s: float = 60.0,
) -> Iterator[AliasLease]:
    """Hold the alias lease for the body, polling (with backoff) while another holder has it."""
    lease = AliasLease(client, model_name, holder, lease_s)
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
    try:
        yield lease
    finally:
        lease.release()
