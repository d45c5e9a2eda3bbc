"""Write one file so that a reader sees the old file or the whole new one, never half of it.

The rule every single-file writer follows (tables, manifests, cache entries, feature shards):
write a hidden temporary sibling, then rename it onto the target; a killed writer leaves only
the hidden temporary behind, never a truncated file that looks valid. Whole step folders are
published the same way one level up (`affectgpt.publish.staged_output`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block ends
    normally, removed when it raises. The name holds the process id, so two processes writing
    the same entry (parallel builds sharing a cache) never write into each other's file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
