"""A mutual-exclusion lease for moving a model's aliases and appending to its audit log.

MLflow has no transactions and tag writes are last-writer-wins, so a tag alone cannot elect one
winner. Model version numbers, however, are handed out atomically. The lease is therefore a
ticket lock: each taker creates a version ("ticket") of the registered model
`<name>--promotion-lock` tagged with a random token, the holder and an expiry, and holds the
lease once every lower-numbered ticket is released or expired. Releasing sets a tag on one's own
ticket; nothing is ever deleted (deleting a registered model would also drop its server
permissions).

A lease cannot be held hostage: its expiry is capped (`MAX_LEASE_S`, measured from the server's
own creation time of the ticket), so a ticket past its expiry, older than the cap, or claiming an
expiry beyond the cap (forged with the plain client) no longer blocks anyone; the taker that
skips it marks it broken and logs a `lock_broken` event. On a server only the registry gate
creates tickets (every user holds READ on the ticket model), and `registry unlock`
(administrators) releases every open ticket at once, with an `unlock` event. Tickets carry a placeholder `source` that nothing reads.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import Refused

LOCK_SUFFIX = "--promotion-lock"
TOKEN_TAG = "affectgpt.lock.token"
HOLDER_TAG = "affectgpt.lock.holder"
EXPIRES_TAG = "affectgpt.lock.expires_at_unix"
RELEASED_TAG = "affectgpt.lock.released"
TICKET_SOURCE = "s3://affectgpt-lease/none"  # MLflow requires a source; this one is never read
MAX_LEASE_S = 300.0  # a lease never lasts longer than this, whatever its tags claim
RECENT_TICKETS = 200
POLL_FIRST_S, POLL_MAX_S = 0.05, 1.0  # waits between looks at the lease while another holds it


def lock_model_name(model_name: str) -> str:
    return f"{model_name}{LOCK_SUFFIX}"


def _already_exists(error: Exception) -> bool:
    text = str(error)
    return "RESOURCE_ALREADY_EXISTS" in text or "already exists" in text.lower()


def ensure_lock_model(client: RegistryClient, model_name: str) -> None:
    """Create the ticket model if missing (on a server `registry init` made it)."""

    def create() -> None:
        try:
            client.mlflow.create_registered_model(
                lock_model_name(model_name), description=f"tickets of the alias lease of {model_name}"
            )
        except Exception as error:
            if not _already_exists(error):
                raise

    client.call(f"create the lease of {model_name}", create)


def ticket_expired(tags: dict[str, str], created_ms: int, now: float | None = None) -> bool:
    """Past its expiry, older than the cap, or claiming more than the cap."""
    now = time.time() if now is None else now
    try:
        expires_at = float(tags.get(EXPIRES_TAG, "0"))
    except ValueError:
        return True
    created = created_ms / 1000.0
    if expires_at < now:
        return True
    if created and (now - created > MAX_LEASE_S or expires_at - created > MAX_LEASE_S + 5.0):
        return True
    return expires_at - now > MAX_LEASE_S + 5.0


def open_tickets(client: RegistryClient, model_name: str) -> list:
    """Recent unreleased tickets, lowest number first (each a ModelVersion)."""
    versions = client.call(
        f"read the lease of {model_name}",
        client.mlflow.search_model_versions,
        f"name = '{lock_model_name(model_name)}'",
        max_results=RECENT_TICKETS,
        order_by=["version_number DESC"],
    )
    return sorted(
        (version for version in versions if not (version.tags or {}).get(RELEASED_TAG)),
        key=lambda version: int(version.version),
    )


def _release_ticket(client: RegistryClient, model_name: str, version: str, why: str) -> None:
    client.call(f"release ticket {version} of the lease of {model_name}", client.mlflow.set_model_version_tag,
                lock_model_name(model_name), version, RELEASED_TAG, why)


class AliasLease:
    """The lease on one model's aliases; use `hold_lease` rather than this class directly."""

    def __init__(self, client: RegistryClient, model_name: str, holder: str, lease_s: float) -> None:
        self.client = client
        self.model_name = model_name
        self.name = lock_model_name(model_name)
        self.holder = holder
        self.lease_s = min(lease_s, MAX_LEASE_S)
        self.token = uuid.uuid4().hex
        self.ticket: str | None = None
        self.broken: list[dict[str, str]] = []  # expired tickets this lease skipped

    def take_ticket(self) -> None:
        tags = {TOKEN_TAG: self.token, HOLDER_TAG: self.holder, EXPIRES_TAG: f"{time.time() + self.lease_s:.3f}"}

        def create_once() -> str:
            # Check-then-create as one retried unit, so a lost response does not leave two tickets.
            for version in open_tickets(self.client, self.model_name):
                if (version.tags or {}).get(TOKEN_TAG) == self.token:
                    return str(version.version)
            return str(self.client.mlflow.create_model_version(
                self.name, TICKET_SOURCE, tags=tags, await_creation_for=0).version)

        self.ticket = self.client.call(f"take the lease of {self.model_name}", create_once)

    def blocking(self) -> list:
        """Open, unexpired tickets ahead of ours; expired ones are marked broken on the way."""
        ahead = []
        for version in open_tickets(self.client, self.model_name):
            number = str(version.version)
            if int(number) >= int(self.ticket):
                continue
            tags = dict(version.tags or {})
            if ticket_expired(tags, int(version.creation_timestamp or 0)):
                _release_ticket(self.client, self.model_name, number, f"broken (expired) by {self.holder}")
                self.broken.append({"ticket": number, **{k: v for k, v in tags.items() if k.startswith("affectgpt.")}})
                continue
            ahead.append(version)
        return ahead

    def verify(self) -> None:
        """Raise unless this lease still holds the lock and has not expired (checked right
        before the alias write, so a holder slowed past its lease never writes)."""
        mine = [v for v in open_tickets(self.client, self.model_name) if str(v.version) == self.ticket]
        if not mine:
            raise Refused(f"{self.model_name}: the promotion lease was released (unlocked); run the command again")
        if ticket_expired(dict(mine[0].tags or {}), int(mine[0].creation_timestamp or 0)):
            raise Refused(f"{self.model_name}: the promotion lease expired mid-change; run the command again")
        if self.blocking():
            raise Refused(f"{self.model_name}: another alias change holds the lease; run the command again")

    def release(self, why: str = "released") -> None:
        if self.ticket is not None:
            _release_ticket(self.client, self.model_name, self.ticket, why)


