"""Cheap container inspection (no frame decoding) for ingest validation.

Reads only the container header, so checking thousands of clips before a build costs seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

from affectgpt.media.errors import MediaError


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about a video file."""

    duration_s: float
    fps: float
    n_frames: int
    width: int
    height: int
    has_audio: bool


def require_file(path: str | Path, empty_reason: str = "corrupt_video") -> Path:
    """The path as a Path; MediaError(missing_file) when it is not a regular file and
    MediaError(empty_reason) when it holds zero bytes (decoders give vague errors on those)."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "missing_file", "no such file" if not path.exists() else "not a regular file")
    if path.stat().st_size == 0:
        raise MediaError(path, empty_reason, "file is empty (0 bytes)")
    return path


def open_container(path: Path, reason: str) -> av.container.InputContainer:
    """Open with PyAV, turning decoder complaints into MediaError(reason)."""
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise MediaError(path, reason, f"cannot open container: {exc}") from None


def video_stream_info(container: av.container.InputContainer, path: Path) -> VideoInfo:
    """VideoInfo from an open container's header; n_frames is estimated from duration x fps
    when the container does not store a frame count (e.g. mkv/webm)."""
    if not container.streams.video:
        raise MediaError(path, "no_video", "container has no video stream")
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 0.0)
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / 1_000_000
    else:
        duration_s = 0.0
    n_frames = int(stream.frames or 0)
    if n_frames <= 0 and fps > 0:
        n_frames = round(duration_s * fps)
    if duration_s <= 0 and fps > 0 and n_frames > 0:
        duration_s = n_frames / fps
    width = int(stream.codec_context.width or 0)
    height = int(stream.codec_context.height or 0)
    if width <= 0 or height <= 0:
        raise MediaError(path, "corrupt_video", "video stream has no frame size")
    return VideoInfo(
        duration_s=duration_s, fps=fps, n_frames=n_frames, width=width, height=height,
        has_audio=bool(container.streams.audio),
    )


def probe_video(path: str | Path) -> VideoInfo:
    """Duration, fps, frame count, size and audio presence from the header alone.

    Raises MediaError (missing_file, corrupt_video, no_video). A file that probes fine can still
    fail to decode (truncated data); `load_clip` catches that."""
    path = require_file(path)
    with open_container(path, "corrupt_video") as container:
        return video_stream_info(container, path)
