"""Where each kfp.local step of the retrain pipeline spends its start-up: the pipeline runs once
under kfp.local with PYTHONPROFILEIMPORTTIME=1 (`python -X importtime` for every step process),
and the import lines of each step's log are summed: total import seconds, and the cumulative
seconds of the heavy frameworks it loaded (a step that does not need torch should not show it).

    .venv/bin/python benchmarks/step_imports.py [--clips 12]

Import profiling itself slows imports a little; read the seconds as an attribution, and
bench_pipeline.py for the overhead.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HEAVY = ("torch", "transformers", "deepspeed", "mlflow", "evidently", "feast", "kfp", "pandas", "pyarrow",
         "sklearn", "scipy", "cv2", "peft", "accelerate", "onnxruntime")
IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
TASK_START = re.compile(r"Executing task '([^']+)'")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def parse(log_text: str) -> dict[str, dict]:
    """Per task: total top-level import seconds and cumulative seconds per heavy package."""
    steps: dict[str, dict] = {}
    current = None
    for line in ANSI.sub("", log_text).splitlines():
        if match := TASK_START.search(line):
            current = steps.setdefault(match.group(1), {"total_s": 0.0, "heavy": defaultdict(float)})
            continue
        match = IMPORT_LINE.search(line)
        if current is None or not match:
            continue
        cumulative_us, indent, name = int(match.group(2)), len(match.group(3)), match.group(4)
        if indent <= 1:  # a top-level import of the step process
            current["total_s"] += cumulative_us / 1e6
        if name in HEAVY:  # the package itself, wherever it was first imported from
            current["heavy"][name] += cumulative_us / 1e6
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--keep-log", type=Path, help="copy the run's log (with the import lines) here")
    args = parser.parse_args()
    from bench_pipeline import FAST_BUILD, corpus_with_test_split, run_kfp, use_workspace
    from rich.console import Console
    from rich.table import Table

    from affectgpt.data.revision import content_revision

    with tempfile.TemporaryDirectory(prefix="step-imports-") as scratch_name:
        scratch = Path(scratch_name)
        raw = corpus_with_test_split(scratch, args.clips)
        build_config = scratch / "build.yaml"
        build_config.write_text(FAST_BUILD)
        from affectgpt.bench.fixture import make_fixture

        make_fixture(scratch / "unibench", 2)
        use_workspace(scratch / "home")
        os.environ["PYTHONPROFILEIMPORTTIME"] = "1"
        started_at = time.time()
        try:
            # Each step is a fresh process that imports what it needs itself: what this attributes.
            wall = run_kfp(raw, build_config, content_revision(raw), scratch / "home" / "runs",
                           scratch / "unibench")["total"]
        finally:
            os.environ.pop("PYTHONPROFILEIMPORTTIME", None)
        runs = scratch / "home" / "runs"
        log = next(runs.glob("*-latest.log")).read_text()
        if args.keep_log:
            args.keep_log.write_text(log)
        # Each task's executor_output.json is written as it finishes: the gaps are step wall times.
        finished = sorted((path.stat().st_mtime, path.parent.name) for path in runs.rglob("executor_output.json"))
    steps = parse(log)
    wall_of, previous = {}, started_at
    for mtime, task in finished:
        wall_of[task] = mtime - previous
        previous = mtime
    table = Table(title=f"retrain under kfp.local, {args.clips} clips: imports per step (wall {wall:.1f} s, "
                        "with import profiling)")
    for column in ("step", "step wall s", "imports s", "heavy frameworks (cumulative s)"):
        table.add_column(column, justify="left" if column in ("step", "heavy frameworks (cumulative s)") else "right")
    for name, step in steps.items():
        heavy = ", ".join(f"{k} {v:.2f}" for k, v in sorted(step["heavy"].items(), key=lambda kv: -kv[1]))
        step_wall = next((w for task, w in wall_of.items() if task.startswith(name)), None)
        table.add_row(name, "-" if step_wall is None else f"{step_wall:.1f}", f"{step['total_s']:.2f}", heavy or "-")
    Console(width=160).print(table)
    print(f"sum of step imports: {sum(s['total_s'] for s in steps.values()):.1f} s")


if __name__ == "__main__":
    main()
