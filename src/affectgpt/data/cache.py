"""Per-clip result cache: JSON files keyed by (clip content hash, component, component version).

Writes are atomic (`affectgpt.atomic`), so a killed build leaves only whole entries behind and
the next run resumes from them; adding new clips recomputes only the new clips. This is the one
content-keyed JSON cache of the project: signals, clues, merges, MiniLM text embeddings and the
text-classifier heads all keep their entries here, each under its own component and version.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from affectgpt.atomic import atomic_path
from affectgpt.manifest import hash_file, media_hash_of


def clip_content_key(video_path: str, audio_path: str | None, subtitle: str) -> str:
    """Hash of what a clip *is*: its video and audio bytes and its subtitle (not its id or path)."""
    return clip_keys(video_path, audio_path, subtitle)[0]


def clip_keys(video_path: str, audio_path: str | None, subtitle: str) -> tuple[str, str]:
    """(content key, media hash) from one read of each file: the cache key of the build's
    per-clip results, and the media identity feature extraction checks the build's face boxes
    against (`affectgpt.manifest.media_hash_of`)."""
    video_sha256 = hash_file(video_path)
    audio_sha256 = hash_file(audio_path) if audio_path else None
    digest = hashlib.sha256()
    digest.update(video_sha256.encode())
    digest.update(audio_sha256.encode() if audio_sha256 else b"-")
    digest.update(subtitle.encode())
    return digest.hexdigest(), media_hash_of(video_sha256, audio_sha256)


class ClipCache:
    """JSON entries under `<root>/<component>/<version>/<key[:2]>/<key>.json`; a damaged entry is a miss."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, component: str, version: str, key: str) -> Path:
        return self.root / component / version / key[:2] / f"{key}.json"

    def get(self, component: str, version: str, key: str) -> dict | None:
        path = self._path(component, version, key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # a damaged entry is recomputed

    def put(self, component: str, version: str, key: str, value: dict) -> None:
        with atomic_path(self._path(component, version, key)) as tmp:
            tmp.write_text(json.dumps(value, sort_keys=True))
