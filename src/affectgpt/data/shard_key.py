"""Which shard a clip belongs to, in a module of its own: the feature extraction shards by the
same key as the build without importing the build."""

from __future__ import annotations

import hashlib

from affectgpt.errors import BadInput

MAX_SHARDS = 1024


def shard_of(record_id: str, shards: int) -> int:
    """The shard of a clip (or refused record) id: SHA-256 of the id modulo `shards`. Stable
    across runs and machines; salted apart from the split hash (`affectgpt.data.splits`), so
    shards do not follow splits."""
    return int(hashlib.sha256(f"shard|{record_id}".encode()).hexdigest()[:12], 16) % shards


def shard_plan(shards: int) -> list[int]:
    """The shard indices of a step run in `shards` parts (what a pipeline fans out over)."""
    if not 1 <= shards <= MAX_SHARDS:
        raise BadInput(f"shards={shards}: give a shard count from 1 to {MAX_SHARDS}")
    return list(range(shards))
