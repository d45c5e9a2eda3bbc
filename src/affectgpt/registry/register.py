"""Register a training run's model as a candidate version, with lineage, evidence and an
advisory gate verdict.

`register_candidate` is the step the retrain pipeline calls, as the pipeline identity. On an
authenticated server it is one request to the registry gate (`enforcement.register`), which
runs the code below inside the server: the version goes to `NAME-candidates` with its
registration record (author, registering identity, scores, the sha256 of the frozen bench
report, lineage) in the same create call (tag `affectgpt.state`, with a readable description),
and the record enters the audit log (`register` event) at once, before anyone can review it.
Registering the same run twice returns that version.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from affectgpt.bench.mode import ScorerModeName
from affectgpt.registry.audit import load_log, try_append_event
from affectgpt.registry.connection import RegistryClient
from affectgpt.registry.description import version_description
from affectgpt.registry.errors import InvalidInput, NotFound, Refused
from affectgpt.registry.evidence import champion_report, report_file, store_report
from affectgpt.registry.gate import GateResult, evaluate_gate
from affectgpt.registry.governance import LogState, init_registry, registration_hash, replay
from affectgpt.registry.identity import Identity, same_person
from affectgpt.registry.records import candidates_name, load_version, state_tags
from affectgpt.registry.scores import BenchScores, load_scores

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
    author: str | None = None
    manual: bool = False

    @classmethod
    def of(cls, model_name: str, version: str, run_id: str, gate: GateResult, *, created: bool,
           author: str | None, manual: bool) -> CandidateResult:
        """The result for a version and its gate verdict, new or found from an earlier attempt."""
        return cls(model_name=model_name, version=version, run_id=run_id, created=created, verdict=gate.verdict,
                   reasons=gate.reasons, champion_version=gate.champion_version, author=author, manual=manual)

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
    scorer_mode: ScorerModeName | str,
    promotion_config: Path | None = None,
    tracking_uri: str | None = None,
    actor: str | None = None,
    submitted_by: str | None = None,
    artifact_path: str = MODEL_ARTIFACT_PATH,
    client: RegistryClient | None = None,
    extra_tags: dict[str, str] | None = None,
) -> CandidateResult:
    """Create (or find) the candidate version for `run_id` and judge it (advisory) with the
    rules stored with the production model.

    `scores` is the path of a bench report.json (evidence: stored with the run, hash recorded)
    or a dict typed by hand (recorded as manual: never promotable). The author is the
    authenticated user, or `submitted_by` when the pipeline identity registers for a submitter.
    `promotion_config` only sets up a new local (sqlite) registry; on a server the rules are
    the administrator's (`affectgpt registry init`)."""
    if scorer_mode not in set(ScorerModeName):  # refused before the registry is asked anything
        raise InvalidInput(f"unknown scorer mode {scorer_mode!r}; use one of {', '.join(ScorerModeName)}")
    scorer_mode = ScorerModeName(scorer_mode).value
    client = client or RegistryClient(tracking_uri)
    identity = client.identity(actor)
    from affectgpt.registry.gate_client import governed

    if governed(client):
        return _register_through_gate(client, run_id, model_name, scores, data_rev=data_rev, code_rev=code_rev,
                                      config_hash=config_hash, scorer_mode=scorer_mode,
                                      promotion_config=promotion_config, submitted_by=submitted_by,
                                      artifact_path=artifact_path, extra_tags=extra_tags)
    candidates = candidates_name(model_name)
    existing = _existing_version(client, candidates, run_id)
    if existing is not None:
        return _result_from_existing(client, model_name, existing, run_id, identity)

    manual = isinstance(scores, dict)
    bench = load_scores(scores)
    if bench.mode is not None and bench.mode != scorer_mode:
        raise InvalidInput(
            f"{bench.source}: report mode is '{bench.mode}' but scorer_mode is '{scorer_mode}'; "
            "pass the mode the report was scored in"
        )
    state = _registry_state(client, model_name, identity, promotion_config)
    author = _author(identity, state, submitted_by)
    source, model_id = _model_source(client, run_id, artifact_path)
    report_artifact = report_sha256 = None
    if not manual:
        report_artifact, report_sha256 = store_report(client, run_id, report_file(scores))
    champion_candidate = state.champion_candidate()
    champion_record = (state.registered.get(champion_candidate) or {}).get("registration", {})
    gate = advisory_gate(bench.scores, manual, scorer_mode, state, champion_record, bench,
                         champion_report(client, champion_record))
    record = {
        "run_id": run_id,
        "author": author,
        "registered_by": identity.name,
        "authenticated": identity.authenticated,
        "submitted_by": submitted_by,
        "scores": bench.scores,
        "scorer_mode": scorer_mode,
        "manual": manual,
        "report_artifact": report_artifact,
        "report_sha256": report_sha256,
        "data_rev": data_rev,
        "code_rev": code_rev,
        "config_hash": config_hash,
        "source": source,
    }
    # One machine tag (the record, hashed into the log, with the advisory gate) and the few tags a
    # person filters on; the description says it all in words.
    tags = state_tags(record, gate, state.rules, bench.reported_mean)
    # Further lineage (e.g. the MER-UniBench test sets' revision); never overrides a registry tag.
    tags = {**{key: str(value) for key, value in (extra_tags or {}).items()}, **tags}
    description = version_description(model_name, record, gate, state.rules,
                                      {key: str(value) for key, value in (extra_tags or {}).items()})

    def create_once() -> tuple[str, bool]:
        # Check-then-create as one retried unit: after a lost response the retry finds the
        # version the first attempt made instead of making a second one.
        found = _search_versions_raw(client, candidates, run_id)
        if found is not None:
            return found, False
        # A sqlite registry resolves a `models:/<id>` source with a default MlflowClient(), i.e.
        # the process-wide tracking URI; point it at this client's store for the call, or the
        # default store (no MLFLOW_TRACKING_URI) would look in ./mlflow.db and create it.
        from mlflow.tracking._tracking_service.utils import _use_tracking_uri

        with _use_tracking_uri(client.tracking_uri):
            created = client.mlflow.create_model_version(
                candidates, source, run_id=run_id, tags=tags, model_id=model_id, await_creation_for=0,
                description=description,
            )
        return str(created.version), True

    version, created = client.call(f"create a version of {candidates} from run {run_id}", create_once)
    if not created:
        return _result_from_existing(client, model_name, version, run_id, identity)
    intake(client, model_name, version, identity)
    return CandidateResult.of(model_name, version, run_id, gate, created=True, author=author, manual=manual)


