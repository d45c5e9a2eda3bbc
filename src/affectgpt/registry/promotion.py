"""Move the `champion` alias of the production model: promote an approved candidate whose gate,
recomputed now from its registered evidence, passes, or roll back.

Under the alias lease the registry is verified against its audit log (any discrepancy refuses),
the candidate's bench report is fetched and its sha256 compared with the one logged at
registration, the gate is run with the rules stored with the production model, and the
champion is compared with the one the reviewer approved against. Only then is the candidate
copied into the production model (`copy_model_version`) and `previous`/`champion` moved there,
read back, and the promotion logged. If a write fails part-way the aliases are put back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel

from affectgpt.registry.audit import AuditEvent, append_event, hold_audited_lease, load_log
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.decisions import checked_registration, four_eyes_problem, refuse
from affectgpt.registry.errors import Refused, RegistryError
from affectgpt.registry.evidence import champion_report, registered_report
from affectgpt.registry.gate import GateResult, evaluate_gate
from affectgpt.registry.governance import APPROVAL_TAG_PREFIX, LogState, approval_text, require_clean
from affectgpt.registry.identity import Identity
from affectgpt.registry.lock import AliasLease
from affectgpt.registry.records import (
    CHAMPION,
    NO_CHAMPION,
    PREVIOUS,
    TAG_CANDIDATE_VERSION,
    candidates_name,
    current_alias,
)

_log = logging.getLogger(__name__)


class AliasChange(BaseModel):
    """The aliases after a promotion or rollback (production versions), and what they were before."""

    model_name: str
    event: str
    champion: str
    previous: str | None
    champion_before: str | None
    previous_before: str | None
    candidate: str | None = None


def _set_alias(client: RegistryClient, model_name: str, alias: str, version: str | None,
               champion: str | None = None) -> None:
    """Point `alias` at `version`. "No previous" is written as `previous` = the champion (deleting
    an alias needs the DELETE right, which reviewers do not hold); readers treat both alike."""
    if version is None:
        current = current_alias(client, model_name, alias)
        if current is None:
            return
        try:
            client.mlflow.delete_registered_model_alias(model_name, alias)
        except Exception as error:
            if alias == PREVIOUS and champion is not None and ("403" in str(error) or "denied" in str(error)):
                client.mlflow.set_registered_model_alias(model_name, alias, champion)
                return
            raise
    else:
        client.mlflow.set_registered_model_alias(model_name, alias, version)


def _move_aliases(client: RegistryClient, model_name: str, *, champion: str, previous: str | None,
                  champion_before: str | None, previous_before: str | None) -> None:
    """Write `previous` then `champion` (the commit) and verify; on failure restore both."""
    try:
        client.call(f"set {model_name}@{PREVIOUS}", _set_alias, client, model_name, PREVIOUS, previous, champion)
        client.call(f"set {model_name}@{CHAMPION}", _set_alias, client, model_name, CHAMPION, champion)
        now = client.call(f"read back {model_name}@{CHAMPION}", current_alias, client, model_name)
        if now != champion:
            raise RegistryError(f"{model_name}@{CHAMPION} reads v{now} after setting v{champion}")
    except Exception:
        _move_aliases_back(client, model_name, champion_before, previous_before)
        raise


def _move_aliases_back(client: RegistryClient, model_name: str, champion: str | None, previous: str | None) -> None:
    """Best-effort restore, one plain attempt per alias: the server may be why we are here,
    and the caller re-raises the error that matters."""
    for alias, version in ((CHAMPION, champion), (PREVIOUS, previous)):
        try:
            _set_alias(client, model_name, alias, version, champion)
        except Exception as error:  # noqa: BLE001
            _log.warning("could not restore %s@%s to v%s: %s", model_name, alias, version, error)


def evidence_gate(client: RegistryClient, state: LogState, version: str) -> GateResult:
    """The gate recomputed from the logged registration: the report re-fetched and re-hashed,
    the stored rules, the champion's logged scores. Typed scores never pass."""
    registration = state.registered[version].get("registration") or {}
    rules = state.rules
    if not registration.get("scores") and not registration.get("report_sha256"):
        return GateResult(verdict="no_scores", reasons=["no MER-UniBench scores were registered"],
                          champion_version=state.champion)
    if registration.get("manual") or not registration.get("report_sha256"):
        return GateResult(verdict="fail", champion_version=state.champion, reasons=[
            "scores were typed by hand (manual), not read from a bench report: never promotable"])
    bench = registered_report(client, registration["run_id"], registration["report_artifact"],
                         registration["report_sha256"])
    if bench.mode is not None and bench.mode != registration.get("scorer_mode"):
        return GateResult(verdict="fail", champion_version=state.champion, reasons=[
            f"the report's scorer mode {bench.mode!r} differs from the registered {registration.get('scorer_mode')!r}"])
    champion_candidate = state.champion_candidate()
    champion_record = (state.registered.get(champion_candidate) or {}).get("registration") or {}
    return evaluate_gate(
        bench.scores,
        rules,
        champion_scores=champion_record.get("scores") or None,
        champion_version=state.champion,
        candidate_mode=registration.get("scorer_mode"),
        champion_mode=champion_record.get("scorer_mode"),
        candidate_evidence=bench,
        champion_evidence=champion_report(client, champion_record),
    )


