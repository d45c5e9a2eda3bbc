"""Cost of the score intervals: 1000 seeded bootstrap resamples of a set (the metric rebuilt
from per-clip sums, `affectgpt.bench.bootstrap`) against one pass of the scorer over the same
clips in the same run (what a report pays anyway). Resampling through the scorer would cost
1000 passes; the target is at most 20, for OV and sentiment at 5,000 clips. Best of --repeat runs.

    .venv/bin/python benchmarks/bench_bootstrap.py [--clips 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import BenchRow, print_rows, write_rows

WORDS = ["happy", "sad", "angry", "joyful", "worried", "surprised", "neutral", "calm", "fear", "qwerty"]
TARGET_RATIO = 20.0


def samples(task: str, n: int, seed: int = 5) -> list[dict]:
    rng = random.Random(seed)
    if task == "sentiment":
        return [{"name": f"c{i}", "gt": rng.choice([-2.0, -0.4, 0.0, 0.6, 1.8]),
                 "pred": rng.choice(["positive", "negative", "neutral"])} for i in range(n)]
    return [{"name": f"c{i}", "gt": rng.sample(WORDS, rng.randint(1, 3)), "pred": rng.sample(WORDS, rng.randint(0, 3))}
            for i in range(n)]


def best_of(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def rows(n_clips: int, repeat: int) -> list[BenchRow]:
    from affectgpt.bench.bootstrap import BootstrapSettings, replicates
    from affectgpt.bench.clip_scores import clip_scores
    from affectgpt.bench.metrics import score_task
    from affectgpt.bench.mode import scorer_mode

    mode = scorer_mode("official")
    found = []
    for task in ("ov", "sentiment"):
        data = samples(task, n_clips)
        clips = clip_scores(task, data, mode)
        scored = best_of(lambda data=data, task=task: score_task(task, data, mode=mode, keep_samples=False), repeat)
        resampled = best_of(lambda clips=clips, task=task: replicates(clips, mode, BootstrapSettings(n_resamples=1000),
                                                                     task), repeat)
        found.append(BenchRow(name=f"1000 bootstrap resamples, {task}, {n_clips:,} clips", value=resampled,
                              baseline_name="one scoring pass", baseline=scored,
                              target=f"<= {TARGET_RATIO:g}x one scoring pass",
                              passed=resampled <= TARGET_RATIO * scored))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the table rows here (benchmarks/report.py)")
    args = parser.parse_args()
    found = rows(args.clips, args.repeat)
    print_rows(found, "score intervals")
    if args.json:
        write_rows(found, args.json)


if __name__ == "__main__":
    main()
