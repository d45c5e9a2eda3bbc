"""Read and write features through Feast: append rows to the offline tables, apply, materialize,
build point-in-time-correct training sets and read the online store.

These wrap the Feast Python API (not the `feast` CLI) so a call costs milliseconds once Feast is
imported, and so every caller gets the same validation of keys, timestamps and embedding sizes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from affectgpt.errors import Unavailable
from affectgpt.features.definitions import (
    CREATED_COLUMN,
    ENTITY_KEY,
    TIMESTAMP_COLUMN,
    VIEW_FIELDS,
    all_objects,
    feature_refs,
    table_path,
)
from affectgpt.features.repo import FeatureRepoError, FeatureTableMissing, resolve_repo_dir, table_schema
from affectgpt.manifest import SkippedRecord

if TYPE_CHECKING:
    from feast import FeatureStore


_ROW_ID = "__affectgpt_row"


@dataclass
class WriteResult:
    """What `write_feature_rows` appended and what it quarantined."""

    table: Path
    kept: int
    skipped: list[SkippedRecord] = field(default_factory=list)
    earliest: datetime | None = None  # oldest event time written: materialize from here to serve it


class FeatureStoreUnavailable(Unavailable):
    """The online store (Redis in the cluster) did not answer."""


def _is_connection_error(error: BaseException) -> bool:
    kind = type(error)
    return isinstance(error, (ConnectionError, TimeoutError)) or (
        kind.__module__.startswith("redis") and ("Connection" in kind.__name__ or "Timeout" in kind.__name__))


@contextmanager
def _online_store_answers(repo_dir: str | Path | None) -> Iterator[None]:
    """A store that is down is a service being unavailable (exit 5), not a bug."""
    try:
        yield
    except Exception as error:
        if _is_connection_error(error):
            raise FeatureStoreUnavailable(
                f"the online store of {resolve_repo_dir(repo_dir)} did not answer ({error}); start it or fix "
                "its connection in feature_store.yaml (`affectgpt features init --online redis --redis HOST:PORT`)"
            ) from None
        raise


def open_store(repo_dir: str | Path | None = None) -> FeatureStore:
    from feast import FeatureStore

    return FeatureStore(repo_path=str(resolve_repo_dir(repo_dir)))


def apply_definitions(repo_dir: str | Path | None = None) -> list[str]:
    """Register the entity and feature views in the repo's registry; returns the view names."""
    store = open_store(repo_dir)
    store.apply(all_objects())
    return sorted(VIEW_FIELDS)


def _embedding_columns(view_name: str) -> list[str]:
    return [name for name, dtype in VIEW_FIELDS[view_name].items() if "Array(Float32)" in str(dtype)]


def _embedding_size(value: object) -> int | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return int(np.asarray(value).size)


