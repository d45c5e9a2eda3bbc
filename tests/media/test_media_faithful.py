"""Preprocessing against arithmetic written from upstream (ImageBind data.py `load_audio` with
pytorchvideo 0.1.5's ConstantClipsPerVideoSampler, `waveform2melspec`'s in-place mean removal,
the HUBERT_LARGE encoder's one-tensor feature extractor call, decord's 224 x 224 decode, and
OpenFace's BGR face crops), not from our own code."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from affectgpt.media.audio import cut_windows, window_starts
from affectgpt.model.encoders import EncoderConfig, build_encoders, encode_clip


def _upstream_starts(n_samples: int, sr: int = 16000, clip_s: int = 2, clips: int = 8) -> list[int]:
    duration = n_samples / sr
    max_start = Fraction(max(duration - clip_s, 0))
    return [int(max_start / clips * k * sr) for k in range(clips)]


def test_audio_windows_start_at_k_times_spare_over_eight():
    for n_samples in (32000, 55360, 16000 * 7 + 123, 16000 * 30):
        assert window_starts(n_samples).tolist() == _upstream_starts(n_samples)
    samples = np.arange(16000 * 10, dtype=np.float32)
    windows, starts_s = cut_windows(samples)
    assert windows.shape == (8, 32000) and starts_s[-1] == 7 * 8 / 8  # never reaches the last (D-2)/8 = 1 s
    assert windows[-1, -1] == 16000 * 9 - 1


def test_audio_windows_lose_their_mean_then_are_scaled_together():
    _, audio = build_encoders(EncoderConfig())
    rng = np.random.default_rng(0)
    windows = (rng.standard_normal((8, 32000)) * np.arange(1, 9)[:, None] + np.arange(8)[:, None]).astype(np.float32)
    centred = windows - windows.mean(axis=1, keepdims=True)  # waveform -= waveform.mean() per clip
    expected = (centred - centred.mean()) / np.sqrt(centred.var() + 1e-7)  # one normalisation over all windows
    got = audio.preprocess(windows).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert abs(got[7].std() / got[0].std() - 8.0) < 0.1  # relative loudness between windows is kept


class _Clip:
    def __init__(self) -> None:
        rng = np.random.default_rng(3)
        self.frames = rng.integers(0, 256, size=(8, 90, 160, 3), dtype=np.uint8)
        self.faces = rng.integers(0, 256, size=(8, 224, 224, 3), dtype=np.uint8)
        self.audio_windows = (0.1 * rng.standard_normal((8, 32000))).astype(np.float32)


def test_frames_are_squashed_and_faces_reach_clip_in_bgr():
    import cv2

    clip = _Clip()
    vision, audio = build_encoders(EncoderConfig())
    features = encode_clip(clip, vision, audio)
    squashed = np.stack([cv2.resize(f, (224, 224), interpolation=cv2.INTER_CUBIC) for f in clip.frames])
    # the tiny tower's 32-px processor sees the whole (squashed) frame, not a centre crop
    expected_frames = vision(vision.preprocess(squashed))
    torch.testing.assert_close(features["frames"], expected_frames, rtol=1e-5, atol=1e-5)
    expected_faces = vision(vision.preprocess(np.ascontiguousarray(clip.faces[..., ::-1])))
    torch.testing.assert_close(features["faces"], expected_faces, rtol=1e-5, atol=1e-5)
    rgb_vision, _ = build_encoders(EncoderConfig(face_channels="rgb", frame_size=None))
    rgb = encode_clip(clip, rgb_vision, audio)
    assert not torch.allclose(rgb["faces"], features["faces"])
    assert not torch.allclose(rgb["frames"], features["frames"])  # centre crop of a 16:9 frame differs


def _upstream_channels(waveform: torch.Tensor) -> torch.Tensor:
    """ImageBind data.py `load_audio`: `if waveform.shape[0] == 2: waveform = waveform.mean(dim=0,
    keepdim=True)`; encoder.py `HUBERT_LARGE.forward`: `raw_audio = raw_audio[:,:,0,:]` (channel 0
    of whatever is left)."""
    if waveform.shape[0] == 2:
        waveform = waveform.mean(dim=0, keepdim=True)
    return waveform[0]


def test_channels_become_one_as_upstream(tmp_path):
    import soundfile

    from affectgpt.media.audio import downmix, load_audio

    rng = np.random.default_rng(1)
    for channels in (1, 2, 3, 6):
        waveform = (0.1 * rng.standard_normal((channels, 32000))).astype(np.float32)
        expected = _upstream_channels(torch.from_numpy(waveform)).numpy()
        np.testing.assert_array_equal(downmix(waveform), expected)
        path = tmp_path / f"c{channels}.wav"
        soundfile.write(path, waveform.T, 16000, subtype="FLOAT")
        np.testing.assert_allclose(load_audio(path), expected, atol=1e-7)
    six = (0.1 * rng.standard_normal((6, 100))).astype(np.float32)
    assert not np.allclose(downmix(six, "mean"), downmix(six))   # the `mean` option averages all six
