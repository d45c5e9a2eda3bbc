"""How numbers look wherever a person reads them: scores as percent, one rule for missing.

Scores are fractions in JSON (machines) and percent with two decimals on screens, HTML and
tables (people); a missing score is an en dash, never `nan`. The registry stores scores already
in percent (the unit of the promotion rules): `points` writes those, and their differences, in
the same two-decimal form.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

MISSING = "–"


def is_missing(value: object) -> bool:
    """None, NaN and non-numbers count as missing."""
    if value is None:
        return True
    try:
        return math.isnan(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True


def percent(value: float | None, digits: int = 2, sign: bool = False) -> str:
    """A fraction in [0, 1] as `74.77 %`-style text without the sign: `74.77`; missing is `–`.
    `sign=True` writes deltas as `+1.20` / `-0.35`."""
    if is_missing(value):
        return MISSING
    return points(100 * float(value), digits, sign)  # type: ignore[arg-type]


def points(value: float | None, digits: int = 2, sign: bool = False) -> str:
    """A number already in percent (registry scores, gate thresholds) or a difference of two,
    in percentage points: `74.77`, `+1.20` with `sign=True`; missing is `–`."""
    if is_missing(value):
        return MISSING
    number = float(value)  # type: ignore[arg-type]
    return f"{number:+.{digits}f}" if sign else f"{number:.{digits}f}"


def percent_interval(interval: list[float] | tuple[float, float] | None, sign: bool = False) -> str:
    """A 95 % interval of fractions as `28.10 to 41.20` (percent); `–` when there is none."""
    if not interval or any(is_missing(end) for end in interval):
        return MISSING
    return f"{percent(interval[0], sign=sign)} to {percent(interval[1], sign=sign)}"


def points_interval(interval: list[float] | tuple[float, float] | None, sign: bool = False) -> str:
    """An interval already in percent (registry) as `28.10 to 41.20`; `–` when there is none."""
    if not interval or any(is_missing(end) for end in interval):
        return MISSING
    return f"{points(interval[0], sign=sign)} to {points(interval[1], sign=sign)}"



def difference_words(difference: dict | None) -> str:
    """A paired difference (`delta`, `interval`, `n_clips`, as `affectgpt.bench.comparison`
    writes it) in points with its interval and clip count, or `–`."""
    if not difference or difference.get("delta") is None:
        return MISSING
    return (f"{points(difference['delta'], sign=True)} points (95 % interval "
            f"{points_interval(difference.get('interval'), sign=True)}, paired over {difference.get('n_clips')} clips)")

def utc_time(stamp: str | None) -> str:
    """An ISO 8601 time (as the audit log writes them) as `2026-12-02 09:53 UTC`; missing is `–`."""
    if not stamp:
        return MISSING
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M} UTC"
