"""Load a reference or current batch for the drift monitor: a Parquet/CSV file or Feast views.

A Feast source is written `feast:VIEW[,VIEW...][@REPO_DIR][?start=ISO&end=ISO]`, e.g.
`feast:clip_metadata,clip_embeddings,model_outputs?start=2025-06-01T00:00:00+00:00`; the batch is
the clips with an event in the window, joined point-in-time across the views.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

import pandas as pd

FEAST_PREFIX = "feast:"


class DriftInputError(ValueError):
    """A batch the monitor cannot compare; the message names the input and what to do."""


def describe_source(source: str | Path | pd.DataFrame) -> str:
    if isinstance(source, pd.DataFrame):
        return f"<in-memory table, {len(source)} rows>"
    return str(source)


def _parse_time(text: str, source: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise DriftInputError(f"{source}: '{text}' is not an ISO time (e.g. 2025-06-01T00:00:00+00:00)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _load_feast(spec: str) -> pd.DataFrame:
    from affectgpt.features.repo import FeatureRepoError
    from affectgpt.features.store import read_feature_views

    body, _, query = spec[len(FEAST_PREFIX):].partition("?")
    views_part, _, repo_part = body.partition("@")
    views = [name.strip() for name in views_part.split(",") if name.strip()]
    if not views:
        raise DriftInputError(f"{spec}: name at least one feature view, e.g. feast:clip_metadata")
    params = parse_qs(query)
    start = _parse_time(params["start"][0], spec) if "start" in params else None
    end = _parse_time(params["end"][0], spec) if "end" in params else None
    try:
        return read_feature_views(views, repo_dir=repo_part or None, start=start, end=end)
    except FeatureRepoError as exc:
        raise DriftInputError(f"{spec}: {exc}") from None


def load_batch(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The batch as a DataFrame. Unreadable or missing files raise DriftInputError."""
    if isinstance(source, pd.DataFrame):
        return source.copy(deep=False)  # the caller's frame keeps its columns; values are only read
    text = str(source)
    if text.startswith(FEAST_PREFIX):
        return _load_feast(text)
    path = Path(text).expanduser()
    if not path.exists():
        raise DriftInputError(f"{path}: no such file; pass a Parquet file/folder, a CSV or feast:VIEW[@REPO]")
    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for a damaged or non-Parquet file
        raise DriftInputError(f"{path}: cannot be read as {'CSV' if path.suffix == '.csv' else 'Parquet'} ({exc})") from None
