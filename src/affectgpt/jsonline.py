"""Read untrusted JSON lines safely: a nesting-depth limit and errors that name file and line.

`json.loads` recurses once per nesting level, so a line of ten thousand `[` ends in a
RecursionError traceback; bytes that are not UTF-8 end in a UnicodeDecodeError that names
neither file nor line. Every reader of user-supplied JSONL goes through here instead.
Writers go through `nan_to_none`: JSON has no NaN, and pandas/pyarrow report a missing cell
as NaN, so one rule turns it into null wherever a table row becomes JSON or a plain record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_DEPTH = 64


class JSONLineError(ValueError):
    """One line cannot be used; `reason` is the quarantine reason, the message names file and line."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def nesting_depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text, ignoring brackets inside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _reject_constant(token: str) -> float:
    """NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise."""
    raise ValueError(f"{token} is not a JSON number")


def loads_line(text: str, where: str, max_depth: int = MAX_DEPTH, allow_nonfinite: bool = True) -> Any:
    """Parse one JSON line; JSONLineError (reason `too_deep` or `malformed_json`) naming `where`
    and the column of the line where the JSON breaks."""
    # Counting brackets first is cheap and only needed when there are enough of them to matter.
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise JSONLineError(f"{where}: JSON nested deeper than {max_depth} levels; flatten the record",
                            "too_deep")
    # Without its line ending: a record cut short fails at its end, which the parser would
    # otherwise place after the newline, at column 1 of a line that does not exist.
    text = text.rstrip("\r\n")
    try:
        return json.loads(text) if allow_nonfinite else json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where_in_text = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} column {exc.colno} of the text"
        raise JSONLineError(f"{where}: not valid JSON ({exc.msg} at {where_in_text})", "malformed_json") from None
    except (ValueError, RecursionError) as exc:
        raise JSONLineError(f"{where}: not valid JSON ({exc})", "malformed_json") from None


def iter_lines(path: str | Path) -> Iterator[tuple[int, str | JSONLineError]]:
    """(line number, text) for each non-blank line of `path`; a line that is not UTF-8 yields a
    JSONLineError (reason `bad_encoding`) in place of its text, so callers choose to stop or skip."""
    path = Path(path)
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield number, JSONLineError(
                    f"{path} line {number}: bytes at column {exc.start + 1} are not UTF-8; re-save the file as UTF-8",
                    "bad_encoding")
                continue
            if text.strip():
                yield number, text


def nan_to_none(value: Any) -> Any:
    """NaN -> None, recursively through dicts, lists and tuples (tuples come back as lists); a
    Path becomes its text; anything else is returned as is. The one cleaner for table cells and
    results on their way to JSON (a missing pandas cell is NaN, which JSON cannot hold)."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {key: nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_none(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return value