def _authentication_problem(state: LogState, version: str, identity: Identity) -> str | None:
    if not state.rules.require_authenticated:
        return None
    registration = state.registered[version].get("registration") or {}
    record = state.decisions.get(version, {}).get("record", {})
    if not registration.get("authenticated"):
        return "its registration was not authenticated by an MLflow server"
    if not record.get("authenticated"):
        return "its approval was not authenticated by an MLflow server"
    if not identity.authenticated:
        return "this promotion is not authenticated by an MLflow server"
    return None


def promote(
    model_name: str,
    version: str | int,
    *,
    actor: str | None = None,
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
    lease_wait_s: float = 60.0,
) -> AliasChange:
    """Make candidate `version` the champion of `model_name`. Every refusal is logged when the
    actor may write the log."""
    from affectgpt.registry.gate_client import call_gate, governed

    client = client or RegistryClient(tracking_uri)
    identity = client.identity(actor)
    version = str(version)
    if governed(client):
        return AliasChange.model_validate(call_gate(client, "promote", {
            "model": model_name, "version": version, "lease_wait_s": lease_wait_s}))

    def no(message: str) -> Refused:
        return refuse(client, model_name, version, "promotion_refused", identity, message)

    with hold_audited_lease(client, model_name, actor=identity, wait_s=lease_wait_s) as lease:
        state = checked_registration(client, model_name, version, identity)
        record = _approval_record(state, model_name, version, identity, no)
        gate = _gate_against_review(client, state, model_name, version, record, no)
        champion_before, previous_before = state.champion, state.previous
        lease.verify()
        production_version = _copy_and_crown(client, state, model_name, version, identity, record, gate, lease)
    return AliasChange(model_name=model_name, event="promotion", champion=production_version,
                       previous=_previous_after(champion_before, previous_before), champion_before=champion_before,
                       previous_before=previous_before, candidate=version)


def _approval_record(state: LogState, model_name: str, version: str, identity: Identity,
                     no: Callable[[str], Refused]) -> dict:
    """The approval that lets `identity` promote `version`, checked in this order: the actor's
    role, the decision (rejected, revoked, none), four eyes, then authentication."""
    label = f"{model_name} v{version}"
    if identity.authenticated and not (state.roles.is_reviewer(identity.name) or identity.is_admin):
        raise no(f"{label}: {identity.name} is neither a reviewer nor an administrator of {model_name}")
    decision = state.decisions.get(version, {})
    record = decision.get("record", {})
    status = decision.get("status")
    if status == "rejected":
        raise no(f"{label} was rejected by {record.get('reviewer', '?')}; it cannot be promoted")
    if status == "revoked":
        raise no(f"{label}: its approval was revoked when it was rolled back; review and approve it again")
    if status != "approved":
        raise no(f"{label} has no approval in the audit log; a reviewer other than its author must run "
                 f"`affectgpt registry approve --model {model_name} --version {version}`")
    problem = four_eyes_problem(state, version, record.get("reviewer", ""))
    if problem:
        raise no(f"{model_name} {problem}")
    problem = _authentication_problem(state, version, identity)
    if problem:
        raise no(f"{label}: {problem}, and the rules require it (require_authenticated)")
    return record


def _gate_against_review(client: RegistryClient, state: LogState, model_name: str, version: str, record: dict,
                         no: Callable[[str], Refused]) -> GateResult:
    """Refuse when the champion moved since the review, then recompute the gate from the
    registered evidence and refuse anything but a pass."""
    label = f"{model_name} v{version}"
    expected = record.get("reviewed_against", NO_CHAMPION)
    if (state.champion or NO_CHAMPION) != expected:
        raise no(f"{label}: the champion changed since the review (approved against v{expected}, now "
                 f"v{state.champion or NO_CHAMPION}); run `affectgpt registry review` and approve again")
    gate = evidence_gate(client, state, version)
    if gate.verdict != "pass":
        raise no(f"{label}: gate verdict recomputed from the registered evidence is '{gate.verdict}': "
                 + "; ".join(gate.reasons))
    return gate


def _previous_after(champion_before: str | None, previous_before: str | None) -> str | None:
    """`previous` after a promotion: the champion it replaces, or the old `previous` if there was none."""
    return champion_before if champion_before is not None else previous_before


