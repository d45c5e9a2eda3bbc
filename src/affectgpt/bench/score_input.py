"""Read the `bench score` input: JSONL lines `{"name": str, "gt": list|str|number, "pred": list|str}`.

Scoring a file with a broken line would give a wrong number silently, so any bad line stops
the read with an error naming the file, the line and the field. Two kinds of line are
quarantined instead (listed in the output under `quarantined`): a repeated name, whose first
line is scored, and a ground truth that is not a finite number.
"""

from __future__ import annotations

import math
from pathlib import Path

from affectgpt.bench.metrics import Sample, as_valence
from affectgpt.jsonline import JSONLineError, iter_lines, loads_line
from affectgpt.manifest import SkippedRecord


class ScoreInputError(ValueError):
    """A bad input line: the message names file, line and field."""


def read_score_input(path: str | Path, task: str, quarantined: list[SkippedRecord] | None = None) -> list[Sample]:
    """Samples of a `bench score` file. A repeated name (`1` and `"1"` are one name) keeps its
    first line and a non-finite ground truth (NaN, Infinity) is not scored: both go to
    `quarantined` (reasons `duplicate_id`, `bad_label`) when a list is given. No sample at all
    is an error, never a score of 0."""
    path = Path(path)
    if not path.is_file():
        raise ScoreInputError(f"{path}: file not found")
    samples: list[Sample] = []
    first_line: dict[str, int] = {}
    quarantine = quarantined if quarantined is not None else []
    for line_number, line in iter_lines(path):
        where = f"{path} line {line_number}"
        if isinstance(line, JSONLineError):
            raise ScoreInputError(str(line))
        try:
            record = loads_line(line, where)
        except JSONLineError as exc:
            raise ScoreInputError(str(exc)) from None
        if not isinstance(record, dict):
            raise ScoreInputError(f"{where}: expected a JSON object with name, gt, pred")
        for key in ("name", "gt", "pred"):
            if key not in record:
                raise ScoreInputError(f"{where}: missing field {key!r}")
        name = record["name"]
        if not isinstance(name, (str, int)):
            raise ScoreInputError(f"{where}: field 'name' must be a string")
        if str(name) in first_line:
            quarantine.append(SkippedRecord(record_id=f"{path.name}:{line_number}", reason="duplicate_id",
                                            detail=f"{where}: name {str(name)!r} already on line "
                                                   f"{first_line[str(name)]} (that line is scored)"))
            continue
        first_line[str(name)] = line_number
        gt, pred = record["gt"], record["pred"]
        if task == "sentiment":
            try:
                gt = as_valence(gt, str(name))
            except ValueError:
                raise ScoreInputError(
                    f"{where}: field 'gt' must be a number for --task sentiment, got {record['gt']!r}"
                ) from None
            if not math.isfinite(gt):
                quarantine.append(SkippedRecord(record_id=f"{path.name}:{line_number}", reason="bad_label",
                                                detail=f"{where}: ground truth {gt} is not a finite number"))
                continue
            if not isinstance(pred, str):
                raise ScoreInputError(f"{where}: field 'pred' must be the sentiment string for --task sentiment")
        else:
            for key, value in (("gt", gt), ("pred", pred)):
                if value is not None and not isinstance(value, (list, str)):
                    raise ScoreInputError(f"{where}: field {key!r} must be a list or a string, got {value!r}")
                if isinstance(value, list) and not all(isinstance(item, str) for item in value):
                    raise ScoreInputError(f"{where}: field {key!r} must be a list of strings")
        samples.append(Sample(str(name), gt, pred))
    if not samples:
        raise ScoreInputError(f"{path}: no samples to score ({len(quarantine)} line(s) quarantined); "
                              'give one {"name", "gt", "pred"} object per line')
    return samples
