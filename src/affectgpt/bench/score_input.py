"""Read the `bench score` input: JSONL lines `{"name": str, "gt": list|str|number, "pred": list|str}`.

Scoring a file with a broken line would give a wrong number silently, so any bad line stops
the read with an error naming the file, the line and the field. Two kinds of line are
quarantined instead (listed in the output under `quarantined`): a repeated name, whose first
line is scored, and a ground truth that is not a finite number (NaN, Infinity, any task). A
sample the metric itself leaves out (a ground truth no wheel word maps to, a neutral valence) is
quarantined too, with the metric's reason (`unscored_records`): every line is either scored or
listed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson

from affectgpt.bench.metrics import Sample, Unscored, as_valence
from affectgpt.errors import BadInput, ExitCode, NotFound
from affectgpt.jsonline import JSONLineError, loads_line
from affectgpt.manifest import SkippedRecord


class ScoreInputError(BadInput, ValueError):
    """A bad input line: the message names file, line and field."""


class ScoreInputMissing(ScoreInputError, NotFound):
    """The file to score does not exist (exit 4, as every missing input)."""

    exit_code = ExitCode.NOT_FOUND


def _all_strings(items: list) -> bool:
    """Whether every item is a string: str.join checks that in C (and fails on anything else)."""
    try:
        "".join(items)
    except TypeError:
        return False
    return True


def _parse_or_explain(line: bytes, where: str, line_number: int):
    """A line orjson refused, through the careful parser: a depth limit, NaN/Infinity read as
    numbers (quarantined later as labels), and messages that name the file, line and column."""
    try:
        text = line.decode("utf-8-sig" if line_number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        raise ScoreInputError(f"{where}: bytes at column {exc.start + 1} are not UTF-8; "
                              "re-save the file as UTF-8") from None
    try:
        return loads_line(text, where)
    except JSONLineError as exc:
        raise ScoreInputError(str(exc)) from None


def read_score_input(path: str | Path, task: str, quarantined: list[SkippedRecord] | None = None,
                     line_numbers: list[int] | None = None) -> list[Sample]:
    """Samples of a `bench score` file. A repeated name (`1` and `"1"` are one name) keeps its
    first line and a non-finite ground truth (NaN, Infinity) is not scored: both go to
    `quarantined` (reasons `duplicate_id`, `bad_label`) when a list is given. `line_numbers`,
    when given, receives each returned sample's line (to name it if the metric leaves it out).
    No sample at all is an error, never a score of 0."""
    path = Path(path)
    if not path.is_file():
        raise ScoreInputMissing(f"{path}: file not found")
    samples: list[Sample] = []
    first_line: dict[str, int] = {}
    quarantine = quarantined if quarantined is not None else []
    shown = str(path)
    labels_task = task != "sentiment"
    with open(path, "rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            where = f"{shown} line {line_number}"
            try:
                record = orjson.loads(line)  # C parser: reading is most of `bench score`'s time
            except orjson.JSONDecodeError:
                if not line.strip():
                    continue
                record = _parse_or_explain(line, where, line_number)
            # Fast path for the common well-formed ov/hit line; anything else goes through the
            # full checks, which name the problem.
            sample = None
            if labels_task and type(record) is dict:
                name, gt, pred = record.get("name"), record.get("gt", _MISSING), record.get("pred", _MISSING)
                if type(name) is str and _is_label_field(gt) and _is_label_field(pred):
                    sample = Sample(name, gt, pred)
            if sample is None:
                sample = _checked_sample(record, task, where)
            if sample.name in first_line:
                quarantine.append(SkippedRecord(record_id=f"{path.name}:{line_number}", reason="duplicate_id",
                                                detail=f"{where}: name {sample.name!r} already on line "
                                                       f"{first_line[sample.name]} (that line is scored)"))
                continue
            first_line[sample.name] = line_number
            if type(sample.gt) is float and not math.isfinite(sample.gt):
                quarantine.append(SkippedRecord(record_id=f"{path.name}:{line_number}", reason="bad_label",
                                                detail=f"{where}: ground truth {sample.gt} is not a finite number"))
                continue
            samples.append(sample)
            if line_numbers is not None:
                line_numbers.append(line_number)
    if not samples:
        raise ScoreInputError(f"{path}: no samples to score ({len(quarantine)} line(s) quarantined); "
                              'give one {"name", "gt", "pred"} object per line')
    return samples


_MISSING = object()


def _is_label_field(value) -> bool:
    return type(value) is str or value is None or (type(value) is list and _all_strings(value))


def _checked_sample(record, task: str, where: str) -> Sample:
    """One line's record as a Sample, or a ScoreInputError naming the line and the field."""
    if not isinstance(record, dict):
        raise ScoreInputError(f"{where}: expected a JSON object with name, gt, pred")
    for key in ("name", "gt", "pred"):
        if key not in record:
            raise ScoreInputError(f"{where}: missing field {key!r}")
    name = record["name"]
    if not isinstance(name, (str, int)):
        raise ScoreInputError(f"{where}: field 'name' must be a string")
    gt, pred = record["gt"], record["pred"]
    if task == "sentiment":
        try:
            gt = as_valence(gt, str(name))
        except ValueError:
            raise ScoreInputError(
                f"{where}: field 'gt' must be a number for --task sentiment, got {record['gt']!r}"
            ) from None
        if not isinstance(pred, str):
            raise ScoreInputError(f"{where}: field 'pred' must be the sentiment string for --task sentiment")
    else:
        for key, value in (("gt", gt), ("pred", pred)):
            if key == "gt" and type(value) is float and not math.isfinite(value):
                continue  # NaN / Infinity: quarantined as a bad label by the reader, not an error
            if value is not None and not isinstance(value, (list, str)):
                raise ScoreInputError(f"{where}: field {key!r} must be a list or a string, got {value!r}")
            if isinstance(value, list) and not _all_strings(value):
                raise ScoreInputError(f"{where}: field {key!r} must be a list of strings")
    return Sample(str(name), gt, pred)


