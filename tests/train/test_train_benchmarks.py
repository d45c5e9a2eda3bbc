"""The GPU throughput benchmark keeps working: its CPU dry run (toy sizes, same code path)."""

from __future__ import annotations

import json
import math
import runpy
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_train_throughput_dry_run_runs_the_7b_code_path_at_toy_size(tmp_path, monkeypatch):
    out = tmp_path / "throughput.json"
    monkeypatch.setattr(sys, "argv", ["train_throughput.py", "--dry-run", "--json", str(out)])
    runpy.run_path(str(REPO / "benchmarks" / "gpu" / "train_throughput.py"), run_name="__main__")
    result = json.loads(out.read_text())
    assert result["device"].startswith("cpu") and result["steps"] == 3
    assert result["tokens_per_s"] > 0 and result["trainable_params"] > 0
    assert math.isfinite(result["last_loss"]) and result["last_loss"] > 0
