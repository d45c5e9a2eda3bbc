"""Tiny synthetic clips written with PyAV for media tests: frame t is a flat grey of level
LEVELS[t], so a decoded frame tells which source index it came from."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile

LEVEL_STEP = 24


def frame_level(index: int) -> int:
    return 16 + (LEVEL_STEP * index) % 224


def write_video(path: Path, n_frames: int, *, size: int = 64, fps: int = 10, with_audio: bool = False,
                faststart: bool = False) -> Path:
    """An mp4 (mpeg4 video, optional AAC sine audio) whose frame t has grey level frame_level(t)."""
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"qscale": "2"}
        audio = None
        if with_audio:
            audio = container.add_stream("aac", rate=16000, layout="mono")
        for index in range(n_frames):
            image = np.full((size, size, 3), frame_level(index), dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            n_samples = int(16000 * n_frames / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n_samples) / 16000)).astype(np.float32)
            for start in range(0, n_samples, 1024):
                chunk = tone[None, start:start + 1024]
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
                frame.sample_rate = 16000
                frame.pts = start
                frame.time_base = Fraction(1, 16000)
                for packet in audio.encode(frame):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def write_wav(path: Path, duration_s: float, sample_rate_hz: int = 16000, channels: int = 1) -> Path:
    n_samples = round(duration_s * sample_rate_hz)
    tone = 0.2 * np.sin(2 * np.pi * 220 * np.arange(n_samples) / sample_rate_hz)
    samples = np.repeat(tone[:, None], channels, axis=1) if channels > 1 else tone
    soundfile.write(str(path), samples.astype(np.float32), sample_rate_hz, subtype="PCM_16")
    return path
