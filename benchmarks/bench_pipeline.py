"""Orchestration overhead of the retrain pipeline: the same steps run under kfp.local
(one subprocess per step, artifacts passed by path) vs. the same library functions called
directly in one fresh process. Each run gets a fresh workspace, so no cache is shared.

    .venv/bin/python benchmarks/bench_pipeline.py [--clips 12] [--per-dataset 2] [--full-build] [--threads 1]
                                                  [--repeat 3]

Prints a table: wall time per side and the overhead ratio, then where each
side spent it: the direct calls stage by stage, the kfp.local steps by when each finished.
kfp.local runs as `affectgpt pipeline run --local` does: the checked-in compiled `retrain`
(the cluster's graph: one evaluation task per test set), each step a fresh process.

Training the tiny model is most of either side and its speed drifts by +-30 % from one run to
the next on a shared 2-core machine, so `--repeat N` runs the two sides N times, alternating,
and compares the medians (each run still gets a fresh workspace).

Both sides run with the same number of torch (OpenMP) threads, `--threads` (default 1), set
before torch loads. Left alone, they would not be equal: building a dataset loads silero-vad,
which sets the process to one thread, so the direct side would train and generate on one thread
while each kfp step, a fresh process, uses every core; on a shared, loaded machine two
spinning OpenMP threads are several times slower than one (`--threads 0` keeps the defaults).
"""

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from affectgpt.offline import apply_offline_defaults

apply_offline_defaults()
os.environ.setdefault("DS_ACCELERATOR", "cpu")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
FAST_BUILD = "postfilter:\n  high_level:\n    enabled: false\n"


def corpus_with_test_split(scratch: Path, n_clips: int) -> Path:
    """The demo corpus as a clip manifest whose splits repeat train/val/train/test."""
    import pandas as pd

    from affectgpt.data.demo_corpus import make_demo_corpus

    manifest = make_demo_corpus(scratch / "corpus", n_clips=n_clips)
    table = pd.read_parquet(manifest)
    table["split"] = [("train", "val", "train", "test")[i % 4] for i in range(len(table))]
    for column in ("video_path", "audio_path"):
        table[column] = [str((manifest.parent / p).resolve()) for p in table[column]]
    out = scratch / "clip_manifest.parquet"
    table.to_parquet(out)
    return out


def use_workspace(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AFFECTGPT_HOME"] = str(home)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"


def run_direct(raw: Path, build_config: Path | None, data_rev: str, out: Path, unibench: Path) -> dict[str, float]:
    """Seconds per stage; imports count (each kfp step pays its own)."""
    stages, started = {}, time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        stages[name] = now - started
        started = now

    from affectgpt.bench.evaluation import evaluate_unibench
    from affectgpt.cluster import train_on_backend
    from affectgpt.data.build import build_dataset
    from affectgpt.features.extract import extract_features
    from affectgpt.model.config import load_config
    from affectgpt.registry.trained_model import register_trained_model

    lap("imports")
    build_dataset(raw, out / "dataset", build_config, workers=1)
    lap("build dataset")
    extract_features(out / "dataset" / "clip_manifest.parquet", out / "features", load_config(TINY).encoders,
                     workers=1, progress=False)
    lap("extract features")
    train_on_backend(TINY, out / "dataset", out / "model", features_dir=out / "features")
    lap("train")
    evaluate_unibench(out / "model", unibench, out / "eval", local_dataset_dir=out / "dataset",
                      local_features_dir=out / "features", progress=False)
    lap("evaluate (predict + score)")
    register_trained_model(out / "model", out / "eval" / "report", "affectgpt-bench", data_rev=data_rev)
    lap("register")
    return stages


def run_direct_fresh(*arguments) -> dict[str, float]:
    """`run_direct` in a fresh interpreter: every run pays its imports, as a first run does."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_direct, *arguments).result()


def run_kfp(raw: Path, build_config: Path | None, data_rev: str, root: Path, unibench: Path) -> dict[str, float]:
    """Seconds per step, from the run log's "Executing task" and "finished" lines (a step's wall
    time includes its process start, imports and kfp's own bookkeeping; the evaluation tasks of
    the per-set loop add up under one name), the seconds outside any step (kfp.local loading and
    wiring the run), and `total`."""
    from affectgpt.data.revision import content_revision
    from affectgpt_kfp.pipelines.local_run import load_compiled, run_local

    arguments = {"raw_dir": str(raw), "data_rev": data_rev, "model_config": str(TINY),
                 "build_config": str(build_config or ""), "model_name": "affectgpt-bench", "workers": 1,
                 "gpus_per_node": 0, "unibench_dir": str(unibench), "unibench_rev": content_revision(unibench)}
    started = time.perf_counter()
    # What `affectgpt pipeline run retrain --local` runs: the checked-in compiled pipeline.
    run = run_local(load_compiled("retrain"), arguments, root)
    total = time.perf_counter() - started
    steps = step_seconds(run.log_path.read_text())
    return {**steps, "outside the steps": total - sum(steps.values()), "total": total}


STEP_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) - INFO - (?:Executing task '([^']+)'|Task '([^']+)' finished)")


def step_seconds(log_text: str) -> dict[str, float]:
    """Each task's seconds from its start and end lines in a kfp.local run log."""
    began, seconds = {}, {}
    for line in re.sub(r"\x1b\[[0-9;]*m", "", log_text).splitlines():
        if match := STEP_LINE.match(line):
            hours, minutes, secs, starting, finishing = match.groups()
            at = int(hours) * 3600 + int(minutes) * 60 + float(secs)
            if starting:
                began[starting] = at
            elif finishing in began:
                seconds[finishing] = seconds.get(finishing, 0.0) + (at - began.pop(finishing)) % 86400
    return seconds


