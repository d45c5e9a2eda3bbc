"""A reviewer's decision on a candidate: approve or reject, never on one's own work.

The reviewer is the user the server authenticated (on a server this runs inside the registry
gate; a typed name only on a local store, where the decision is marked unauthenticated). The author and the registering identity come from the candidate's
registration record as the audit log holds it. A decision is an audit event; a copy in the tag
`affectgpt.approval.<candidate>` of the production model is for display only, and `verify`
reports any such tag the log does not back. An approval records against which champion the
reviewer compared the candidate; promotion insists that champion is still in place.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from affectgpt.registry.audit import append_event, hold_audited_lease, try_append_event
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import InvalidInput, Refused
from affectgpt.registry.governance import APPROVAL_TAG_PREFIX, LogState, approval_text, require_clean
from affectgpt.registry.identity import Identity, same_person
from affectgpt.registry.records import NO_CHAMPION, load_version
from affectgpt.registry.register import intake

MAX_COMMENT_CHARS = 2000


class Decision(BaseModel):
    """One approval or rejection, as logged."""

    decision: Literal["approved", "rejected"]
    reviewer: str
    authenticated: bool
    comment: str
    at: str
    reviewed_against: str
    reviewed_against_candidate: str | None = None


def refuse(client: RegistryClient, model_name: str, version: str | None, event: str, actor: Identity,
           message: str) -> Refused:
    """Log a refusal when the actor may write the log, and return the error to raise."""
    try_append_event(client, model_name, event, actor=actor, version=version, details={"reason": message})
    return Refused(message)


def checked_registration(client: RegistryClient, model_name: str, version: str, actor: Identity) -> LogState:
    """The verified log state with the candidate's register event in it (logged now if needed)."""
    load_version(client, model_name, version)  # NotFound for an unknown version
    state = require_clean(client, model_name, "this step").state
    if version not in state.registered:
        if not intake(client, model_name, version, actor):
            raise Refused(f"{model_name} v{version}: {actor.name} may not write the audit log; a reviewer "
                          "records decisions")
        state = require_clean(client, model_name, "this step").state
    return state


def four_eyes_problem(state: LogState, version: str, person: str) -> str | None:
    """Why `person` may not decide on `version`, or None."""
    registration = state.registered[version]
    author, registered_by = registration.get("author"), registration.get("registered_by")
    label = f"v{version}"
    if not author:
        return f"{label}: its author is unknown (no registration record), so four-eyes cannot be checked"
    if same_person(person, author):
        return f"{label}: {person} is its author and may not review it; another reviewer must decide (four-eyes)"
    if same_person(person, registered_by):
        return f"{label}: {person} registered it and may not review it; another reviewer must decide (four-eyes)"
    return None


def decide(
    model_name: str,
    version: str | int,
    *,
    comment: str,
    approve: bool,
    reviewer: str | None = None,
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
) -> Decision:
    """Record an approval (approve=True) or a rejection after the four-eyes checks."""
    from affectgpt.registry.gate_client import call_gate, governed

    client = client or RegistryClient(tracking_uri)
    identity = client.identity(reviewer)
    version = str(version)
    comment = (comment or "").strip()
    if not comment:
        raise InvalidInput("--comment is empty; say why (it is kept in the audit log)")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"--comment has {len(comment)} characters; keep it under {MAX_COMMENT_CHARS}")
    if governed(client):
        return Decision.model_validate(call_gate(client, "decide", {
            "model": model_name, "version": version, "comment": comment, "approve": approve}))
    word = "approval" if approve else "rejection"
    refused_event = f"{word}_refused"
    label = f"{model_name} v{version}"
    with hold_audited_lease(client, model_name, actor=identity):
        state = checked_registration(client, model_name, version, identity)
        if identity.authenticated and not state.roles.is_reviewer(identity.name):
            raise refuse(client, model_name, version, refused_event, identity,
                         f"{label}: {identity.name} is not a reviewer of {model_name}")
        problem = four_eyes_problem(state, version, identity.name)
        if problem:
            raise refuse(client, model_name, version, refused_event, identity, f"{model_name} {problem}")
        previous = state.decisions.get(version, {})
        if previous.get("status") == "rejected":
            by = previous["record"].get("reviewer", "?")
            raise refuse(client, model_name, version, refused_event, identity,
                         f"{label} was rejected by {by}; a rejection is final, register a new version instead")
        if state.champion_candidate() == version:
            raise Refused(f"{label} is the champion; roll back (`affectgpt registry rollback`) before deciding on it")
        record = Decision(
            decision="approved" if approve else "rejected",
            reviewer=identity.name,
            authenticated=identity.authenticated,
            comment=comment,
            at=datetime.now(UTC).isoformat(timespec="milliseconds"),
            reviewed_against=state.champion or NO_CHAMPION,
            reviewed_against_candidate=state.champion_candidate(),
        )
        # The event is the decision; the tag after it is a display copy (verify checks it).
        append_event(client, model_name, "approval" if approve else "rejection", actor=identity,
                     version=version, details=json.loads(record.model_dump_json()))
        client.call(f"record the {word} of {label}", client.mlflow.set_registered_model_tag, model_name,
                    f"{APPROVAL_TAG_PREFIX}{version}", approval_text(record.decision, record.reviewer, record.at))
    return record


def approve(model_name: str, version: str | int, *, comment: str, reviewer: str | None = None, **kwargs) -> Decision:
    return decide(model_name, version, reviewer=reviewer, comment=comment, approve=True, **kwargs)


def reject(model_name: str, version: str | int, *, comment: str, reviewer: str | None = None, **kwargs) -> Decision:
    return decide(model_name, version, reviewer=reviewer, comment=comment, approve=False, **kwargs)
