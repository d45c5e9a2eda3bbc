"""95 % intervals for bench scores: a seeded percentile bootstrap over clips, the metric
recomputed on each resample (`affectgpt.bench.clip_scores`), and paired differences.

A resample draws n clips with replacement; as counts per clip it is one row of a (B, n)
matrix, and the column sums of every resample are one matrix product with the clips'
additive columns, so 1000 resamples of a few thousand clips take a fraction of a second
(docs/bench.md gives the measured cost). Each set has its own random stream, derived from
the seed and the set's id, so adding a set never moves another set's interval.

- a set's interval: percentile interval of its metric over the resamples
- a mean's interval: per-set resamples combined: resample i of the mean is the mean of the
  sets' resample i, each set resampled over its own clips (a stratified bootstrap)
- a paired difference (candidate vs champion, model vs subtitle-only baseline): over the
  clips both answered, the same resampled clips score both sides, so what the two share
  (hard clips) cancels out of the interval
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass

import numpy as np

from affectgpt.bench.clip_scores import ClipScores, additive_columns, metric_from_sums
from affectgpt.bench.mode import ScorerMode

METHOD = ("percentile bootstrap over clips: each of {n_resamples} seeded resamples (seed {seed}) draws the "
          "set's clips with replacement and recomputes its metric; the interval holds the middle "
          "{percent:g} % of those values")
MEAN_METHOD = ("per-set resamples combined: resample i of the mean is the mean of every set's resample i, "
               "each set resampled over its own clips")
PAIRED_METHOD = ("paired bootstrap over the clips both sides answered: each resample scores the same clips "
                 "for both, and the interval is of the difference")


@dataclass(frozen=True)
class BootstrapSettings:
    """How intervals are made; written into report.json beside the numbers they qualify."""

    n_resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95
    min_clips: int = 20  # fewer scored clips than this: "too few clips to compare"

    def describe(self) -> dict[str, object]:
        return {**asdict(self), "method": METHOD.format(n_resamples=self.n_resamples, seed=self.seed,
                                                         percent=100 * self.confidence),
                "mean_method": MEAN_METHOD, "paired_method": PAIRED_METHOD}


def _rng(settings: BootstrapSettings, key: str) -> np.random.Generator:
    return np.random.default_rng([settings.seed, zlib.crc32(key.encode())])


def resample_counts(n_clips: int, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(n_resamples, n_clips): how often each clip is drawn in each resample."""
    drawn = rng.integers(0, n_clips, size=(n_resamples, n_clips))
    drawn += (np.arange(n_resamples) * n_clips)[:, None]
    return np.bincount(drawn.ravel(), minlength=n_resamples * n_clips).reshape(n_resamples, n_clips)


def replicates(clips: ClipScores, mode: ScorerMode, settings: BootstrapSettings, key: str) -> np.ndarray:
    """The set's metric on each resample (n_resamples,), NaN where the metric is undefined."""
    if not clips.ids:
        return np.full(settings.n_resamples, np.nan)
    counts = resample_counts(len(clips.ids), settings.n_resamples, _rng(settings, key))
    return metric_from_sums(clips.task, mode, counts @ additive_columns(clips, mode))


def paired_replicates(ours: ClipScores, theirs: ClipScores, mode: ScorerMode, settings: BootstrapSettings,
                      key: str) -> tuple[float, np.ndarray, int]:
    """(difference on the common clips, its resamples, how many clips both answered)."""
    ours, theirs = ours.aligned(theirs)
    n_common = len(ours.ids)
    if not n_common:
        return float("nan"), np.full(settings.n_resamples, np.nan), 0
    ours_columns, theirs_columns = additive_columns(ours, mode), additive_columns(theirs, mode)
    point = (metric_from_sums(ours.task, mode, ours_columns.sum(axis=0))
             - metric_from_sums(theirs.task, mode, theirs_columns.sum(axis=0)))[0]
    counts = resample_counts(n_common, settings.n_resamples, _rng(settings, key))
    difference = (metric_from_sums(ours.task, mode, counts @ ours_columns)
                  - metric_from_sums(theirs.task, mode, counts @ theirs_columns))
    return float(point), difference, n_common


def interval(values: np.ndarray, confidence: float) -> list[float] | None:
    """The percentile interval of the defined resamples; None when fewer than half are defined
    (the metric is undefined on too many resamples to say anything)."""
    defined = values[np.isfinite(values)]
    if len(defined) == 0 or len(defined) < len(values) / 2:
        return None
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(defined, [tail, 100 - tail])
    return [float(low), float(high)]


def mean_replicates(per_set: list[np.ndarray]) -> np.ndarray:
    """Resample i of the mean over sets: the mean of the sets' resample i (MEAN_METHOD)."""
    return np.mean(np.stack(per_set), axis=0) if per_set else np.array([np.nan])
