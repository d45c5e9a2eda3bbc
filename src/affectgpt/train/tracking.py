"""MLflow for training runs: the platform's one store (`paths.tracking_uri`: an explicit
`$MLFLOW_TRACKING_URI`, else the embedded sqlite store in the workspace).

On any sqlite store, experiments keep their artifacts beside the database (`mlartifacts/`),
never in a stray ./mlruns of whatever directory the command happened to run from.
"""

from __future__ import annotations

from typing import Any

from affectgpt import paths


def tracking_uri() -> str:
    return paths.tracking_uri()


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
        root = paths.artifact_root_for(uri)
        artifact_location = f"{root}/{name}" if root else None
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
