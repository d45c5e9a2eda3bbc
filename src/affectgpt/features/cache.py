"""The key that says whether a clip's extracted features are still valid, and reads by clip id.

A clip's features live in a pack (`affectgpt.features.packs`) with its metadata: the cache key
(content hash of the media files + encoder config hash + decode settings) and the clip's scalar
facts, so a re-run can skip a clip, and rebuild its table row, without decoding it.

Not a `ClipCache` entry on purpose: a pack is the step's published output as well as its cache,
holds tensors rather than JSON and carries the content keys inside.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from affectgpt.features.packs import FeatureReader
from affectgpt.manifest import hash_file, hash_tree, media_hash_of

# Bump when the layout or the meaning of a tensor changes: old features then miss the cache.
FEATURE_SCHEMA_VERSION = "2"
FEATURE_TENSORS = ("frames", "faces", "audio")
_SAFE_CLIP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def is_safe_clip_id(clip_id: str) -> bool:
    """A clip id usable as a file name (no separators, no leading dot)."""
    return bool(_SAFE_CLIP_ID.match(clip_id))


def media_hash(video_path: str | Path, audio_path: str | Path | None) -> str:
    """Content hash of a clip's media (`affectgpt.manifest.media_hash_of` of its files)."""
    return media_hash_of(hash_file(video_path), hash_file(audio_path) if audio_path is not None else None)


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


def load_clip_features(features_dir: str | Path, clip_id: str) -> dict[str, torch.Tensor]:
    """The encoder outputs of one clip: frames [8,D_v], faces [8,D_v], audio [8,D_a] (float32).
    For many clips open one `FeatureReader` instead (this reads the index each call).

    Raises FileNotFoundError naming the index when the clip was not extracted (or was
    quarantined: see the folder's manifest.json)."""
    return FeatureReader(features_dir).tensors(clip_id)


def load_clip_metadata(features_dir: str | Path, clip_id: str) -> dict[str, Any]:
    """The scalar facts stored with a clip's features (duration_s, fps, face_ratio, ...)."""
    return FeatureReader(features_dir).metadata(clip_id)
