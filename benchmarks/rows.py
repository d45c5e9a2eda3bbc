"""One row of the `make bench` table: a measurement, the baseline measured in the same run, their
ratio and the target it is held to. Each bench_*.py returns these from `rows(...)`; run alone it
prints them too.

Why ratios: the machine is shared and timings move with its load; a baseline measured in the
same run moves with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class BenchRow:
    name: str
    value: float  # what is measured (seconds unless `unit` says otherwise)
    baseline_name: str
    baseline: float
    target: str  # in words, e.g. "<= 3x scipy K-S, <= 60 s"
    passed: bool
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")


def load() -> str:
    """The machine load when measuring, for the report (`uptime`'s 1-minute average)."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def print_rows(rows: list[BenchRow], title: str = "benchmarks") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{title} ({load()})")
    for column in ("benchmark", "value", "baseline (same run)", "ratio", "target", "result"):
        table.add_column(column, justify="left" if column in ("benchmark", "baseline (same run)", "target") else "right")
    for row in rows:
        table.add_row(row.name + (f"\n[dim]{row.note}[/dim]" if row.note else ""), f"{row.value:.3g} {row.unit}",
                      f"{row.baseline_name}: {row.baseline:.3g} {row.unit}", f"{row.ratio:.2f}", row.target,
                      "[green]pass[/green]" if row.passed else "[red]miss[/red]")
    Console(width=160).print(table)


def write_rows(rows: list[BenchRow], path) -> None:
    """JSON for benchmarks/report.py, which runs each benchmark in its own process."""
    import json
    from dataclasses import asdict
    from pathlib import Path

    Path(path).write_text(json.dumps([asdict(row) for row in rows]))
