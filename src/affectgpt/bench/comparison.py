"""Two sets of answers compared on the same clips: per set and over the mean, a difference
with its paired-bootstrap interval. One function for both comparisons a reviewer reads:
the model against the subtitle-only baseline (bench eval) and a candidate against the
champion (the registry gate).

Values are fractions, as in report.json; the registry multiplies by 100.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectgpt.bench.bootstrap import BootstrapSettings, interval, mean_replicates, paired_replicates
from affectgpt.bench.clip_scores import ClipScores
from affectgpt.bench.mode import ScorerMode


@dataclass
class SetDifference:
    delta: float | None  # ours minus theirs on the clips both answered
    interval: list[float] | None
    n_common: int

    def to_json(self) -> dict[str, object]:
        return {"delta": self.delta, "interval": self.interval, "n_common": self.n_common}


@dataclass
class PairedComparison:
    """Ours minus theirs, per set and for the mean over `datasets` (sets missing on a side
    are listed in `missing` and left out of the mean)."""

    per_set: dict[str, SetDifference] = field(default_factory=dict)
    datasets: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    delta_mean: float | None = None
    interval: list[float] | None = None

    def to_json(self) -> dict[str, object]:
        return {"per_set": {name: d.to_json() for name, d in self.per_set.items()}, "datasets": self.datasets,
                "missing": self.missing, "delta_mean": self.delta_mean, "interval": self.interval}


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def compare_paired(ours: dict[str, ClipScores], theirs: dict[str, ClipScores], datasets: list[str],
                   mode: ScorerMode, settings: BootstrapSettings) -> PairedComparison:
    """Paired bootstrap of ours minus theirs on each of `datasets`, and of the mean over the
    sets both sides have (per-set resamples combined, as for a report's mean)."""
    comparison = PairedComparison()
    deltas, resamples = [], []
    for name in datasets:
        if name not in ours or name not in theirs:
            comparison.missing.append(name)
            continue
        delta, replicate, n_common = paired_replicates(ours[name], theirs[name], mode, settings, name)
        comparison.per_set[name] = SetDifference(_finite(delta), interval(replicate, settings.confidence), n_common)
        comparison.datasets.append(name)
        deltas.append(delta)
        resamples.append(replicate)
    if deltas and all(np.isfinite(deltas)):
        comparison.delta_mean = float(np.mean(deltas))
        comparison.interval = interval(mean_replicates(resamples), settings.confidence)
    return comparison
