"""Turn a per-clip table (the feature cache's `clip_features.parquet`, a clip manifest, or the
predictions JSONL of `affectgpt infer`) into rows of the three feature views and merge them
into the offline store.

Each producer carries some of a view's features: extract knows `fps` and the embeddings, the
manifest knows the subtitle, only predictions know what the model said. So an ingest writes the
features its table carries and MERGES them into the clip's rows (`write_feature_rows(...,
partial=True)`): a later ingest of other columns never nulls the ones it does not carry. A table
without event times (the manifest) describes the clips as they are now, so its values join each
clip's newest row. Gold labels never become model outputs: `model_outputs` is written only from
predictions (see affectgpt.features.columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from affectgpt.errors import BadInput, NotFound
from affectgpt.features.columns import canonical_columns, is_predictions_table, read_predictions
from affectgpt.features.definitions import ENTITY_KEY, TIMESTAMP_COLUMN, VIEW_FIELDS, table_path
from affectgpt.features.repo import resolve_repo_dir
from affectgpt.features.store import WriteResult, write_feature_rows

PREDICTION_VIEW = "model_outputs"


@dataclass
class ViewIngest:
    """What one view got from a table: the write (None when the view was not written), the
    features the table did not carry (kept from earlier rows, else null) and why it was skipped."""

    result: WriteResult | None
    not_carried: list[str] = field(default_factory=list)
    skipped_because: str = ""


def read_table(table: pd.DataFrame | str | Path) -> pd.DataFrame:
    """A Parquet/CSV table or an `affectgpt infer` predictions JSONL, in view field names."""
    if isinstance(table, pd.DataFrame):
        return canonical_columns(table)
    path = Path(table)
    if not path.is_file():
        raise NotFound(f"{path}: no such file (a Parquet/CSV table or an `affectgpt infer` JSONL)")
    if path.suffix.lower() in (".jsonl", ".json"):
        return read_predictions(path)
    frame = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    return canonical_columns(frame)


def view_rows(
    table: pd.DataFrame,
    view_name: str,
    event_timestamp: datetime | None = None,
    embed_text: bool = True,
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one view taken from a table in field names (`canonical_columns`), holding only
    the features the table carries, and the view's features it does not carry.

    `text_emb` is computed from `subtitle` with MiniLM (when `embed_text`). Rows get the table's
    `event_timestamp`, else `event_timestamp`, else none (NaT: the caller picks one).
    """
    if ENTITY_KEY not in table.columns:
        raise BadInput(f"table has no '{ENTITY_KEY}' column; columns: {list(table.columns)[:20]}")
    rows = pd.DataFrame({ENTITY_KEY: table[ENTITY_KEY].astype(str).values})
    if TIMESTAMP_COLUMN in table.columns:
        rows[TIMESTAMP_COLUMN] = table[TIMESTAMP_COLUMN].values
    else:
        rows[TIMESTAMP_COLUMN] = pd.Timestamp(event_timestamp) if event_timestamp is not None else pd.NaT
    not_carried: list[str] = []
    for feature in VIEW_FIELDS[view_name]:
        if feature in table.columns:
            rows[feature] = table[feature].values
        elif feature == "text_emb" and embed_text and "subtitle" in table.columns:
            from affectgpt.features.text import embed_texts

            rows[feature] = list(embed_texts(table["subtitle"].fillna("").astype(str).tolist()))
        else:
            not_carried.append(feature)
    return rows, not_carried


def _newest_times(repo: Path, view_name: str) -> dict[str, pd.Timestamp]:
    """Each clip's newest event time in a view's offline table."""
    path = repo / table_path(view_name)
    if not path.exists():
        return {}
    keys = pd.read_parquet(path, columns=[ENTITY_KEY, TIMESTAMP_COLUMN])
    if keys.empty:
        return {}
    return keys.groupby(ENTITY_KEY)[TIMESTAMP_COLUMN].max().to_dict()


def _fill_missing_times(rows: pd.DataFrame, repo: Path, view_name: str) -> pd.DataFrame:
    """Rows without an event time join their clip's newest row (they describe the clip as it is),
    or start it now."""
    missing = rows[TIMESTAMP_COLUMN].isna()  # an unparsable time is not missing: it is quarantined
    if not missing.any():
        return rows
    newest = _newest_times(repo, view_name)
    now = pd.Timestamp(datetime.now(UTC))
    rows = rows.copy()
    rows[TIMESTAMP_COLUMN] = rows[TIMESTAMP_COLUMN].astype(object)
    rows.loc[missing, TIMESTAMP_COLUMN] = [newest.get(clip, now) for clip in rows.loc[missing, ENTITY_KEY]]
    return rows


def ingest_table(
    table: pd.DataFrame | str | Path,
    views: list[str] | None = None,
    repo_dir: str | Path | None = None,
    event_timestamp: datetime | None = None,
    embed_text: bool = True,
) -> dict[str, ViewIngest]:
    """Merge the views' rows from a table into the offline store; per view what was written.

    A view none of whose features the table carries is not written. `model_outputs` is written
    only from predictions (a table with `predicted_label`, e.g. an infer JSONL), never from a
    manifest's gold labels.
    """
    repo = resolve_repo_dir(repo_dir)
    frame = read_table(table)
    unknown = [name for name in views or [] if name not in VIEW_FIELDS]
    if unknown:
        raise BadInput(f"unknown feature view(s) {unknown}; known: {sorted(VIEW_FIELDS)}")
    results: dict[str, ViewIngest] = {}
    for view_name in views or list(VIEW_FIELDS):
        if view_name == PREDICTION_VIEW and not is_predictions_table(frame):
            results[view_name] = ViewIngest(None, list(VIEW_FIELDS[view_name]), "no predictions in this table "
                                            "(model outputs come only from `affectgpt infer` predictions, never "
                                            "from gold labels)")
            continue
        rows, not_carried = view_rows(frame, view_name, event_timestamp, embed_text)
        if len(not_carried) == len(VIEW_FIELDS[view_name]):
            results[view_name] = ViewIngest(None, not_carried, "the table carries none of its features")
            continue
        rows = _fill_missing_times(rows, repo, view_name)
        results[view_name] = ViewIngest(write_feature_rows(view_name, rows, repo, partial=True), not_carried)
    return results
