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

from affectgpt.registry.errors import InvalidInput, NotFound

_TAG_UNSAFE = re.compile(r"[^\w.\- /]")


class BenchScores(BaseModel):
    """Per-dataset scores and, when the source said so, the scorer mode and reported mean."""

    scores: dict[str, float]
    unscored: dict[str, str] = {}
    mode: str | None = None
    reported_mean: float | None = None
    source: str = "dict"
    # What a bench report says beside the scores (percent), for the gate's interval and
    # baseline rules and for the review: per set {display_name, n, interval, too_few, baseline,
    # paper}, the per-clip scores of the model and of the subtitle-only baseline, lineage.
    sets: dict[str, dict[str, Any]] = {}
    clip_scores: dict[str, dict[str, Any]] = {}
    baseline_clip_scores: dict[str, dict[str, Any]] = {}
    mean_interval: list[float] | None = None
    uncertainty: dict[str, Any] = {}
    lineage: dict[str, str] = {}


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
        **_beside_the_scores(report, container if isinstance(container, dict) else {}, scale),
    )


def _scaled(value: Any, scale: float) -> float | None:
    return float(value) * scale if isinstance(value, (int, float)) and math.isfinite(float(value)) else None


def _scaled_interval(interval: Any, scale: float) -> list[float] | None:
    if not isinstance(interval, list) or len(interval) != 2:
        return None
    ends = [_scaled(end, scale) for end in interval]
    return None if None in ends else ends  # type: ignore[return-value]


def _beside_the_scores(report: dict[str, Any], datasets: dict[str, Any], scale: float) -> dict[str, Any]:
    """Clip counts, intervals, baseline and paper per set, per-clip scores and lineage, as the
    bench report holds them (a report without them gives empty fields, never an error)."""
    from affectgpt.bench.datasets import display_name

    sets, clips, baseline_clips = {}, {}, {}
    for name, entry in datasets.items():
        if not isinstance(entry, dict):
            continue
        sets[str(name)] = {
            "display_name": entry.get("display_name") or display_name(str(name)),
            "n": entry.get("n_scored"), "interval": _scaled_interval(entry.get("interval"), scale),
            "too_few": bool(entry.get("too_few_clips")), "baseline": _scaled(entry.get("baseline_value"), scale),
            "paper": _scaled(entry.get("paper_value"), 100.0),
        }
        if isinstance(entry.get("clip_scores"), dict):
            clips[str(name)] = entry["clip_scores"]
        if isinstance(entry.get("baseline_clip_scores"), dict):
            baseline_clips[str(name)] = entry["baseline_clip_scores"]
    lineage = report.get("lineage") if isinstance(report.get("lineage"), dict) else {}
    return {"sets": sets, "clip_scores": clips, "baseline_clip_scores": baseline_clips,
            "mean_interval": _scaled_interval(report.get("mean_interval"), scale),
            "uncertainty": report.get("uncertainty") if isinstance(report.get("uncertainty"), dict) else {},
            "lineage": {key: str(value) for key, value in
                        {"unibench_rev": lineage.get("unibench_rev"), "decoding": report.get("decoding")}.items()
                        if value}}


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
        raise NotFound(f"{path}: bench report not found; run `affectgpt bench` or pass the report path")
    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{path}: line {error.lineno} column {error.colno}: not valid JSON ({error.msg})") from error
    if not isinstance(report, dict):
        raise InvalidInput(f"{path}: expected a JSON object at the top level")
    return parse_report(report, source=str(path))
