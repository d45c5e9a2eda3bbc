"""The append-only audit log of a registered model: every register, verdict, approval,
rejection, promotion, rollback and refusal, with time and identity.

Each event is its own registered-model tag (`affectgpt.audit.<time_ns>.<random>`): keys never
repeat and are never overwritten, so concurrent writers cannot lose each other's events and the
log lives in the same database as the aliases (it survives server restarts with them). A JSONL
copy is kept as an artifact of one run per model in the `affectgpt-registry-audit` experiment,
for tools that read artifacts; it is rebuilt from the tags after every append, and rebuilt again
if another writer appended meanwhile, so the last writer always leaves a complete file.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from affectgpt.registry.connection import RegistryClient, artifact_root_for

AUDIT_TAG_PREFIX = "affectgpt.audit."
AUDIT_RUN_TAG = "affectgpt.audit_model"
AUDIT_EXPERIMENT = "affectgpt-registry-audit"
AUDIT_ARTIFACT = "audit_log.jsonl"


class AuditEvent(BaseModel):
    """One line of the audit log."""

    at: str = Field(description="UTC time, ISO 8601")
    event: str = Field(description="register, verdict, approval, rejection, promotion, rollback, *_refused")
    model: str
    version: str | None = None
    actor: str
    details: dict[str, Any] = Field(default_factory=dict)
    key: str = Field("", description="the tag key that holds this event (its position in the log)")

    def to_json_line(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def append_event(
    client: RegistryClient,
    model_name: str,
    event: str,
    *,
    actor: str,
    version: str | int | None = None,
    details: dict[str, Any] | None = None,
    sync_artifact: bool = True,
) -> AuditEvent:
    """Add one event to the log (a new tag, then the JSONL mirror)."""
    key = f"{AUDIT_TAG_PREFIX}{time.time_ns():020d}.{uuid.uuid4().hex[:8]}"
    record = AuditEvent(
        at=_now_iso(),
        event=event,
        model=model_name,
        version=None if version is None else str(version),
        actor=actor,
        details=details or {},
        key=key,
    )
    payload = record.model_dump(mode="json", exclude={"key"})
    client.call(
        f"append '{event}' to the audit log of {model_name}",
        client.mlflow.set_registered_model_tag,
        model_name,
        key,
        json.dumps(payload, sort_keys=True),
    )
    if sync_artifact:
        sync_audit_artifact(client, model_name)
    return record


def read_events(client: RegistryClient, model_name: str) -> list[AuditEvent]:
    """The log from the tags (the source of truth), oldest first."""
    registered = client.call(
        f"read the audit log of {model_name}", client.mlflow.get_registered_model, model_name
    )
    events = []
    for key, value in sorted(registered.tags.items()):
        if key.startswith(AUDIT_TAG_PREFIX):
            events.append(AuditEvent.model_validate({**json.loads(value), "key": key}))
    return events


def audit_run_id(client: RegistryClient, model_name: str, create: bool = True) -> str | None:
    """The run whose artifact holds the JSONL copy. Racing creators converge on the oldest run."""

    def find() -> str | None:
        experiment = client.mlflow.get_experiment_by_name(AUDIT_EXPERIMENT)
        if experiment is None:
            return None
        runs = client.mlflow.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.{AUDIT_RUN_TAG} = '{model_name}'",
            order_by=["attributes.start_time ASC"],
            max_results=10,
        )
        runs = sorted(runs, key=lambda run: (run.info.start_time, run.info.run_id))
        return runs[0].info.run_id if runs else None

    if model_name in client.audit_run_ids:
        return client.audit_run_ids[model_name]
    run_id = client.call(f"find the audit run of {model_name}", find)
    if run_id is not None:
        client.audit_run_ids[model_name] = run_id
    if run_id is not None or not create:
        return run_id

    def create_run() -> None:
        experiment = client.mlflow.get_experiment_by_name(AUDIT_EXPERIMENT)
        if experiment is None:
            try:
                client.mlflow.create_experiment(
                    AUDIT_EXPERIMENT, artifact_location=artifact_root_for(client.tracking_uri)
                )
            except Exception as error:  # a racing writer created it first
                if "already exists" not in str(error).lower() and "ALREADY_EXISTS" not in str(error):
                    raise
            experiment = client.mlflow.get_experiment_by_name(AUDIT_EXPERIMENT)
        run = client.mlflow.create_run(
            experiment.experiment_id,
            tags={AUDIT_RUN_TAG: model_name, "mlflow.runName": f"audit-{model_name}"},
        )
        client.mlflow.set_terminated(run.info.run_id)

    client.call(f"create the audit run of {model_name}", create_run)
    run_id = client.call(f"find the audit run of {model_name}", find)
    if run_id is not None:
        client.audit_run_ids[model_name] = run_id
    return run_id


def sync_audit_artifact(client: RegistryClient, model_name: str, max_rounds: int = 5) -> None:
    """Rewrite the JSONL copy until it matches the tags it was built from."""
    run_id = audit_run_id(client, model_name)
    written_keys: list[str] | None = None
    for _ in range(max_rounds):
        events = read_events(client, model_name)
        keys = [event.key for event in events]
        if keys == written_keys:
            return
        text = "".join(event.to_json_line() + "\n" for event in events)
        client.call(
            f"write the audit artifact of {model_name}", client.mlflow.log_text, run_id, text, AUDIT_ARTIFACT
        )
        written_keys = keys


def read_audit_artifact(client: RegistryClient, model_name: str) -> list[AuditEvent] | None:
    """The JSONL copy, or None when no copy has been written yet."""
    import tempfile
    from pathlib import Path

    run_id = audit_run_id(client, model_name, create=False)
    if run_id is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        local = client.call(
            f"download the audit artifact of {model_name}",
            client.mlflow.download_artifacts,
            run_id,
            AUDIT_ARTIFACT,
            scratch,
        )
        lines = Path(local).read_text().splitlines()
    return [AuditEvent.model_validate_json(line) for line in lines if line.strip()]