def write_feature_rows(
    view_name: str,
    rows: pd.DataFrame,
    repo_dir: str | Path | None = None,
    created_at: datetime | None = None,
    partial: bool = False,
) -> WriteResult:
    """Merge rows into a view's offline Parquet table.

    Rows must carry `clip_id`, `event_timestamp` and exactly the view's features (null where a
    value is unknown); with `partial`, a subset of the features (the ones a producer knows).
    Rows without a key or time, or with an embedding whose size differs from the table's, are
    quarantined with a reason; a wrong set of columns is an error because it means the caller
    was written against another schema.

    The table keeps one row per clip and event time, and a feature value holds until a newer
    value replaces it: a row for an existing (clip, time) updates that row's features it carries
    and keeps the others, and a null (or not carried) feature takes the clip's newest earlier
    value. Feast reads whole rows, so without this a producer that knows only some features
    (the manifest after the extractor) would null the rest for every reader.
    """
    repo = resolve_repo_dir(repo_dir)
    if view_name not in VIEW_FIELDS:
        raise FeatureRepoError(f"unknown feature view {view_name!r}; known: {sorted(VIEW_FIELDS)}")
    expected = [ENTITY_KEY, TIMESTAMP_COLUMN, *VIEW_FIELDS[view_name]]
    missing = [name for name in expected if name not in rows.columns]
    if partial:
        missing = [name for name in missing if name not in VIEW_FIELDS[view_name]]
        if not any(name in rows.columns for name in VIEW_FIELDS[view_name]):
            missing = list(VIEW_FIELDS[view_name])
    extra = [name for name in rows.columns if name not in expected and name != CREATED_COLUMN]
    if missing or extra:
        raise FeatureRepoError(
            f"rows for view '{view_name}': missing column(s) {missing}, unexpected column(s) {extra}; "
            f"expected exactly {expected} (use null for an unknown value)"
        )
    frame = rows.reset_index(drop=True).copy()
    for name in VIEW_FIELDS[view_name]:
        if name not in frame.columns:
            frame[name] = None
    frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True, errors="coerce")
    stamp = pd.Timestamp(created_at or datetime.now(UTC))
    if CREATED_COLUMN not in frame.columns:
        frame[CREATED_COLUMN] = stamp
    frame[CREATED_COLUMN] = pd.to_datetime(frame[CREATED_COLUMN], utc=True).fillna(stamp)

    table = repo / table_path(view_name)
    existing = pq.read_table(table) if table.exists() else table_schema(view_name).empty_table()
    expected_sizes = _existing_embedding_sizes(existing, view_name)

    keep_mask = np.ones(len(frame), dtype=bool)
    skipped: list[SkippedRecord] = []
    for index, row in frame.iterrows():
        record_id = str(row[ENTITY_KEY]) if pd.notna(row[ENTITY_KEY]) else f"row {index}"
        if pd.isna(row[ENTITY_KEY]) or str(row[ENTITY_KEY]) == "":
            keep_mask[index] = False
            skipped.append(SkippedRecord(record_id=record_id, reason="missing_clip_id",
                                         detail=f"{view_name} row {index} has no clip_id"))
            continue
        if pd.isna(row[TIMESTAMP_COLUMN]):
            keep_mask[index] = False
            skipped.append(SkippedRecord(record_id=record_id, reason="bad_event_timestamp",
                                         detail=f"{view_name} row {index}: event_timestamp missing or unparsable"))
            continue
        for column in _embedding_columns(view_name):
            size = _embedding_size(row[column])
            if size is None:
                continue
            wanted = expected_sizes.setdefault(column, size)
            if size != wanted:
                keep_mask[index] = False
                skipped.append(SkippedRecord(
                    record_id=record_id, reason="embedding_size_mismatch",
                    detail=f"{view_name}.{column} has {size} values, the table holds {wanted}-d vectors",
                ))
                break
    kept_frame = frame[keep_mask].copy()[[ENTITY_KEY, TIMESTAMP_COLUMN, CREATED_COLUMN, *VIEW_FIELDS[view_name]]]
    for column in _embedding_columns(view_name):
        kept_frame[column] = pd.Series(
            [None if _embedding_size(value) is None else np.asarray(value, dtype=np.float32)
             for value in kept_frame[column]],
            index=kept_frame.index, dtype=object,
        )
    new_table = pa.Table.from_pandas(kept_frame, schema=table_schema(view_name), preserve_index=False)
    combined = pa.concat_tables([existing.cast(table_schema(view_name)), new_table])
    merged = _merge_rows(combined, view_name)
    tmp = table.with_suffix(".parquet.tmp")
    pq.write_table(merged, tmp)
    tmp.replace(table)  # atomic: Feast never reads half a table
    earliest = kept_frame[TIMESTAMP_COLUMN].min() if len(kept_frame) else None
    return WriteResult(table=table, kept=int(keep_mask.sum()), skipped=skipped,
                       earliest=earliest.to_pydatetime() if earliest is not None else None)


