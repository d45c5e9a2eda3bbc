"""A corpus's content index: one small file beside the folder that lets a submit pod name the
folder's revision without reading its bytes.

`content_revision` otherwise hashes every byte of the raw corpus in the submitting process (a
CronJob's deadline then caps the corpus size). The index (`<folder>.content-index.json`, beside
the folder as a `.dvc` pointer is) lists each file's path, size, mtime and sha256, and the tree
hash those give, which is by construction the hash a full read gives (`manifest.tree_digest`):
the revision is the same string with or without the index.

Reading the revision only stats the files (no byte is read): a file added, removed, resized or
touched since the index was written makes the index stale, and the revision is refused with a
one-line error naming the command that refreshes it. Refreshing re-reads only the files whose
size or mtime changed. The build step, which reads every byte anyway, checks the revision it was
given against what it reads (`affectgpt.data.revision.checked_revision`), so an edit that kept
size and mtime cannot pass unseen.

    affectgpt build index /data/raw     # writes /data/raw.content-index.json
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from affectgpt.atomic import atomic_path
from affectgpt.errors import BadInput
from affectgpt.manifest import MANIFEST_NAME, hash_file, tree_digest

INDEX_SUFFIX = ".content-index.json"
INDEX_FORMAT = 1


class StaleIndex(BadInput):
    """The folder changed since its index was written."""


class IndexedFile(BaseModel):
    path: str
    size: int
    mtime_ns: int
    sha256: str


class ContentIndex(BaseModel):
    format: int = INDEX_FORMAT
    tree_sha256: str
    files: list[IndexedFile]

    def revision(self) -> str:
        return f"sha256:{self.tree_sha256[:16]}"


def index_path(folder: Path) -> Path:
    folder = Path(folder)
    return folder.with_name(folder.name + INDEX_SUFFIX)


def _walk(folder: Path) -> dict[str, os.stat_result]:
    """Files as `hash_tree` sees them (every file below, `manifest.json` ignored), by relative path."""
    found = {}
    for path in folder.rglob("*"):
        if path.name != MANIFEST_NAME and path.is_file():
            found[str(path.relative_to(folder))] = path.stat()
    return found


def write_index(folder: Path, on_file: Callable[[str, bool], None] | None = None) -> ContentIndex:
    """(Re)write the index: a file whose size and mtime the old index records is not read again.
    `on_file(path, read)` is called per file (progress)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder; the content index is for a folder of clips")
    previous = {entry.path: entry for entry in _load(folder).files} if index_path(folder).is_file() else {}
    entries = []
    # in `hash_tree`'s order: by path components, not by string ('a/b' before 'a-c')
    for relative, stat in sorted(_walk(folder).items(), key=lambda item: Path(item[0]).parts):
        known = previous.get(relative)
        reuse = known is not None and known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns
        digest = known.sha256 if reuse and known else hash_file(folder / relative)
        entries.append(IndexedFile(path=relative, size=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=digest))
        if on_file:
            on_file(relative, not reuse)
    index = ContentIndex(tree_sha256=tree_digest((entry.path, entry.sha256) for entry in entries), files=entries)
    with atomic_path(index_path(folder)) as tmp:  # a reader sees the old index or the new, never half
        tmp.write_text(json.dumps(index.model_dump(mode="json"), separators=(",", ":")))
    return index


def _load(folder: Path) -> ContentIndex:
    path = index_path(folder)
    try:
        payload: Any = json.loads(path.read_text())
        return ContentIndex.model_validate(payload)
    except (OSError, ValueError) as error:
        raise StaleIndex(f"{path}: unreadable content index ({type(error).__name__}); rewrite it with "
                         f"`affectgpt build index {folder}`") from error


def indexed_revision(folder: Path) -> str | None:
    """The folder's revision from its index, after checking by stat alone that the index still
    describes the folder; None when there is no index."""
    folder = Path(folder)
    if not index_path(folder).is_file():
        return None
    index = _load(folder)
    if index.format != INDEX_FORMAT:
        raise StaleIndex(f"{index_path(folder)}: content index format {index.format}, this version reads "
                         f"{INDEX_FORMAT}; rewrite it with `affectgpt build index {folder}`")
    recorded = {entry.path: entry for entry in index.files}
    present = _walk(folder)
    added = sorted(set(present) - set(recorded))
    removed = sorted(set(recorded) - set(present))
    changed = sorted(path for path, stat in present.items() if path in recorded and
                     (recorded[path].size, recorded[path].mtime_ns) != (stat.st_size, stat.st_mtime_ns))
    if added or removed or changed:
        example = (added or removed or changed)[0]
        raise StaleIndex(f"{folder} changed since its content index was written ({len(added)} added, "
                         f"{len(removed)} removed, {len(changed)} changed, e.g. {example}); refresh it with "
                         f"`affectgpt build index {folder}` (reads only what changed)")
    return index.revision()