def _copy_and_crown(client: RegistryClient, state: LogState, model_name: str, version: str, identity: Identity,
                    record: dict, gate: GateResult, lease: AliasLease) -> str:
    """Copy the candidate into the production model, tag it, move `previous`/`champion` and log
    the promotion; if the log write fails the aliases go back, and any failure is logged as
    `promotion_failed`. Returns the production version."""
    champion_before, previous_before = state.champion, state.previous
    copied = client.mlflow.copy_model_version(f"models:/{candidates_name(model_name)}/{version}", model_name)
    production_version = str(copied.version)
    previous_after = _previous_after(champion_before, previous_before)
    try:
        client.call(f"tag {model_name} v{production_version}", client.mlflow.set_model_version_tag,
                    model_name, production_version, TAG_CANDIDATE_VERSION, version)
        _move_aliases(client, model_name, champion=production_version, previous=previous_after,
                      champion_before=champion_before, previous_before=previous_before)
        try:
            append_event(client, model_name, "promotion", actor=identity, version=version, details={
                "production_version": production_version,
                "from": champion_before,
                "to": production_version,
                "previous_after": previous_after,
                "approved_by": record.get("reviewer"),
                "approval_seq": record.get("seq"),
                "gate_verdict": gate.verdict,
                "gate_reasons": gate.reasons,
                "rules_hash": state.rules_hash,
                "run_id": state.registered[version].get("run_id"),
                "lease_token": lease.token,
            })
        except Exception:
            _move_aliases_back(client, model_name, champion_before, previous_before)
            raise
    except Exception as error:
        # The copy stays (removing it needs the DELETE right); the log says it never served.
        try:
            append_event(client, model_name, "promotion_failed", actor=identity, version=version,
                         details={"production_version": production_version, "error": str(error)[:500]})
        except Exception as log_error:  # noqa: BLE001 - the server may be why we are here
            _log.warning("could not log the failed promotion of %s v%s: %s", model_name, version, log_error)
        raise
    return production_version


def _previous_of(events: list[AuditEvent], production_version: str) -> str | None:
    """The `previous` alias that was in effect while `production_version` was champion."""
    for event in reversed(events):
        if event.event in ("promotion", "rollback") and str(event.details.get("to")) == production_version:
            previous = event.details.get("previous_after")
            return None if previous in (None, production_version) else str(previous)
    return None


def rollback(
    model_name: str,
    *,
    actor: str | None = None,
    reason: str = "",
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
    lease_wait_s: float = 60.0,
) -> AliasChange:
    """Restore the `previous` champion. The rolled-back candidate's approval is revoked (it must
    be approved again to return), and `previous` steps one further back along the audit log."""
    from affectgpt.registry.gate_client import call_gate, governed

    client = client or RegistryClient(tracking_uri)
    identity = client.identity(actor)
    if governed(client):
        return AliasChange.model_validate(call_gate(client, "rollback", {
            "model": model_name, "reason": reason, "lease_wait_s": lease_wait_s}))
    with hold_audited_lease(client, model_name, actor=identity, wait_s=lease_wait_s) as lease:
        state = require_clean(client, model_name, "rollback").state
        if identity.authenticated and not (state.roles.is_reviewer(identity.name) or identity.is_admin):
            raise refuse(client, model_name, None, "rollback_refused", identity,
                         f"{model_name}: {identity.name} is neither a reviewer nor an administrator")
        champion_before, previous_before = state.champion, state.previous
        if champion_before is None or previous_before is None or previous_before == champion_before:
            raise refuse(client, model_name, champion_before, "rollback_refused", identity,
                         f"{model_name}: no previous champion to roll back to")
        previous_after = _previous_of(load_log(client, model_name).events, previous_before)
        if previous_after == champion_before:
            previous_after = None
        revoked = state.production.get(champion_before)
        lease.verify()
        _move_aliases(client, model_name, champion=previous_before, previous=previous_after,
                      champion_before=champion_before, previous_before=previous_before)
        try:
            append_event(client, model_name, "rollback", actor=identity, version=state.production.get(previous_before),
                         details={"from": champion_before, "to": previous_before, "previous_after": previous_after,
                                  "reason": reason, "revoked_candidate": revoked, "lease_token": lease.token})
        except Exception:
            _move_aliases_back(client, model_name, champion_before, previous_before)
            raise
        if revoked:
            client.call(f"mark the approval of {model_name} v{revoked} revoked", client.mlflow.set_registered_model_tag,
                        model_name, f"{APPROVAL_TAG_PREFIX}{revoked}",
                        approval_text("revoked", identity.name, datetime.now(UTC).isoformat(timespec="seconds")))
    return AliasChange(model_name=model_name, event="rollback", champion=previous_before, previous=previous_after,
                       champion_before=champion_before, previous_before=previous_before,
                       candidate=state.production.get(previous_before))
