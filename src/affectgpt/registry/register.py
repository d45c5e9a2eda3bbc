"""Register a training run's model as a version, with lineage, scores and the gate verdict.

`register_candidate` is the step the retrain pipeline calls. Everything about the version (its
lineage, scores and verdict) is written in the same create call as the version itself, so a
version never exists without its tags; registering the same run twice returns that version.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from affectgpt.registry.audit import append_event, read_events, sync_audit_artifact
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.errors import InvalidInput, NotFound
from affectgpt.registry.gate import GateResult, evaluate_gate, load_promotion_config
from affectgpt.registry.identity import current_actor
from affectgpt.registry.records import (
    TAG_AUTHOR,
    TAG_CODE_REV,
    TAG_CONFIG_HASH,
    TAG_DATA_REV,
    TAG_REGISTERED_BY,
    TAG_REPORTED_MEAN,
    TAG_SCORE_MEAN,
    TAG_SCORER_MODE,
    TAG_SCORES,
    VersionInfo,
    current_alias,
    gate_tags,
    load_version,
    run_author,
)
from affectgpt.registry.scores import load_scores, score_tag_key

MODEL_ARTIFACT_PATH = "model"


class CandidateResult(BaseModel):
    """What registering a candidate produced."""

    model_name: str
    version: str
    run_id: str
    created: bool
    verdict: str
    reasons: list[str]
    champion_version: str | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def _not_found(error: Exception) -> bool:
    return getattr(error, "error_code", "") == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error).lower()


def _model_source(client: RegistryClient, run_id: str, artifact_path: str) -> tuple[str, str | None]:
    """(source URI, logged model id) of the model a run logged under `artifact_path`."""

    def find() -> tuple[str, str | None]:
        try:
            run = client.mlflow.get_run(run_id)
        except Exception as error:
            if _not_found(error):
                raise NotFound(
                    f"run {run_id} not found at {client.tracking_uri}; check the run id "
                    "(the training manifest.json holds it) and MLFLOW_TRACKING_URI"
                ) from error
            raise
        logged = [
            model
            for model in client.mlflow.search_logged_models(
                experiment_ids=[run.info.experiment_id], filter_string=f"name = '{artifact_path}'"
            )
            if model.source_run_id == run_id
        ]
        if logged:
            newest = max(logged, key=lambda model: model.creation_timestamp)
            return f"models:/{newest.model_id}", newest.model_id
        names = {item.path for item in client.mlflow.list_artifacts(run_id, artifact_path)}
        if f"{artifact_path}/MLmodel" in names:
            return f"{run.info.artifact_uri}/{artifact_path}", None
        raise NotFound(
            f"run {run_id} has no MLflow model under '{artifact_path}'; log it with "
            f"mlflow.pyfunc.log_model(name='{artifact_path}', ...) in that run"
        )

    return client.call(f"find the model logged by run {run_id}", find)


def _search_versions_raw(client: RegistryClient, model_name: str, run_id: str) -> str | None:
    """The oldest version of `model_name` made from `run_id`, or None (one unretried read)."""
    try:
        versions = client.mlflow.search_model_versions(f"name = '{model_name}' and run_id = '{run_id}'")
    except Exception as error:
        if _not_found(error):
            return None
        raise
    ordered = sorted(versions, key=lambda mv: int(mv.version))
    return str(ordered[0].version) if ordered else None


def _existing_version(client: RegistryClient, model_name: str, run_id: str) -> str | None:
    return client.call(
        f"look up {model_name} versions of run {run_id}", _search_versions_raw, client, model_name, run_id
    )


def register_candidate(
    run_id: str,
    model_name: str,
    scores: dict[str, float] | Path | str,
    *,
    data_rev: str,
    code_rev: str,
    config_hash: str,
    scorer_mode: str,
    promotion_config: Path | None = None,
    tracking_uri: str | None = None,
    actor: str | None = None,
    artifact_path: str = MODEL_ARTIFACT_PATH,
    client: RegistryClient | None = None,
    extra_tags: dict[str, str] | None = None,
) -> CandidateResult:
    """Create (or find) the version for `run_id` and judge it against the current champion.

    `scores` is a dict dataset -> value or the path of a bench report.json; a report's own
    `mode` must agree with `scorer_mode`. Idempotent on the run id: a second call returns the
    existing version and its stored verdict without writing anything.
    """
    client = client or RegistryClient(tracking_uri)
    existing = _existing_version(client, model_name, run_id)
    if existing is not None:
        return _result_from_existing(client, model_name, existing, run_id)

    bench = load_scores(scores)
    if bench.mode is not None and bench.mode != scorer_mode:
        raise InvalidInput(
            f"{bench.source}: report mode is '{bench.mode}' but scorer_mode is '{scorer_mode}'; "
            "pass the mode the report was scored in"
        )
    config = load_promotion_config(promotion_config)
    source, model_id = _model_source(client, run_id, artifact_path)
    author = run_author(client, run_id)
    actor_id = current_actor(actor)

    def ensure_model() -> None:
        try:
            client.mlflow.create_registered_model(model_name)
        except Exception as error:
            if "already exists" not in str(error).lower() and "ALREADY_EXISTS" not in str(error):
                raise

    client.call(f"create registered model {model_name}", ensure_model)
    champion = current_alias(client, model_name)
    champion_info = load_version(client, model_name, champion) if champion else None
    gate = evaluate_gate(
        bench.scores,
        config,
        champion_scores=champion_info.scores if champion_info else None,
        champion_version=champion,
        candidate_mode=scorer_mode,
        champion_mode=champion_info.scorer_mode if champion_info else None,
    )
    tags = {
        TAG_DATA_REV: data_rev,
        TAG_CODE_REV: code_rev,
        TAG_CONFIG_HASH: config_hash,
        TAG_SCORER_MODE: scorer_mode,
        TAG_SCORES: json.dumps(bench.scores, sort_keys=True),
        TAG_REGISTERED_BY: actor_id,
        **{score_tag_key(name): f"{value:.6g}" for name, value in bench.scores.items()},
        **gate_tags(gate, config),
    }
    # Further lineage (e.g. the MER-UniBench test sets' revision); never overrides a registry tag.
    tags = {**{key: str(value) for key, value in (extra_tags or {}).items()}, **tags}
    if author:
        tags[TAG_AUTHOR] = author
    if gate.candidate_mean is not None:
        tags[TAG_SCORE_MEAN] = f"{gate.candidate_mean:.6g}"
    if bench.reported_mean is not None:
        tags[TAG_REPORTED_MEAN] = f"{bench.reported_mean:.6g}"

    def create_once() -> tuple[str, bool]:
        # Check-then-create as one retried unit: after a lost response the retry finds the
        # version the first attempt made instead of making a second one.
        found = _search_versions_raw(client, model_name, run_id)
        if found is not None:
            return found, False
        # A sqlite registry resolves a `models:/<id>` source with a default MlflowClient(), i.e.
        # the process-wide tracking URI; point it at this client's store for the call, or the
        # default store (no MLFLOW_TRACKING_URI) would look in ./mlflow.db and create it.
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        with _use_tracking_uri(client.tracking_uri):
            created = client.mlflow.create_model_version(
                model_name, source, run_id=run_id, tags=tags, model_id=model_id, await_creation_for=0
            )
        return str(created.version), True

    version, created = client.call(f"create a version of {model_name} from run {run_id}", create_once)
    if not created:
        return _result_from_existing(client, model_name, version, run_id)
    _log_registration(client, load_version(client, model_name, version), actor_id)
    return CandidateResult(
        model_name=model_name,
        version=version,
        run_id=run_id,
        created=True,
        verdict=gate.verdict,
        reasons=gate.reasons,
        champion_version=champion,
    )


def _log_registration(client: RegistryClient, info: VersionInfo, actor: str) -> None:
    """The register and verdict events of a version, from what is stored on it."""
    append_event(
        client,
        info.model,
        "register",
        actor=actor,
        version=info.version,
        details={
            "run_id": info.run_id,
            "author": info.author,
            "data_rev": info.data_rev,
            "code_rev": info.code_rev,
            "config_hash": info.config_hash,
            "scorer_mode": info.scorer_mode,
            "scores": info.scores,
        },
        sync_artifact=False,
    )
    if info.gate is not None:
        append_event(
            client,
            info.model,
            "verdict",
            actor=actor,
            version=info.version,
            details={
                "verdict": info.gate.verdict,
                "reasons": info.gate.reasons,
                "champion_version": info.gate.champion_version,
            },
            sync_artifact=False,
        )
    sync_audit_artifact(client, info.model)


def _result_from_existing(
    client: RegistryClient, model_name: str, version: str, run_id: str
) -> CandidateResult:
    """The stored outcome of an earlier registration. If that registration stopped before its
    audit events were written (server lost mid-way), they are written now, so the log heals."""
    info = load_version(client, model_name, version)
    logged = any(
        event.event == "register" and event.version == version for event in read_events(client, model_name)
    )
    if not logged and info.tags.get(TAG_REGISTERED_BY):
        _log_registration(client, info, info.tags[TAG_REGISTERED_BY])
    gate = info.gate or GateResult(verdict="no_scores", reasons=["no gate verdict recorded on this version"])
    return CandidateResult(
        model_name=model_name,
        version=version,
        run_id=run_id,
        created=False,
        verdict=gate.verdict,
        reasons=gate.reasons,
        champion_version=gate.champion_version,
    )
