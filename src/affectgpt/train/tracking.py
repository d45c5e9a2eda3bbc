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
    """Point MLflow at our store and return the experiment id (created on first use)."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:") and not os.environ.get("MLFLOW_TRACKING_URI"):
        artifact_location = (workspace_dir() / "mlartifacts" / name).resolve().as_uri()
    return mlflow.create_experiment(name, artifact_location=artifact_location)


def flatten(prefix: str, payload: Any) -> dict[str, Any]:
    """Nested config -> flat `a.b.c` params (MLflow params are flat strings)."""
    if isinstance(payload, dict):
        flat: dict[str, Any] = {}
        for key, value in payload.items():
            flat.update(flatten(f"{prefix}.{key}" if prefix else str(key), value))
        return flat
    return {prefix: str(payload)[:500]}
