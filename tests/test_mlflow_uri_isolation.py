"""A test that points MLflow at its own store leaves nothing behind for the next test
(tests/conftest.py `restore_mlflow_uris`); the two tests run in file order."""

from __future__ import annotations

import os

LEFT_BEHIND = "left-behind.db"


def test_a_test_points_mlflow_at_its_own_store(tmp_path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / LEFT_BEHIND}")
    mlflow.set_registry_uri(f"sqlite:///{tmp_path / LEFT_BEHIND}")
    mlflow.set_experiment("left-behind")
    assert os.environ["MLFLOW_TRACKING_URI"].endswith(LEFT_BEHIND)


def test_the_next_test_starts_from_the_uris_before_it():
    import mlflow

    assert not os.environ.get("MLFLOW_TRACKING_URI", "").endswith(LEFT_BEHIND)
    assert not os.environ.get("MLFLOW_REGISTRY_URI", "").endswith(LEFT_BEHIND)
    assert not mlflow.get_tracking_uri().endswith(LEFT_BEHIND)
    assert not mlflow.get_registry_uri().endswith(LEFT_BEHIND)


def test_the_next_test_starts_a_run_in_its_own_store(tmp_path):
    """The experiment the first test set (an id of its store) is not active here: a run in a
    fresh store would fail with "No Experiment with id=N exists"."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'own.db'}")
    assert os.environ.get("MLFLOW_EXPERIMENT_ID") is None
    with mlflow.start_run() as run:
        assert run.info.experiment_id == "0"
