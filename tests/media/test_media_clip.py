"""Clip decoding on the real demo clip and on synthetic edge cases (short, silent, broken)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_media import frame_level, write_video, write_wav

from affectgpt.media import (
    MediaError,
    cut_windows,
    load_audio,
    load_clip,
    pad_audio,
    probe_video,
    sample_frame_indices,
)


@pytest.fixture(scope="module")
def demo_media(demo_clip):
    return load_clip(demo_clip["video"], demo_clip["audio"])


def test_demo_clip_frames_follow_uniform_indices(demo_media):
    assert demo_media.frames.shape == (8, 404, 720, 3)
    assert demo_media.frames.dtype == np.uint8
    assert demo_media.frame_indices.tolist() == [0, 11, 22, 33, 44, 55, 66, 77]
    assert demo_media.n_video_frames == 88
    assert demo_media.fps == pytest.approx(25.0)
    assert demo_media.duration_s == pytest.approx(3.52, abs=0.01)


def test_demo_clip_face_found_and_cropped(demo_media):
    assert demo_media.faces.shape == (8, 224, 224, 3)
    assert all(demo_media.face_found)
    assert demo_media.face_ratio == 1.0
    for box in demo_media.face_boxes:
        left, _top, side, _ = box
        # The doctor sits in the right half of the 720x404 frame.
        assert 300 < left + side / 2 < 600 and side < 404


def test_demo_clip_audio_windows(demo_media):
    assert demo_media.audio_source == "wav"
    assert demo_media.audio_16k.dtype == np.float32
    assert demo_media.audio_duration_s == pytest.approx(3.46, abs=0.01)
    assert demo_media.audio_windows.shape == (8, 32000)
    starts = demo_media.window_starts_s
    assert starts[0] == 0.0 and starts[-1] == pytest.approx(7 * (3.46 - 2.0) / 8, abs=0.01)  # k(D-2)/8
    first = round(starts[3] * 16000)
    np.testing.assert_array_equal(demo_media.audio_windows[3], demo_media.audio_16k[first:first + 32000])


def test_audio_from_the_video_stream_matches_the_wav(demo_clip):
    from_wav = load_audio(demo_clip["audio"])
    from_video = load_audio(demo_clip["video"])  # AAC 44.1 kHz stereo, downmixed and resampled
    n = min(len(from_wav), len(from_video))
    assert abs(len(from_wav) - len(from_video)) < 160
    assert np.corrcoef(from_wav[:n], from_video[:n])[0, 1] > 0.99


def test_probe_video_reads_the_header(demo_clip):
    info = probe_video(demo_clip["video"])
    assert (info.n_frames, info.width, info.height, info.has_audio) == (88, 720, 404, True)
    assert info.fps == pytest.approx(25.0) and info.duration_s == pytest.approx(3.52, abs=0.01)


@pytest.mark.parametrize(("n_video_frames", "expected"), [
    (88, [0, 11, 22, 33, 44, 55, 66, 77]),
    (100, [0, 12, 25, 37, 50, 62, 75, 87]),
    (8, [0, 1, 2, 3, 4, 5, 6, 7]),
    (3, [0, 1, 2, 2, 2, 2, 2, 2]),
    (1, [0] * 8),
])
def test_sample_frame_indices(n_video_frames, expected):
    assert sample_frame_indices(n_video_frames, 8).tolist() == expected


def test_short_clip_repeats_the_last_frame(tmp_path):
    video = write_video(tmp_path / "short.mp4", n_frames=3)
    wav = write_wav(tmp_path / "short.wav", duration_s=0.5)
    clip = load_clip(video, wav)
    assert clip.n_video_frames == 3
    assert clip.frame_indices.tolist() == [0, 1, 2, 2, 2, 2, 2, 2]
    levels = clip.frames.reshape(8, -1).mean(axis=1)
    expected = [frame_level(i) for i in clip.frame_indices]
    np.testing.assert_allclose(levels, expected, atol=4)
    # Flat grey frames hold no face: the resized frame stands in and that is recorded.
    assert clip.face_found == [False] * 8 and clip.faces.shape == (8, 224, 224, 3)
    # 0.5 s of audio is padded to 2 s, so all 8 windows are the same padded window.
    assert clip.audio_16k.shape == (32000,) and clip.audio_duration_s == pytest.approx(0.5)
    assert clip.window_starts_s.tolist() == [0.0] * 8
    assert np.abs(clip.audio_16k[8000:]).max() == 0.0


def test_audio_comes_from_the_video_when_no_wav(tmp_path):
    video = write_video(tmp_path / "with_audio.mp4", n_frames=30, with_audio=True)
    clip = load_clip(video)
    assert clip.audio_source == "video"
    assert clip.audio_duration_s == pytest.approx(3.0, abs=0.1)
    assert np.abs(clip.audio_16k).max() > 0.1


def test_stereo_44k_wav_is_downmixed_and_resampled(tmp_path):
    wav = write_wav(tmp_path / "stereo.wav", duration_s=1.0, sample_rate_hz=44100, channels=2)
    samples = load_audio(wav)
    assert samples.ndim == 1 and samples.dtype == np.float32
    assert len(samples) == 16000


def test_windows_spread_over_a_long_clip():
    samples = pad_audio(np.zeros(16000 * 9, dtype=np.float32))
    windows, starts_s = cut_windows(samples)
    assert windows.shape == (8, 32000)
    np.testing.assert_allclose(starts_s, np.arange(8) * 7.0 / 8)  # k * (D - 2) / 8, as upstream


def _assert_media_error(reason: str, path: Path, call) -> MediaError:
    with pytest.raises(MediaError) as caught:
        call()
    assert caught.value.reason == reason
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)
    return caught.value


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.mp4"
    _assert_media_error("missing_file", missing, lambda: load_clip(missing))
    _assert_media_error("missing_file", missing, lambda: probe_video(missing))


def test_garbage_bytes(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(bytes(range(256)) * 64)
    _assert_media_error("corrupt_video", garbage, lambda: load_clip(garbage))
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    _assert_media_error("corrupt_video", empty, lambda: probe_video(empty))


def test_truncated_mp4(tmp_path, demo_clip):
    # Index (moov) at the end, as ffmpeg writes by default: the container will not open.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(demo_clip["video"].read_bytes()[:150_000])
    _assert_media_error("corrupt_video", cut, lambda: load_clip(cut, demo_clip["audio"]))
    # Index at the front (faststart): the header opens, the frames run out.
    whole = write_video(tmp_path / "faststart.mp4", n_frames=40, size=96, faststart=True)
    cut_fast = tmp_path / "cut_faststart.mp4"
    cut_fast.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    error = _assert_media_error("corrupt_video", cut_fast, lambda: load_clip(cut_fast, demo_clip["audio"]))
    assert "truncated" in str(error) or "decoding failed" in str(error)


def test_video_without_audio_needs_a_wav(tmp_path):
    silent = write_video(tmp_path / "silent.mp4", n_frames=10)
    _assert_media_error("no_audio", silent, lambda: load_clip(silent))


def test_bad_wav(tmp_path, demo_clip):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + bytes(100))
    _assert_media_error("bad_audio", bad, lambda: load_clip(demo_clip["video"], bad))


def test_media_error_survives_pickling(tmp_path):
    import pickle

    error = pickle.loads(pickle.dumps(MediaError(tmp_path / "x.mp4", "corrupt_video", "bad header")))
    assert error.reason == "corrupt_video" and error.path == tmp_path / "x.mp4"


def test_known_face_boxes_give_the_detected_crops_without_detecting(demo_clip, demo_media, monkeypatch):
    """The build hands its boxes on (affectgpt.data.face_boxes); cut from them, the crops are
    the detector's to the byte, and the detector is not called."""
    from affectgpt.media import KnownFaces
    from affectgpt.media import faces as faces_module

    known = KnownFaces(frame_indices=tuple(demo_media.frame_indices.tolist()), boxes=tuple(demo_media.face_boxes))
    monkeypatch.setattr(faces_module, "detect_face", lambda frame: pytest.fail("the detector ran again"))
    again = load_clip(demo_clip["video"], demo_clip["audio"], known_faces=known)
    assert again.faces_known and not demo_media.faces_known
    assert np.array_equal(again.faces, demo_media.faces)
    assert again.face_found == demo_media.face_found and again.face_boxes == demo_media.face_boxes


