"""The bench report as data: one row per dataset and the whole report, and its report.json form.

Its own module so that the scorer (`affectgpt.bench.runner`, which fills it) and the writer of
the files a person reads (`affectgpt.bench.report`) both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from affectgpt.bench.datasets import PAPER_MEAN
from affectgpt.jsonline import nan_to_none
from affectgpt.manifest import SkippedRecord, code_version


@dataclass
class DatasetReport:
    dataset: str
    display_name: str
    task: str
    status: str  # scored | missing_predictions | missing_labels | no_samples (nothing usable: not scored)
    metric: str | None = None
    value: float | None = None
    n_scored: int = 0
    n_gold: int = 0
    n_predictions: int = 0
    n_missing_predictions: int = 0
    n_skipped: int = 0
    # Gold clips the metric leaves out (a neutral valence, a label on no emotion wheel): each
    # with its clip id, reason and detail, so n_scored + n_excluded = n_gold.
    n_excluded: int = 0
    excluded: list[dict[str, str]] = field(default_factory=list)
    secondary: dict[str, Any] = field(default_factory=dict)
    per_wheel: dict[str, Any] = field(default_factory=dict)
    paper_value: float | None = None
    notes: list[str] = field(default_factory=list)
    baseline_value: float | None = None  # the subtitle-only baseline (bench eval), when scored
    # Uncertainty (affectgpt.bench.bootstrap): the score's interval, and whether the set has
    # too few scored clips to compare; per-clip scores so intervals can be recomputed.
    interval: list[float] | None = None
    too_few_clips: bool = False
    clip_scores: dict[str, Any] | None = None
    baseline_interval: list[float] | None = None
    baseline_clip_scores: dict[str, Any] | None = None
    vs_baseline: dict[str, Any] | None = None  # {delta, interval, n_common}: model minus baseline, paired


@dataclass
class BenchReport:
    mode: str
    level: int
    wheels: str
    extractor: dict[str, str]
    datasets: dict[str, DatasetReport]
    mean: float | None
    mean_over: list[str]
    complete: bool
    skipped: list[SkippedRecord] = field(default_factory=list)
    report_dir: Path | None = None
    # Set by `bench eval`: how the predictions were made and on which test sets.
    decoding: str | None = None
    baseline: dict[str, Any] | None = None  # {name, mean}: the no-model baseline beside each row
    notes: list[str] = field(default_factory=list)  # e.g. "SYNTHETIC media" for the fixture
    lineage: dict[str, str] = field(default_factory=dict)  # unibench_rev, model
    uncertainty: dict[str, Any] = field(default_factory=dict)  # BootstrapSettings.describe()
    mean_interval: list[float] | None = None

    def to_json(self) -> dict[str, Any]:
        return nan_to_none({
            "mode": self.mode,
            # Values are fractions in [0, 1]; the registry shows and gates them as percent.
            "units": "fraction",
            "level": self.level,
            "wheels": self.wheels,
            "extractor": self.extractor,
            "datasets": {name: d.__dict__ for name, d in self.datasets.items()},
            "mean": self.mean,
            "mean_over": self.mean_over,
            "mean_interval": self.mean_interval,
            "uncertainty": self.uncertainty,
            "complete": self.complete,
            "paper": {"mean": PAPER_MEAN, **{n: d.paper_value for n, d in self.datasets.items()}},
            "n_skipped_lines": len(self.skipped),
            "decoding": self.decoding,
            "baseline": self.baseline,
            "notes": self.notes,
            "lineage": self.lineage,
            "code_version": code_version(),
            "created_at": datetime.now(UTC).isoformat(),
        })


