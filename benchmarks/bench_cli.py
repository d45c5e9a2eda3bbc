"""Start-up time of the `affectgpt` command line: `affectgpt --help` and a light command
(`affectgpt model prompt`), each in a fresh process, against a bare `python -c pass` in the same
run. Target: `--help` <= 1 s. Best of --repeat runs (the least disturbed by other load).

    .venv/bin/python benchmarks/bench_cli.py [--repeat 5]

Which modules they import is checked by tests/test_cli_lazy_imports.py (no torch, transformers,
deepspeed, mlflow, evidently); this file only measures time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import BenchRow, print_rows, write_rows

REPO = Path(__file__).resolve().parents[1]
CLI = "from affectgpt.cli import app; import sys; sys.argv = ['affectgpt', *sys.argv[1:]]; app()"


def best_of(command: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times)


def rows(repeat: int = 5) -> list[BenchRow]:
    bare = best_of([sys.executable, "-c", "pass"], repeat)
    help_s = best_of([sys.executable, "-c", CLI, "--help"], repeat)
    prompt_s = best_of([sys.executable, "-c", CLI, "model", "prompt", "--config", str(REPO / "configs" / "tiny.yaml"),
                        "--subtitle", "I can't believe it."], repeat)
    return [
        BenchRow(name="affectgpt --help", value=help_s, baseline_name="python -c pass", baseline=bare,
                 target="<= 1 s", passed=help_s <= 1.0),
        BenchRow(name="affectgpt model prompt (a light command)", value=prompt_s, baseline_name="python -c pass",
                 baseline=bare, target="<= 1.5 s (no torch)", passed=prompt_s <= 1.5),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the table rows here (benchmarks/report.py)")
    args = parser.parse_args()
    result = rows(args.repeat)
    print_rows(result, "affectgpt CLI start-up")
    if args.json:
        write_rows(result, args.json)


if __name__ == "__main__":
    main()
