"""Repair a broken audit log (MLflow administrators, through the registry gate).

A broken chain refuses every change, rollback included, so it needs a way back that is itself
on the record. The repair merges the two copies (an event intact in either copy is kept, so a
tag lost from one copy is restored from the other; in a registry set up before
`<name>-audit-copy` existed, the first copy's tags on `<name>` count as the first copy),
rewrites both copies to that merged log (the first on `<name>-audit-copy`, none left on
`<name>`), and appends a `repair` event naming the administrator, the reason, the sequence numbers lost
for good and every finding that remains: those exact findings stop blocking (`audit.load_log`),
any later damage still blocks. A lost tail's numbers are taken again by the
events after the repair (the `repair` event lists them as lost). The event also records the aliases and production versions found
in place, which the replay takes as the state from there on.
"""

from __future__ import annotations

from affectgpt.registry.audit import (
    AUDIT_TAG_PREFIX,
    AuditEvent,
    audit_copy_name,
    audit_key,
    audit_model_name,
    load_log,
    new_event,
    provide_first_copy,
    read_copy,
    write_event,
)
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.identity import Identity
from affectgpt.registry.lock import hold_lease
from affectgpt.registry.records import CHAMPION, PREVIOUS, TAG_CANDIDATE_VERSION, registered_model


def _merged(model_name: str, copies: list[list[AuditEvent]]) -> list[AuditEvent]:
    """One event per sequence number: the first copy's if intact, else the other's if intact."""
    merged: dict[int, AuditEvent] = {}
    for events in copies:
        for event in events:
            if event.seq not in merged and event.compute_hash() == event.hash and event.model == model_name:
                merged[event.seq] = event
    return [merged[seq] for seq in sorted(merged)]


def _rewrite_copy(client: RegistryClient, name: str, events: list[AuditEvent]) -> None:
    """Make the audit tags of `name` exactly `events`."""
    tags = dict(registered_model(client, name).tags or {})
    wanted = {audit_key(event.seq): event.to_json_line() for event in events}
    for key in tags:
        if key.startswith(AUDIT_TAG_PREFIX) and key not in wanted:
            client.call(f"remove audit tag {key} of {name}",
                        client.mlflow.delete_registered_model_tag, name, key)
    for key, value in wanted.items():
        if tags.get(key) != value:
            client.call(f"restore audit tag {key} of {name}", client.mlflow.set_registered_model_tag, name, key, value)


def _state_in_place(client: RegistryClient, model_name: str) -> dict:
    """The aliases and production versions as they stand (written only by the gate and admins)."""
    production = registered_model(client, model_name)
    aliases = {str(k): str(v) for k, v in (production.aliases or {}).items()}
    versions = client.mlflow.search_model_versions(f"name = '{model_name}'")
    champion = aliases.get(CHAMPION)
    previous = aliases.get(PREVIOUS)
    return {
        "champion": champion,
        "previous": None if previous == champion else previous,
        "production": {str(v.version): (v.tags or {}).get(TAG_CANDIDATE_VERSION) for v in versions
                       if (v.tags or {}).get(TAG_CANDIDATE_VERSION)},
    }


def repair_log(client: RegistryClient, model_name: str, *, actor: Identity, reason: str) -> AuditEvent:
    """Merge, rewrite and record (see the module docstring); returns the `repair` event."""
    with hold_lease(client, model_name, holder=actor.name):
        first_name, copy_name = audit_copy_name(model_name), audit_model_name(model_name)
        first, _ = read_copy(client, first_name)
        on_production, _ = read_copy(client, model_name)  # the first copy's older place
        second, _ = read_copy(client, copy_name)
        primary = first + on_production
        before = load_log(client, model_name).problems
        events = _merged(model_name, [first, on_production, second])
        provide_first_copy(client, model_name, events)
        for name in (first_name, copy_name):
            _rewrite_copy(client, name, events)
        _rewrite_copy(client, model_name, [])
        remaining = load_log(client, model_name).problems
        top = max([event.seq for event in primary + second] + [0])
        kept = {event.seq for event in events}
        record = new_event(model_name, "repair", actor=actor, head=events[-1] if events else None, details={
            "reason": reason,
            "found": before,
            "lost": [seq for seq in range(1, top + 1) if seq not in kept],
            "restored_from_other_copy": sorted({e.seq for e in second} - {e.seq for e in primary} & kept),
            "acknowledged": remaining,
            "state": _state_in_place(client, model_name),
        })
        write_event(client, model_name, record)
    return record


def repair_registry(model_name: str, *, reason: str, client: RegistryClient | None = None,
                    tracking_uri: str | None = None) -> AuditEvent:
    """`affectgpt registry repair`: on an authenticated server a request to the registry gate
    (MLflow administrators only); on a local store done here, recorded as unauthenticated."""
    from affectgpt.registry.errors import InvalidInput
    from affectgpt.registry.gate_client import call_gate, governed

    if not reason.strip():
        raise InvalidInput("--reason is empty; say what happened (it is kept in the audit log)")
    client = client or RegistryClient(tracking_uri)
    if governed(client):
        return AuditEvent.model_validate(call_gate(client, "repair", {"model": model_name, "reason": reason}))
    registered_model(client, model_name)
    return repair_log(client, model_name, actor=client.identity(), reason=reason)
