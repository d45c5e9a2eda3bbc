"""Column contracts of the clip manifest and the MER-Caption records, and their Parquet I/O.

Every reader and writer of these tables goes through here so the column names, types and the
path convention (absolute paths, rebased when the data folder moved, e.g. after `dvc pull` in a
fresh clone) live in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from affectgpt.atomic import atomic_path

CLIP_MANIFEST_COLUMNS: tuple[str, ...] = (
    "clip_id", "video_path", "audio_path", "subtitle", "language", "duration_s", "source", "split",
)
CLIP_LABEL_COLUMNS: tuple[str, ...] = ("emotion", "valence", "ov_labels")
SPLITS: tuple[str, ...] = ("train", "val", "test")
CLIP_MANIFEST_FILE = "clip_manifest.parquet"  # the clip manifest's name inside a built dataset folder

CAPTION_COLUMNS: tuple[str, ...] = (
    "clip_id", "clues", "description", "ov_labels", "sentiment", "describers", "filters",
    "subtitle", "split", "video_path", "audio_path",
)

CLIP_MANIFEST_SCHEMA = pa.schema([
    ("clip_id", pa.string()),
    ("video_path", pa.string()),
    ("audio_path", pa.string()),
    ("subtitle", pa.string()),
    ("language", pa.string()),
    ("duration_s", pa.float64()),
    ("source", pa.string()),
    ("split", pa.string()),
    ("emotion", pa.string()),
    ("valence", pa.float64()),
    ("ov_labels", pa.list_(pa.string())),
    ("media_facts", pa.string()),  # the build's, for the clips it decoded (affectgpt.data.media_facts); optional on input
])

_FILTER_DECISION = pa.struct([("kept", pa.bool_()), ("reason", pa.string())])
CAPTION_SCHEMA = pa.schema([
    ("clip_id", pa.string()),
    ("clues", pa.struct([("audio", pa.string()), ("visual", pa.string()), ("text", pa.string())])),
    ("description", pa.string()),
    ("ov_labels", pa.list_(pa.string())),
    ("sentiment", pa.string()),
    ("describers", pa.map_(pa.string(), pa.string())),
    ("filters", pa.map_(pa.string(), _FILTER_DECISION)),
    ("subtitle", pa.string()),
    ("split", pa.string()),
    ("video_path", pa.string()),
    ("audio_path", pa.string()),
])


def write_clip_manifest(rows: Iterable[dict] | pd.DataFrame, path: str | Path) -> Path:
    """Write a clip manifest with the fixed schema (labels may be missing: they become null)."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    for column in CLIP_MANIFEST_SCHEMA.names:
        if column not in frame.columns:
            frame[column] = None
    frame = frame[list(CLIP_MANIFEST_SCHEMA.names)]
    table = pa.Table.from_pandas(frame, schema=CLIP_MANIFEST_SCHEMA, preserve_index=False)
    return _write_table(table, path)


def write_caption_records(records: list[dict], path: str | Path) -> Path:
    """Write MER-Caption records; `describers` and `filters` are dicts in Python, maps in Parquet."""
    prepared = []
    for record in records:
        row = {name: record.get(name) for name in CAPTION_SCHEMA.names}
        row["describers"] = list((row["describers"] or {}).items())
        row["filters"] = list((row["filters"] or {}).items())
        prepared.append(row)
    table = pa.Table.from_pylist(prepared, schema=CAPTION_SCHEMA)
    return _write_table(table, path)


def read_clip_manifest(path: str | Path) -> pd.DataFrame:
    """Read a clip manifest Parquet (the one reader every step uses); absolute paths that no
    longer exist are rebased onto the file's folder, relative ones are left for the caller to
    resolve against it. Columns are those in the file (a hand-written manifest may hold only
    `clip_id, video_path`); `ov_labels` cells become lists, a missing one stays None (an
    explicitly empty list is a label of its own: see `train.data.labels_given_empty`).
    Raises OSError or pyarrow's ValueError subclasses when the file is not a readable Parquet."""
    frame = pq.read_table(path).to_pandas()
    if "ov_labels" in frame.columns:
        frame["ov_labels"] = frame["ov_labels"].map(lambda labels: None if labels is None else list(labels))
    return _rebase_paths(frame, Path(path))


def write_split_records(clip_manifest: str | Path, out_path: str | Path, split: str) -> int:
    """The clips of one split of a clip manifest as an inference records file (`clip_id`,
    `subtitle`, `split`, `language`: what `affectgpt.train.infer.predict` reads); returns how
    many. Every clip of the split is written, not only those that passed the caption filters:
    a model must not look better because hard clips were filtered out of its test."""
    table = read_clip_manifest(clip_manifest)
    if "split" not in table.columns:
        raise ValueError(f"{clip_manifest}: no 'split' column, so there is no held-out {split!r} split to score")
    held_out = table[table["split"] == split]
    if held_out.empty:
        raise ValueError(f"{clip_manifest}: no clips with split={split!r}; add some (labels.csv column split) "
                         "or build from more clips")
    keep = [c for c in ("clip_id", "subtitle", "split", "language") if c in held_out.columns]
    pq.write_table(pa.Table.from_pandas(held_out[keep], preserve_index=False), out_path)
    return len(held_out)


def read_caption_records(path: str | Path) -> pd.DataFrame:
    """Read MER-Caption records with `describers` and `filters` back as plain dicts."""
    frame = pq.read_table(path).to_pandas()
    frame["describers"] = frame["describers"].map(lambda pairs: dict(pairs or []))
    frame["filters"] = frame["filters"].map(lambda pairs: {stage: dict(d) for stage, d in (pairs or [])})
    frame["ov_labels"] = frame["ov_labels"].map(lambda labels: [] if labels is None else list(labels))
    return _rebase_paths(frame, Path(path))


def _write_table(table: pa.Table, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:  # a reader never sees half a table
        pq.write_table(table, tmp)
    return path


def _rebase_paths(frame: pd.DataFrame, table_path: Path) -> pd.DataFrame:
    """Media paths are stored absolute. When the data folder was moved (a fresh clone after
    `dvc pull`), re-anchor each missing path at the same relative place under the table's folder."""
    root = table_path.resolve().parent
    for column in ("video_path", "audio_path"):
        if column in frame.columns:
            frame[column] = frame[column].map(lambda value: _rebase_one(value, root))
    return frame


def _rebase_one(value: str | None, root: Path) -> str | None:
    if not isinstance(value, str) or not value or not Path(value).is_absolute() or Path(value).exists():
        return value
    parts = Path(value).parts
    for start in range(1, len(parts)):
        candidate = root.joinpath(*parts[start:])
        if candidate.exists():
            return str(candidate)
    return value