def _register_through_gate(client: RegistryClient, run_id: str, model_name: str,
                           scores: dict[str, float] | Path | str, *, promotion_config: Path | None,
                           submitted_by: str | None, extra_tags: dict[str, str] | None, **lineage: str) -> CandidateResult:
    """The governed registration: the report's bytes and the lineage go to the registry gate,
    which checks the caller and the submitter, freezes the evidence and logs the registration."""
    import base64

    from affectgpt.registry.gate_client import call_gate

    if promotion_config is not None:
        raise InvalidInput(
            "--promotion-config is not accepted by a server registry: the gate rules are the ones "
            f"the administrator stored with {model_name} (`affectgpt registry init`)"
        )
    payload: dict = {"model": model_name, "run_id": run_id, "submitted_by": submitted_by,
                     "extra_tags": {str(k): str(v) for k, v in (extra_tags or {}).items()}, **lineage}
    if isinstance(scores, dict):
        payload["scores"] = load_scores(scores).scores
    else:
        load_scores(scores)  # a bad report is refused here, before anything is sent
        payload["report_b64"] = base64.b64encode(report_file(scores).read_bytes()).decode()
    return CandidateResult.model_validate(call_gate(client, "register", payload))


def advisory_gate(
    scores: dict[str, float], manual: bool, scorer_mode: str | None, state: LogState, champion_record: dict,
    evidence: BenchScores | None = None, champion_evidence: BenchScores | None = None,
) -> GateResult:
    """The gate with the stored rules; typed (manual) scores always fail it."""
    gate = evaluate_gate(
        scores,
        state.rules,
        champion_scores=champion_record.get("scores") if champion_record else None,
        champion_version=state.champion,
        candidate_mode=scorer_mode,
        champion_mode=champion_record.get("scorer_mode") if champion_record else None,
        candidate_evidence=evidence,
        champion_evidence=champion_evidence,
    )
    if manual and gate.verdict != "no_scores":
        reason = "scores were typed by hand (manual), not read from a bench report: never promotable"
        return gate.model_copy(update={"verdict": "fail", "reasons": [reason, *gate.reasons]})
    return gate


def _registry_state(
    client: RegistryClient, model_name: str, identity: Identity, promotion_config: Path | None
) -> LogState:
    """The log's state; a new local registry is set up here, a server needs `registry init`."""
    state = replay(load_log(client, model_name).events)
    if state.initialized:
        if promotion_config is not None and identity.authenticated:
            raise InvalidInput(
                "--promotion-config is not accepted by a server registry: the gate rules are the ones "
                f"the administrator stored with {model_name} (`affectgpt registry init`)"
            )
        return state
    if identity.authenticated:
        raise Refused(
            f"{model_name} is not set up on {client.tracking_uri}: an administrator runs "
            f"`affectgpt registry init --model {model_name} --pipeline-user U --reviewers A,B` first"
        )
    return init_registry(model_name, pipeline_user=None, reviewers=[], rules_path=promotion_config,
                         client=client, actor=identity)


def _author(identity: Identity, state: LogState, submitted_by: str | None) -> str:
    """The registering user, or the submitter when the pipeline identity registers for one."""
    if not submitted_by or same_person(submitted_by, identity.name):
        return identity.name
    if identity.authenticated and not same_person(identity.name, state.roles.pipeline_user):
        raise Refused(
            f"{identity.name} may not register on behalf of {submitted_by}: only the pipeline identity "
            f"({state.roles.pipeline_user}) records a submitter"
        )
    return submitted_by.strip()


def intake(client: RegistryClient, model_name: str, version: str, actor: Identity) -> bool:
    """Log the `register` event of a candidate from its registration record, once; False when
    the actor may not write the log (the pipeline: a reviewer's first look logs it)."""
    state = replay(load_log(client, model_name).events)
    if version in state.registered:
        return True
    info = load_version(client, model_name, version)
    record = info.registration
    details = {
        "run_id": info.run_id,
        "registration": record,
        "registration_hash": registration_hash(record) if record else None,
        "author": record.get("author"),
        "registered_by": record.get("registered_by"),
        "scores": record.get("scores", {}),
    }
    return try_append_event(client, model_name, "register", actor=actor, version=version, details=details) is not None


def _result_from_existing(
    client: RegistryClient, model_name: str, version: str, run_id: str, identity: Identity
) -> CandidateResult:
    """The stored outcome of an earlier registration (its register event is written now if an
    earlier attempt stopped before it)."""
    info = load_version(client, model_name, version)
    intake(client, model_name, version, identity)
    gate = info.gate or GateResult(verdict="no_scores", reasons=["no gate verdict recorded on this version"])
    return CandidateResult.of(model_name, version, run_id, gate, created=False, author=info.author,
                              manual=bool(info.registration.get("manual")))
