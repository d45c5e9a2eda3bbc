"""The clip manifest's `faces` cell: the face crop boxes the build found on a clip's sampled
frames, handed to feature extraction so it cuts the same crops without running the face
detector again (the costliest part of decoding a clip: about a quarter of extraction's time).

The cell is JSON, `{"media_hash", "frame_indices", "boxes"}`. It is a hint, never a fact
extraction must trust: it is used only for the very media bytes the build read (`media_hash`,
`affectgpt.manifest.media_hash_of`), only when extraction samples the same frames, and only
when every box is a square inside its frame (`affectgpt.media.load_clip`). Anything else (a
manifest written by hand, an older build, media replaced since, another frame count) detects
as before, so the features are the same either way.
"""

from __future__ import annotations

import json
from typing import Any

from affectgpt.media.faces import KnownFaces

FACES_COLUMN = "faces"


def faces_cell(media_hash: str, frame_indices: list[int], boxes: list[list[int] | None]) -> str | None:
    """The cell for one decoded clip, or None when the build has nothing to hand on."""
    if not media_hash or not frame_indices or len(frame_indices) != len(boxes):
        return None
    return json.dumps({"media_hash": media_hash, "frame_indices": [int(i) for i in frame_indices],
                       "boxes": [None if box is None else [int(v) for v in box] for box in boxes]},
                      separators=(",", ":"))


def known_faces(cell: Any, media_hash: str) -> KnownFaces | None:
    """The boxes of a cell if they are about the media whose hash is `media_hash`; None for an
    empty, malformed or stale cell (extraction then detects the faces itself)."""
    if not isinstance(cell, str) or not cell:
        return None
    try:
        payload = json.loads(cell)
        if payload.get("media_hash") != media_hash:
            return None
        indices = tuple(int(i) for i in payload["frame_indices"])
        boxes = tuple(None if box is None else tuple(int(v) for v in box) for box in payload["boxes"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if len(indices) != len(boxes) or any(box is not None and len(box) != 4 for box in boxes):
        return None
    return KnownFaces(frame_indices=indices, boxes=boxes)
