"""One clip, decoded into exactly what the encoders consume: 8 frames, 8 face crops and
8 two-second 16 kHz audio windows, plus the facts a dataset filter or report needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectgpt.media.audio import TARGET_SAMPLE_RATE_HZ, WINDOW_S, Downmix, cut_windows, load_audio, pad_audio
from affectgpt.media.faces import KnownFaces, crop_faces, fits_frames
from affectgpt.media.frames import decode_frames

FACE_SIZE = 224


@dataclass
class ClipMedia:
    """A decoded clip.

    frames [T,H,W,3] uint8 RGB at `frame_indices`; faces [T,S,S,3] uint8 RGB (the frame resized
    where `face_found[t]` is False); audio_16k float32 mono at 16 kHz, zero-padded to >= 2 s;
    audio_windows [8, 32000] float32 starting at `window_starts_s`. duration_s and fps come from
    the video header; n_video_frames is the number of frames actually decoded."""

    video_path: Path
    audio_path: Path | None
    frames: np.ndarray
    frame_indices: np.ndarray
    faces: np.ndarray
    face_found: list[bool]
    face_boxes: list[tuple[int, int, int, int] | None]
    audio_16k: np.ndarray
    audio_windows: np.ndarray
    window_starts_s: np.ndarray
    duration_s: float
    fps: float
    n_video_frames: int
    audio_duration_s: float
    sample_rate_hz: int = TARGET_SAMPLE_RATE_HZ
    audio_source: str = field(default="wav")
    faces_known: bool = False  # crops cut with boxes an earlier pass found (`KnownFaces`), not detected again

    @property
    def face_ratio(self) -> float:
        """Share of sampled frames where a face was detected."""
        return float(np.mean(self.face_found)) if self.face_found else 0.0


def load_clip(video_path: str | Path, audio_path: str | Path | None = None, *, n_frames: int = 8,
              n_windows: int = 8, face_size: int = FACE_SIZE, downmix: Downmix = "upstream",
              known_faces: KnownFaces | None = None) -> ClipMedia:
    """Decode a clip for the encoders.

    Audio comes from `audio_path` when given, else from the video's own audio stream.
    `known_faces` (the caller vouches they are of these media) replace face detection when they
    are for the frames sampled here and fit them; otherwise faces are detected as usual.
    Raises MediaError (see `affectgpt.media.errors.REASON_ADVICE` for the reason codes) naming
    the file at fault. `downmix` picks how channels become one (`affectgpt.media.audio.downmix`)."""
    video_path = Path(video_path)
    frames, frame_indices, info, n_decoded = decode_frames(video_path, n_frames)
    # Audio before faces: a bad wav fails fast, before the costliest step.
    audio_file = Path(audio_path) if audio_path is not None else video_path
    raw_audio = load_audio(audio_file, TARGET_SAMPLE_RATE_HZ, how=downmix)
    reuse = (known_faces is not None and list(known_faces.frame_indices) == frame_indices.tolist()
             and fits_frames(known_faces.boxes, frames))
    faces = crop_faces(frames, size=face_size, known_boxes=known_faces.boxes if reuse else None)
    audio_16k = pad_audio(raw_audio, TARGET_SAMPLE_RATE_HZ, WINDOW_S)
    audio_windows, window_starts_s = cut_windows(audio_16k, TARGET_SAMPLE_RATE_HZ, n_windows, WINDOW_S)
    duration_s = info.duration_s if info.duration_s > 0 else (n_decoded / info.fps if info.fps > 0 else 0.0)
    return ClipMedia(
        video_path=video_path,
        audio_path=Path(audio_path) if audio_path is not None else None,
        frames=frames,
        frame_indices=frame_indices,
        faces=faces.crops,
        face_found=faces.found,
        face_boxes=faces.boxes,
        audio_16k=audio_16k,
        audio_windows=audio_windows,
        window_starts_s=window_starts_s,
        duration_s=float(duration_s),
        fps=float(info.fps),
        n_video_frames=int(n_decoded),
        audio_duration_s=raw_audio.shape[0] / TARGET_SAMPLE_RATE_HZ,
        audio_source="wav" if audio_path is not None else "video",
        faces_known=reuse,
    )
