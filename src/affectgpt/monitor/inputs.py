"""Load a reference or current batch for the drift monitor: files or Feast views.

A batch is one source or several joined on `clip_id` with `+`:

    data/mer-caption/features/clip_features.parquet+preds/local.jsonl

Each source is a Parquet file or folder, a CSV, the predictions JSONL of `affectgpt infer`, or
Feast views `feast:VIEW[,VIEW...][@REPO_DIR][?start=ISO&end=ISO]`, e.g.
`feast:clip_metadata,clip_embeddings,model_outputs?start=2026-12-02T04:50:00+00:00`; a Feast
batch is the clips with an event in the window, joined point-in-time across the views.

Columns arrive in the feature store's names (affectgpt.features.columns): the extractor's
`frames_mean` is `frame_emb`, a subtitle gets its MiniLM `text_emb` as Feast ingest gives it,
predictions give `predicted_label` and `ov_labels`, so one `configs/monitoring.yaml` describes
file and Feast batches alike.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

import pandas as pd

from affectgpt.errors import BadInput, ExitCode, NotFound

FEAST_PREFIX = "feast:"
JOIN = "+"
ENTITY_KEY = "clip_id"


class DriftInputError(BadInput, ValueError):
    """A batch the monitor cannot compare; the message names the input and what to do."""


class DriftInputMissing(DriftInputError, NotFound):
    """A batch file or feature repo that does not exist."""

    exit_code = ExitCode.NOT_FOUND


def describe_source(source: str | Path | pd.DataFrame) -> str:
    if isinstance(source, pd.DataFrame):
        return f"<in-memory table, {len(source)} rows>"
    return str(source)


def parse_iso_time(text: str, source: str) -> datetime:
    """An ISO time with `+00:00`, `Z` or no zone (UTC). In a shell or URL the `+` of an offset may
    arrive as a space (`...04:50:00 00:00`); that is read back as `+`."""
    cleaned = text.strip()
    if len(cleaned) > 19 and cleaned[-6] == " " and cleaned[-5:-3].isdigit() and cleaned[-2:].isdigit():
        cleaned = cleaned[:-6] + "+" + cleaned[-5:]
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise DriftInputError(f"{source}: '{text}' is not an ISO time (e.g. 2026-12-02T04:50:00+00:00 or "
                              "2026-12-02T04:50:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _query(query: str) -> dict[str, str]:
    """`start=...&end=...` with `+` kept literal: the query holds ISO times, not form data
    (urllib's parse_qs would turn the `+` of `+00:00` into a space)."""
    params: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        params[unquote(key.strip())] = unquote(value)
    return params


def _load_feast(spec: str) -> pd.DataFrame:
    from affectgpt.features.repo import FeatureRepoError, FeatureRepoMissing
    from affectgpt.features.store import read_feature_views

    body, _, query = spec[len(FEAST_PREFIX):].partition("?")
    views_part, _, repo_part = body.partition("@")
    views = [name.strip() for name in views_part.split(",") if name.strip()]
    if not views:
        raise DriftInputError(f"{spec}: name at least one feature view, e.g. feast:clip_metadata")
    params = _query(query)
    unknown = sorted(set(params) - {"start", "end"})
    if unknown:
        raise DriftInputError(f"{spec}: unknown parameter(s) {unknown}; use start= and end= (ISO times)")
    start = parse_iso_time(params["start"], spec) if "start" in params else None
    end = parse_iso_time(params["end"], spec) if "end" in params else None
    try:
        return read_feature_views(views, repo_dir=repo_part or None, start=start, end=end)
    except FeatureRepoMissing as exc:
        raise DriftInputMissing(f"{spec}: {exc}") from None
    except FeatureRepoError as exc:
        raise DriftInputError(f"{spec}: {exc}") from None


def _load_file(text: str) -> pd.DataFrame:
    from affectgpt.features.columns import canonical_columns, read_predictions

    path = Path(text).expanduser()
    if not path.exists():
        raise DriftInputMissing(f"{path}: no such file; pass a Parquet file/folder, a CSV, an `affectgpt infer` "
                                "JSONL or feast:VIEW[@REPO], several joined on clip_id with '+'")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        return read_predictions(path)
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged or non-Parquet file
        raise DriftInputError(f"{path}: cannot be read as {'CSV' if suffix == '.csv' else 'Parquet'} ({exc})") from None
    return canonical_columns(frame, embed_text=True)


def _load_one(text: str) -> pd.DataFrame:
    return _load_feast(text) if text.startswith(FEAST_PREFIX) else _load_file(text)


def split_sources(text: str) -> list[str]:
    """The sources of a batch spec; a path that exists as written is one source even with a `+`,
    and the `+` of a time zone in a Feast query (`?start=...T04:50:00+00:00`) stays in it."""
    if Path(text).expanduser().exists():
        return [text]
    parts: list[str] = []
    for piece in text.split(JOIN):
        if parts and parts[-1].startswith(FEAST_PREFIX) and "?" in parts[-1] and piece[:2].isdigit():
            parts[-1] += JOIN + piece
        else:
            parts.append(piece)
    return [part.strip() for part in parts if part.strip()]


def _join(frames: list[tuple[str, pd.DataFrame]]) -> pd.DataFrame:
    """Left-join the sources on clip_id, in order; a column an earlier source has is kept from it."""
    name, joined = frames[0]
    for other_name, other in frames[1:]:
        for label, frame in ((name, joined), (other_name, other)):
            if ENTITY_KEY not in frame.columns:
                raise DriftInputError(f"{label}: no '{ENTITY_KEY}' column to join on")
        extra = [c for c in other.columns if c == ENTITY_KEY or c not in joined.columns]
        right = other[extra].drop_duplicates(ENTITY_KEY, keep="last")
        joined = joined.merge(right, on=ENTITY_KEY, how="left")
    return joined


def check_files_exist(*sources: str | Path | pd.DataFrame) -> None:
    """DriftInputMissing naming every file source of the batch specs that does not exist, before
    any of them is read (a missing current batch is not found after minutes of reading the
    reference). Feature views are checked when read."""
    missing = [part for source in sources if not isinstance(source, pd.DataFrame)
               for part in split_sources(str(source))
               if not part.startswith(FEAST_PREFIX) and not Path(part).expanduser().exists()]
    if missing:
        raise DriftInputMissing(f"{', '.join(missing)}: no such file; pass a Parquet file/folder, a CSV, an "
                                "`affectgpt infer` JSONL or feast:VIEW[@REPO], several joined on clip_id with '+'")


def load_batch(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The batch as a DataFrame in view field names. Unreadable sources raise DriftInputError,
    missing ones DriftInputMissing."""
    if isinstance(source, pd.DataFrame):
        return source.copy(deep=False)  # the caller's frame keeps its columns; values are only read
    parts = split_sources(str(source))
    if len(parts) == 1:
        return _load_one(parts[0])
    return _join([(part, _load_one(part)) for part in parts])


def _map_locations(spec: str, change) -> str:
    """The spec with `change(path) -> str` applied to every location in it: each file source and
    the repo of each Feast source (the default repo named explicitly)."""
    parts = []
    for part in split_sources(spec):
        if part.startswith(FEAST_PREFIX):
            from affectgpt.features.repo import default_repo_dir

            body, has_query, query = part[len(FEAST_PREFIX):].partition("?")
            views, _, repo = body.partition("@")
            located = change(Path(repo).expanduser() if repo else default_repo_dir())
            parts.append(f"{FEAST_PREFIX}{views}@{located}" + (f"?{query}" if has_query else ""))
        else:
            parts.append(change(Path(part).expanduser()))
    return JOIN.join(parts)


def absolute_spec(source: str | Path | pd.DataFrame) -> str | None:
    """The batch spec with every location absolute, so it reloads from any folder; None for an
    in-memory table."""
    if isinstance(source, pd.DataFrame):
        return None
    return _map_locations(str(source), lambda path: str(path.resolve()))


def spec_relative_to(source: str | Path | pd.DataFrame, base: Path) -> str | None:
    """The batch spec with every location relative to `base` (the report folder), so a project
    moved or copied with its reports still reloads its batches; None for an in-memory table."""
    if isinstance(source, pd.DataFrame):
        return None
    return _map_locations(str(source), lambda path: os.path.relpath(path.resolve(), base.resolve()))


def anchored_spec(spec: str, base: Path) -> str:
    """A spec of relative locations read against `base` (absolute locations stay as they are)."""
    return _map_locations(spec, lambda path: str((base / path).resolve()))


def missing_locations(spec: str) -> list[str]:
    """The locations of a spec that do not exist (files, folders, Feast repos)."""
    missing: list[str] = []

    def note(path: Path) -> str:
        if not path.exists():
            missing.append(str(path))
        return str(path)

    _map_locations(spec, note)
    return missing