def unscored_records(path: str | Path, unscored: Iterable[Unscored],
                     located: Mapping[int, tuple[int, str]]) -> list[SkippedRecord]:
    """Quarantine records for the samples the metric left out; `located` gives each one's
    position -> (line number, name) in `path`."""
    path = Path(path)
    records = []
    for entry in unscored:
        line_number, name = located[entry.position]
        records.append(SkippedRecord(record_id=f"{path.name}:{line_number}", reason=entry.reason,
                                     detail=f"{path} line {line_number}: sample {name!r}: {entry.detail}"))
    return records


def locate_rows(path: str | Path, rows: Iterable[int]) -> dict[int, tuple[int, str]]:
    """(line number, name) of the given rows of a file `read_ov_columns` read: Arrow's rows are
    its non-blank lines, the lines `read_score_input` reads too. One pass over the lines, made
    only when the metric left some row out."""
    wanted = set(rows)
    located: dict[int, tuple[int, str]] = {}
    row = -1
    with open(Path(path), "rb") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row += 1
            if row in wanted:
                located[row] = (line_number, str(orjson.loads(line)["name"]))
                if len(located) == len(wanted):
                    break
    return located


def read_ov_columns(path: str | Path):
    """(gt, pred) as Arrow columns, read by Arrow's JSON reader without a Python object per line,
    when the file is a clean label input: every line an object with a string `name` (unique),
    and `gt`/`pred` all strings or all lists of strings, nothing missing or null. Anything else
    returns None, and `read_score_input` reads the file line by line, naming any problem."""
    import pyarrow as pa
    import pyarrow.json as pa_json
    from pyarrow._compute import call_function  # by name: pyarrow.compute's import is slow

    from affectgpt.bench.ov_masks import list_items

    path = Path(path)
    if not path.is_file():
        return None
    try:
        table = pa_json.read_json(path, read_options=pa_json.ReadOptions(use_threads=False, block_size=1 << 24))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        return None
    if table.num_rows == 0 or not {"name", "gt", "pred"} <= set(table.column_names):
        return None
    name = table.column("name")
    if not pa.types.is_string(name.type) or name.null_count or call_function("count_distinct", [name]).as_py() != table.num_rows:
        return None
    columns = []
    for key in ("gt", "pred"):
        column = table.column(key).combine_chunks()
        if column.null_count:
            return None
        if pa.types.is_list(column.type):
            if not pa.types.is_string(column.type.value_type) or list_items(column)[0].null_count:
                return None
        elif not pa.types.is_string(column.type):
            return None
        columns.append(column)
    return columns[0], columns[1]
