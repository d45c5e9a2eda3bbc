"""The tamper-evident audit log of a model: every init, register, review, decision, promotion,
rollback, unlock and refusal, hash-chained and kept twice.

Each event carries a sequence number and the hash of the event before it; its own hash covers
everything it says. An edited event no longer matches its hash, a deleted one leaves a gap in
the sequence or a broken link. The log is written to two registered models of its own that, on
a server, only the registry gate creates and writes (every user holds READ, see `enforcement`):
the tags of `<name>-audit-copy` (the first copy) and of `<name>-audit` (the second), so the
production model's page shows its versions, aliases and description, not dozens of JSON events.
Appends happen under the alias lease, so two writers never claim the same sequence number; the
first copy is written first, so a crash between the two writes leaves the second copy one event
short (healed on the next append), while any other difference between the copies is tampering
and is reported by `load_log`; what an administrator's `repair` recorded as lost no longer
blocks (`repair`).

Registries set up before `<name>-audit-copy` existed keep the first copy in the tags of `<name>`
itself. `load_log` reads either layout (and a move cut short, part in each place, as one log);
the next append under the lease moves those tags to `<name>-audit-copy`, once the log checks
out against `<name>-audit`, and then deletes them from `<name>` (`move_first_copy`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import Refused
from affectgpt.registry.identity import Identity
from affectgpt.registry.lock import AliasLease, hold_lease

AUDIT_TAG_PREFIX = "affectgpt.audit."
AUDIT_MODEL_SUFFIX = "-audit"
AUDIT_COPY_SUFFIX = "-audit-copy"
GENESIS = "0" * 64


def audit_model_name(model_name: str) -> str:
    """The registered model that holds the second copy of the log."""
    return f"{model_name}{AUDIT_MODEL_SUFFIX}"


def audit_copy_name(model_name: str) -> str:
    """The registered model that holds the first copy of the log (the one written first)."""
    return f"{model_name}{AUDIT_COPY_SUFFIX}"


def audit_copy_description(model_name: str) -> str:
    """What `<name>-audit-copy`'s MLflow page says it is."""
    return (f"first copy of the audit log of {model_name} (the second is {audit_model_name(model_name)}); "
            f"read it with `affectgpt registry history --model {model_name}`")


def audit_key(seq: int) -> str:
    return f"{AUDIT_TAG_PREFIX}{seq:06d}"