def break_lock(client: RegistryClient, model_name: str, by: str) -> list[dict[str, str]]:
    """Release every open ticket now (administrators); returns what they said."""
    broken = []
    for version in open_tickets(client, model_name):
        tags = dict(version.tags or {})
        _release_ticket(client, model_name, str(version.version), f"unlocked by {by}")
        broken.append({"ticket": str(version.version), **{k: v for k, v in tags.items() if k.startswith("affectgpt.")}})
    return broken


def _wait_for_turn(lease: AliasLease, wait_s: float) -> None:
    """Poll until no ticket is ahead of ours: waits of 0.05 s doubling up to 1 s, for at most
    `wait_s`; then Refused naming the holders. A registry error while polling is raised as is."""
    polling = Retrying(
        stop=stop_after_delay(wait_s),
        wait=wait_exponential(multiplier=POLL_FIRST_S, max=POLL_MAX_S),
        retry=retry_if_result(bool),  # tickets still ahead
    )
    try:
        polling(lease.blocking)
    except RetryError as gave_up:
        ahead = gave_up.last_attempt.result()
        holders = ", ".join((v.tags or {}).get(HOLDER_TAG, "?") for v in ahead)
        raise Refused(f"{lease.model_name}: another alias change holds the lease (holder {holders}); "
                      "try again when it finishes, or an administrator runs `affectgpt registry unlock`") from None


@contextmanager
def hold_lease(
    client: RegistryClient,
    model_name: str,
    *,
    holder: str,
    lease_s: float = 120.0,
    wait_s: float = 60.0,
) -> Iterator[AliasLease]:
    """Hold the alias lease for the body, polling (with backoff) while another holder has it.

    While held, `client.held_leases` names the model, so audit appends in the body reuse it.
    Tickets this take broke (expired, or beyond the cap) are in `lease.broken`; recording them
    in the audit log is `affectgpt.registry.audit.hold_audited_lease`'s job, as the log sits
    above the lock (an audit append takes the lease)."""
    if model_name in client.held_leases:
        raise RuntimeError(f"{model_name}: the alias lease is already held by this client")
    ensure_lock_model(client, model_name)
    lease = AliasLease(client, model_name, holder, lease_s)
    try:
        lease.take_ticket()
    except Exception as error:
        if "403" in str(error) or "Permission denied" in str(error):
            raise Refused(f"{model_name}: the server refused {holder} the alias lease (HTTP 403): "
                          "not a reviewer or administrator of this model") from error
        raise
    try:
        _wait_for_turn(lease, wait_s)
    except BaseException:
        lease.release("gave up waiting")
        raise
    client.held_leases.add(model_name)
    try:
        yield lease
    finally:
        client.held_leases.discard(model_name)
        lease.release()
