"""Uniform frame sampling and decoding: the 8 RGB frames AffectGPT looks at per clip.

Sampling follows the official data loader: `arange(0, L, L/n)` over the L decoded frames, with
n capped at L and the last index repeated up to n for clips shorter than n frames.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from affectgpt.media.errors import MediaError
from affectgpt.media.probe import VideoInfo, open_container, require_file, video_stream_info

# Decoding fewer than this share of the frames the container header lists means the file is cut off.
TRUNCATED_SHARE = 0.9


def sample_frame_indices(n_video_frames: int, n_frames: int = 8) -> np.ndarray:
    """Indices of the frames to keep, shape [n_frames], non-decreasing, all < n_video_frames."""
    if n_video_frames <= 0:
        raise ValueError(f"n_video_frames must be positive, got {n_video_frames}")
    if n_frames <= 0:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    n_taken = min(n_frames, n_video_frames)
    indices = np.arange(0, n_video_frames, n_video_frames / n_taken).astype(np.int64)[:n_taken]
    if len(indices) < n_frames:  # short clip (or float rounding): repeat the last index
        indices = np.concatenate([indices, np.full(n_frames - len(indices), indices[-1], dtype=np.int64)])
    return indices


def _decode_selected(path: Path, wanted: set[int]) -> tuple[dict[int, np.ndarray], int]:
    """One decoding pass: RGB arrays of the wanted frame indices and the number of frames decoded.

    A decoder error anywhere makes the clip corrupt: a half-decodable file would otherwise give
    frames from the wrong part of the clip without anyone noticing."""
    kept: dict[int, np.ndarray] = {}
    n_decoded = 0
    with open_container(path, "corrupt_video") as container:
        if not container.streams.video:
            raise MediaError(path, "no_video", "container has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                if n_decoded in wanted:
                    kept[n_decoded] = frame.to_ndarray(format="rgb24")
                n_decoded += 1
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaError(path, "corrupt_video", f"decoding failed after {n_decoded} frames: {exc}") from None
    return kept, n_decoded


def decode_frames(video_path: str | Path, n_frames: int = 8) -> tuple[np.ndarray, np.ndarray, VideoInfo, int]:
    """Decode `n_frames` uniformly sampled RGB frames.

    Returns (frames [n,H,W,3] uint8, frame indices [n], header info, frames actually decoded).
    The header's frame count is only a hint: when decoding finds a different count (estimated
    counts, edited containers) a second pass samples from the true count."""
    path = require_file(video_path)
    with open_container(path, "corrupt_video") as container:
        info = video_stream_info(container, path)
        count_from_header = bool(container.streams.video[0].frames)
    n_expected = max(info.n_frames, 1)
    indices = sample_frame_indices(n_expected, n_frames)
    kept, n_decoded = _decode_selected(path, set(indices.tolist()))
    if n_decoded == 0:
        raise MediaError(path, "corrupt_video", "no decodable video frames")
    if count_from_header and n_decoded < TRUNCATED_SHARE * n_expected:
        # An exact header count with most frames missing is a cut-off download, not a rounding issue.
        raise MediaError(path, "corrupt_video",
                         f"truncated: the header lists {n_expected} frames but only {n_decoded} decode")
    if n_decoded != n_expected:
        indices = sample_frame_indices(n_decoded, n_frames)
        if not set(indices.tolist()) <= kept.keys():
            kept, n_decoded_again = _decode_selected(path, set(indices.tolist()))
            if n_decoded_again != n_decoded:
                raise MediaError(path, "corrupt_video",
                                 f"decoder returned {n_decoded} then {n_decoded_again} frames")
    frames = np.stack([kept[int(i)] for i in indices])
    return frames, indices, info, n_decoded
