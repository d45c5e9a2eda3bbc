"""What the registry gate does inside the MLflow server, for a caller the server authenticated.

Each operation runs the registry's own logic (`decisions`, `promotion`, `register`, ...) with
the gate's direct-store client (`RegistryClient.enforcement_point`): the server's backend store
opened in-process, so the writes need no MLflow permission, while every registry user holds
only READ on what the gate governs. Who acts is the authenticated user, never a field of the
request. The roles come from the audit log the gate alone writes; user names (a submitter,
reviewers, the pipeline identity) must be real users of the server.

| registered model          | pipeline user | reviewers | registry admins | everyone else  |
| ------------------------- | ------------- | --------- | --------------- | -------------- |
| `NAME-candidates`         | READ          | READ      | MANAGE          | default (READ) |
| `NAME` (production)       | READ          | READ      | MANAGE          | default (READ) |
| `NAME-audit-copy` (log)   | READ          | READ      | MANAGE          | default (READ) |
| `NAME-audit` (log copy)   | READ          | READ      | MANAGE          | default (READ) |
| `NAME--promotion-lock`    | READ          | READ      | MANAGE          | default (READ) |

`NAME-audit-copy` came later than the others: a registry set up before it gets it from the gate
at its next audit append (`provide_owned_model`). So that nobody can claim the name first, the
server refuses every user but an MLflow administrator who creates a registered model, or renames
one, to a name ending in `-audit-copy` (`server_app`, `reserved_for_gate`).
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any

import yaml

from affectgpt.registry.audit import (
    AUDIT_COPY_SUFFIX,
    AuditEvent,
    audit_copy_description,
    audit_copy_name,
    audit_model_name,
    load_log,
)
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import InvalidInput, NotFound, Refused
from affectgpt.registry.gate import PromotionConfig
from affectgpt.registry.gate_store import GateStore
from affectgpt.registry.governance import (
    TAG_ROLES,
    TAG_RULES,
    LogState,
    Roles,
    production_description,
    replay,
    rules_hash,
)
from affectgpt.registry.identity import Identity, same_person
from affectgpt.registry.lock import lock_model_name
from affectgpt.registry.records import candidates_name

WRITE_LEVELS = ("EDIT", "MANAGE")


def governed_names(model_name: str) -> list[str]:
    """The five registered models the gate owns for `model_name`."""
    return [model_name, candidates_name(model_name), audit_copy_name(model_name), audit_model_name(model_name),
            lock_model_name(model_name)]


def reserved_for_gate(name: str) -> bool:
    """Whether only the gate (or an MLflow administrator) may create a registered model `name`:
    one ending in `-audit-copy`, the name the gate may still have to create for a registry set up
    before it (compared without case or surrounding space, as a database collation might)."""
    return str(name).strip().casefold().endswith(AUDIT_COPY_SUFFIX)


# -- the server's users ---------------------------------------------------------------------


def real_user(name: str | None, what: str) -> str:
    """The server's spelling of user `name`, or InvalidInput: a submitter, reviewer or pipeline
    identity must exist (a homoglyph or a made-up name is refused, not recorded)."""
    from mlflow.server.auth import store

    cleaned = (name or "").strip()
    if not cleaned or not store.has_user(cleaned):
        raise InvalidInput(f"{what} {cleaned!r} is not a user of this MLflow server; name an existing user")
    return store.get_user(cleaned).username


def _effective_level(user, model: str) -> str:
    """The permission `user` has on registered model `model`, as MLflow's own checks resolve it."""
    from mlflow.server import auth

    try:
        from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

        granted = auth._role_grant_for_resource(user.id, "registered_model", model, DEFAULT_WORKSPACE_NAME)
    except Exception:  # noqa: BLE001 - an unknown grant layout reads as the strictest answer
        return "MANAGE"
    return granted.name if granted is not None else auth.auth_config.default_permission


def permission_problems(model_name: str, roles: Roles, names: list[str] | None = None) -> list[str]:
    """Every user other than an administrator who could write one of the governed models (or `names`)."""
    from mlflow.server.auth import auth_config, store

    problems = []
    if auth_config.default_permission in WRITE_LEVELS:
        problems.append(f"the server's default_permission is {auth_config.default_permission}: every user could "
                        "write what the gate governs; set it to READ or NO_PERMISSIONS in the auth ini")
    for user in store.list_users():
        if user.is_admin or roles.is_admin(user.username):
            continue
        for name in names or governed_names(model_name):
            level = _effective_level(user, name)
            if level in WRITE_LEVELS:
                problems.append(f"{user.username} holds {level} on {name}")
    return problems


