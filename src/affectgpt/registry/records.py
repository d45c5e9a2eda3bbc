"""What the registry knows about a candidate version, read back from MLflow tags.

A model NAME lives in five registered models: `NAME-candidates` (versions the pipeline
registers), `NAME` (production: versions copied in by promotion, the `champion`/`previous`
aliases, the rules), `NAME-audit-copy` and `NAME-audit` (the two copies of the audit log) and,
while an alias change runs, `NAME--promotion-lock`. Tag names live here, once, so writers and readers
cannot drift apart. A version registered by plain MLflow calls lacks the affectgpt tags: it
reads as "no scores".

A version's tag list is what a person filters on in the MLflow UI, so it holds only the gate
verdict and the revisions (data, code, test sets) plus ONE machine tag, `affectgpt.state`: the
registration record (hashed into the audit log), the advisory gate result and the rules it was
judged by, as compact JSON. The version's description says the same in words (scores in
percent, verdict, lineage). Versions written before this layout (one tag per field) are still read.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import NotFound
from affectgpt.registry.gate import GateResult, PromotionConfig

CHAMPION = "champion"
PREVIOUS = "previous"
NO_CHAMPION = "none"

TAG_DATA_REV = "affectgpt.data_rev"
TAG_CODE_REV = "affectgpt.code_rev"
TAG_CONFIG_HASH = "affectgpt.config_hash"
TAG_SCORER_MODE = "affectgpt.scorer_mode"
TAG_SCORES = "affectgpt.scores"
TAG_SCORE_MEAN = "affectgpt.score_mean"
TAG_REPORTED_MEAN = "affectgpt.reported_mean"
TAG_AUTHOR = "affectgpt.author"
TAG_REGISTERED_BY = "affectgpt.registered_by"
TAG_GATE_VERDICT = "affectgpt.gate.verdict"
TAG_GATE_REASONS = "affectgpt.gate.reasons"
TAG_GATE_CHAMPION = "affectgpt.gate.champion_version"
TAG_GATE_RESULT = "affectgpt.gate.result"
TAG_GATE_CONFIG = "affectgpt.gate.config"
TAG_APPROVAL_STATUS = "affectgpt.approval.status"
TAG_APPROVAL_RECORD = "affectgpt.approval.record"
TAG_LAST_REVIEW = "affectgpt.review.last"
TAG_REGISTRATION = "affectgpt.registration"  # older layout: the registration record on its own tag
TAG_STATE = "affectgpt.state"  # {"registration": record (hashed into the log), "gate": ..., "rules": ...}
TAG_CANDIDATE_VERSION = "affectgpt.candidate_version"  # on production versions: where they came from
CANDIDATES_SUFFIX = "-candidates"


def candidates_name(model_name: str) -> str:
    """The registered model that holds the candidates of `model_name`."""
    return f"{model_name}{CANDIDATES_SUFFIX}"


def _not_found(error: Exception) -> bool:
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower()


class VersionInfo(BaseModel):
    """One model version with its lineage, scores, gate verdict and approval state."""

    model: str
    version: str
    run_id: str | None = None
    source: str = ""
    author: str | None = None
    data_rev: str | None = None
    code_rev: str | None = None
    config_hash: str | None = None
    scorer_mode: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    reported_mean: float | None = None
    gate: GateResult | None = None
    gate_config: PromotionConfig | None = None
    approval_status: str | None = None
    approval: dict[str, Any] | None = None
    registration: dict[str, Any] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


def registered_model(client: RegistryClient, model_name: str):
    """The registered model, or NotFound naming it."""

    def get():
        try:
            return client.mlflow.get_registered_model(model_name)
        except Exception as error:
            if _not_found(error):
                raise NotFound(
                    f"model '{model_name}' is not in the registry at {client.tracking_uri}; "
                    "check the name or MLFLOW_TRACKING_URI"
                ) from error
            raise

    return client.call(f"read model {model_name}", get)


def current_aliases(client: RegistryClient, model_name: str) -> dict[str, str]:
    """All aliases of a model in one read, versions as strings (sqlite gives int, REST str)."""
    return {
        str(alias): str(version)
        for alias, version in (registered_model(client, model_name).aliases or {}).items()
    }


def current_alias(client: RegistryClient, model_name: str, alias: str = CHAMPION) -> str | None:
    """The version one alias points to, or None."""
    return current_aliases(client, model_name).get(alias)


def load_version(client: RegistryClient, model_name: str, version: str | int) -> VersionInfo:
    """Read candidate `version` of `model_name` (from `NAME-candidates`), or raise NotFound."""
    source_name = candidates_name(model_name)

    def get():
        try:
            return client.mlflow.get_model_version(source_name, str(version))
        except Exception as error:
            if _not_found(error) or "INVALID_PARAMETER_VALUE" in str(error):
                registered_model(client, source_name)  # an unknown model gets its own message
                raise NotFound(
                    f"model '{model_name}' has no candidate version {version}; "
                    f"see `affectgpt registry history --model {model_name}`"
                ) from error
            raise

    model_version = client.call(f"read {model_name} v{version}", get)
    tags = dict(model_version.tags or {})
    state = version_state(tags)
    registration = registration_record(tags) or {}
    gate = GateResult.model_validate(state["gate"]) if state.get("gate") else None
    gate_config = PromotionConfig.model_validate(state["rules"]) if state.get("rules") else None
    scores = registration.get("scores") if registration else json.loads(tags.get(TAG_SCORES, "{}"))
    reported_mean = state.get("reported_mean")
    return VersionInfo(
        model=model_name,
        version=str(model_version.version),
        run_id=model_version.run_id or None,
        source=model_version.source or "",
        author=registration.get("author"),
        data_rev=tags.get(TAG_DATA_REV),
        code_rev=tags.get(TAG_CODE_REV),
        config_hash=registration.get("config_hash") or tags.get(TAG_CONFIG_HASH),
        scorer_mode=registration.get("scorer_mode") or tags.get(TAG_SCORER_MODE),
        scores={k: float(v) for k, v in (scores or {}).items()},
        reported_mean=float(reported_mean) if reported_mean is not None else None,
        gate=gate,
        gate_config=gate_config,
        approval_status=None,
        approval=None,
        registration=registration,
        aliases=[str(alias) for alias in (model_version.aliases or [])],
        tags=tags,
    )


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def version_state(tags: dict[str, str]) -> dict[str, Any]:
    """The machine state of a version: the `affectgpt.state` tag, or the same fields gathered
    from the one-tag-per-field layout of older versions. Unreadable JSON reads as absent (verify
    then reports the registration record as differing from the logged one)."""
    raw = tags.get(TAG_STATE)
    if raw is not None:
        try:
            state = json.loads(raw)
        except ValueError:
            return {}
        return state if isinstance(state, dict) else {}
    state: dict[str, Any] = {}
    try:
        if tags.get(TAG_REGISTRATION, "").startswith("{"):
            state["registration"] = json.loads(tags[TAG_REGISTRATION])
        if TAG_GATE_RESULT in tags:
            state["gate"] = json.loads(tags[TAG_GATE_RESULT])
        if TAG_GATE_CONFIG in tags:
            state["rules"] = json.loads(tags[TAG_GATE_CONFIG])
    except ValueError:
        return {}
    if tags.get(TAG_REPORTED_MEAN):
        state["reported_mean"] = float(tags[TAG_REPORTED_MEAN])
    return state


def registration_record(tags: dict[str, str]) -> dict[str, Any] | None:
    """The registration record a version carries (None when it has none, or it is unreadable)."""
    record = version_state(tags).get("registration")
    return record if isinstance(record, dict) else None


def has_registration(tags: dict[str, str]) -> bool:
    """Whether a version was written with a registration record at all (in either layout)."""
    return TAG_STATE in tags or TAG_REGISTRATION in tags


def state_tags(record: dict[str, Any], gate: GateResult, config: PromotionConfig | None,
               reported_mean: float | None = None) -> dict[str, str]:
    """The version's tags: the state (one compact JSON tag) and what a person filters on."""
    state: dict[str, Any] = {"registration": record, "gate": gate.model_dump(mode="json")}
    if config is not None:
        state["rules"] = config.model_dump(mode="json")
    if reported_mean is not None:
        state["reported_mean"] = reported_mean
    return {
        TAG_STATE: _compact(state),
        TAG_GATE_VERDICT: gate.verdict,
        TAG_DATA_REV: str(record.get("data_rev") or ""),
        TAG_CODE_REV: str(record.get("code_rev") or ""),
    }
