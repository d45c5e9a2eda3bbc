"""Helpers shared by the registry tests: fast retries and training runs that log a real
(small) pyfunc model with an author, as the trainer does."""

from __future__ import annotations

from affectgpt.registry.connection import RegistryClient, RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, first_delay_s=0.2, max_delay_s=0.5)


def _python_model():
    import mlflow.pyfunc

    class EmotionEcho(mlflow.pyfunc.PythonModel):
        """Answers every clip with one fixed emotion: enough to load and call a served champion."""

        def __init__(self, emotion: str) -> None:
            self.emotion = emotion

        def predict(self, context, model_input: list[str], params=None) -> list[str]:
            return [self.emotion] * len(model_input)

    return EmotionEcho


def log_training_run(
    tracking_uri: str, author: str, emotion: str = "happy", experiment: str = "train"
) -> str:
    """A finished run whose `mlflow.user` is `author`, with a pyfunc model under `model`."""
    import mlflow

    client = RegistryClient(tracking_uri, FAST_RETRY).mlflow
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(experiment, artifact_location=_artifact_location(tracking_uri))
    )
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id, tags={"mlflow.user": author}) as run:
        mlflow.log_param("emotion", emotion)
        mlflow.pyfunc.log_model(
            name="model", python_model=_python_model()(emotion), pip_requirements=["mlflow"]
        )
    return run.info.run_id


def _artifact_location(tracking_uri: str) -> str | None:
    from affectgpt.registry.connection import artifact_root_for

    return artifact_root_for(tracking_uri)
