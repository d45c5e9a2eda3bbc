"""The clip manifest's `media_facts` cell: what the build measured in a clip's media that feature
extraction would otherwise measure again, the costliest parts of extracting a clip: the face
crop boxes on its sampled frames (the face detector) and its speech share (the VAD, run with
the build's threshold). With them, extraction cuts the same crops and writes the same
`speech_ratio` without running either model (benchmarks/README.md: extraction per clip).

The cell is JSON, `{"media_hash", "frame_indices", "boxes", "speech": {"threshold",
"speech_samples", "audio_samples"}}`. It is a hint extraction checks, never a fact it must
trust: used only for the very media bytes the build read (`media_hash`,
`affectgpt.manifest.media_hash_of`); the boxes only when extraction samples the same frames
and every box is a square inside its frame (`affectgpt.media.load_clip`); the speech only for
the same threshold and the same number of audio samples. Anything else (a manifest written by
hand, an older build, media replaced since, another frame count or threshold) measures as
before, so the features are the same either way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from affectgpt.media.faces import KnownFaces

MEDIA_FACTS_COLUMN = "media_facts"


@dataclass(frozen=True)
class KnownSpeech:
    """VAD speech samples over the clip's audio samples, at `threshold`."""

    threshold: float
    speech_samples: int
    audio_samples: int

    def ratio(self, threshold: float, audio_samples: int) -> float | None:
        """The speech share for a measurement at `threshold` over `audio_samples`, or None when
        this one is not that measurement."""
        if threshold != self.threshold or audio_samples != self.audio_samples or audio_samples <= 0:
            return None
        return float(self.speech_samples / audio_samples)


@dataclass(frozen=True)
class MediaFacts:
    faces: KnownFaces | None
    speech: KnownSpeech | None


def media_facts_cell(media_hash: str, signals: dict[str, Any], vad_threshold: float) -> str | None:
    """The cell for one decoded clip from its signals (`ClipSignals.to_json()`), or None when
    the build has nothing to hand on."""
    indices, boxes = signals.get("frame_indices") or [], signals.get("face_boxes") or []
    if not media_hash or not indices or len(indices) != len(boxes):
        return None
    payload: dict[str, Any] = {
        "media_hash": media_hash, "frame_indices": [int(i) for i in indices],
        "boxes": [None if box is None else [int(v) for v in box] for box in boxes]}
    if signals.get("speech_samples") is not None and signals.get("audio_samples") is not None:
        payload["speech"] = {"threshold": float(vad_threshold), "speech_samples": int(signals["speech_samples"]),
                             "audio_samples": int(signals["audio_samples"])}
    return json.dumps(payload, separators=(",", ":"))


def read_media_facts(cell: Any, media_hash: str) -> MediaFacts | None:
    """The facts of a cell if they are about the media whose hash is `media_hash`; None for an
    empty, malformed or stale cell (extraction then measures everything itself)."""
    if not isinstance(cell, str) or not cell:
        return None
    try:
        payload = json.loads(cell)
        if payload.get("media_hash") != media_hash:
            return None
        return MediaFacts(faces=_faces(payload), speech=_speech(payload.get("speech")))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _faces(payload: dict[str, Any]) -> KnownFaces | None:
    indices = tuple(int(i) for i in payload["frame_indices"])
    boxes = tuple(None if box is None else tuple(int(v) for v in box) for box in payload["boxes"])
    if len(indices) != len(boxes) or any(box is not None and len(box) != 4 for box in boxes):
        return None
    return KnownFaces(frame_indices=indices, boxes=boxes)


def _speech(payload: Any) -> KnownSpeech | None:
    if not isinstance(payload, dict):
        return None
    speech = KnownSpeech(threshold=float(payload["threshold"]), speech_samples=int(payload["speech_samples"]),
                         audio_samples=int(payload["audio_samples"]))
    if not 0 <= speech.speech_samples <= speech.audio_samples:
        return None
    return speech
