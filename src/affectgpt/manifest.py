"""The `manifest.json` every step writes: what went in, with which parameters, what was kept
and what was skipped (with reasons), which code produced it and how long it took.

Downstream steps and the registry read these to trace a score back to data and code, so the
shape is one pydantic model used by every step.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from affectgpt import __version__
from affectgpt.atomic import atomic_path
from affectgpt.paths import REPO_ROOT, build_info, is_source_checkout

MANIFEST_NAME = "manifest.json"


class SkippedRecord(BaseModel):
    """One record a step did not keep, and why (a quarantine entry)."""

    record_id: str
    reason: str
    detail: str = ""


class StepManifest(BaseModel):
    step: str
    inputs: dict[str, str] = Field(default_factory=dict, description="input name -> content hash, DVC rev or path")
    parameters: dict[str, Any] = Field(default_factory=dict)
    kept: int = 0
    skipped: list[SkippedRecord] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    code_version: str = Field(default_factory=lambda: code_version())
    timings_s: dict[str, float] = Field(default_factory=dict)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        return dict(Counter(record.reason for record in self.skipped))

    def write(self, out_dir: str | Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        payload = self.model_dump(mode="json")
        payload["skipped_by_reason"] = self.skipped_by_reason
        path = out / MANIFEST_NAME
        with atomic_path(path) as tmp:  # a reader never sees half a manifest
            tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
        return path


def read_manifest(step_dir: str | Path) -> StepManifest:
    path = Path(step_dir) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; was this folder written by an affectgpt step?")
    payload = json.loads(path.read_text())
    payload.pop("skipped_by_reason", None)
    return StepManifest.model_validate(payload)


def hash_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def media_hash_of(video_sha256: str, audio_sha256: str | None) -> str:
    """A clip's media identity from its files' sha256: the bytes decide, not paths or mtimes.
    The build records it beside what it found in the media (the face boxes of the clip
    manifest), and feature extraction keys its cache by it, so each can tell the other's
    facts are about the same bytes."""
    digest = hashlib.sha256(video_sha256.encode())
    digest.update(b"|" + (audio_sha256.encode() if audio_sha256 is not None else b"-"))
    return digest.hexdigest()


def hash_tree(root: str | Path, ignore: Iterable[str] = (MANIFEST_NAME,)) -> str:
    """Content hash of a folder: relative paths and file hashes, order-independent of the walk."""
    root = Path(root)
    ignored = set(ignore)
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name not in ignored)
    return tree_digest((str(path.relative_to(root)), hash_file(path)) for path in files)


def tree_digest(files: Iterable[tuple[str, str]]) -> str:
    """The tree hash of (relative path, file sha256) pairs in path order: what `hash_tree`
    computes by reading, and a content index (`affectgpt.data.content_index`) from its records."""
    digest = hashlib.sha256()
    for relative, file_hash in files:
        digest.update(relative.encode())
        digest.update(file_hash.encode())
    return digest.hexdigest()


# What makes a transformers checkpoint: config, tokenizer/processor files and weights.
CHECKPOINT_SUFFIXES = frozenset({".json", ".safetensors", ".bin", ".pt", ".pth", ".gguf", ".model", ".txt",
                                 ".jinja", ".tiktoken"})


def hash_checkpoint(model_dir: str | Path) -> str:
    """Content hash of a model folder's config, tokenizer and weight files (hidden files and
    anything else ignored). Caches keyed on it (judge answers, clues) are invalidated when any
    weight changes, even with the same file names and sizes. Hashing is memoised per process on
    (name, size, mtime) so one run reads a large checkpoint once."""
    root = Path(model_dir).expanduser().resolve()
    files = sorted(
        path for path in root.rglob("*")
        if path.is_file() and path.suffix in CHECKPOINT_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    stamp = tuple((str(path.relative_to(root)), path.stat().st_size, path.stat().st_mtime_ns) for path in files)
    return _hash_files(str(root), stamp)


@lru_cache(maxsize=32)
def _hash_files(root: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for relative, _, _ in stamp:
        digest.update(relative.encode() + b"\0" + hash_file(Path(root) / relative).encode())
    return digest.hexdigest()


def code_version() -> str:
    """Package version plus the git commit (`+g<12 hex>`, `-dirty` for uncommitted changes).

    A clone (the package imported from `<checkout>/src/affectgpt`) reports its live git state;
    an installed wheel reports the commit its build recorded (`affectgpt/_build_info.json`,
    written by setup.py). Without either, the bare version: the revision is unknown."""
    live = _git_checkout_version()
    if live is not None:
        return live
    info = build_info()
    if info.get("commit"):
        return f"{__version__}+g{info['commit'][:12]}{'-dirty' if info.get('dirty') else ''}"
    return __version__


def _git_checkout_version() -> str | None:
    """The live commit when the package sits in a git checkout of this project, else None.
    Asking git about any other folder (site-packages inside someone's repository) would
    report the wrong project's commit."""
    if not is_source_checkout():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{__version__}+g{commit}{'-dirty' if dirty else ''}"
