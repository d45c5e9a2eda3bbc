"""Media paths inside a built dataset are relative to the raw folder it was built from.

A dataset is handed from pod to pod as an artifact, while the clips stay on the data volume
where the build read them. Absolute paths would tie the dataset to the build's own mount, so the
clip manifest stores each clip's path relative to the raw folder (`media_root`, recorded in the
dataset's manifest.json), and a reader resolves it against that root, or against another root
that holds the same clips (`--media-root`, `AFFECTGPT_MEDIA_ROOT`) when the volume is mounted
elsewhere.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from affectgpt.manifest import MANIFEST_NAME

MEDIA_ROOT_ENV = "AFFECTGPT_MEDIA_ROOT"
MEDIA_COLUMNS = ("video_path", "audio_path")


def relative_to_root(path: str | None, root: Path | None) -> str | None:
    """`path` relative to `root` when it lies under it, else unchanged (a manifest may name
    media anywhere the build was allowed to read)."""
    if not path or root is None:
        return path
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path


def relative_media(clips: list[dict], root: Path | None) -> list[dict]:
    """Copies of `clips` whose media columns are relative to `root`."""
    return [{**clip, **{column: relative_to_root(clip.get(column), root) for column in MEDIA_COLUMNS
                        if column in clip}} for clip in clips]


def dataset_media_root(dataset_dir: Path, override: str | Path | None = None) -> Path:
    """Where the relative media paths of the dataset in `dataset_dir` resolve: `override`, else
    `$AFFECTGPT_MEDIA_ROOT`, else the `media_root` its manifest recorded, else the folder
    itself (a clip manifest written by hand, with paths relative to its own folder)."""
    chosen = override or os.environ.get(MEDIA_ROOT_ENV)
    if chosen:
        return Path(chosen)
    manifest = Path(dataset_dir) / MANIFEST_NAME
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("extra", {}).get("media_root")
    except (OSError, ValueError):
        recorded = None
    return Path(recorded) if recorded else Path(dataset_dir)
