"""Stable train/val/test splits from a hash of the clip id.

A clip's split depends on its id alone, so adding clips never moves old ones between splits
and every step (ingest, training without a split column) agrees on where a clip belongs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SPLIT_NAMES = ("train", "val", "test")


def hash_bucket(clip_id: str) -> float:
    """The clip id's fixed place in [0, 1]: the first 32 bits of its SHA-256."""
    return int(hashlib.sha256(clip_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def hash_split(clip_id: str, shares: Iterable[tuple[str, float]]) -> str:
    """The first split whose cumulative share lies above the clip's bucket; the last split takes
    whatever the shares leave (so rounding never leaves a clip without a split)."""
    bucket, edge = hash_bucket(clip_id), 0.0
    name = ""
    for name, share in shares:
        edge += share
        if bucket < edge:
            return name
    return name


def assign_split(clip_id: str, ratios: tuple[float, float, float]) -> str:
    """train / val / test by the (train, val, test) ratios, as the dataset builder assigns them."""
    return hash_split(clip_id, zip(SPLIT_NAMES, ratios))
