"""Roles, rules and the check that the registry's state agrees with its audit log.

On an authenticated server every change goes through the registry gate inside the MLflow
server (`server_app`, `enforcement`): it alone writes the production model, its aliases, both
copies of the audit log, the candidates and the lease, and every role holds only READ there (the
table is in `enforcement`). A local store has no roles (the demo). `verify_registry` is a read-only
cross-check anyone may run: it replays the log and names every alias, approval, production
version, rule set or registration that the log did not produce.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from affectgpt.registry.audit import (
    AuditEvent,
    append_event,
    audit_copy_description,
    audit_copy_name,
    audit_model_name,
    load_log,
)
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import InvalidInput, Refused
from affectgpt.registry.gate import DEFAULT_PROMOTION_CONFIG, PromotionConfig, load_promotion_config
from affectgpt.registry.identity import Identity, same_person
from affectgpt.registry.lock import lock_model_name
from affectgpt.registry.records import (
    CHAMPION,
    PREVIOUS,
    TAG_CANDIDATE_VERSION,
    candidates_name,
    has_registration,
    registration_record,
)

TAG_RULES = "affectgpt.rules"
TAG_ROLES = "affectgpt.roles"
APPROVAL_TAG_PREFIX = "affectgpt.approval."


class Roles(BaseModel):
    """Who plays which part for one model (user names on the MLflow server)."""

    pipeline_user: str | None = None
    reviewers: list[str] = Field(default_factory=list)
    admins: list[str] = Field(default_factory=list)

    def is_reviewer(self, name: str) -> bool:
        return any(same_person(name, reviewer) for reviewer in self.reviewers)

    def is_admin(self, name: str) -> bool:
        return any(same_person(name, admin) for admin in self.admins)


def approval_text(status: str, by: str, at: str | None = None) -> str:
    """The display copy of a decision on the production model's page: `approved by bob at
    2026-12-02 09:54 UTC` (the decision itself is the audit event; `verify` checks this copy)."""
    from affectgpt.formatting import utc_time

    return f"{status} by {by}" + (f" at {utc_time(at)}" if at else "")


def approval_status(value: str) -> str:
    """The status an approval display tag claims: its first word (older tags held JSON)."""
    if value.lstrip().startswith("{"):
        try:
            return str(json.loads(value).get("status"))
        except (ValueError, AttributeError):
            return value
    return value.split(" ", 1)[0]


def rules_hash(rules: PromotionConfig) -> str:
    return hashlib.sha256(json.dumps(rules.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def registration_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class LogState(BaseModel):
    """What the audit log says the registry should look like."""

    initialized: bool = False
    rules: PromotionConfig | None = None
    rules_hash: str | None = None
    roles: Roles = Field(default_factory=Roles)
    registered: dict[str, dict[str, Any]] = Field(default_factory=dict)  # candidate -> register details
    decisions: dict[str, dict[str, Any]] = Field(default_factory=dict)  # candidate -> {status, record}
    champion: str | None = None  # production version
    previous: str | None = None
    production: dict[str, str] = Field(default_factory=dict)  # production version -> candidate version
    abandoned: dict[str, str] = Field(default_factory=dict)  # copies of failed promotions (never served)

    def champion_candidate(self) -> str | None:
        return self.production.get(self.champion) if self.champion else None


def replay(events: list[AuditEvent]) -> LogState:
    """Fold the log into the state it implies."""
    state = LogState()
    for event in events:
        details = event.details
        if event.event == "init":
            state.initialized = True
            state.rules = PromotionConfig.model_validate(details["rules"])
            state.rules_hash = details.get("rules_hash")
            state.roles = Roles.model_validate(details.get("roles", {}))
        elif event.event == "register" and event.version:
            state.registered[event.version] = details
        elif event.event in ("approval", "rejection") and event.version:
            state.decisions[event.version] = {
                "status": "approved" if event.event == "approval" else "rejected",
                "record": {**details, "actor": event.actor, "authenticated": event.authenticated,
                           "seq": event.seq},
            }
        elif event.event == "promotion":
            state.production[str(details["production_version"])] = str(event.version)
            state.champion = str(details["production_version"])
            state.previous = details.get("previous_after")
        elif event.event == "promotion_failed":
            state.abandoned[str(details["production_version"])] = str(event.version)
        elif event.event == "repair" and details.get("state"):
            repaired = details["state"]  # what the administrator found in place when repairing
            state.champion = repaired.get("champion")
            state.previous = repaired.get("previous")
            state.production.update({str(k): str(v) for k, v in (repaired.get("production") or {}).items()})
        elif event.event == "rollback":
            state.champion = str(details["to"])
            state.previous = details.get("previous_after")
            revoked = details.get("revoked_candidate")
            if revoked and revoked in state.decisions:
                state.decisions[revoked] = {**state.decisions[revoked], "status": "revoked"}
    return state


class VerifyReport(BaseModel):
    """The outcome of `verify_registry`: the replayed state and every discrepancy found."""

    model: str
    events: int
    chain_problems: list[str]
    discrepancies: list[str]
    state: LogState
    # Findings about candidate versions' own tags: reported, but they never block a change (the
    # gate reads the registration logged at `register`, not the candidate's tags), so nothing
    # written on a candidate can freeze the registry.
    candidate_findings: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.chain_problems and not self.discrepancies and not self.candidate_findings

    @property
    def blocking(self) -> list[str]:
        """The problems that refuse every change: the log and what only the gate writes."""
        return self.chain_problems + self.discrepancies

    def all_problems(self) -> list[str]:
        return self.chain_problems + self.discrepancies + self.candidate_findings


def _registered_or_none(client: RegistryClient, name: str):
    def get():
        try:
            return client.mlflow.get_registered_model(name)
        except Exception as error:
            if getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower():
                return None
            raise

    return client.call(f"read model {name}", get)


def _versions(client: RegistryClient, name: str) -> list:
    return client.call(f"list versions of {name}", client.mlflow.search_model_versions, f"name = '{name}'")


def verify_registry(client: RegistryClient, model_name: str) -> VerifyReport:
    """Recompute the chain and check aliases, approvals, production versions, rules and
    registrations against it. Read-only."""
    log = load_log(client, model_name)
    state = replay(log.events)
    found: list[str] = []
    production = _registered_or_none(client, model_name)
    if production is None:
        return VerifyReport(model=model_name, events=0, chain_problems=log.problems, discrepancies=[
            f"model '{model_name}' has no production entry; an administrator runs `affectgpt registry init`"
        ], state=state)
    aliases = {str(k): str(v) for k, v in (production.aliases or {}).items()}
    for alias, expected in ((CHAMPION, state.champion), (PREVIOUS, state.previous)):
        actual = aliases.get(alias)
        if alias == PREVIOUS and expected is None and actual is not None and actual == state.champion:
            continue  # "no previous" is written as previous = champion
        if (actual or None) != (str(expected) if expected else None):
            found.append(
                f"{model_name}@{alias} is v{actual or 'none'} but the audit log says v{expected or 'none'} "
                "(moved outside the registry CLI)"
            )
    for other in (candidates_name(model_name), audit_copy_name(model_name), audit_model_name(model_name)):
        registered = _registered_or_none(client, other)
        for alias, version in ((registered.aliases or {}) if registered else {}).items():
            if str(alias) in (CHAMPION, PREVIOUS):
                found.append(f"{other}@{alias} -> v{version} was not set by the registry (only {model_name} "
                             "carries champion/previous)")
    tags = dict(production.tags or {})
    if state.rules is not None and tags.get(TAG_RULES):
        try:
            stored = PromotionConfig.model_validate_json(tags[TAG_RULES])
            if rules_hash(stored) != state.rules_hash:
                found.append(f"{model_name}: the stored gate rules differ from those the log recorded (edited)")
        except Exception:  # noqa: BLE001
            found.append(f"{model_name}: the stored gate rules are unreadable (edited)")
    elif state.rules is not None:
        found.append(f"{model_name}: the stored gate rules were deleted")
    for key, value in sorted(tags.items()):
        if not key.startswith(APPROVAL_TAG_PREFIX):
            continue
        candidate = key[len(APPROVAL_TAG_PREFIX):]
        decision = state.decisions.get(candidate)
        status = approval_status(value)
        if decision is None:
            found.append(f"{model_name}: approval tag for candidate v{candidate} has no decision event in the log")
        elif status != decision["status"]:
            found.append(f"{model_name}: approval tag for candidate v{candidate} says {status!r}, the log "
                         f"says {decision['status']!r}")
    for version in _versions(client, model_name):
        number = str(version.version)
        if number in state.abandoned and number not in state.production:
            continue
        if number not in state.production:
            found.append(f"{model_name} v{number} was not created by a logged promotion")
        elif (version.tags or {}).get(TAG_CANDIDATE_VERSION) not in (None, state.production[number]):
            found.append(f"{model_name} v{number}: its candidate tag disagrees with the log (edited)")
    on_candidates: list[str] = []
    for version in _versions(client, candidates_name(model_name)):
        number, version_tags = str(version.version), dict(version.tags or {})
        for key in version_tags:
            if key.startswith(APPROVAL_TAG_PREFIX):
                on_candidates.append(f"{candidates_name(model_name)} v{number} carries {key}: approvals are "
                             "recorded only in the audit log (approval without an event)")
        logged = state.registered.get(number)
        if logged is None:
            continue
        if not has_registration(version_tags) and not logged.get("registration_hash"):
            continue  # registered by plain MLflow calls: logged as having no record
        record = registration_record(version_tags)
        if record is None or registration_hash(record) != logged.get("registration_hash"):
            on_candidates.append(f"{candidates_name(model_name)} v{number}: its registration record (author, "
                                 "report hash, lineage) differs from the one logged at registration (edited)")
    return VerifyReport(model=model_name, events=len(log.events), chain_problems=log.problems,
                        discrepancies=found, state=state, candidate_findings=on_candidates)


def require_clean(client: RegistryClient, model_name: str, what: str) -> VerifyReport:
    """Verify, and refuse `what` on any discrepancy."""
    report = verify_registry(client, model_name)
    if report.blocking:
        raise Refused(
            f"{model_name}: {what} refused, the registry does not agree with its audit log: "
            + "; ".join(report.blocking)
            + f". See `affectgpt registry verify --model {model_name}`"
        )
    return report


def production_description(model_name: str) -> str:
    """What the production model's MLflow page says about itself and its few tags, so a person
    knows where the audit log is and how to read it (`affectgpt registry history|verify`)."""
    return (
        f"**{model_name}**: production versions, copied in by `affectgpt registry promote`; the aliases "
        "`champion` (served) and `previous` (the rollback target) point at them.\n\n"
        "Every registration, review, decision, promotion and rollback is in the tamper-evident audit log, "
        f"kept twice, one hash-chained event per tag, on `{audit_copy_name(model_name)}` and "
        f"`{audit_model_name(model_name)}`, which only the registry gate writes. Read it with "
        f"`affectgpt registry history --model {model_name}`, check it with `affectgpt registry verify`. "
        "The tags here: `affectgpt.rules` holds the promotion rules, `affectgpt.roles` who plays which "
        "part, and `affectgpt.approval.N` a readable copy of the decision on candidate N."
    )


def _ensure_registered_model(client: RegistryClient, name: str, description: str) -> None:
    def create() -> None:
        try:
            client.mlflow.create_registered_model(name, description=description)
        except Exception as error:
            if "already exists" not in str(error).lower() and "ALREADY_EXISTS" not in str(error):
                raise

    client.call(f"create registered model {name}", create)


def init_registry(
    model_name: str,
    *,
    pipeline_user: str | None,
    reviewers: list[str],
    admins: list[str] | None = None,
    rules_path: Path | None = None,
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
    actor: Identity | None = None,
) -> LogState:
    """Set up `model_name`: the five registered models, the gate rules stored with the production
    model, an `init` event. Run again to change roles or rules (each run is a new, logged `init`).
    On an authenticated server this is one request to its registry gate, which needs an MLflow
    administrator and sets every permission (`enforcement.init`); here it sets up a local store."""
    from affectgpt.registry.gate_client import call_gate, governed

    client = client or RegistryClient(tracking_uri)
    if actor is None and governed(client):  # the gate creates, grants and logs, as this admin
        source = rules_path or DEFAULT_PROMOTION_CONFIG
        return LogState.model_validate(call_gate(client, "init", {
            "model": model_name, "pipeline_user": pipeline_user, "reviewers": reviewers, "admins": admins or [],
            "rules_yaml": Path(source).read_text(), "rules_source": str(rules_path or "packaged configs/promotion.yaml"),
        }))
    actor = actor or client.identity()
    if actor.authenticated:  # only the gate's own client inside the server is authenticated here
        raise Refused("registry init on an authenticated server goes through its registry gate")
    reviewers = [name.strip() for name in reviewers if name.strip()]
    admins = [name.strip() for name in (admins or []) if name.strip()]
    if pipeline_user and any(same_person(pipeline_user, reviewer) for reviewer in reviewers):
        raise InvalidInput(f"{pipeline_user!r} cannot be both the pipeline identity and a reviewer")
    rules = load_promotion_config(rules_path)
    roles = Roles(pipeline_user=pipeline_user, reviewers=reviewers, admins=admins)
    for name, purpose in (
        (model_name, production_description(model_name)),
        (candidates_name(model_name), f"candidates of {model_name}, registered by the pipeline"),
        (audit_copy_name(model_name), audit_copy_description(model_name)),
        (audit_model_name(model_name), f"second copy of the audit log of {model_name}"),
        (lock_model_name(model_name), f"tickets of the alias lease of {model_name}"),
    ):
        _ensure_registered_model(client, name, purpose)
    client.call(f"describe {model_name}", client.mlflow.update_registered_model, model_name,
                description=production_description(model_name))
    digest = rules_hash(rules)
    for key, value in ((TAG_RULES, rules.model_dump_json()), (TAG_ROLES, roles.model_dump_json())):
        client.call(f"store {key} on {model_name}", client.mlflow.set_registered_model_tag, model_name, key, value)
    append_event(client, model_name, "init", actor=actor, details={
        "rules": rules.model_dump(mode="json"),
        "rules_hash": digest,
        "rules_source": str(rules_path) if rules_path else "packaged configs/promotion.yaml",
        "roles": roles.model_dump(mode="json"),
    })
    return replay(load_log(client, model_name).events)


def unlock(
    model_name: str,
    *,
    client: RegistryClient | None = None,
    tracking_uri: str | None = None,
    reason: str = "",
) -> list[dict[str, str]] | None:
    """Release every open lease ticket at once (administrators only on a server) and log an
    `unlock` event with what they said. Returns the released tickets' tags, or None when none."""
    from affectgpt.registry.gate_client import call_gate, governed
    from affectgpt.registry.lock import break_lock

    client = client or RegistryClient(tracking_uri)
    if governed(client):
        return call_gate(client, "unlock", {"model": model_name, "reason": reason})["released"]
    actor = client.identity()
    state = replay(load_log(client, model_name).events)
    if actor.authenticated and not (actor.is_admin or state.roles.is_admin(actor.name)):
        raise Refused(f"{model_name}: only an administrator may break the promotion lease; {actor.name} is not one")
    broken = break_lock(client, model_name, actor.name)
    if not broken:
        return None
    append_event(client, model_name, "unlock", actor=actor, details={"tickets": broken, "reason": reason})
    return broken
