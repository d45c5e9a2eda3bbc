"""The prepared GPU check keeps working before a GPU is at hand: benchmarks/gpu/check.py at toy
sizes on the CPU runs every part (fp16-or-bf16 training step, generation of a nine-prompt batch,
fp16 vs fp32 agreement, the pipeline's train step) through the same code as on an H100."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_check_runs_every_part_at_tiny_sizes_on_a_cpu(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "AFFECTGPT_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu" / "check.py"), "--tiny", "--step-steps", "2",
                           "--out", str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    result = json.loads((tmp_path / "gpu_check.json").read_text())
    parts = result["parts"]
    assert done.returncode == 0, {name: part.get("error") for name, part in parts.items()}
    assert result["device"].startswith("cpu") and result["shapes"] == "toy (--tiny)"
    assert set(parts) == {"train", "generate", "agree", "step"}
    train = parts["train"]
    assert train["tokens_per_s"] > 0 and train["finite_loss"] and all(map(math.isfinite, train["loss_first_last"]))
    generate = parts["generate"]
    assert generate["batch"] == 9 and generate["clips_per_s"] > 0
    # the check rounds hours to 3 decimals: at toy speeds that is a large share of a small number
    assert math.isclose(generate["projected_unibench_h"], 12_799 / generate["clips_per_s"] / 3600, rel_tol=0.01,
                        abs_tol=0.001)
    assert parts["agree"]["fusion_finite_fp16"] and parts["agree"]["llm_layer_rel_error_fp16"] < 0.05
    assert "manifest.json" in parts["step"]["model_files"]
    assert "GPU check on cpu" in (tmp_path / "gpu_check.txt").read_text()
