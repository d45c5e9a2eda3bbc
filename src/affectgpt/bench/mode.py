"""The scorer mode, resolved once into the rules it stands for.

`official` reproduces the AffectGPT scorer, quirks included; `corrected` fixes the quirks
(docs/bench.md lists them). The two differ in a handful of rules, and every one of them lives
here, in one object, so the metric code asks the mode what to do instead of comparing its
name:

    mode = scorer_mode("corrected")       # BadInput for an unknown name
    mode.parse("['happy', \"don't care\"]")  # -> ['happy', 'don’t care']
    mode.hit(2)                            # -> 1.0 (official: 2.0)

The names are one enum, `ScorerModeName`: the command line's `--mode` choices and the pipeline
input `scorer_mode` are checked against it where they enter. Library entry points (`run_bench`,
`score_test_sets`, `metrics.score_task`) take a name or the object and resolve it once with
`scorer_mode`; everything below them gets the object.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from affectgpt.bench.parsing import (
    corrected_labels,
    corrected_sentiment_is_positive,
    official_labels,
    official_sentiment_is_positive,
)
from affectgpt.errors import BadInput

NAN = float("nan")


class ScorerModeName(StrEnum):
    """The scorer modes by name (a `str`, so it compares and serialises as the plain name)."""

    OFFICIAL = "official"
    CORRECTED = "corrected"


class UnknownScorerMode(BadInput, ValueError):
    """A mode name that is neither `official` nor `corrected` (also a ValueError, as the
    library raised before the error types were unified, so existing handlers still catch it)."""


@dataclass(frozen=True)
class ScorerMode:
    """Every rule in which the two scorer modes differ."""

    name: ScorerModeName
    parse: Callable[[Any], list[str]]
    """A label field (list or list-like string) -> normalised labels."""
    wheels_version: str
    """The word-form table used when none is named: the official scorer shipped MER2025's;
    MER2026's no longer maps e.g. "help" to "helpless" or "fear" to "fearless"."""
    hit: Callable[[int], float]
    """A sample's HIT on one wheel from |G∩P| (the official scorer counts the overlap)."""
    is_positive: Callable[[Any], bool]
    """Whether a sentiment prediction counts as positive."""
    drops_nan_valence: bool
    """Whether a NaN ground-truth valence drops the sample (official: NaN > 0 is False, so it
    counts as negative)."""
    f_when_no_overlap: float
    """OV F-score of a wheel with precision = recall = 0 (official: numpy's 0/0, NaN)."""
    averages_unscored_wheels: bool
    """Whether a wheel no sample maps onto still enters the mean over wheels (official: yes,
    as NaN, which makes the whole score NaN)."""
    arrow_parse: bool
    """Whether `affectgpt.bench.ov_masks` may use its Arrow twin of `parse` (only the official
    parse has one; the other runs per value in Python)."""

    def __str__(self) -> str:
        return self.name

    def f_score(self, precision: float, recall: float) -> float:
        """F = 2PR / (P + R); NaN if either is NaN; `f_when_no_overlap` when P + R = 0."""
        if math.isnan(precision) or math.isnan(recall):
            return NAN
        if precision + recall == 0:
            return self.f_when_no_overlap
        return 2 * precision * recall / (precision + recall)


def _hit_counts_overlap(common: int) -> float:
    return float(common)


def _hit_is_any_overlap(common: int) -> float:
    return float(common > 0)


OFFICIAL = ScorerMode(
    name=ScorerModeName.OFFICIAL, parse=official_labels, wheels_version="mer2025", hit=_hit_counts_overlap,
    is_positive=official_sentiment_is_positive, drops_nan_valence=False, f_when_no_overlap=NAN,
    averages_unscored_wheels=True, arrow_parse=True,
)
CORRECTED = ScorerMode(
    name=ScorerModeName.CORRECTED, parse=corrected_labels, wheels_version="mer2026", hit=_hit_is_any_overlap,
    is_positive=corrected_sentiment_is_positive, drops_nan_valence=True, f_when_no_overlap=0.0,
    averages_unscored_wheels=False, arrow_parse=False,
)
_BY_NAME: dict[str, ScorerMode] = {mode.name: mode for mode in (OFFICIAL, CORRECTED)}
MODES: tuple[str, ...] = tuple(name.value for name in ScorerModeName)


def scorer_mode(mode: ScorerMode | ScorerModeName | str) -> ScorerMode:
    """The rules of a mode name (an already resolved mode is returned as is)."""
    if isinstance(mode, ScorerMode):
        return mode
    resolved = _BY_NAME.get(mode) if isinstance(mode, str) else None
    if resolved is None:
        raise UnknownScorerMode(f"unknown scoring mode {mode!r}; use one of {', '.join(MODES)}")
    return resolved


def parse_labels(value: Any, mode: ScorerMode | ScorerModeName | str = ScorerModeName.OFFICIAL) -> list[str]:
    """Labels of one field under `mode` (order kept, duplicates kept: sets are taken later).

    This is the one label parser of the package; the training data keeps its labels as
    written instead (`affectgpt.train.data.labels_as_written`)."""
    return scorer_mode(mode).parse(value)
