"""`affectgpt registry register --train-dir TRAIN_OUT`: the run and its lineage come from the
manifest `affectgpt train` writes, so a person registers what they just trained by its folder.

The run is a real MLflow run with a logged model (as training logs it); the manifest is the
training step's shape (run id in `outputs`/`extra`, config and records hashes in `inputs`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_registry_cli_stores import _affectgpt, _log_run

from affectgpt.manifest import StepManifest

pytestmark = pytest.mark.integration

SCORES = ["--score", "mer2023=50", "--scorer-mode", "official"]


def _train_out(folder: Path, run_id: str) -> Path:
    StepManifest(step="train", inputs={"config": "c" * 64, "records": "ab12" * 16},
                 outputs={"mlflow_run_id": run_id}, extra={"mlflow_run_id": run_id},
                 code_version="0.1.0+gdeadbeef").write(folder)
    return folder


def _tags(project: Path, model: str) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{project / '.affectgpt' / 'mlflow.db'}")
    return client.get_model_version(f"{model}-candidates", "1").tags


def test_register_takes_the_run_and_lineage_from_the_training_folder(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    _, run_id = _log_run(project)
    _train_out(project / "runs" / "tiny", run_id)
    registered = _affectgpt(project, "registry", "register", "--model", "demo", "--train-dir", "runs/tiny", *SCORES)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert f"run {run_id} registered version 1" in registered.stdout
    tags = _tags(project, "demo")
    assert tags["affectgpt.data_rev"] == "sha256:" + ("ab12" * 4)
    assert tags["affectgpt.code_rev"] == "0.1.0+gdeadbeef"


def test_an_explicit_revision_overrides_the_manifest(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    _, run_id = _log_run(project)
    _train_out(project / "out", run_id)
    registered = _affectgpt(project, "registry", "register", "--model", "demo", "--train-dir", "out",
                            "--data-rev", "dvc:0123", *SCORES)
    assert registered.returncode == 0, registered.stdout + registered.stderr
    assert _tags(project, "demo")["affectgpt.data_rev"] == "dvc:0123"


def test_train_dir_and_run_id_are_one_or_the_other(tmp_path):
    both = _affectgpt(tmp_path, "registry", "register", "--model", "demo", "--train-dir", "out", "--run-id", "r1",
                      *SCORES)
    assert both.returncode == 2, both.stdout + both.stderr
    assert "either as --run-id" in both.stderr
    neither = _affectgpt(tmp_path, "registry", "register", "--model", "demo", *SCORES)
    assert neither.returncode == 2 and "either as --run-id" in neither.stderr
    lineage_missing = _affectgpt(tmp_path, "registry", "register", "--model", "demo", "--run-id", "r1", *SCORES)
    assert lineage_missing.returncode == 2
    assert "--data-rev, --code-rev, --config-hash required (with --run-id)" in lineage_missing.stderr


def test_a_folder_without_a_training_manifest_is_not_found(tmp_path):
    (tmp_path / "empty").mkdir()
    missing = _affectgpt(tmp_path, "registry", "register", "--model", "demo", "--train-dir", "empty", *SCORES)
    assert missing.returncode == 4, missing.stdout + missing.stderr
    assert "manifest.json: not found" in missing.stderr
    assert "Traceback" not in missing.stderr
