"""Audio as the audio encoder wants it: 16 kHz mono float32, at least 2 s, cut into 8 windows.

Windows follow the official loader (ImageBind `load_audio` with pytorchvideo 0.1.5's
ConstantClipsPerVideoSampler): window k of 8 starts at k * (D - 2 s) / 8, so the last
(D - 2 s) / 8 of the clip is never covered; windows overlap on short clips and leave gaps on
long ones.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
import soundfile
import soxr

from affectgpt.media.errors import MediaError
from affectgpt.media.probe import open_container, require_file

TARGET_SAMPLE_RATE_HZ = 16_000
WINDOW_S = 2.0


Downmix = Literal["upstream", "mean"]


def downmix(channels_first: np.ndarray, how: Downmix = "upstream") -> np.ndarray:
    """[channels, n] -> [n] float32. `upstream`: ImageBind `load_audio` averages exactly two
    channels (`if waveform.shape[0] == 2: waveform.mean(dim=0)`) and HuBERT then reads channel 0
    of anything else (`raw_audio[:,:,0,:]`); `mean` averages every channel (a deviation for 3+)."""
    samples = np.asarray(channels_first, dtype=np.float32)
    if samples.ndim == 1:
        return samples
    if how == "mean" or samples.shape[0] == 2:
        return samples.mean(axis=0)
    if how != "upstream":
        raise ValueError(f"downmix must be 'upstream' or 'mean', got {how!r}")
    return samples[0]


def _read_with_soundfile(path: Path, how: Downmix) -> tuple[np.ndarray, int] | None:
    """Fast path for wav/flac/ogg; None when libsndfile does not know the format."""
    try:
        samples, sample_rate_hz = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        return None
    return downmix(samples.T, how), int(sample_rate_hz)


def _read_with_pyav(path: Path, how: Downmix) -> tuple[np.ndarray, int]:
    """Any container ffmpeg reads (mp4/AAC, mkv, mp3...): first audio stream, downmixed."""
    with open_container(path, "bad_audio") as container:
        if not container.streams.audio:
            raise MediaError(path, "no_audio", "container has no audio stream")
        stream = container.streams.audio[0]
        sample_rate_hz = int(stream.rate or stream.codec_context.sample_rate or 0)
        # Planar float keeps samples exact and gives a [channels, n] array whatever the codec's format.
        resampler = av.AudioResampler(format="fltp")
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for planar in resampler.resample(frame):
                    chunks.append(planar.to_ndarray())
            for planar in resampler.resample(None):
                chunks.append(planar.to_ndarray())
        except (av.error.FFmpegError, ValueError) as exc:
            raise MediaError(path, "bad_audio", f"audio decoding failed: {exc}") from None
    if not chunks or sample_rate_hz <= 0:
        raise MediaError(path, "empty_audio", "audio stream decoded to no samples")
    return downmix(np.concatenate(chunks, axis=1), how), sample_rate_hz


def load_audio(path: str | Path, target_sr: int = TARGET_SAMPLE_RATE_HZ, *, how: Downmix = "upstream") -> np.ndarray:
    """Mono float32 samples at `target_sr` from an audio file or a video's first audio stream
    (channels downmixed as `downmix` says; resampling is linear, so before or after is the same).

    Raises MediaError: missing_file, no_audio (no audio stream), bad_audio (undecodable),
    empty_audio (zero samples)."""
    path = require_file(path, empty_reason="bad_audio")
    decoded = _read_with_soundfile(path, how)
    samples, sample_rate_hz = decoded if decoded is not None else _read_with_pyav(path, how)
    if samples.size == 0:
        raise MediaError(path, "empty_audio", "audio holds no samples")
    if not np.isfinite(samples).all():
        raise MediaError(path, "bad_audio", "audio holds NaN or infinite samples")
    if sample_rate_hz != target_sr:
        samples = soxr.resample(samples, sample_rate_hz, target_sr, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(samples, dtype=np.float32)


def pad_audio(samples: np.ndarray, sample_rate_hz: int = TARGET_SAMPLE_RATE_HZ,
              min_duration_s: float = WINDOW_S) -> np.ndarray:
    """Zero-pad at the end to at least `min_duration_s` so every window is full."""
    min_samples = round(min_duration_s * sample_rate_hz)
    if samples.shape[0] >= min_samples:
        return samples
    return np.pad(samples, (0, min_samples - samples.shape[0])).astype(np.float32)


def window_starts(n_samples: int, n_windows: int = 8, window_samples: int = 32_000) -> np.ndarray:
    """Start sample of each window: k * (D - window) / n_windows seconds, k = 0..n-1 (upstream's
    sampler divides the spare length by the number of clips, not clips - 1), computed as
    upstream does: D = n / sr as a float, exact fractions from there, floored to a sample."""
    if n_samples < window_samples:
        raise ValueError(f"{n_samples} samples is shorter than one {window_samples}-sample window; pad first")
    sr = TARGET_SAMPLE_RATE_HZ
    spare_s = Fraction(max(n_samples / sr - window_samples / sr, 0))
    return np.array([int(spare_s / n_windows * k * sr) for k in range(n_windows)], dtype=np.int64)


def cut_windows(samples: np.ndarray, sample_rate_hz: int = TARGET_SAMPLE_RATE_HZ, n_windows: int = 8,
                window_s: float = WINDOW_S) -> tuple[np.ndarray, np.ndarray]:
    """(windows [n_windows, window_s * sr] float32, start times in seconds [n_windows]).
    `samples` must already be padded to at least one window."""
    window_samples = round(window_s * sample_rate_hz)
    starts = window_starts(samples.shape[0], n_windows, window_samples)
    windows = np.stack([samples[start:start + window_samples] for start in starts]).astype(np.float32)
    return windows, starts / sample_rate_hz
