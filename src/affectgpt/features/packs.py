"""Packed clip features: many clips per safetensors file, found through an index.

One file per clip meant ~115k files at MER-Caption size, each moved one by one between pipeline
steps. A features folder now holds

    packs/{split}-s{shard:03d}-p{part:03d}.safetensors   the clips of one split and one shard
                                                          (up to `MAX_CLIPS_PER_PACK` per part);
                                                          tensors `{clip_id}/frames|faces|audio`,
                                                          metadata `{clip_id}` -> the clip's facts
    index.parquet                                         clip_id -> split, pack, tensor names,
                                                          cache_key, manifest row

A reader opens a pack with `safe_open`, which maps the file and reads the header only, so
loading some clips never reads the bytes of the others. Splits live in separate packs, so the
test split can travel to evaluation without the training features.

    reader = FeatureReader("features/")
    tensors = reader.tensors("clip_0001")          # {"frames": [8,D_v], "faces": ..., "audio": ...}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import pandas as pd
from safetensors import safe_open

if TYPE_CHECKING:  # torch loads where tensors are written or read, not to join or index packs
    import torch

from affectgpt.atomic import atomic_path
from affectgpt.publish import fault_point, published

PACK_DIR = "packs"
INDEX_FILE = "index.parquet"
PACK_FORMAT = "affectgpt-feature-pack/1"
MAX_CLIPS_PER_PACK = 4096
INDEX_COLUMNS = ("clip_id", "split", "pack", "tensors", "cache_key", "manifest_row")


def pack_name(split: str, shard: int, part: int) -> str:
    return f"{PACK_DIR}/{split or 'none'}-s{shard:03d}-p{part:03d}.safetensors"


def tensor_key(clip_id: str, name: str) -> str:
    return f"{clip_id}/{name}"


def write_pack(path: Path, clips: dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]]) -> list[dict]:
    """Write `clips` (clip_id -> (tensors, metadata)) as one pack, atomically (tmp + rename);
    returns their index rows (without split, cache key and manifest row)."""
    from safetensors.torch import save_file

    tensors, storages = {}, set()
    for clip_id, (named, _) in clips.items():
        for name, tensor in named.items():
            tensor = tensor.contiguous()
            if tensor.untyped_storage().data_ptr() in storages:  # one tensor given for two clips
                tensor = tensor.clone()
            storages.add(tensor.untyped_storage().data_ptr())
            tensors[tensor_key(clip_id, name)] = tensor
    metadata = {"format": PACK_FORMAT, "clips": json.dumps(list(clips))}
    metadata.update({clip_id: json.dumps(facts) for clip_id, (_, facts) in clips.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    fault_point(f"features:wrote:{path.name}")
    return [{"clip_id": clip_id, "tensors": sorted(named)} for clip_id, (named, _) in clips.items()]


class PackWriter:
    """Buffers clips per split and writes a pack each `max_clips` clips (and at `close`): memory
    stays one pack's tensors however long the manifest."""

    def __init__(self, features_dir: Path, shard: int = 0, max_clips: int = MAX_CLIPS_PER_PACK) -> None:
        self.features_dir, self.shard, self.max_clips = Path(features_dir), shard, max_clips
        self.buffers: dict[str, dict[str, tuple[dict[str, torch.Tensor], dict[str, Any]]]] = {}
        self.extra: dict[str, dict[str, Any]] = {}
        self.parts: dict[str, int] = {}
        self.index: list[dict] = []

    def add(self, clip_id: str, split: str | None, tensors: dict[str, torch.Tensor], metadata: dict[str, Any],
            *, cache_key: str, manifest_row: int) -> str:
        """Queue one clip; returns the pack it will be in."""
        split = split or "none"
        buffer = self.buffers.setdefault(split, {})
        buffer[clip_id] = (tensors, metadata)
        self.extra[clip_id] = {"split": split, "cache_key": cache_key, "manifest_row": manifest_row}
        name = pack_name(split, self.shard, self.parts.get(split, 0))
        if len(buffer) >= self.max_clips:
            self._flush(split)
        return name

    def close(self) -> pd.DataFrame:
        """Write what is buffered; returns the index of every clip written, in manifest order."""
        for split in list(self.buffers):
            self._flush(split)
        return index_frame(self.index)

    def _flush(self, split: str) -> None:
        clips = self.buffers.pop(split, {})
        if not clips:
            return
        name = pack_name(split, self.shard, self.parts.get(split, 0))
        self.parts[split] = self.parts.get(split, 0) + 1
        for row in write_pack(self.features_dir / name, clips):
            self.index.append({**row, **self.extra.pop(row["clip_id"]), "pack": name})