def test_known_face_boxes_for_other_frames_or_outside_them_are_not_used(demo_clip, demo_media):
    from affectgpt.media import KnownFaces, crop_faces
    from affectgpt.media.faces import fits_frames

    boxes = tuple(demo_media.face_boxes)
    other_frames = KnownFaces(frame_indices=(0, 1, 2, 3, 4, 5, 6, 7), boxes=boxes)
    outside = KnownFaces(frame_indices=tuple(demo_media.frame_indices.tolist()),
                         boxes=((700, 0, 100, 100), *boxes[1:]))
    for hint in (other_frames, outside):
        clip = load_clip(demo_clip["video"], demo_clip["audio"], known_faces=hint)
        assert not clip.faces_known and np.array_equal(clip.faces, demo_media.faces)
    frames = demo_media.frames
    assert fits_frames([None] * 8, frames) and fits_frames(list(boxes), frames)
    assert not fits_frames(list(boxes[:7]), frames)  # one box short
    assert not fits_frames([(0, 0, 10, 12), *boxes[1:]], frames)  # not a square
    assert not fits_frames([(-1, 0, 10, 10), *boxes[1:]], frames)
    assert not fits_frames([(0, 0, 0, 0), *boxes[1:]], frames)
    assert not fits_frames([(0.5, 0, 10, 10), *boxes[1:]], frames)
    with pytest.raises(ValueError, match="do not fit"):
        crop_faces(frames, known_boxes=[(0, 0, 500, 500)] * 8)