def _is_null(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and np.isnan(value)


def _merge_rows(table: pa.Table, view_name: str) -> pa.Table:
    """One row per (clip, event time), newest write winning per feature; a null feature takes
    the clip's newest earlier value (a value holds until replaced). Rows keep their order of
    clip and time; a merged row's created_timestamp is its newest write."""
    features = list(VIEW_FIELDS[view_name])
    rows = table.to_pylist()
    order = sorted(range(len(rows)), key=lambda i: (rows[i][ENTITY_KEY], rows[i][TIMESTAMP_COLUMN],
                                                     rows[i][CREATED_COLUMN], i))
    merged: list[dict] = []
    for index in order:
        row = dict(rows[index])
        previous = merged[-1] if merged and merged[-1][ENTITY_KEY] == row[ENTITY_KEY] else None
        if previous is not None:
            for name in features:
                if _is_null(row[name]):
                    row[name] = previous[name]
            if previous[TIMESTAMP_COLUMN] == row[TIMESTAMP_COLUMN]:
                merged[-1] = row
                continue
        merged.append(row)
    return pa.Table.from_pylist(merged, schema=table_schema(view_name))


def _existing_embedding_sizes(existing: pa.Table, view_name: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for column in _embedding_columns(view_name):
        for value in existing.column(column).to_pylist():
            if value is not None:
                sizes[column] = len(value)
                break
    return sizes


def materialize(
    repo_dir: str | Path | None = None,
    end: datetime | None = None,
    start: datetime | None = None,
    views: list[str] | None = None,
) -> None:
    """Copy the latest offline values up to `end` (default: now) into the online store.
    Without `start`, continue from the last materialization (Feast's incremental mode).
    Every view's offline table must exist (Feast would fail deep inside its reader otherwise)."""
    repo = resolve_repo_dir(repo_dir)
    absent = [table_path(name) for name in views or sorted(VIEW_FIELDS) if not (repo / table_path(name)).is_file()]
    if absent:
        raise FeatureTableMissing(
            f"{repo}: no offline table {', '.join(absent)}; write it with `affectgpt features ingest TABLE --repo "
            f"{repo}` (or create empty tables with `affectgpt features init --repo {repo}`)")
    store = open_store(repo)
    end = end or datetime.now(UTC)
    with _online_store_answers(repo_dir):
        if start is None:
            store.materialize_incremental(end_date=end, feature_views=views)
        else:
            store.materialize(start_date=start, end_date=end, feature_views=views)


def _check_entity_frame(entity_df: pd.DataFrame) -> pd.DataFrame:
    missing = [name for name in (ENTITY_KEY, TIMESTAMP_COLUMN) if name not in entity_df.columns]
    if missing:
        raise FeatureRepoError(
            f"entity table lacks column(s) {missing}; it needs one row per label with "
            f"'{ENTITY_KEY}' and '{TIMESTAMP_COLUMN}' (the time the label became known)"
        )
    if entity_df.empty:
        raise FeatureRepoError("entity table is empty: nothing to build a training set for")
    frame = entity_df.copy()
    frame[TIMESTAMP_COLUMN] = pd.to_datetime(frame[TIMESTAMP_COLUMN], utc=True, errors="coerce")
    bad_rows = frame.index[frame[TIMESTAMP_COLUMN].isna() | frame[ENTITY_KEY].isna()].tolist()
    if bad_rows:
        raise FeatureRepoError(
            f"entity table rows {bad_rows[:10]} have no clip_id or an unparsable event_timestamp; fix or drop them"
        )
    return frame


def training_set(
    entity_df: pd.DataFrame,
    features: list[str] | None = None,
    repo_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Point-in-time-correct join: each entity row gets, per view, the newest feature values whose
    event_timestamp is not after the row's own timestamp, so no label sees the future."""
    store = open_store(repo_dir)
    refs = features or feature_refs()
    entity = _check_entity_frame(entity_df).reset_index(drop=True)
    entity[_ROW_ID] = np.arange(len(entity))
    # Feast's file store drops an entity row that some view has no earlier feature row for, which
    # would also drop the values of the views that do have one: each view is joined on its own.
    # A label without features is still a label, so every input row comes back (features null),
    # in the input order.
    by_view: dict[str, list[str]] = {}
    for ref in refs:
        by_view.setdefault(ref.split(":", 1)[0], []).append(ref)
    result = entity
    for view_refs in by_view.values():
        joined = store.get_historical_features(entity_df=entity, features=view_refs).to_df()
        feature_columns = [column for column in joined.columns if column not in result.columns]
        result = result.merge(joined[[_ROW_ID, *feature_columns]], on=_ROW_ID, how="left")
    return result.drop(columns=[_ROW_ID])


def online_features(
    clip_ids: Iterable[str],
    features: list[str] | None = None,
    repo_dir: str | Path | None = None,
) -> pd.DataFrame:
    """The latest materialized values per clip from the online store (one row per clip id)."""
    store = open_store(repo_dir)
    refs = features or feature_refs()
    rows = [{ENTITY_KEY: str(clip_id)} for clip_id in clip_ids]
    if not rows:
        raise FeatureRepoError("no clip ids given for the online lookup")
    with _online_store_answers(repo_dir):
        return store.get_online_features(features=refs, entity_rows=rows).to_df()


def read_feature_views(
    views: list[str],
    repo_dir: str | Path | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """One row per clip seen in the first view within [start, end]: its newest timestamp there,
    joined point-in-time with all the named views. This is how the drift monitor reads a batch."""
    repo = resolve_repo_dir(repo_dir)
    unknown = [name for name in views if name not in VIEW_FIELDS]
    if unknown:
        raise FeatureRepoError(f"unknown feature view(s) {unknown}; known: {sorted(VIEW_FIELDS)}")
    keys = pd.read_parquet(repo / table_path(views[0]), columns=[ENTITY_KEY, TIMESTAMP_COLUMN])
    if start is not None:
        keys = keys[keys[TIMESTAMP_COLUMN] >= pd.Timestamp(start)]
    if end is not None:
        keys = keys[keys[TIMESTAMP_COLUMN] <= pd.Timestamp(end)]
    if keys.empty:
        return pd.DataFrame(columns=[ENTITY_KEY, TIMESTAMP_COLUMN, *[f for v in views for f in VIEW_FIELDS[v]]])
    latest = keys.sort_values(TIMESTAMP_COLUMN).groupby(ENTITY_KEY, as_index=False).last()
    joined = training_set(latest, feature_refs(views), repo)
    return joined.sort_values(ENTITY_KEY).reset_index(drop=True)
