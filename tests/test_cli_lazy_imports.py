"""`affectgpt --help` and the light commands import no heavy framework: each runs in a fresh
interpreter and reports `sys.modules` at exit. (Their wall time is measured in
benchmarks/bench_cli.py, not asserted here.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = {"torch", "transformers", "deepspeed", "mlflow", "evidently", "feast", "sklearn", "peft", "accelerate"}
PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("MODULES=" + json.dumps(sorted({m.split('.')[0] for m in sys.modules})) + "\\n"))
from affectgpt.cli import app
sys.argv = ["affectgpt", *sys.argv[1:]]
app()
"""
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _modules_after(args: list[str], tmp_path: Path) -> tuple[set[str], subprocess.CompletedProcess]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "AFFECTGPT_HOME": str(tmp_path / "home")}, timeout=300, check=False)
    line = next(line for line in done.stderr.splitlines() if line.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES="))), done


@pytest.mark.parametrize("args", [
    ["--help"], ["version"], ["drift", "--help"], ["drift", "report", "--help"], ["build", "dataset", "--help"],
    ["train", "--help"], ["registry", "--help"], ["pipeline", "--help"], ["features", "--help"], ["bench", "--help"],
    ["model", "prompt", "--config", str(CONFIGS / "tiny.yaml"), "--subtitle", "I can't believe it."],
])
def test_light_commands_import_no_heavy_framework(args: list[str], tmp_path: Path) -> None:
    modules, done = _modules_after(args, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not modules & HEAVY, f"affectgpt {' '.join(args)} imported {sorted(modules & HEAVY)}"


def test_scoring_a_file_imports_no_model_framework(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text('{"name": "a", "gt": "happy", "pred": "happy, joyful"}\n'
                       '{"name": "b", "gt": "sad", "pred": "angry"}\n')
    modules, done = _modules_after(["bench", "score", "--task", "ov", "--input", str(samples)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"score"' in done.stdout or "score" in done.stdout
    assert not modules & HEAVY, sorted(modules & HEAVY)


def test_the_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check can fail: a command that does need torch is seen importing it."""
    modules, _ = _modules_after(["model", "summary", "--config", str(CONFIGS / "tiny.yaml")], tmp_path)
    assert "torch" in modules


# What compiling, submitting or loading the pipelines imports: the pipeline modules and every
# component (their steps import the library's heavy parts inside the step function only).
STEP_SIDE_MODULES = ["affectgpt_kfp.pipelines.compile", "affectgpt_kfp.pipelines.retrain", "affectgpt_kfp.pipelines.monitor", "affectgpt_kfp.pipelines.local_run",
                     "affectgpt_kfp.components.train.component", "affectgpt_kfp.components.predict.component",
                     "affectgpt_kfp.components.release_training_jobs.component", "affectgpt.cluster"]
# What the `evaluate` step's scoring imports before it computes anything: no model framework.
SCORING_MODULES = ["affectgpt.bench.runner", "affectgpt.bench.extract", "affectgpt.bench.report",
                   "affectgpt.bench.datasets", "affectgpt.train.data"]


@pytest.mark.parametrize("modules", [STEP_SIDE_MODULES, SCORING_MODULES], ids=["pipelines", "scoring"])
def test_step_side_modules_import_no_heavy_framework(modules: list[str], tmp_path: Path) -> None:
    probe = ("import json, sys\n" + "".join(f"import {name}\n" for name in modules)
             + "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert not loaded & HEAVY, sorted(loaded & HEAVY)