class AuditEvent(BaseModel):
    """One link of the chain."""

    seq: int
    at: str = Field(description="UTC time, ISO 8601")
    event: str = Field(description="init, register, review, approval, rejection, promotion, rollback, ...")
    model: str
    version: str | None = None
    actor: str
    authenticated: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"hash"})

    def compute_hash(self) -> str:
        canonical = json.dumps(self.body(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json_line(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _not_found(error: Exception) -> bool:
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower()


def audit_tags(client: RegistryClient, registered_name: str) -> dict[str, str] | None:
    """The audit tags of one registered model; None when the model does not exist."""

    def get() -> dict[str, str] | None:
        try:
            return dict(client.mlflow.get_registered_model(registered_name).tags or {})
        except Exception as error:
            if _not_found(error):
                return None
            raise

    tags = client.call(f"read the audit log in {registered_name}", get)
    if tags is None:
        return None
    return {key: value for key, value in tags.items() if key.startswith(AUDIT_TAG_PREFIX)}


def parse_copy(registered_name: str, tags: dict[str, str]) -> tuple[list[AuditEvent], list[str]]:
    """The events in `tags` (audit tags of `registered_name`), by sequence, and what could not be read."""
    events: list[AuditEvent] = []
    problems: list[str] = []
    for key, value in sorted(tags.items()):
        if not key.startswith(AUDIT_TAG_PREFIX):
            continue
        try:
            event = AuditEvent.model_validate_json(value)
        except Exception:  # noqa: BLE001 - an unreadable event is a finding, not a crash
            problems.append(f"{registered_name}: audit tag {key} is not a readable event (edited)")
            continue
        if key != audit_key(event.seq):
            problems.append(f"{registered_name}: audit tag {key} holds event #{event.seq} (moved or edited)")
            continue
        events.append(event)
    return sorted(events, key=lambda event: event.seq), problems


def read_copy(client: RegistryClient, registered_name: str) -> tuple[list[AuditEvent], list[str]]:
    """The events stored in one registered model's tags, by sequence, and what could not be read."""
    return parse_copy(registered_name, audit_tags(client, registered_name) or {})


class FirstCopy(BaseModel):
    """The first copy as read, wherever it lies (see the module docstring)."""

    events: list[AuditEvent]
    problems: list[str]
    model_exists: bool = Field(description="whether `<name>-audit-copy` exists")
    on_production: list[str] = Field(default_factory=list, description="audit tag keys still on `<name>`")


def read_first_copy(client: RegistryClient, model_name: str,
                    second: list[AuditEvent] | None = None) -> FirstCopy:
    """The first copy: the tags of `<name>-audit-copy`; in a registry set up before that model
    existed, the tags of `<name>`, and when a move was cut short both. While `<name>` holds any,
    they are the first copy and `<name>-audit-copy` adds only events the second copy (`second`,
    read here if not given) holds the same: a move deletes from `<name>` only after both copies
    hold every event, and until the gate has moved the log it has not checked that
    `<name>-audit-copy` is its own, so anything else found there is named, never trusted."""
    copy_name = audit_copy_name(model_name)
    copy_tags = audit_tags(client, copy_name)
    events, problems = parse_copy(copy_name, copy_tags or {})
    old_tags = audit_tags(client, model_name) or {}
    if not old_tags:
        return FirstCopy(events=events, problems=problems, model_exists=copy_tags is not None)
    old_events, old_problems = parse_copy(model_name, old_tags)
    if second is None:
        second = read_copy(client, audit_model_name(model_name))[0]
    in_second = {event.seq: event for event in second}
    by_seq = {event.seq: event for event in old_events}
    for event in events:
        held = by_seq.get(event.seq)
        if held is None and in_second.get(event.seq) == event:
            by_seq[event.seq] = event  # moved, then deleted from `<name>`
        elif held is None:
            problems.append(f"{copy_name}: event #{event.seq} is in neither {model_name} nor "
                            f"{audit_model_name(model_name)} (not written by the registry)")
        elif held != event:
            problems.append(f"event #{event.seq} differs between {model_name} and {copy_name} (edited)")
    return FirstCopy(events=sorted(by_seq.values(), key=lambda event: event.seq), problems=problems + old_problems,
                     model_exists=copy_tags is not None, on_production=sorted(old_tags))


def check_chain(events: list[AuditEvent], where: str, model_name: str) -> list[str]:
    """Sequence without gaps from 1, every link pointing at the previous hash, every hash right."""
    problems = []
    previous_hash = GENESIS
    expected_seq = 1
    for event in events:
        if event.seq != expected_seq:
            problems.append(
                f"{where}: events #{expected_seq}..#{event.seq - 1} are missing (deleted)"
                if event.seq > expected_seq
                else f"{where}: event #{event.seq} appears twice"
            )
        if event.compute_hash() != event.hash:
            problems.append(f"{where}: event #{event.seq} ({event.event}) was edited: its hash does not match")
        if event.prev_hash != previous_hash:
            problems.append(f"{where}: event #{event.seq} ({event.event}) does not follow the event before it")
        if event.model != model_name:
            problems.append(f"{where}: event #{event.seq} names model {event.model!r}, not {model_name!r}")
        previous_hash = event.hash
        expected_seq = event.seq + 1
    return problems


class AuditLog(BaseModel):
    """Both copies of a model's log, as read, and what is wrong with them."""

    events: list[AuditEvent]
    problems: list[str]
    copy_missing_tail: list[AuditEvent] = Field(default_factory=list)
    first_copy_exists: bool = True
    on_production: list[str] = Field(default_factory=list)  # first-copy tags still on `<name>` (older layout)


def load_log(client: RegistryClient, model_name: str) -> AuditLog:
    """Read and check both copies. `events` is the first copy; a second copy that is a clean
    prefix of it is only behind (a crash between the two writes), anything else is named.
    (The first copy's chain findings say "<name> audit log", as they did when it lay on `<name>`,
    so findings a `repair` acknowledged then still match.)"""
    copy_name = audit_model_name(model_name)
    second, second_problems = read_copy(client, copy_name)
    first = read_first_copy(client, model_name, second)
    primary, first_name = first.events, audit_copy_name(model_name) if not first.on_production else model_name
    problems = first.problems + second_problems
    problems += check_chain(primary, f"{model_name} audit log", model_name)
    problems += check_chain(second, f"{copy_name} audit log", model_name)
    by_seq = {event.seq: event for event in second}
    missing_tail: list[AuditEvent] = []
    for event in primary:
        other = by_seq.pop(event.seq, None)
        if other is None:
            missing_tail.append(event)
        elif other.hash != event.hash or other != event:
            problems.append(f"event #{event.seq} differs between {first_name} and {copy_name} (edited)")
    for seq in sorted(by_seq):
        problems.append(
            f"event #{seq} ({by_seq[seq].event}) is in {copy_name} but not in {first_name} (deleted)"
        )
    if missing_tail and primary and missing_tail[0].seq <= (second[-1].seq if second else 0):
        problems.append(f"{copy_name} lacks events {[event.seq for event in missing_tail]} (deleted)")
        missing_tail = []
    acknowledged = acknowledged_problems(primary)
    problems = [problem for problem in problems if problem not in acknowledged]
    if problems and first.on_production:  # say why the older layout stays
        problems.append(f"{model_name}: its audit tags are not moved to {audit_copy_name(model_name)} while the "
                        "log fails its check")
    return AuditLog(events=primary, problems=problems, copy_missing_tail=missing_tail,
                    first_copy_exists=first.model_exists, on_production=first.on_production)


def acknowledged_problems(events: list[AuditEvent]) -> set[str]:
    """What intact `repair` events (an administrator, through the gate) recorded as lost: those
    exact findings no longer block the registry; any other, later damage still does."""
    found: set[str] = set()
    for event in events:
        if event.event == "repair" and event.compute_hash() == event.hash:
            found.update(str(problem) for problem in event.details.get("acknowledged", []))
    return found


def read_events(client: RegistryClient, model_name: str) -> list[AuditEvent]:
    """The first copy of the log, oldest first (unchecked: use `load_log` to check)."""
    return read_first_copy(client, model_name).events


def read_audit_copy(client: RegistryClient, model_name: str) -> list[AuditEvent]:
    """The second copy (`<name>-audit`), oldest first."""
    return read_copy(client, audit_model_name(model_name))[0]


def append_event(
    client: RegistryClient,
    model_name: str,
    event: str,
    *,
    actor: Identity,
    version: str | int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one event to both copies, under the alias lease (taken here unless already held).

    Refuses on a broken chain: nothing is appended to a log that no longer proves itself (nor
    moved, in the older layout)."""
    held = model_name in client.held_leases
    with nullcontext() if held else hold_lease(client, model_name, holder=actor.name):
        log = load_log(client, model_name)
        if log.problems:
            raise Refused(
                f"{model_name}: the audit log failed its check, nothing was written: "
                + "; ".join(log.problems)
                + f". Run `affectgpt registry verify --model {model_name}` and ask an administrator"
            )
        if log.on_production or not log.first_copy_exists or client.evidence_store is not None:
            provide_first_copy(client, model_name, log.events)  # the gate writes only to a model of its own
        copy_name = audit_model_name(model_name)
        for missing in log.copy_missing_tail:  # heal a crash between the two writes
            client.call(f"complete the audit copy of {model_name}", client.mlflow.set_registered_model_tag,
                        copy_name, audit_key(missing.seq), missing.to_json_line())
        if log.on_production:
            move_first_copy(client, model_name, log.events, log.on_production)
        head = log.events[-1] if log.events else None
        record = new_event(model_name, event, actor=actor, head=head, version=version, details=details)
        write_event(client, model_name, record)
    return record


def move_first_copy(client: RegistryClient, model_name: str, events: list[AuditEvent],
                    on_production: list[str]) -> None:
    """Give the first copy its own model (provided already, `provide_first_copy`): write `events`
    to `<name>-audit-copy` (those it lacks), then delete the audit tags `on_production` from
    `<name>`. Called under the lease with a log that checked out, after the second copy was made
    whole; a crash anywhere leaves a layout `load_log` reads, and the next append finishes."""
    copy_name = audit_copy_name(model_name)
    held = audit_tags(client, copy_name) or {}
    for event in events:
        if held.get(audit_key(event.seq)) != event.to_json_line():
            client.call(f"move audit event #{event.seq} of {model_name} to {copy_name}",
                        client.mlflow.set_registered_model_tag, copy_name, audit_key(event.seq), event.to_json_line())
    for key in on_production:
        client.call(f"delete the moved audit tag {key} of {model_name}", client.mlflow.delete_registered_model_tag,
                    model_name, key)


def provide_first_copy(client: RegistryClient, model_name: str, events: list[AuditEvent]) -> None:
    """Make sure `<name>-audit-copy` exists. Inside the MLflow server the registry gate checks at
    each append that it is its own, or creates it as `init` creates the others (in the backend
    store, recorded as the gate's, each role granted), and refuses one someone else made
    (`enforcement.provide_owned_model`); on a local store it is simply created."""
    copy_name = audit_copy_name(model_name)
    description = audit_copy_description(model_name)
    if client.evidence_store is not None:
        if client.provide_owned_model is None:
            raise Refused(f"{model_name}: the registry gate's client cannot create {copy_name} (no owned-model "
                          "provider); nothing was written")
        client.provide_owned_model(client, client.evidence_store, model_name, copy_name, description, events)
        return

    def create() -> None:
        try:
            client.mlflow.create_registered_model(copy_name, description=description)
        except Exception as error:
            if "already exists" not in str(error).lower() and "ALREADY_EXISTS" not in str(error):
                raise

    client.call(f"create registered model {copy_name}", create)


def new_event(model_name: str, event: str, *, actor: Identity, head: AuditEvent | None,
              version: str | int | None = None, details: dict[str, Any] | None = None) -> AuditEvent:
    """The next link after `head` (None: the first), hashed."""
    record = AuditEvent(
        seq=(head.seq + 1) if head else 1,
        at=_now_iso(),
        event=event,
        model=model_name,
        version=None if version is None else str(version),
        actor=actor.name,
        authenticated=actor.authenticated,
        details=json.loads(json.dumps(details or {}, default=str)),
        prev_hash=head.hash if head else GENESIS,
    )
    record.hash = record.compute_hash()
    return record


def write_event(client: RegistryClient, model_name: str, record: AuditEvent) -> None:
    """Write one event to the first copy, then to the second copy (see the module docstring)."""
    for target in (audit_copy_name(model_name), audit_model_name(model_name)):
        client.call(f"append '{record.event}' to the audit log in {target}", client.mlflow.set_registered_model_tag,
                    target, audit_key(record.seq), record.to_json_line())


def try_append_event(client: RegistryClient, model_name: str, event: str, **kwargs) -> AuditEvent | None:
    """Append when the actor may write the log; an identity without that right (the pipeline,
    a user without a role) is refused by the server and the event is simply not recorded."""
    try:
        return append_event(client, model_name, event, **kwargs)
    except Refused:
        return None
    except Exception as error:
        if "403" in str(error) or "PERMISSION_DENIED" in str(error) or "Permission denied" in str(error):
            return None
        raise


@contextmanager
def hold_audited_lease(client: RegistryClient, model_name: str, *, actor: Identity,
                       wait_s: float = 60.0) -> Iterator[AliasLease]:
    """`hold_lease` for a person's decision: tickets broken on the way in (expired, or beyond
    the cap) are recorded as a `lock_broken` event, while the lease is held."""
    with hold_lease(client, model_name, holder=actor.name, wait_s=wait_s) as lease:
        if lease.broken:
            try_append_event(client, model_name, "lock_broken", actor=actor,
                             details={"reason": "expired or beyond the cap", "tickets": lease.broken})
        yield lease
