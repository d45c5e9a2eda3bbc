"""Scores as JSON values: NaN becomes null (JSON has no NaN, and a reader must see "undefined",
never a number), paths become strings. The one cleaner of report.json, `bench score` output
and the per-sample details."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def json_ready(value: Any) -> Any:
    """`value` with every NaN float replaced by None and every Path by its string, recursively
    through dicts, lists and tuples (tuples become lists)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
