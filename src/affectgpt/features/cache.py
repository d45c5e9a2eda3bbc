"""Per-clip feature shards on disk and the key that says whether one is still valid.

A shard `shards/{clip_id}.safetensors` holds the encoder outputs of one clip; its metadata holds
the cache key (content hash of the media files + encoder config hash + decode settings) and the
clip's scalar facts, so a re-run can skip a clip, and rebuild its table row, without decoding it.

Not a `ClipCache` entry on purpose: a shard is the step's published output as well as its cache
(training opens `shards/{clip_id}` by clip id), holds tensors rather than JSON and carries its
content key inside; it shares only the atomic write (`affectgpt.atomic`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from affectgpt.atomic import atomic_path
from affectgpt.manifest import hash_file, hash_tree

SHARD_DIR = "shards"
# Bump when the shard layout or the meaning of a tensor changes: old shards then miss the cache.
FEATURE_SCHEMA_VERSION = "1"
SHARD_TENSORS = ("frames", "faces", "audio")
_SAFE_CLIP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def is_safe_clip_id(clip_id: str) -> bool:
    """A clip id usable as a file name (no separators, no leading dot)."""
    return bool(_SAFE_CLIP_ID.match(clip_id))


def shard_path(features_dir: str | Path, clip_id: str) -> Path:
    if not is_safe_clip_id(clip_id):
        raise ValueError(f"clip_id {clip_id!r} cannot name a feature shard; use letters, digits, '.', '_', '-'")
    return Path(features_dir) / SHARD_DIR / f"{clip_id}.safetensors"


def media_hash(video_path: str | Path, audio_path: str | Path | None) -> str:
    """Content hash of a clip's media: the bytes decide, not the paths or mtimes."""
    digest = hashlib.sha256(hash_file(video_path).encode())
    digest.update(b"|" + (hash_file(audio_path).encode() if audio_path is not None else b"-"))
    return digest.hexdigest()


def encoder_fingerprint(encoder_cfg: Any) -> str:
    """The encoder config hash, plus the content of local checkpoint folders: replacing the
    weights under the same path must invalidate the cache."""
    digest = hashlib.sha256(encoder_cfg.config_hash().encode())
    for spec in (encoder_cfg.vision, encoder_cfg.audio):
        source = getattr(spec, "model", None)
        if source and Path(source).expanduser().is_dir():
            digest.update(hash_tree(Path(source).expanduser()).encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class FeatureCacheKey:
    """What a shard was computed from. Equal keys mean the shard can be reused as is."""

    media_hash: str
    encoder_hash: str
    decode_settings: str  # e.g. "frames=8,windows=8,face=224"
    schema_version: str = FEATURE_SCHEMA_VERSION

    @property
    def value(self) -> str:
        joined = f"{self.schema_version}|{self.media_hash}|{self.encoder_hash}|{self.decode_settings}"
        return hashlib.sha256(joined.encode()).hexdigest()

    @classmethod
    def for_clip(cls, video_path: str | Path, audio_path: str | Path | None, encoder_hash: str,
                 decode_settings: str) -> FeatureCacheKey:
        return cls(media_hash=media_hash(video_path, audio_path), encoder_hash=encoder_hash,
                   decode_settings=decode_settings)


def write_shard(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> None:
    """Atomic write (tmp + rename) so an interrupted run never leaves a half shard that looks valid."""
    # safetensors metadata is str -> str; every value is JSON so readers get types back unambiguously.
    text_metadata = {key: json.dumps(value) for key, value in metadata.items()}
    with atomic_path(path) as tmp:
        save_file({name: tensor.contiguous() for name, tensor in tensors.items()}, str(tmp), metadata=text_metadata)


def read_shard_metadata(path: Path) -> dict[str, str] | None:
    """A shard's metadata, or None when the file is missing or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except Exception:  # noqa: BLE001 - a damaged shard is a cache miss, not an error
        return None


def cached_metadata(path: Path, key: FeatureCacheKey) -> dict[str, str] | None:
    """The shard's metadata when its cache key matches `key`, else None."""
    metadata = read_shard_metadata(path)
    if metadata is None or metadata.get("cache_key") != json.dumps(key.value):
        return None
    return metadata


def load_clip_features(features_dir: str | Path, clip_id: str) -> dict[str, torch.Tensor]:
    """The encoder outputs of one clip: frames [8,D_v], faces [8,D_v], audio [8,D_a] (float32).

    Raises FileNotFoundError naming the shard when the clip was not extracted (or was quarantined:
    see the folder's manifest.json)."""
    path = shard_path(features_dir, clip_id)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no features for clip '{clip_id}'; run `affectgpt features extract` for its manifest "
            f"(quarantined clips are listed in {Path(features_dir) / 'manifest.json'})"
        )
    with safe_open(str(path), framework="pt") as handle:
        return {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - safe_open is not iterable


def load_clip_metadata(features_dir: str | Path, clip_id: str) -> dict[str, Any]:
    """The scalar facts stored with a clip's shard (duration_s, fps, face_ratio, ...), JSON-decoded."""
    path = shard_path(features_dir, clip_id)
    metadata = read_shard_metadata(path)
    if metadata is None:
        raise FileNotFoundError(f"{path}: no readable feature shard for clip '{clip_id}'")
    return decode_metadata(metadata)


def decode_metadata(metadata: dict[str, str]) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in metadata.items()}
