"""A test that points MLflow at its own store leaves nothing behind for the next test
(tests/conftest.py `restore_mlflow_uris`); the two tests run in file order."""

from __future__ import annotations

import os

LEFT_BEHIND = "left-behind.db"
BEFORE: dict[str, object] = {}


def test_a_test_points_mlflow_at_its_own_store(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / LEFT_BEHIND}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / LEFT_BEHIND}")
    from mlflow.tracking import fluent

    BEFORE.update(env=os.environ.get("MLFLOW_EXPERIMENT_ID"), active=fluent._active_experiment_id)
    mlflow.set_experiment("left-behind")
    assert os.environ["MLFLOW_TRACKING_URI"].endswith(LEFT_BEHIND)


def test_the_next_test_starts_from_the_uris_before_it():
    import mlflow

    assert not os.environ.get("MLFLOW_TRACKING_URI", "").endswith(LEFT_BEHIND)
    assert not os.environ.get("MLFLOW_REGISTRY_URI", "").endswith(LEFT_BEHIND)
    assert not mlflow.get_tracking_uri().endswith(LEFT_BEHIND)
    assert not mlflow.get_registry_uri().endswith(LEFT_BEHIND)


def test_the_next_test_finds_the_experiment_from_before_it():
    """The experiment the first test set (an id of its store) is not active here: a run in
    another store would fail with "No Experiment with id=N exists"."""
    from mlflow.tracking import fluent

    assert os.environ.get("MLFLOW_EXPERIMENT_ID") == BEFORE["env"]
    assert fluent._active_experiment_id == BEFORE["active"]
