"""Ingest quarantines bad input with a reason and a detail naming the file/line."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from affectgpt.data.config import IngestConfig
from affectgpt.data.ingest import IngestError, assign_split, ingest


def _reasons(result) -> dict[str, str]:
    return {s.record_id: s.reason for s in result.skipped}


def test_clean_folder_keeps_every_clip_with_labels(raw_copy):
    result = ingest(raw_copy)
    assert len(result.clips) == 6 and result.skipped == []
    clip = result.clips[0]
    assert clip["duration_s"] > 1 and clip["split"] == "train" and clip["ov_labels"]


def test_truncated_mp4_is_quarantined(raw_copy):
    video = raw_copy / "demo_00000.mp4"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 3])
    result = ingest(raw_copy)
    assert _reasons(result) == {"demo_00000": "corrupt_video"}
    assert "demo_00000.mp4" in result.skipped[0].detail
    assert len(result.clips) == 5


def test_wav_with_wrong_sample_rate_resampled_or_quarantined(raw_copy):
    wav = raw_copy / "demo_00001.wav"
    samples, rate = sf.read(wav)
    sf.write(wav, samples[::2], rate // 2)  # 8 kHz
    kept = ingest(raw_copy)
    assert kept.notes == {"resampled_audio": 1} and len(kept.clips) == 6
    strict = ingest(raw_copy, IngestConfig(other_sample_rate="quarantine"))
    assert _reasons(strict) == {"demo_00001": "bad_sample_rate"}
    assert "8000 Hz, expected 16000 Hz" in strict.skipped[0].detail


def test_non_utf8_subtitle_rows_are_quarantined_by_line(raw_copy):
    path = raw_copy / "subtitles.csv"
    lines = path.read_bytes().split(b"\n")
    lines[3] = b"demo_00002,caf\xe9 au lait \xff"  # latin-1 bytes on line 4
    path.write_bytes(b"\n".join(lines))
    result = ingest(raw_copy)
    reasons = _reasons(result)
    assert reasons["subtitles.csv:4"] == "bad_encoding"
    assert reasons["demo_00002"] == "empty_subtitle"  # its only subtitle row was unusable
    detail = next(s.detail for s in result.skipped if s.reason == "bad_encoding")
    assert "line 4" in detail and "UTF-8" in detail
    assert len(result.clips) == 5


def test_duplicate_ids_and_paths_outside_root_in_a_manifest(raw_copy, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(raw_copy / "demo_00003.mp4", outside / "x.mp4")
    rows = [
        {"clip_id": "a", "video_path": "demo_00000.mp4", "audio_path": "demo_00000.wav", "subtitle": "Hello there."},
        {"clip_id": "a", "video_path": "demo_00001.mp4", "audio_path": "demo_00001.wav", "subtitle": "Hello again."},
        {"clip_id": "b", "video_path": "../elsewhere/x.mp4", "audio_path": None, "subtitle": "Out of bounds."},
        {"clip_id": "c", "video_path": "demo_00002.mp4", "audio_path": None, "subtitle": "  "},
        {"clip_id": "d", "video_path": "missing.mp4", "audio_path": None, "subtitle": "Gone."},
    ]
    manifest = raw_copy / "clips.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    result = ingest(manifest)
    assert [c["clip_id"] for c in result.clips] == ["a"]
    assert sorted((s.record_id, s.reason) for s in result.skipped) == [
        ("a", "duplicate_id"), ("b", "path_outside_root"), ("c", "empty_subtitle"), ("d", "missing_file")]
    duplicate = next(s for s in result.skipped if s.reason == "duplicate_id")
    assert "row 2" in duplicate.detail and "row 1" in duplicate.detail


def test_video_without_audio_and_without_wav(raw_copy):
    silent = raw_copy / "demo_00004.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(silent), "-an", "-c:v", "copy",
                    str(raw_copy / "tmp.mp4")], check=True)
    (raw_copy / "tmp.mp4").replace(silent)
    (raw_copy / "demo_00004.wav").unlink()
    assert _reasons(ingest(raw_copy)) == {"demo_00004": "no_audio"}


def test_missing_subtitle_file_is_a_clear_error(raw_copy):
    (raw_copy / "subtitles.csv").unlink()
    with pytest.raises(IngestError, match="subtitles.csv: subtitle file missing"):
        ingest(raw_copy)


def test_split_assignment_is_stable_and_follows_ratios():
    ids = [f"clip_{i}" for i in range(2000)]
    splits = [assign_split(i, (0.8, 0.1, 0.1)) for i in ids]
    assert splits == [assign_split(i, (0.8, 0.1, 0.1)) for i in ids]
    share = np.mean([s == "train" for s in splits])
    assert 0.75 < share < 0.85
