"""Extraction in shards, joined into one folder per group of splits: the same features as one
extraction, each split in its own packs, a few files instead of one per clip."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from affectgpt.errors import BadInput
from affectgpt.features.extract import FEATURE_TABLE, extract_features
from affectgpt.features.merge import EVALUATION_SPLITS, TRAINING_SPLITS, merge_feature_shards
from affectgpt.features.packs import FeatureReader
from affectgpt.model.encoders import EncoderConfig

SPLITS = {"c0": "train", "c1": "test", "c2": "val", "c3": "train"}


@pytest.fixture()
def manifest(tmp_path, demo_clip):
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(demo_clip["video"], media / "demo.mp4")
    shutil.copy(demo_clip["audio"], media / "demo.wav")
    (media / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    rows = [{"clip_id": clip_id, "video_path": "media/demo.mp4", "audio_path": "media/demo.wav", "split": split}
            for clip_id, split in SPLITS.items()]
    rows.append({"clip_id": "broken", "video_path": "media/broken.mp4", "audio_path": None, "split": "train"})
    pd.DataFrame(rows).to_parquet(tmp_path / "clips.parquet")
    return tmp_path / "clips.parquet"


def test_sharded_extraction_joins_into_the_features_of_one_run(manifest, tmp_path):
    settings = {"speech_ratio": False, "progress": False}
    whole = extract_features(manifest, tmp_path / "whole", EncoderConfig(), **settings)
    parts = [tmp_path / "parts" / str(k) for k in range(2)]
    for k, part in enumerate(parts):
        extract_features(manifest, part, EncoderConfig(), shard=k, shards=2, **settings)
    joined = merge_feature_shards(parts, tmp_path / "joined")
    train = merge_feature_shards(parts, tmp_path / "train", splits=TRAINING_SPLITS)
    test = merge_feature_shards(parts, tmp_path / "test", splits=EVALUATION_SPLITS)

    assert joined.kept == whole.kept == 4 and [s.reason for s in joined.skipped] == ["corrupt_video"]
    one, many = FeatureReader(tmp_path / "whole"), FeatureReader(tmp_path / "joined")
    assert list(many.clip_ids()) == list(one.clip_ids()) == list(SPLITS)  # manifest order
    for clip_id in SPLITS:
        for name, tensor in one.tensors(clip_id).items():
            assert tensor.equal(many.tensors(clip_id)[name])
    columns = ["clip_id", "split", "frames_mean", "duration_s"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "joined" / FEATURE_TABLE)[columns],
                                  pd.read_parquet(tmp_path / "whole" / FEATURE_TABLE)[columns])
    # A few files, one per split and shard, not one per clip; the test split travels alone.
    packs = sorted(p.name for p in (tmp_path / "joined" / "packs").iterdir())
    assert len(packs) <= 6 and all(p.split("-")[0] in {"train", "val", "test"} for p in packs)
    assert set(FeatureReader(tmp_path / "test").clip_ids()) == {"c1"} and test.kept == 1
    assert {p.name.split("-")[0] for p in (tmp_path / "test" / "packs").iterdir()} == {"test"}
    assert set(FeatureReader(tmp_path / "train").clip_ids()) == {"c0", "c2", "c3"} and train.kept == 3
    with pytest.raises(FileNotFoundError, match="no features for clip 'c1'"):
        FeatureReader(tmp_path / "train").tensors("c1")

    with pytest.raises(BadInput, match="give each shard"):
        merge_feature_shards(parts[:1], tmp_path / "half")