def foreign_content(client: RegistryClient, store: GateStore, name: str) -> str | None:
    """Why an existing registered model the gate did not create cannot be taken over, or None."""
    try:
        existing = client.mlflow.get_registered_model(name)
    except Exception as error:
        if "RESOURCE_DOES_NOT_EXIST" in str(error) or "not found" in str(error).lower():
            return None
        raise
    if store.owns(name):
        return None
    versions = client.mlflow.search_model_versions(f"name = '{name}'", max_results=1)
    planted = [key for key in (existing.tags or {}) if key.startswith("affectgpt.")]
    if versions or existing.aliases or planted:
        return (f"{name} already exists with versions, aliases or affectgpt tags that the registry gate did not "
                "write; an administrator inspects and deletes it, then runs init again")
    return None


# -- operations -------------------------------------------------------------------------------


def _roles_and_state(client: RegistryClient, model_name: str) -> LogState:
    state = replay(load_log(client, model_name).events)
    if not state.initialized:
        raise Refused(f"{model_name} is not set up: an administrator runs `affectgpt registry init --model "
                      f"{model_name} --pipeline-user U --reviewers A,B` first")
    return state


def _require_role(state: LogState, identity: Identity, model_name: str, *, pipeline: bool = False) -> None:
    """Refuse (without logging) a caller who plays no part for `model_name`: only those who do
    may add events to its log, refusals included."""
    roles = state.roles
    if identity.is_admin or roles.is_admin(identity.name) or roles.is_reviewer(identity.name):
        return
    if pipeline and same_person(identity.name, roles.pipeline_user):
        return
    raise Refused(f"{model_name}: {identity.name} is not a reviewer or administrator of {model_name}")


