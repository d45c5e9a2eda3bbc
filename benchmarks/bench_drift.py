"""Time of a drift report on wide numeric batches (default: 10k and 100k rows x 400 columns).

    .venv/bin/python benchmarks/bench_drift.py                      # 10k and 100k rows x 400 columns
    .venv/bin/python benchmarks/bench_drift.py --rows 2000 10000 --columns 50

For each size it times `affectgpt.monitor.drift_report` end to end (column tests, Evidently
rendering, HTML, JSON) and a plain scipy two-sample K-S loop over the same columns in the same
run, and prints the ratio to that baseline (target <= 3x, and <= 60 s at 100k rows).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

if __package__ in (None, ""):  # run as a script: benchmarks/ is not a package on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import BenchRow, print_rows, write_rows

DEFAULT_ROWS = [10_000, 100_000]


def _batches(n_rows: int, n_columns: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = [f"f{i:03d}" for i in range(n_columns)]
    reference = pd.DataFrame(rng.normal(0.0, 1.0, (n_rows, n_columns)), columns=names)
    shift = np.where(np.arange(n_columns) % 10 == 0, 0.2, 0.0)  # every tenth column drifts a little
    current = pd.DataFrame(rng.normal(shift, 1.0, (n_rows, n_columns)), columns=names)
    return reference, current


def _scipy_baseline(reference: pd.DataFrame, current: pd.DataFrame) -> float:
    from scipy.stats import ks_2samp

    started = time.perf_counter()
    for column in reference.columns:
        ks_2samp(reference[column].to_numpy(), current[column].to_numpy())
    return time.perf_counter() - started


def measure(rows: list[int], n_columns: int) -> list[tuple[int, float, float, int]]:
    """(rows, report s, scipy K-S loop s, drifted columns) per size."""
    from affectgpt.monitor import drift_report

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "monitoring.yaml"
        names = [f"f{i:03d}" for i in range(n_columns)]
        config.write_text(yaml.safe_dump({"columns": {"metadata": names, "embeddings": [], "text": [],
                                                      "predictions": [], "ignore": []}}))
        warm_reference, warm_current = _batches(200, n_columns, seed=0)  # pay the imports before timing
        drift_report(warm_reference, warm_current, Path(tmp) / "warmup", config_path=config)
        for n_rows in rows:
            reference, current = _batches(n_rows, n_columns, seed=n_rows)
            baseline_s = _scipy_baseline(reference, current)
            started = time.perf_counter()
            summary = drift_report(reference, current, Path(tmp) / f"report_{n_rows}", config_path=config)
            report_s = time.perf_counter() - started
            html_mb = (Path(tmp) / f"report_{n_rows}" / "drift.html").stat().st_size / 1e6
            stages = json.loads((Path(tmp) / f"report_{n_rows}" / "manifest.json").read_text())["timings_s"]
            print(f"{n_rows} rows: {report_s:.1f} s, stages {stages}", flush=True)
            results.append((n_rows, report_s, baseline_s, summary.groups["metadata"].drifted, html_mb))
    return results


def rows(drift_rows: list[int] | None = None, columns: int = 400) -> list[BenchRow]:
    """Rows for the `make bench` table: each size against the scipy K-S loop of the same run."""
    out = []
    for n_rows, report_s, baseline_s, drifted, html_mb in measure(drift_rows or DEFAULT_ROWS, columns):
        ok = report_s <= 3 * baseline_s and (n_rows < 100_000 or report_s <= 60) and html_mb < 5
        out.append(BenchRow(
            name=f"drift report {n_rows:,} x {columns}", value=report_s, baseline_name="scipy K-S loop",
            baseline=baseline_s, target="<= 3x scipy K-S" + (", <= 60 s" if n_rows >= 100_000 else "") + ", HTML < 5 MB",
            passed=ok, note=f"{drifted}/{columns} drifted, HTML {html_mb:.1f} MB"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=DEFAULT_ROWS)
    parser.add_argument("--columns", type=int, default=400)
    parser.add_argument("--json", type=Path, help="also write the table rows here (benchmarks/report.py)")
    args = parser.parse_args()
    results = rows(args.rows, args.columns)
    print_rows(results, f"drift report, {args.columns} numeric columns")
    if args.json:
        write_rows(results, args.json)


if __name__ == "__main__":
    main()