def _median_index(values: list[float]) -> int:
    """The run whose total is the (lower) median, for its breakdown."""
    return sorted(range(len(values)), key=values.__getitem__)[(len(values) - 1) // 2]


def _runs(totals: list[float]) -> str:
    return ", ".join(f"{total:.1f}" for total in totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--per-dataset", type=int, default=2, help="MER-UniBench fixture clips per set")
    parser.add_argument("--full-build", action="store_true", help="keep the high-level post-filter (slow)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on both sides (0: library defaults)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side, alternating; medians compared")
    args = parser.parse_args()
    if args.threads > 0:  # before torch loads, here and in every step process (they inherit it)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    from rich.console import Console
    from rich.table import Table

    from affectgpt.data.revision import content_revision

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch_name:
        scratch = Path(scratch_name)
        raw = corpus_with_test_split(scratch, args.clips)
        build_config = None
        if not args.full_build:
            build_config = scratch / "build.yaml"
            build_config.write_text(FAST_BUILD)
        data_rev = content_revision(raw)
        from affectgpt.bench.fixture import make_fixture

        unibench = scratch / "unibench"
        make_fixture(unibench, args.per_dataset)
        directs, kfps = [], []
        for round_ in range(args.repeat):  # alternating, so a slow spell of the machine hits both sides
            use_workspace(scratch / f"home-direct-{round_}")
            directs.append(run_direct_fresh(raw, build_config, data_rev, scratch / f"direct-{round_}", unibench))
            use_workspace(scratch / f"home-kfp-{round_}")
            kfps.append(run_kfp(raw, build_config, data_rev, scratch / f"home-kfp-{round_}" / "runs", unibench))

    direct_totals = [sum(d.values()) for d in directs]
    kfp_totals = [k.pop("total") for k in kfps]
    direct_s, kfp_s = statistics.median(direct_totals), statistics.median(kfp_totals)
    direct, kfp = directs[_median_index(direct_totals)], kfps[_median_index(kfp_totals)]
    threads = args.threads or "default"
    table = Table(title=f"retrain pipeline, {args.clips} demo clips, tiny config, CPU, torch threads {threads}, "
                        f"median of {args.repeat}")
    for column in ("path", "wall s", "ratio vs direct", "each run s"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row("library functions, one process", f"{direct_s:.1f}", "1.00", _runs(direct_totals))
    table.add_row("kfp.local SubprocessRunner", f"{kfp_s:.1f}", f"{kfp_s / direct_s:.2f}", _runs(kfp_totals))
    Console().print(table)
    breakdown = Table(title="where the seconds went (the median run of each side)")
    for column in ("direct stage", "s", "kfp.local step", "s "):
        breakdown.add_column(column, justify="left" if "stage" in column or "step" in column else "right")
    direct_rows, kfp_rows = list(direct.items()), list(kfp.items())
    for i in range(max(len(direct_rows), len(kfp_rows))):
        left = direct_rows[i] if i < len(direct_rows) else ("", None)
        right = kfp_rows[i] if i < len(kfp_rows) else ("", None)
        breakdown.add_row(left[0], "" if left[1] is None else f"{left[1]:.1f}",
                          right[0], "" if right[1] is None else f"{right[1]:.1f}")
    Console().print(breakdown)
    overhead = kfp_s / direct_s - 1
    print(f"orchestration overhead: {overhead:+.1%} (the compiled cluster graph: every task, one per test set "
          "included, is a fresh process with its own imports and model loads; artifacts by path)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
