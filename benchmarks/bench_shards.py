"""Build + feature extraction in shards, as the retrain graph runs them (each task its own
process: 2 build shards side by side, each bound to its own core, the reduce, 2 extraction
shards likewise, the merge) against the same work in one process free to use both cores; per-clip
cost across sizes; the artifact files a run writes; the reduce's peak memory at MER-Caption's
115k rows.

    .venv/bin/python benchmarks/bench_shards.py                          # make bench: 40 and 160 clips
    .venv/bin/python benchmarks/bench_shards.py --sizes 1000 2000 10000  # corpus scale (hours on 2 cores)

Both sides build with the default build config (the high-level classifiers trained on the clips'
own labels) and extract with configs/tiny.yaml's encoders, from empty caches, torch and BLAS on
one thread per process. OpenCV's face detector and the video decoder keep their own threads, so
the one process keeps about 1.3 cores busy while it builds; a shard is bound to one core, as a
pod with its own CPU is. Clips are demo clips (real faces, espeak speech, synthetic): up to
`--render` of them are rendered; a larger size adds copies of their media under new ids with a
varied subtitle, so each is a clip of its own to every cache (decoded, detected and encoded
again). Each side runs `--repeat` times, alternating; the rows give the median and the range
(min-max) with n. The reduce's memory is the peak RSS of the corpus-level half of the build
(`select_records`: merge, label extraction, length and A/V filters, selection) on 115k
synthetic records in a fresh process, beside a process that only imports the same modules.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import BenchRow, load, print_rows, write_rows

DEFAULT_SIZES = [40, 160]
RENDER = 400  # distinct clips rendered; larger sizes reuse their media under new ids
SHARDS = 2
REDUCE_ROWS = 115_000
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


# -- the tasks, each run in its own process (`python bench_shards.py --task ...`) ----------------

def _build_config(cache_dir: Path):
    from affectgpt.data.config import BuildConfig

    config = BuildConfig()
    config.cache_dir = str(cache_dir)
    config.postfilter.high_level.train_data = "clips"
    return config


def _encoders():
    from affectgpt.model.config import load_config

    return load_config("tiny.yaml").encoders


def run_task(task: str, args: list[str]) -> None:
    import torch

    torch.set_num_threads(1)
    work = Path(args[0])
    if task == "one-process":
        from affectgpt.data.build import build_dataset
        from affectgpt.features.extract import extract_features

        started = time.perf_counter()
        build_dataset(args[1], work / "dataset", config=_build_config(work / "cache"))
        built = time.perf_counter()
        extract_features(work / "dataset" / "clip_manifest.parquet", work / "features", _encoders(), progress=False)
        print(json.dumps({"build": built - started, "extract": time.perf_counter() - built}))
    elif task == "build-shard":
        from affectgpt.data.shards import build_shard

        shard = int(args[2])
        build_shard(args[1], work / f"part-{shard}", shard=shard, shards=SHARDS, config=_build_config(work / "cache"))
    elif task == "reduce":
        from affectgpt.data.shards import reduce_shards

        reduce_shards([work / f"part-{shard}" for shard in range(SHARDS)], args[1], work / "dataset",
                      config=_build_config(work / "cache"))
    elif task == "extract-shard":
        from affectgpt.features.extract import extract_features

        shard = int(args[1])
        extract_features(work / "dataset" / "clip_manifest.parquet", work / f"features-{shard}", _encoders(),
                         progress=False, shard=shard, shards=SHARDS)
    elif task == "merge":
        from affectgpt.features.merge import EVALUATION_SPLITS, TRAINING_SPLITS, merge_feature_shards

        parts = [work / f"features-{shard}" for shard in range(SHARDS)]
        merge_feature_shards(parts, work / "features", splits=TRAINING_SPLITS)
        merge_feature_shards(parts, work / "test-features", splits=EVALUATION_SPLITS)
    elif task in ("reduce-memory", "imports-only"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_build_scale import synthetic

        from affectgpt.data.build import _extractor, select_records
        from affectgpt.data.ingest import IngestResult

        if task == "reduce-memory":
            config = _build_config(work / "cache")
            config.postfilter.high_level.enabled = False
            clips, results = synthetic(int(args[1]))
            select_records(IngestResult(clips=clips), results, config, _extractor(config), work / "cache", work, {})
        print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    else:
        raise SystemExit(f"unknown task {task}")


# -- the measurement -----------------------------------------------------------------------------

def _start(task: str, *args: str | Path, home: Path, core: int | None = None) -> subprocess.Popen:
    """A task in its own process; with `core`, bound to that core alone (a shard per core, as a
    pod with its own CPU: its library threads cannot spill onto the other shard's core)."""
    env = {**os.environ, **ONE_THREAD, "AFFECTGPT_HOME": str(home)}
    pin = None if core is None else (lambda: os.sched_setaffinity(0, {core}))
    return subprocess.Popen([sys.executable, __file__, "--task", task, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pin)


def _core(shard: int) -> int | None:
    """The core shard `shard` runs on: one per core while there are enough, else unbound."""
    cores = sorted(os.sched_getaffinity(0))
    return cores[shard] if SHARDS <= len(cores) else None


def _wait(*processes: subprocess.Popen) -> list[str]:
    outputs = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{process.args[3]} failed ({process.returncode}): {err[-2000:]}")
        outputs.append(out)
    return outputs


def one_process(raw: Path, work: Path, phases: dict[str, float]) -> float:
    """Wall seconds of the one process; `phases` gets its build and extraction seconds (each
    with its own imports and model loads)."""
    started = time.perf_counter()
    out = _wait(_start("one-process", work, raw, home=work / "home"))[0]
    phases.update(json.loads(out.strip().splitlines()[-1]))
    return time.perf_counter() - started


def sharded(raw: Path, work: Path, phases: dict[str, float]) -> float:
    """Wall seconds of the sharded graph, task group after task group as the pipeline orders
    them; `phases` gets each group's seconds (process starts included)."""
    home = work / "home"
    started = time.perf_counter()
    groups = (("build", lambda: [_start("build-shard", work, raw, shard, home=home, core=_core(shard))
                                 for shard in range(SHARDS)]),
              ("reduce", lambda: [_start("reduce", work, raw, home=home)]),
              ("extract", lambda: [_start("extract-shard", work, shard, home=home, core=_core(shard))
                                   for shard in range(SHARDS)]),
              ("merge", lambda: [_start("merge", work, home=home)]))
    for name, start in groups:
        began = time.perf_counter()
        _wait(*start())
        phases[name] = time.perf_counter() - began
    return time.perf_counter() - started


def _phases(phases: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in phases.items())


def _children_cpu() -> float:
    """CPU seconds (user + system) of every task process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cores(cpu: list[float], wall: list[float]) -> str:
    return f"{statistics.median(cpu):.0f} core-s, {statistics.median(c / w for c, w in zip(cpu, wall)):.2f} cores busy"


def artifact_files(work: Path) -> int:
    """Files the steps hand on (what a KFP launcher uploads and downloads): the dataset and both
    feature artifacts, not the per-shard scratch."""
    return sum(1 for name in ("dataset", "features", "test-features")
               for path in (work / name).rglob("*") if path.is_file())


def subset(rendered: Path, n: int, out: Path) -> Path:
    """`n` clips: the rendered clips in id order, then, past those, their media again (hard
    links) under new ids with " (take k)" added to the subtitle."""
    import csv

    out.mkdir(parents=True)
    ids = sorted(path.stem for path in rendered.glob("*.mp4"))
    tables = {}
    for table in ("subtitles.csv", "labels.csv"):
        with (rendered / table).open(newline="", encoding="utf-8") as handle:
            header, *body = list(csv.reader(handle))
        tables[table] = (header, {row[0]: row for row in body})
    rows: dict[str, list[list[str]]] = {table: [] for table in tables}
    for index in range(n):
        source, take = ids[index % len(ids)], index // len(ids)
        clip_id = source if take == 0 else f"{source}_take{take}"
        for suffix in (".mp4", ".wav"):
            if (rendered / f"{source}{suffix}").is_file():
                os.link(rendered / f"{source}{suffix}", out / f"{clip_id}{suffix}")
        for table, (_, by_id) in tables.items():
            if source in by_id:
                row = [clip_id, *by_id[source][1:]]
                if table == "subtitles.csv" and take:
                    row[1] = f"{row[1]} (take {take})"
                rows[table].append(row)
    for table, (header, _) in tables.items():
        with (out / table).open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows[table]])
    return out


def peak_rss(task: str, rows: int, work: Path) -> float:
    work.mkdir(parents=True, exist_ok=True)
    out = _wait(_start(task, work, rows, home=work / "home"))[0]
    return float(json.loads(out.strip().splitlines()[-1])["peak_rss_mib"])


def _spread(values: list[float]) -> str:
    return f"median of n={len(values)}, range {min(values):.1f}-{max(values):.1f} s"


def rows(sizes: list[int] | None = None, repeat: int = 1, reduce_rows: int = REDUCE_ROWS,
         render: int = RENDER) -> list[BenchRow]:
    from affectgpt.data.demo_corpus import make_demo_corpus

    sizes = sorted(sizes or DEFAULT_SIZES)
    work = Path(tempfile.mkdtemp(prefix="bench-shards-"))
    try:
        make_demo_corpus(work / "corpus", n_clips=min(sizes[-1], render), seed=0)
        timings: dict[int, dict[str, list[float]]] = {}
        cpu: dict[int, dict[str, list[float]]] = {}
        phases: dict[int, dict[str, dict[str, float]]] = {}
        files: dict[int, int] = {}
        for n in sizes:
            raw = subset(work / "corpus" / "raw", n, work / f"raw-{n}")
            timings[n] = {"one": [], "sharded": []}
            cpu[n] = {"one": [], "sharded": []}
            phases[n] = {"one": {}, "sharded": {}}
            for attempt in range(repeat):
                for side, run in (("one", one_process), ("sharded", sharded)):
                    folder = work / f"{side}-{n}-{attempt}"
                    before = _children_cpu()
                    timings[n][side].append(run(raw, folder, phases[n][side]))
                    cpu[n][side].append(_children_cpu() - before)
                    if side == "sharded":
                        files[n] = artifact_files(folder)
                    shutil.rmtree(folder, ignore_errors=True)
                print(f"{n} clips: one process {timings[n]['one'][-1]:.1f} s ({_phases(phases[n]['one'])}; "
                      f"{cpu[n]['one'][-1]:.0f} core-s), {SHARDS} shards {timings[n]['sharded'][-1]:.1f} s "
                      f"({_phases(phases[n]['sharded'])}; {cpu[n]['sharded'][-1]:.0f} core-s)", flush=True)
        big, small = sizes[-1], sizes[0]
        one, two = (statistics.median(timings[big][side]) for side in ("one", "sharded"))
        # The lowest ratio two one-core shards can reach: all their CPU seconds spread evenly over
        # both cores, against a one process that itself keeps more than one core busy.
        floor = statistics.median(cpu[big]["sharded"]) / SHARDS / one
        result = [BenchRow(
            name=f"build + extraction of {big} clips, {SHARDS} shards (a process each)", value=two,
            baseline_name="one process", baseline=one, target="<= 0.6x on 2 free cores", passed=two <= 0.6 * one,
            note=f"sharded {_spread(timings[big]['sharded'])} (last run: {_phases(phases[big]['sharded'])}; "
                 f"{_cores(cpu[big]['sharded'], timings[big]['sharded'])}); one process "
                 f"{_spread(timings[big]['one'])} (last run: {_phases(phases[big]['one'])}; "
                 f"{_cores(cpu[big]['one'], timings[big]['one'])}); the shards' core-seconds spread evenly over "
                 f"{SHARDS} cores would be {floor:.2f}x the one process; {load()}")]
        if big != small:
            per_big = statistics.median(timings[big]["sharded"]) / big
            per_small = statistics.median(timings[small]["sharded"]) / small
            result.append(BenchRow(
                name=f"sharded, seconds per clip at {big} clips", value=per_big, baseline_name=f"at {small} clips",
                baseline=per_small, target="<= 1.25x (flat)", passed=per_big <= 1.25 * per_small,
                note="each task pays its process start and model loads once, so small sizes cost more per clip"))
            result.append(BenchRow(
                name=f"artifact files of a run with {big} clips", value=files[big], unit="files",
                baseline_name=f"with {small} clips", baseline=files[small],
                target="<= 1.5x (not one per clip)", passed=files[big] <= 1.5 * files[small],
                note=f"{files[big]} files for {big} clips, {files[small]} for {small}"))
        imports = peak_rss("imports-only", 0, work / "rss-imports")
        reduce = peak_rss("reduce-memory", reduce_rows, work / "rss-reduce")
        result.append(BenchRow(
            name=f"reduce's peak RSS at {reduce_rows:,} rows", value=reduce, unit="MiB",
            baseline_name="the same imports, no rows", baseline=imports, target="<= 8 GiB (a step pod's request)",
            passed=reduce <= 8 * 1024, note="corpus-level half of the build on synthetic records"))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--task":
        run_task(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=DEFAULT_SIZES)
    parser.add_argument("--repeat", type=int, default=1, help="runs per side and size (alternating)")
    parser.add_argument("--reduce-rows", type=int, default=REDUCE_ROWS)
    parser.add_argument("--render", type=int, default=RENDER, help="distinct clips to render (the rest reuse their media)")
    parser.add_argument("--json", type=Path, help="also write the table rows here (benchmarks/report.py)")
    args = parser.parse_args()
    result = rows(args.sizes, args.repeat, args.reduce_rows, args.render)
    print_rows(result, "build + extraction in shards")
    if args.json:
        write_rows(result, args.json)


if __name__ == "__main__":
    main()
