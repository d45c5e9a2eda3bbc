"""A reviewer's decision on a version: approve or reject, never on one's own work.

The author is MLflow's own `mlflow.user` tag of the run that produced the version. An approval
records against which champion the reviewer compared the candidate; promotion later insists
that champion is still in place (see `promotion`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from affectgpt.registry.audit import append_event
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import InvalidInput, Refused
from affectgpt.registry.identity import same_person
from affectgpt.registry.records import (
    NO_CHAMPION,
    TAG_APPROVAL_RECORD,
    TAG_APPROVAL_STATUS,
    VersionInfo,
    current_alias,
    load_version,
)

MAX_COMMENT_CHARS = 2000


class Decision(BaseModel):
    """One approval or rejection, as stored on the version and in the audit log."""

    decision: Literal["approved", "rejected"]
    reviewer: str
    comment: str
    at: str
    reviewed_against: str
    gate_verdict: str | None = None


def refuse(client: RegistryClient, info: VersionInfo, event: str, actor: str, message: str) -> Refused:
    """Log a refusal in the audit trail and return the error to raise."""
    append_event(client, info.model, event, actor=actor, version=info.version, details={"reason": message})
    return Refused(message)


def decide(
    model_name: str,
    version: str | int,
    *,
    reviewer: str,
    comment: str,
    approve: bool,
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
) -> Decision:
    """Record an approval (approve=True) or a rejection after the four-eyes checks."""
    client = client or RegistryClient(tracking_uri)
    reviewer = (reviewer or "").strip()
    comment = (comment or "").strip()
    if not reviewer:
        raise InvalidInput("--reviewer is empty; give the reviewer's id")
    if not comment:
        raise InvalidInput("--comment is empty; say why (it is kept in the audit log)")
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidInput(f"--comment has {len(comment)} characters; keep it under {MAX_COMMENT_CHARS}")
    info = load_version(client, model_name, version)
    word = "approval" if approve else "rejection"
    refused_event = f"{word}_refused"
    label = f"{model_name} v{info.version}"
    if info.author is None:
        raise refuse(
            client,
            info,
            refused_event,
            reviewer,
            f"{label}: the author is unknown (its run has no mlflow.user tag), so four-eyes cannot "
            "be checked; register the version from a run that records its user",
        )
    if same_person(reviewer, info.author):
        raise refuse(
            client,
            info,
            refused_event,
            reviewer,
            f"{label}: reviewer {reviewer} is its author ({info.author}, mlflow.user of run {info.run_id}) "
            "and may not review it; another reviewer must decide (four-eyes)",
        )
    if info.approval_status == "rejected":
        by = (info.approval or {}).get("reviewer", "?")
        raise refuse(
            client,
            info,
            refused_event,
            reviewer,
            f"{label} was rejected by {by}; a rejection is final, register a new version instead",
        )
    champion = current_alias(client, model_name)
    if approve and champion == info.version:
        raise Refused(f"{label} is already the champion; nothing to approve")
    if not approve and champion == info.version:
        raise Refused(
            f"{label} is the champion; roll back (`affectgpt registry rollback`) before rejecting it"
        )
    if approve and info.gate is not None and (info.gate.champion_version or None) != champion:
        raise refuse(
            client,
            info,
            refused_event,
            reviewer,
            f"{label}: its gate verdict was judged against champion "
            f"v{info.gate.champion_version or NO_CHAMPION} but the champion is now v{champion or NO_CHAMPION}; "
            f"run `affectgpt registry review --model {model_name} --version {info.version}` to re-run the gate, "
            "then approve",
        )
    record = Decision(
        decision="approved" if approve else "rejected",
        reviewer=reviewer,
        comment=comment,
        at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        reviewed_against=champion or NO_CHAMPION,
        gate_verdict=info.gate.verdict if info.gate else None,
    )
    # The record first, the status last: the status is what promotion reads, so a stop between
    # the two writes leaves no decision in effect rather than half of one.
    client.call(
        f"record the {word} of {label}",
        client.mlflow.set_model_version_tag,
        model_name,
        info.version,
        TAG_APPROVAL_RECORD,
        record.model_dump_json(),
    )
    client.call(
        f"record the {word} of {label}",
        client.mlflow.set_model_version_tag,
        model_name,
        info.version,
        TAG_APPROVAL_STATUS,
        record.decision,
    )
    append_event(
        client,
        model_name,
        "approval" if approve else "rejection",
        actor=reviewer,
        version=info.version,
        details=json.loads(record.model_dump_json()),
    )
    return record


def approve(model_name: str, version: str | int, *, reviewer: str, comment: str, **kwargs) -> Decision:
    return decide(model_name, version, reviewer=reviewer, comment=comment, approve=True, **kwargs)


def reject(model_name: str, version: str | int, *, reviewer: str, comment: str, **kwargs) -> Decision:
    return decide(model_name, version, reviewer=reviewer, comment=comment, approve=False, **kwargs)
