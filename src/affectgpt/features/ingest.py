"""Turn a wide per-clip table (the feature cache's `clip_features.parquet`, a clip manifest, or
model predictions) into rows of the three feature views and append them to the offline store.

Upstream tables name pooled vectors after the encoder tensors (`frames`, `faces`, `audio`); the
aliases below map them onto the view fields so each producer keeps its own naming.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from affectgpt.features.definitions import ENTITY_KEY, TIMESTAMP_COLUMN, VIEW_FIELDS
from affectgpt.features.store import WriteResult, write_feature_rows

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "frame_emb": ("frame_emb", "frames_pooled", "frames_mean", "frames"),
    "face_emb": ("face_emb", "faces_pooled", "faces_mean", "faces"),
    "audio_emb": ("audio_emb", "audio_pooled", "audio_mean", "audio"),
    "text_emb": ("text_emb",),
    "predicted_label": ("predicted_label", "emotion"),
    "description_len": ("description_len",),
}


def view_rows(
    table: pd.DataFrame,
    view_name: str,
    event_timestamp: datetime | None = None,
    embed_text: bool = True,
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of one view taken from a wide table, and the features it had to leave null.

    Derived features: `subtitle_len` from `subtitle`, `description_len` from `description`,
    `text_emb` from `subtitle` with MiniLM (when `embed_text`).
    """
    if ENTITY_KEY not in table.columns:
        raise ValueError(f"table has no '{ENTITY_KEY}' column; columns: {list(table.columns)[:20]}")
    rows = pd.DataFrame({ENTITY_KEY: table[ENTITY_KEY].astype(str)})
    if TIMESTAMP_COLUMN in table.columns:
        rows[TIMESTAMP_COLUMN] = table[TIMESTAMP_COLUMN].values
    else:
        rows[TIMESTAMP_COLUMN] = pd.Timestamp(event_timestamp or datetime.now(UTC))
    left_null: list[str] = []
    for feature in VIEW_FIELDS[view_name]:
        source = next((name for name in FIELD_ALIASES.get(feature, (feature,)) if name in table.columns), None)
        if source is not None:
            rows[feature] = table[source].values
        elif feature == "subtitle_len" and "subtitle" in table.columns:
            rows[feature] = table["subtitle"].fillna("").astype(str).str.len().values
        elif feature == "description_len" and "description" in table.columns:
            rows[feature] = table["description"].fillna("").astype(str).str.len().values
        elif feature == "text_emb" and embed_text and "subtitle" in table.columns:
            from affectgpt.features.text import embed_texts

            rows[feature] = list(embed_texts(table["subtitle"].tolist()))
        else:
            rows[feature] = None
            left_null.append(feature)
    return rows, left_null


def ingest_table(
    table: pd.DataFrame | str | Path,
    views: list[str] | None = None,
    repo_dir: str | Path | None = None,
    event_timestamp: datetime | None = None,
    embed_text: bool = True,
) -> dict[str, tuple[WriteResult, list[str]]]:
    """Append the views' rows from a wide table; per view: the write result and the null features.
    A view none of whose features are in the table is not written (it would hold only nulls)."""
    frame = pd.read_parquet(table) if isinstance(table, (str, Path)) else table
    results: dict[str, tuple[WriteResult, list[str]]] = {}
    for view_name in views or list(VIEW_FIELDS):
        rows, left_null = view_rows(frame, view_name, event_timestamp, embed_text)
        if len(left_null) == len(VIEW_FIELDS[view_name]):
            continue
        results[view_name] = (write_feature_rows(view_name, rows, repo_dir), left_null)
    return results
