"""MER-Caption build throughput: clips/s of a full build of N demo clips with 1 and 2 workers,
and the cost of an incremental rebuild after adding 1% new clips, as a ratio of the full build
(target <= 5%). Each build starts from an empty per-clip cache except the incremental ones: one
in this process (models already loaded), one as a fresh `affectgpt build dataset` process (pays
the imports and the model loads the new clips need).

    .venv/bin/python benchmarks/bench_build.py --n 100
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from affectgpt.data.build import build_dataset
from affectgpt.data.config import BuildConfig
from affectgpt.data.demo_corpus import make_demo_corpus

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import BenchRow, write_rows


def _config(cache_dir: Path) -> BuildConfig:
    config = BuildConfig()
    config.cache_dir = str(cache_dir)
    config.postfilter.high_level.train_data = "clips"
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="clips in the full build")
    parser.add_argument("--json", type=Path, help="also write the table rows here (benchmarks/report.py)")
    args = parser.parse_args()
    n_new = max(1, round(args.n * 0.01))
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    try:
        make_demo_corpus(work / "corpus", n_clips=args.n + n_new, seed=0)
        raw_all = work / "corpus" / "raw"
        raw_base = work / "base"
        raw_base.mkdir()
        ids = sorted(p.stem for p in raw_all.glob("*.mp4"))
        base_ids = set(ids[: args.n])
        for path in raw_all.iterdir():
            if path.suffix in {".mp4", ".wav"} and path.stem in base_ids:
                shutil.copy(path, raw_base / path.name)
        for table_name in ("subtitles.csv", "labels.csv"):
            lines = (raw_all / table_name).read_text().splitlines()
            kept = [lines[0]] + [line for line in lines[1:] if line.split(",", 1)[0] in base_ids]
            (raw_base / table_name).write_text("\n".join(kept) + "\n")

        rows = []
        for workers in (1, 2):
            cache = work / f"cache-{workers}"
            started = time.perf_counter()
            result = build_dataset(raw_base, work / f"out-{workers}", config=_config(cache), workers=workers)
            seconds = time.perf_counter() - started
            rows.append((f"full build, {workers} worker(s)", args.n, result.computed_clips, seconds))
            print(f"full build, {workers} worker(s): {seconds:.1f} s", flush=True)
        full_seconds = rows[0][3]
        started = time.perf_counter()
        result = build_dataset(raw_all, work / "out-incremental", config=_config(work / "cache-1"), workers=1)
        incremental_seconds = time.perf_counter() - started
        rows.append((f"incremental (+{n_new} clips)", args.n + n_new, result.computed_clips, incremental_seconds))
        print(f"incremental stages (s): {result.timings_s}", flush=True)
        config_path = work / "build-incremental.yaml"
        config_path.write_text(yaml.safe_dump(_config(work / "cache-2").model_dump(mode="json")))
        cli = Path(sys.executable).with_name("affectgpt")
        started = time.perf_counter()
        subprocess.run([str(cli), "build", "dataset", str(raw_all), "--out", str(work / "out-cli"),
                        "--config", str(config_path)], check=True, capture_output=True)
        rows.append((f"incremental (+{n_new} clips), fresh CLI process", args.n + n_new, n_new,
                     time.perf_counter() - started))

        table = Table(title=f"MER-Caption build, {args.n} demo clips")
        for column in ("run", "clips", "computed", "seconds", "clips/s", "vs full build (1 worker)"):
            table.add_column(column, justify="right" if column != "run" else "left")
        for name, clips, computed, seconds in rows:
            table.add_row(name, str(clips), str(computed), f"{seconds:.1f}", f"{clips / seconds:.2f}",
                          f"{seconds / full_seconds:.1%}")
        Console().print(table)
        print(f"incremental / full = {incremental_seconds / full_seconds:.1%} (target <= 5%)")
        if args.json:
            two_workers = rows[1][3]
            write_rows([
                BenchRow(name=f"incremental build (+{n_new} clips of {args.n})", value=incremental_seconds,
                         baseline_name="full build, 1 worker", baseline=full_seconds, target="ratio <= 5%",
                         passed=incremental_seconds <= 0.05 * full_seconds),
                BenchRow(name=f"full build of {args.n} clips, 2 workers", value=two_workers,
                         baseline_name="1 worker", baseline=full_seconds, target="ratio < 1 (on >= 2 free cores)",
                         passed=two_workers < full_seconds),
            ], args.json)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
