"""The build hands what it measured in each clip's media (face boxes, VAD speech) to feature
extraction through the clip manifest (`media_facts`): extraction then cuts the same crops and
writes the same speech ratio without running the detector or the VAD, and its features and
table are those of an extraction that measures; a stale, foreign or malformed cell is not used."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from data_testkit import fast_config

from affectgpt.data.build import build_dataset
from affectgpt.data.media_facts import read_media_facts
from affectgpt.features.cache import media_hash
from affectgpt.features.extract import extract_features
from affectgpt.features.packs import FeatureReader
from affectgpt.model.encoders import EncoderConfig

SETTINGS = {"progress": False}


@pytest.fixture()
def built(raw_copy, shared_cache, tmp_path):
    return build_dataset(raw_copy, tmp_path / "dataset", config=fast_config(shared_cache, high_level=False))


def _manifest(built) -> pd.DataFrame:
    return pd.read_parquet(built.out_dir / "clip_manifest.parquet")


def test_the_build_records_each_decoded_clips_facts_for_its_media(built, raw_copy):
    table = _manifest(built)
    assert len(table) == 6 and table["media_facts"].notna().all()
    found = 0
    for row in table.itertuples():
        cell = json.loads(row.media_facts)
        speech = cell["speech"]
        assert speech["threshold"] == 0.5 and 0 < speech["speech_samples"] <= speech["audio_samples"]
        assert cell["media_hash"] == media_hash(raw_copy / f"{row.clip_id}.mp4", raw_copy / f"{row.clip_id}.wav")
        assert len(cell["frame_indices"]) == len(cell["boxes"]) == 8
        assert all(box is None or (len(box) == 4 and box[2] == box[3] > 0) for box in cell["boxes"])
        found += sum(box is not None for box in cell["boxes"])
    assert found > 0


def test_extraction_from_the_build_boxes_gives_the_detectors_features(built, raw_copy, tmp_path):
    clips = built.out_dir / "clip_manifest.parquet"
    reused = extract_features(clips, tmp_path / "reused", EncoderConfig(), **SETTINGS)
    assert reused.extra["from_build"] == {"faces": 6, "speech": 6} and reused.extra["computed"] == 6

    plain = tmp_path / "plain" / "clip_manifest.parquet"  # the same manifest, without the cells
    plain.parent.mkdir()
    _manifest(built).drop(columns=["media_facts"]).to_parquet(plain)
    detected = extract_features(plain, tmp_path / "detected", EncoderConfig(), media_root=raw_copy, **SETTINGS)
    assert detected.extra["from_build"] == {"faces": 0, "speech": 0} and detected.kept == 6
    one, other = FeatureReader(tmp_path / "reused"), FeatureReader(tmp_path / "detected")
    for clip_id in one.clip_ids():
        for name, tensor in one.tensors(clip_id).items():
            assert tensor.equal(other.tensors(clip_id)[name]), (clip_id, name)
        assert one.metadata(clip_id)["face_found"] == other.metadata(clip_id)["face_found"]
    columns = ["clip_id", "face_ratio", "speech_ratio", "faces_mean", "audio_mean"]
    tables = [pd.read_parquet(tmp_path / name / "clip_features.parquet")[columns] for name in ("reused", "detected")]
    pd.testing.assert_frame_equal(*tables, check_exact=True)
    assert tables[0]["speech_ratio"].between(0.01, 1).all()


def test_shards_use_the_build_facts_and_the_merge_counts_them_all(built, tmp_path):
    from affectgpt.features.merge import merge_feature_shards

    clips = built.out_dir / "clip_manifest.parquet"
    parts = [tmp_path / f"part-{k}" for k in range(3)]  # 3: the six demo ids hash to 2, 2 and 2 clips
    shards = [extract_features(clips, part, EncoderConfig(), shard=k, shards=3, **SETTINGS) for k, part in enumerate(parts)]
    assert [shard.extra["from_build"] for shard in shards] == [{"faces": 2, "speech": 2}] * 3
    merged = merge_feature_shards(parts, tmp_path / "features")
    assert merged.extra["from_build"] == {"faces": 6, "speech": 6} and merged.extra["computed"] == 6


def test_cells_for_other_media_or_malformed_are_not_used(built, raw_copy, tmp_path):
    table = _manifest(built)
    text = table.loc[0, "media_facts"]
    cell = json.loads(text)
    facts = read_media_facts(text, cell["media_hash"])
    assert facts is not None and facts.faces is not None and facts.speech is not None
    assert read_media_facts(text, "another-hash") is None
    for bad in ("", "{", "[]", json.dumps({**cell, "frame_indices": "x"})):
        assert read_media_facts(bad, cell["media_hash"]) is None, bad
    odd_speech = read_media_facts(json.dumps({**cell, "speech": {**cell["speech"], "speech_samples": -1}}),
                                  cell["media_hash"])
    assert odd_speech.speech is None and odd_speech.faces == facts.faces  # each part stands alone
    for unusable in (json.dumps({**cell, "boxes": cell["boxes"][:3]}), json.dumps({**cell, "boxes": [[1, 2, 3]] * 8})):
        assert read_media_facts(unusable, cell["media_hash"]).faces is None, unusable
    speech = facts.speech
    assert speech.ratio(0.5, speech.audio_samples) == speech.speech_samples / speech.audio_samples
    assert speech.ratio(0.6, speech.audio_samples) is None and speech.ratio(0.5, speech.audio_samples + 1) is None

    # A clip re-encoded after the build (same path, other bytes): its cell no longer applies.
    first = table.loc[0, "clip_id"]
    (raw_copy / f"{first}.mp4").write_bytes((raw_copy / f"{table.loc[1, 'clip_id']}.mp4").read_bytes())
    clips = built.out_dir / "clip_manifest.parquet"
    run = extract_features(clips, tmp_path / "features", EncoderConfig(), **SETTINGS)
    assert run.extra["from_build"] == {"faces": 5, "speech": 5} and run.kept == 6


def test_speech_segments_in_seconds_are_silero_own(demo_clip):
    """The build now asks the VAD for samples (to hand them on) and converts them to seconds
    itself: the segments must be what silero-vad's own `return_seconds=True` gives."""
    import torch
    from silero_vad import get_speech_timestamps

    from affectgpt.data.signals import _vad_model, speech_segments, speech_stamps
    from affectgpt.media import load_clip

    media = load_clip(demo_clip["video"], demo_clip["audio"])
    audio = media.audio_16k[: round(media.audio_duration_s * media.sample_rate_hz)]
    for threshold in (0.3, 0.5, 0.8):
        theirs = get_speech_timestamps(torch.from_numpy(audio.copy()), _vad_model(), sampling_rate=16000,
                                       threshold=threshold, return_seconds=True)
        assert speech_segments(audio, 16000, threshold) == [(s["start"], s["end"]) for s in theirs]
    assert speech_stamps(audio, 16000)  # the demo clip speaks