def init(client: RegistryClient, store: GateStore, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    """Create (or take over, when provably untouched) the four models, grant every role READ and
    the registry admins MANAGE, store the rules and log `init`, as an MLflow administrator."""
    from affectgpt.registry.audit import append_event

    model_name = str(payload.get("model") or "").strip()
    if not model_name:
        raise InvalidInput("--model is required")
    if not identity.is_admin:
        raise Refused(f"registry init needs an MLflow administrator's credentials; {identity.name!r} is not one")
    pipeline_user = real_user(payload.get("pipeline_user"), "--pipeline-user")
    reviewers = [real_user(name, "reviewer") for name in payload.get("reviewers") or [] if str(name).strip()]
    admins = [real_user(name, "admin") for name in payload.get("admins") or [] if str(name).strip()]
    if not reviewers:
        raise InvalidInput("--reviewers needs at least one user name")
    if any(same_person(pipeline_user, reviewer) for reviewer in reviewers):
        raise InvalidInput(f"{pipeline_user!r} cannot be both the pipeline identity and a reviewer")
    try:
        rules = PromotionConfig.model_validate(yaml.safe_load(payload.get("rules_yaml") or "") or {})
    except Exception as error:
        raise InvalidInput(f"the gate rules are invalid: {error}") from error
    roles = Roles(pipeline_user=pipeline_user, reviewers=reviewers, admins=admins)
    stop = [problem for name in governed_names(model_name) if (problem := foreign_content(client, store, name))]
    stop += permission_problems(model_name, roles)
    if stop:
        raise Refused(f"{model_name}: init stopped, nothing was changed: " + "; ".join(stop))
    _create_and_grant(client, store, model_name, roles, identity)
    still = permission_problems(model_name, roles)
    if still:
        raise Refused(f"{model_name}: init stopped after granting the roles: " + "; ".join(still))
    for key, value in ((TAG_RULES, rules.model_dump_json()), (TAG_ROLES, roles.model_dump_json())):
        client.call(f"store {key} on {model_name}", client.mlflow.set_registered_model_tag, model_name, key, value)
    append_event(client, model_name, "init", actor=identity, details={
        "rules": rules.model_dump(mode="json"),
        "rules_hash": rules_hash(rules),
        "rules_source": str(payload.get("rules_source") or "sent by the administrator"),
        "roles": roles.model_dump(mode="json"),
    })
    return replay(load_log(client, model_name).events).model_dump(mode="json")


def _create_and_grant(client: RegistryClient, store: GateStore, model_name: str, roles: Roles,
                      identity: Identity) -> None:
    """Create the missing models in the backend store (so no user becomes their manager), record
    them as the gate's, and grant the plan of the module docstring in the auth store."""
    purposes = {
        model_name: production_description(model_name),
        candidates_name(model_name): f"candidates of {model_name}, registered through the registry gate",
        audit_copy_name(model_name): audit_copy_description(model_name),
        audit_model_name(model_name): f"second copy of the audit log of {model_name}",
        lock_model_name(model_name): f"tickets of the alias lease of {model_name}",
    }
    for name, purpose in purposes.items():
        _create_owned(client, store, model_name, name, purpose, roles, identity.name)
    client.call(f"describe {model_name}", client.mlflow.update_registered_model, model_name,
                description=production_description(model_name))


def _create_owned(client: RegistryClient, store: GateStore, model_name: str, name: str, purpose: str,
                  roles: Roles, created_for: str, stopped: str = "init stopped") -> None:
    """Create `name` in the backend store unless it exists, record it as the gate's and grant
    every role its level on it."""
    from mlflow.server.auth import store as users

    try:
        client.mlflow.create_registered_model(name, description=purpose)
    except Exception as error:
        if "already exists" not in str(error).lower() and "ALREADY_EXISTS" not in str(error):
            raise
        problem = foreign_content(client, store, name)  # created by someone else meanwhile
        if problem:
            raise Refused(f"{model_name}: {stopped}: {problem}") from error
    store.record_owned(name, model_name, created_for)
    for user, level in ([(roles.pipeline_user, "READ")] + [(reviewer, "READ") for reviewer in roles.reviewers]
                        + [(admin, "MANAGE") for admin in roles.admins]):
        if user:
            users.grant_user_permission(user, "registered_model", name, level)


def provide_owned_model(client: RegistryClient, store: GateStore, model_name: str, name: str, purpose: str,
                        events: list[AuditEvent]) -> None:
    """Create governed model `name` for a registry set up before it was one of them (the first
    copy of the audit log), as `init` would have: checked first, then created, recorded and
    granted to the roles of the log `events`. A model of that name the gate did not make is
    taken over only when `init` would take it over; otherwise the append is refused, naming why."""
    from affectgpt.registry.governance import replay

    stopped = f"{name} could not be set up, the audit log stays where it is and nothing was written"
    if store.owns(name) and _exists(client, name):
        return
    roles = replay(events).roles
    problems = [problem for problem in [foreign_content(client, store, name)] if problem]
    problems += permission_problems(model_name, roles, [name])
    if problems:
        raise Refused(f"{model_name}: {stopped}: " + "; ".join(problems))
    _create_owned(client, store, model_name, name, purpose, roles, client.identity().name, stopped)


def _exists(client: RegistryClient, name: str) -> bool:
    try:
        client.mlflow.get_registered_model(name)
    except Exception as error:
        if "RESOURCE_DOES_NOT_EXIST" in str(error) or "not found" in str(error).lower():
            return False
        raise
    return True


def register(client: RegistryClient, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    """Register a candidate as the pipeline identity (or an admin): the report's bytes are frozen
    in the gate's store and the registration enters the audit log now, before any review."""
    from affectgpt.registry.register import register_candidate

    model_name = str(payload.get("model") or "")
    state = _roles_and_state(client, model_name)
    if not (same_person(identity.name, state.roles.pipeline_user) or identity.is_admin
            or state.roles.is_admin(identity.name)):
        raise Refused(f"{model_name}: {identity.name} may not register candidates; only the pipeline identity "
                      f"({state.roles.pipeline_user}) does")
    submitted_by = payload.get("submitted_by")
    if submitted_by:
        submitted_by = real_user(submitted_by, "--submitted-by")
    with tempfile.TemporaryDirectory(prefix="affectgpt-gate-report-") as scratch:
        if payload.get("report_b64"):
            report = Path(scratch) / "report.json"
            report.write_bytes(base64.b64decode(payload["report_b64"]))
            scores: Any = report
        else:
            scores = {str(k): float(v) for k, v in (payload.get("scores") or {}).items()}
        result = register_candidate(
            str(payload.get("run_id") or ""), model_name, scores,
            data_rev=str(payload.get("data_rev") or ""), code_rev=str(payload.get("code_rev") or ""),
            config_hash=str(payload.get("config_hash") or ""), scorer_mode=str(payload.get("scorer_mode") or ""),
            submitted_by=submitted_by, artifact_path=str(payload.get("artifact_path") or "model"),
            extra_tags={str(k): str(v) for k, v in (payload.get("extra_tags") or {}).items()},
            client=client,
        )
    return result.model_dump(mode="json")


def review(client: RegistryClient, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    """The gate recomputed from the frozen evidence against the champion now, and the log's state;
    a reviewer's or admin's look is logged as a `review` event."""
    from datetime import UTC, datetime

    from affectgpt.registry.audit import append_event
    from affectgpt.registry.gate import GateResult
    from affectgpt.registry.governance import require_clean
    from affectgpt.registry.promotion import evidence_gate
    from affectgpt.registry.records import NO_CHAMPION, load_version

    model_name, version = str(payload.get("model") or ""), str(payload.get("version") or "")
    candidate = load_version(client, model_name, version)
    state = require_clean(client, model_name, "review").state
    if candidate.version not in state.registered:
        gate = GateResult(verdict="no_scores", champion_version=state.champion,
                          reasons=["not registered through the registry gate: never promotable"])
    elif state.champion_candidate() == candidate.version:
        gate = candidate.gate or GateResult(verdict="no_scores", reasons=["the champion itself"])
    else:
        try:
            gate = evidence_gate(client, state, candidate.version)
        except Refused as error:
            gate = GateResult(verdict="fail", reasons=[str(error)], champion_version=state.champion)
    roles = state.roles
    if identity.is_admin or roles.is_reviewer(identity.name) or roles.is_admin(identity.name):
        append_event(client, model_name, "review", actor=identity, version=candidate.version, details={
            "verdict": gate.verdict, "reasons": gate.reasons, "champion_version": state.champion or NO_CHAMPION,
            "at": datetime.now(UTC).isoformat(timespec="seconds")})
    return {"gate": gate.model_dump(mode="json"), "state": state.model_dump(mode="json")}


def decide(client: RegistryClient, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    from affectgpt.registry.decisions import decide as decide_locally

    model_name = str(payload.get("model") or "")
    _require_role(_roles_and_state(client, model_name), identity, model_name)
    record = decide_locally(model_name, str(payload.get("version") or ""), comment=str(payload.get("comment") or ""),
                            approve=bool(payload.get("approve")), client=client)
    return record.model_dump(mode="json")


def promote(client: RegistryClient, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    from affectgpt.registry.promotion import promote as promote_locally

    model_name = str(payload.get("model") or "")
    _require_role(_roles_and_state(client, model_name), identity, model_name)
    change = promote_locally(model_name, str(payload.get("version") or ""), client=client,
                             lease_wait_s=float(payload.get("lease_wait_s") or 60.0))
    return change.model_dump(mode="json")


def rollback(client: RegistryClient, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    from affectgpt.registry.promotion import rollback as rollback_locally

    model_name = str(payload.get("model") or "")
    _require_role(_roles_and_state(client, model_name), identity, model_name)
    change = rollback_locally(model_name, reason=str(payload.get("reason") or ""), client=client,
                              lease_wait_s=float(payload.get("lease_wait_s") or 60.0))
    return change.model_dump(mode="json")


def unlock(client: RegistryClient, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    from affectgpt.registry.governance import unlock as unlock_locally

    model_name = str(payload.get("model") or "")
    state = _roles_and_state(client, model_name)
    if not (identity.is_admin or state.roles.is_admin(identity.name)):
        raise Refused(f"{model_name}: only an administrator may break the promotion lease; {identity.name} is not one")
    return {"released": unlock_locally(model_name, client=client, reason=str(payload.get("reason") or ""))}


def repair(client: RegistryClient, identity: Identity, payload: dict[str, Any]) -> dict[str, Any]:
    from affectgpt.registry.repair import repair_log

    model_name = str(payload.get("model") or "")
    if not identity.is_admin:
        raise Refused(f"{model_name}: only an MLflow administrator may repair the audit log; {identity.name} is not one")
    event = repair_log(client, model_name, actor=identity, reason=str(payload.get("reason") or ""))
    return event.model_dump(mode="json")


def evidence(store: GateStore, sha256: str) -> bytes:
    """A frozen report, for anyone who may read the registry (a reviewer re-hashing it)."""
    content = store.evidence(sha256)
    if content is None:
        raise NotFound(f"no evidence with sha256 {sha256} in the registry gate")
    return content


OPERATIONS = {
    "register": register,
    "review": review,
    "decide": decide,
    "promote": promote,
    "rollback": rollback,
    "unlock": unlock,
    "repair": repair,
}
