"""Time of a drift report on wide numeric batches (default: 10k and 100k rows x 400 columns).

    .venv/bin/python benchmarks/bench_drift.py                      # 10k and 100k rows x 400 columns
    .venv/bin/python benchmarks/bench_drift.py --rows 2000 10000 --columns 50

For each size it times `affectgpt.monitor.drift_report` end to end (Evidently tests, HTML, JSON)
and a plain scipy two-sample K-S loop over the same columns in the same run, and prints a table
with the per-row cost relative to the smallest size and the ratio to the scipy baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--columns", type=int, default=400)
    args = parser.parse_args()

    from affectgpt.monitor import drift_report

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "monitoring.yaml"
        names = [f"f{i:03d}" for i in range(args.columns)]
        config.write_text(yaml.safe_dump({"columns": {"metadata": names, "embeddings": [], "text": [],
                                                      "predictions": [], "ignore": []}}))
        warm_reference, warm_current = _batches(200, args.columns, seed=0)  # pay the imports before timing
        drift_report(warm_reference, warm_current, Path(tmp) / "warmup", config_path=config)
        for n_rows in args.rows:
            reference, current = _batches(n_rows, args.columns, seed=n_rows)
            baseline_s = _scipy_baseline(reference, current)
            started = time.perf_counter()
            summary = drift_report(reference, current, Path(tmp) / f"report_{n_rows}", config_path=config)
            report_s = time.perf_counter() - started
            results.append((n_rows, report_s, baseline_s, summary.groups["metadata"].drifted))

    base_rows, base_s = results[0][0], results[0][1]
    print(f"\ndrift report, {args.columns} numeric columns")
    print(f"{'rows':>8} {'report s':>9} {'scipy KS s':>10} {'x scipy':>8} {'per-row cost vs ' + str(base_rows):>22} {'drifted':>8}")
    for n_rows, report_s, baseline_s, drifted in results:
        per_row_ratio = (report_s / n_rows) / (base_s / base_rows)
        print(f"{n_rows:>8} {report_s:>9.2f} {baseline_s:>10.3f} {report_s / baseline_s:>8.1f} {per_row_ratio:>22.2f} "
              f"{drifted:>5}/{args.columns}")


if __name__ == "__main__":
    main()
