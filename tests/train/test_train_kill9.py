"""kill -9 during `affectgpt train`: while a checkpoint is being finished, and after the model
is written but before it is published. Each time the run folder keeps its previous whole state
and a rerun resumes from the newest intact checkpoint and finishes."""

from __future__ import annotations

import json

import pytest
from train_testkit import build_reference_records, write_config

from affectgpt.manifest import read_manifest

pytestmark = pytest.mark.integration


def test_kill_during_checkpoint_and_model_publication_then_resume(reference_data, tmp_path, killkit):
    data = tmp_path / "data"
    data.mkdir()
    build_reference_records(reference_data, n_label_only=10, n_val=4).to_parquet(data / "records.parquet")
    config = write_config(tmp_path / "c.yaml", max_steps=3, micro_batch_size=4, max_length=128, checkpoint_every=1,
                          keep_checkpoints=3)
    run = tmp_path / "run"
    command = ["train", "--config", config, "--data", data, "--out", run]

    killed = killkit.run(command, kill_at="checkpoint:step-00000002:checksummed")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == ["step-00000001", "step-00000002.tmp"]
    assert not (run / "model").exists() and not (run / "manifest.json").exists()

    killed = killkit.run(command, kill_at="train:wrote:model")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (run / "model").exists() and not (run / "manifest.json").exists()  # staged, never half-published
    assert (run / "checkpoints" / "step-00000003").is_dir()

    rerun = killkit.run(command)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    manifest = read_manifest(run)
    assert manifest.extra["global_step"] == 3 and manifest.extra["resumed_from"] == "step-00000003"
    assert json.loads((run / "model" / "config.json").read_text())["metadata"]["global_step"] == 3
    assert killkit.leftovers(run) == [] and not list((run / "checkpoints").glob("*.tmp"))