def index_frame(rows: Iterable[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(INDEX_COLUMNS))
    return frame.sort_values("manifest_row", kind="stable").reset_index(drop=True)


def write_index(features_dir: Path, index: pd.DataFrame) -> Path:
    path = Path(features_dir) / INDEX_FILE
    with atomic_path(path) as tmp:
        index.to_parquet(tmp, index=False)
    fault_point(f"features:wrote:{INDEX_FILE}")
    return path


def read_index(features_dir: str | Path) -> pd.DataFrame:
    """The index of a features folder (empty when there is none yet)."""
    path = published(Path(features_dir)) / INDEX_FILE
    if not path.is_file():
        return index_frame([])
    return pd.read_parquet(path)


class FeatureReader:
    """Reads clips out of a features folder's packs by clip id, opening each pack once and
    only the tensors asked for (safetensors maps the file and reads its header)."""

    def __init__(self, features_dir: str | Path) -> None:
        self.features_dir = published(Path(features_dir))
        index = read_index(self.features_dir)
        self._where = dict(zip(index["clip_id"], index["pack"], strict=True))
        self._handles: dict[str, Any] = {}

    def __contains__(self, clip_id: str) -> bool:
        return clip_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def clip_ids(self) -> Iterator[str]:
        return iter(self._where)

    def pack_of(self, clip_id: str) -> str:
        if clip_id not in self._where:
            raise FileNotFoundError(
                f"{self.features_dir / INDEX_FILE}: no features for clip '{clip_id}'; run `affectgpt features extract` "
                f"for its manifest (quarantined clips are listed in {self.features_dir / 'manifest.json'})")
        return self._where[clip_id]

    def _handle(self, pack: str):
        if pack not in self._handles:
            self._handles[pack] = safe_open(str(self.features_dir / pack), framework="pt")
        return self._handles[pack]

    def tensors(self, clip_id: str, names: Iterable[str] = ("frames", "faces", "audio")) -> dict[str, torch.Tensor]:
        """The clip's tensors: frames [8,D_v], faces [8,D_v], audio [8,D_a] (float32)."""
        handle = self._handle(self.pack_of(clip_id))
        return {name: handle.get_tensor(tensor_key(clip_id, name)) for name in names}

    def metadata(self, clip_id: str) -> dict[str, Any]:
        """The clip's facts recorded at extraction (duration_s, fps, cache_key, ...)."""
        return json.loads(self._handle(self.pack_of(clip_id)).metadata()[clip_id])


def write_features(features_dir: str | Path, clips: dict[str, dict[str, torch.Tensor]], *,
                   split: str = "train", metadata: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    """A features folder (packs + index) holding `clips` (clip_id -> tensors), for features
    made outside the extraction: a released model's own, a test's. Returns the index."""
    writer = PackWriter(Path(features_dir))
    for row, (clip_id, tensors) in enumerate(clips.items()):
        facts = (metadata or {}).get(clip_id, {"clip_id": clip_id})
        writer.add(clip_id, split, tensors, facts, cache_key="", manifest_row=row)
    index = writer.close()
    write_index(Path(features_dir), index)
    return index
