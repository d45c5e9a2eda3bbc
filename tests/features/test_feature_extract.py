"""Feature extraction over a clip manifest: packs, the feature table, quarantine and the cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import soundfile

from affectgpt.features.cache import (
    FeatureCacheKey,
    encoder_fingerprint,
    load_clip_features,
    load_clip_metadata,
)
from affectgpt.features.extract import FEATURE_TABLE, extract_features
from affectgpt.manifest import read_manifest
from affectgpt.model.encoders import EncoderConfig


@pytest.fixture()
def clip_folder(tmp_path, demo_clip) -> Path:
    """A manifest with relative paths: the demo clip, a corrupt video and a missing file."""
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(demo_clip["video"], media / "demo.mp4")
    shutil.copy(demo_clip["audio"], media / "demo.wav")
    (media / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    pd.DataFrame([
        {"clip_id": "demo", "video_path": "media/demo.mp4", "audio_path": "media/demo.wav", "split": "train"},
        {"clip_id": "broken", "video_path": "media/broken.mp4", "audio_path": None, "split": "train"},
        {"clip_id": "gone", "video_path": "media/gone.mp4", "audio_path": None, "split": "test"},
        {"clip_id": "demo", "video_path": "media/demo.mp4", "audio_path": "media/demo.wav", "split": "test"},
        {"clip_id": "../escape", "video_path": "media/demo.mp4", "audio_path": None, "split": "test"},
    ]).to_parquet(tmp_path / "clips.parquet")
    return tmp_path


def test_extract_keeps_good_clips_and_quarantines_bad_ones(clip_folder):
    out = clip_folder / "features"
    manifest = extract_features(clip_folder / "clips.parquet", out, EncoderConfig(), progress=False)
    assert manifest.kept == 1
    reasons = {record.record_id: record.reason for record in manifest.skipped}
    assert reasons == {"broken": "corrupt_video", "gone": "missing_file", "demo": "duplicate_id",
                       "../escape": "bad_clip_id"}
    broken = next(record for record in manifest.skipped if record.record_id == "broken")
    assert "broken.mp4" in broken.detail
    assert read_manifest(out).skipped_by_reason["corrupt_video"] == 1

    features = load_clip_features(out, "demo")
    assert {name: tuple(t.shape) for name, t in features.items()} == {
        "frames": (8, 32), "faces": (8, 32), "audio": (8, 32)}
    table = pd.read_parquet(out / FEATURE_TABLE)
    assert table["clip_id"].tolist() == ["demo"]
    row = table.iloc[0]
    assert row["face_ratio"] == 1.0 and row["duration_s"] == pytest.approx(3.52, abs=0.01)
    # Silero VAD hears speech at 0.1-1.1 s and 1.8-3.46 s of the 3.46-s wav.
    assert 0.6 < row["speech_ratio"] < 0.9
    assert len(row["frames_mean"]) == 32 and row["split"] == "train"
    assert str(row["event_timestamp"].tz) == "UTC"
    assert load_clip_metadata(out, "demo")["frame_indices"] == [0, 11, 22, 33, 44, 55, 66, 77]


def test_rerun_is_a_cache_hit_threads_agree_and_edits_invalidate(clip_folder):
    out = clip_folder / "features"
    clips = clip_folder / "clips.parquet"
    first = extract_features(clips, out, EncoderConfig(), speech_ratio=False, progress=False)
    assert (first.extra["cache_hits"], first.extra["computed"]) == (0, 1)
    first_index = pd.read_parquet(out / "index.parquet")
    assert first_index[["clip_id", "split", "pack"]].values.tolist() == [["demo", "train", "packs/train-s000-p000.safetensors"]]
    first_table = pd.read_parquet(out / FEATURE_TABLE)

    # Decoding in threads gives the same bytes out.
    threaded = extract_features(clips, clip_folder / "threaded", EncoderConfig(), workers=2,
                                speech_ratio=False, progress=False)
    assert threaded.kept == 1 and len(threaded.skipped) == len(first.skipped)
    for name, tensor in load_clip_features(out, "demo").items():
        assert tensor.equal(load_clip_features(clip_folder / "threaded", "demo")[name])

    again = extract_features(clips, out, EncoderConfig(), speech_ratio=False, progress=False)
    assert (again.extra["cache_hits"], again.extra["computed"]) == (1, 0)
    assert again.timings_s["build_encoders"] == 0.0  # a run of cache hits never loads encoder weights
    pd.testing.assert_frame_equal(pd.read_parquet(out / "index.parquet"), first_index)
    pd.testing.assert_frame_equal(pd.read_parquet(out / FEATURE_TABLE), first_table)
    assert again.kept == first.kept and len(again.skipped) == len(first.skipped)

    # Same paths, new audio content: recomputed (the cache keys on bytes, not names).
    wav = clip_folder / "media" / "demo.wav"
    samples, rate = soundfile.read(wav, dtype="float32")
    soundfile.write(wav, samples * 0.5, rate)
    changed = extract_features(clips, out, EncoderConfig(), speech_ratio=False, progress=False)
    assert changed.extra["computed"] == 1
    assert not load_clip_features(out, "demo")["audio"].equal(load_clip_features(clip_folder / "threaded", "demo")["audio"])


def test_cache_key_covers_encoders_and_decode_settings(tmp_path, demo_clip):
    key = FeatureCacheKey.for_clip(demo_clip["video"], demo_clip["audio"], encoder_fingerprint(EncoderConfig()),
                                   "frames=8")
    other_encoder = FeatureCacheKey.for_clip(demo_clip["video"], demo_clip["audio"],
                                             encoder_fingerprint(EncoderConfig(hubert_layers=2)), "frames=8")
    other_decode = FeatureCacheKey.for_clip(demo_clip["video"], demo_clip["audio"],
                                            encoder_fingerprint(EncoderConfig()), "frames=16")
    no_wav = FeatureCacheKey.for_clip(demo_clip["video"], None, encoder_fingerprint(EncoderConfig()), "frames=8")
    assert len({key.value, other_encoder.value, other_decode.value, no_wav.value}) == 4
    # Moving the media keeps the key: it is computed from bytes.
    shutil.copy(demo_clip["video"], tmp_path / "moved.mp4")
    moved = FeatureCacheKey.for_clip(tmp_path / "moved.mp4", demo_clip["audio"], key.encoder_hash, "frames=8")
    assert moved.value == key.value


def test_bad_manifest_and_missing_clip_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="clips.parquet"):
        extract_features(tmp_path / "clips.parquet", tmp_path / "out", EncoderConfig())
    pd.DataFrame({"clip_id": ["a"]}).to_parquet(tmp_path / "clips.parquet")
    with pytest.raises(ValueError, match="clips.parquet: missing column"):
        extract_features(tmp_path / "clips.parquet", tmp_path / "out", EncoderConfig())
    with pytest.raises(FileNotFoundError, match="no features for clip 'a'"):
        load_clip_features(tmp_path / "out", "a")


def test_extract_cli_reports_kept_and_quarantined(clip_folder):
    from typer.testing import CliRunner

    from affectgpt.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["features", "extract", str(clip_folder / "clips.parquet"),
                                 "--out", str(clip_folder / "cli-features")])
    assert result.exit_code == 0, result.output
    assert "kept 1 clips, quarantined 4" in result.output
    missing = runner.invoke(app, ["features", "extract", str(clip_folder / "nope.parquet"),
                                  "--out", str(clip_folder / "x")])
    assert missing.exit_code == 4 and "nope.parquet" in missing.output  # not found


def test_progress_lines_count_computed_quarantined_and_cached_clips(clip_folder, capsys, monkeypatch):
    """Off a terminal each run logs plain count lines; the last one agrees with the manifest."""
    monkeypatch.delenv("AFFECTGPT_PROGRESS", raising=False)
    out, clips = clip_folder / "features", clip_folder / "clips.parquet"
    first = extract_features(clips, out, EncoderConfig(), speech_ratio=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("extract features: ")]
    # demo is computed, broken fails to decode; gone, the duplicate and ../escape are refused by the scan
    assert lines[-1] == f"extract features: clip 2/2 quarantined {len(first.skipped)} cached 0", lines
    assert len(first.skipped) == 4
    again = extract_features(clips, out, EncoderConfig(), speech_ratio=False)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("extract features: ")]
    assert lines == [f"extract features: clip 1/1 quarantined {len(again.skipped)} cached 1"]  # only broken is retried
