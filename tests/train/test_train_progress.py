"""Progress of a tiny training run off a terminal: one plain line per step with its loss and
tokens/s, so a log (CI, a Kubeflow pod) shows how training goes; none when disabled."""

from __future__ import annotations

import re

import pytest
from train_testkit import build_reference_records, write_config

from affectgpt.progress import ENV
from affectgpt.train.run import train_model

pytestmark = pytest.mark.integration

STEP_LINE = re.compile(r"^train: step (\d+)/4 loss (\d+\.\d{3}) tokens/s (\d+)(?: eta \d+:\d\d:\d\d)?$")


def test_train_logs_each_step_with_loss_and_tokens_per_second(reference_data, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    data = tmp_path / "data"
    data.mkdir()
    build_reference_records(reference_data, n_label_only=10, n_val=4).to_parquet(data / "records.parquet")
    config = write_config(tmp_path / "c.yaml", max_steps=4, micro_batch_size=4, max_length=128)

    result = train_model(config, data, tmp_path / "run", resume=False, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("train: ")]
    matches = [STEP_LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == [1, 2, 3, 4]  # 4 steps: every step is a tenth or more
    assert [m.group(2) for m in matches] == [f"{loss:.3f}" for loss in result.train_losses]
    assert all(int(m.group(3)) > 0 for m in matches)
    print("\n".join(lines))  # shown with -s: what a log reader sees

    train_model(config, data, tmp_path / "quiet", resume=False, progress=False, stop_after_steps=1)
    assert "train: step" not in capsys.readouterr().err
