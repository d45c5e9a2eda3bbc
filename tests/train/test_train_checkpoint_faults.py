"""Damaged checkpoints: a resume verifies sizes, safetensors headers and checksums, falls back
to the newest intact checkpoint and says which, and never ends in a traceback."""

from __future__ import annotations

import logging

import pytest
from train_testkit import build_reference_records, write_config
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.train.checkpoint import CHECKSUM_FILE, TRAINABLE_FILE, CheckpointError, verify_checkpoint
from affectgpt.train.run import train_model

pytestmark = pytest.mark.integration


@pytest.fixture()
def three_checkpoints(reference_data, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    build_reference_records(reference_data, n_label_only=10, n_val=4).to_parquet(data / "records.parquet")
    config = write_config(tmp_path / "c.yaml", max_steps=4, micro_batch_size=4, max_length=128, checkpoint_every=1,
                          keep_checkpoints=3)
    first = train_model(config, data, tmp_path / "run", resume=False, progress=False, stop_after_steps=3)
    assert first.global_step == 3
    checkpoints = tmp_path / "run" / "checkpoints"
    assert [p.name for p in sorted(checkpoints.glob("step-*"))] == ["step-00000001", "step-00000002", "step-00000003"]
    return config, data, tmp_path / "run", checkpoints


def test_truncated_trainable_falls_back_to_the_previous_checkpoint(three_checkpoints, caplog):
    config, data, run, checkpoints = three_checkpoints
    weights = checkpoints / "step-00000003" / TRAINABLE_FILE
    weights.write_bytes(weights.read_bytes()[:-100])
    assert "truncated" in verify_checkpoint(checkpoints / "step-00000003") or "bytes" in \
        verify_checkpoint(checkpoints / "step-00000003")
    with caplog.at_level(logging.WARNING, logger="affectgpt.train.checkpoint"):
        result = train_model(config, data, run, resume=True, progress=False)
    assert result.completed and result.resumed_from == "step-00000002"
    assert "step-00000003" in caplog.text and "resuming from step-00000002" in caplog.text
    assert (run / "model" / "config.json").is_file()


def test_changed_bytes_and_missing_checksums_are_detected(three_checkpoints):
    _, _, _, checkpoints = three_checkpoints
    newest, middle = checkpoints / "step-00000003", checkpoints / "step-00000002"
    optimizer = newest / "optimizer-rank0.pt"
    payload = bytearray(optimizer.read_bytes())
    payload[len(payload) // 2] ^= 0xFF  # same size, different content
    optimizer.write_bytes(bytes(payload))
    assert "checksum" in verify_checkpoint(newest)
    (middle / CHECKSUM_FILE).unlink()  # a write that never finished
    assert "did not finish" in verify_checkpoint(middle)
    assert verify_checkpoint(checkpoints / "step-00000001") is None


def test_no_intact_checkpoint_is_a_clear_error_not_a_traceback(three_checkpoints):
    config, data, run, checkpoints = three_checkpoints
    for step in checkpoints.glob("step-*"):
        (step / TRAINABLE_FILE).write_bytes(b"\x08\x00")
    with pytest.raises(CheckpointError, match="no intact checkpoint"):
        train_model(config, data, run, resume=True, progress=False)
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(run)])
    assert result.exit_code == 2, result.output
    assert "no intact checkpoint" in result.output and "Traceback" not in result.output
