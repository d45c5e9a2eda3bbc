"""MLflow for training runs: `$MLFLOW_TRACKING_URI`, else an embedded sqlite store in the workspace.

With the embedded default, artifacts go under the workspace too (not a stray ./mlruns in
whatever directory the command happened to run from).
"""

from __future__ import annotations

import os
from typing import Any

from affectgpt.paths import workspace_dir


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{workspace_dir() / 'mlflow.db'}"


def setup_experiment(name: str) -> str:
    """Point MLflow at our store, make `name` the active experiment and return its id (created
    on first use). Setting it active matters on resume: MLflow refuses to reopen a run when the
    process's active experiment (left by earlier work in the same process) is another one."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        artifact_location = None
        if uri.startswith("sqlite:") and not os.environ.get("MLFLOW_TRACKING_URI"):
            artifact_location = (workspace_dir() / "mlartifacts" / name).resolve().as_uri()
        experiment_id = mlflow.create_experiment(name, artifact_location=artifact_location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def flatten(prefix: str, payload: Any) -> dict[str, Any]:
    """Nested config -> flat `a.b.c` params (MLflow params are flat strings)."""
    if isinstance(payload, dict):
        flat: dict[str, Any] = {}
        for key, value in payload.items():
            flat.update(flatten(f"{prefix}.{key}" if prefix else str(key), value))
        return flat
    return {prefix: str(payload)[:500]}
