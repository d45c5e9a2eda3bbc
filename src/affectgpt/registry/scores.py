"""Read MER-UniBench scores from a dict or a bench `report.json`, and name them as tags.

The bench report holds per-dataset entries (metric, value, number scored), a `mean` and the
scorer `mode`. This module accepts the shapes that report can take and nothing vague: a value
that is not a finite number is an error naming the file and the field.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from affectgpt.registry.errors import InvalidInput

_TAG_UNSAFE = re.compile(r"[^\w.\- /]")


class BenchScores(BaseModel):
    """Per-dataset scores and, when the source said so, the scorer mode and reported mean."""

    scores: dict[str, float]
    unscored: dict[str, str] = {}
    mode: str | None = None
    reported_mean: float | None = None
    source: str = "dict"


def score_tag_key(dataset: str) -> str:
    """Tag key for one dataset score; characters MLflow refuses in keys (e.g. '+') become '_'."""
    return "affectgpt.score." + _TAG_UNSAFE.sub("_", dataset)


def _as_score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{where}: expected a number, got {value!r}; fix the scores")
    if not math.isfinite(float(value)):
        raise InvalidInput(f"{where}: score is {value!r}, not a finite number; re-run the benchmark")
    return float(value)


def _entry_value(entry: Any, where: str) -> float:
    if isinstance(entry, dict):
        for key in ("value", "score"):
            if key in entry:
                return _as_score(entry[key], f"{where}.{key}")
        raise InvalidInput(f"{where}: dataset entry has no 'value'; fix the report")
    return _as_score(entry, where)


def _unscored_status(entry: Any) -> str | None:
    """A bench entry that was not scored (status `missing_labels`, `missing_predictions`) has no
    value to gate on; it is reported as missing, not read as a number."""
    if isinstance(entry, dict) and entry.get("status") not in (None, "scored"):
        return str(entry["status"])
    return None


def parse_report(report: dict[str, Any], source: str = "report") -> BenchScores:
    """Scores from a parsed bench report. Accepted per-dataset containers, first found wins:
    `datasets` or `per_dataset` (a mapping name -> {value} or name -> number, or a list of
    {dataset|name, value}), or `scores` (name -> number). A report whose `units` is
    `fraction` (what `affectgpt bench run` writes) is converted to percent, the unit of the
    promotion rules and of the paper's tables."""
    container = None
    field = ""
    for key in ("datasets", "per_dataset", "scores"):
        if key in report:
            container, field = report[key], key
            break
    if container is None:
        raise InvalidInput(
            f"{source}: no 'datasets' field; expected a MER-UniBench report.json (per-dataset values)"
        )
    units = report.get("units", "percent")
    if units not in ("percent", "fraction"):
        raise InvalidInput(f"{source}: units {units!r} unknown; expected 'percent' or 'fraction'")
    scale = 100.0 if units == "fraction" else 1.0
    scores: dict[str, float] = {}
    unscored: dict[str, str] = {}
    if isinstance(container, dict):
        for name, entry in container.items():
            status = _unscored_status(entry)
            if status is not None:
                unscored[str(name)] = status
                continue
            scores[str(name)] = _entry_value(entry, f"{source}: {field}.{name}") * scale
    elif isinstance(container, list):
        for index, entry in enumerate(container):
            where = f"{source}: {field}[{index}]"
            if not isinstance(entry, dict) or not (entry.get("dataset") or entry.get("name")):
                raise InvalidInput(f"{where}: expected an object with 'dataset' and 'value'")
            name = str(entry.get("dataset") or entry.get("name"))
            status = _unscored_status(entry)
            if status is not None:
                unscored[name] = status
                continue
            scores[name] = _entry_value(entry, where) * scale
    else:
        raise InvalidInput(f"{source}: '{field}' must be a mapping or a list, got {type(container).__name__}")
    mean = report.get("mean")
    if isinstance(mean, dict):
        mean = mean.get("value")
    return BenchScores(
        scores=scores,
        unscored=unscored,
        mode=str(report["mode"]) if report.get("mode") is not None else None,
        reported_mean=_as_score(mean, f"{source}: mean") * scale if mean is not None else None,
        source=source,
    )


def load_scores(scores: dict[str, float] | str | Path) -> BenchScores:
    """A dict of dataset -> score, or the path of a bench report.json (or its folder)."""
    if isinstance(scores, dict):
        return BenchScores(
            scores={str(name): _as_score(value, f"scores[{name!r}]") for name, value in scores.items()}
        )
    path = Path(scores)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise InvalidInput(f"{path}: bench report not found; run `affectgpt bench` or pass the report path")
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{path}: line {error.lineno}: not valid JSON ({error.msg})") from error
    if not isinstance(report, dict):
        raise InvalidInput(f"{path}: expected a JSON object at the top level")
    return parse_report(report, source=str(path))
