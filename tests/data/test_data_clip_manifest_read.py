"""`read_clip_manifest`, the one reader of clip manifests (ingest, feature extraction, the
bench's local set, evaluation): labels keep missing apart from empty, hand-written manifests
with few columns are read as they are, moved absolute paths are found again, relative ones
are left for the caller to resolve."""

from __future__ import annotations

import pandas as pd

from affectgpt.bench.datasets import load_local
from affectgpt.data.schema import read_clip_manifest, write_clip_manifest


def test_labels_and_moved_paths(tmp_path):
    old_root, new_root = tmp_path / "old" / "corpus", tmp_path / "new" / "corpus"
    (new_root / "raw").mkdir(parents=True)
    (new_root / "raw" / "a.mp4").write_bytes(b"video")
    rows = [
        {"clip_id": "a", "video_path": str(old_root / "raw" / "a.mp4"), "split": "test", "ov_labels": ["happy"]},
        {"clip_id": "b", "video_path": "raw/b.mp4", "split": "test", "ov_labels": []},
        {"clip_id": "c", "video_path": str(old_root / "raw" / "c.mp4"), "split": "test", "ov_labels": None},
    ]
    path = write_clip_manifest(rows, new_root / "clip_manifest.parquet")
    frame = read_clip_manifest(path)
    assert frame["ov_labels"].tolist() == [["happy"], [], None]
    assert frame["video_path"].tolist() == [str(new_root / "raw" / "a.mp4"), "raw/b.mp4", str(old_root / "raw" / "c.mp4")]
    gold = load_local(path, task="ov")
    assert [(s.clip_id, s.gt) for s in gold.samples] == [("a", ["happy"]), ("b", [])]
    assert [(s.record_id, s.reason) for s in gold.skipped] == [("c", "no_label")]


def test_a_hand_written_manifest_with_two_columns(tmp_path):
    path = tmp_path / "clips.parquet"
    pd.DataFrame({"clip_id": ["x"], "video_path": ["x.mp4"]}).to_parquet(path, index=False)
    frame = read_clip_manifest(path)
    assert list(frame.columns) == ["clip_id", "video_path"] and frame["video_path"].tolist() == ["x.mp4"]


def test_evaluation_reads_the_held_out_split_through_it(tmp_path):
    import pyarrow.parquet as pq
    import pytest

    from affectgpt.data.schema import write_split_records

    rows = [{"clip_id": f"c{i}", "video_path": f"/gone/c{i}.mp4", "subtitle": f"line {i}", "language": "en",
             "split": "test" if i % 2 else "train", "emotion": "happy"} for i in range(5)]
    manifest = write_clip_manifest(rows, tmp_path / "clip_manifest.parquet")
    assert write_split_records(manifest, tmp_path / "records.parquet", "test") == 2
    written = pq.read_table(tmp_path / "records.parquet").to_pylist()
    assert written == [{"clip_id": "c1", "subtitle": "line 1", "split": "test", "language": "en"},
                       {"clip_id": "c3", "subtitle": "line 3", "split": "test", "language": "en"}]
    with pytest.raises(ValueError, match="no clips with split='val'"):
        write_split_records(manifest, tmp_path / "none.parquet", "val")
    bare = tmp_path / "bare.parquet"
    pd.DataFrame({"clip_id": ["x"], "video_path": ["x.mp4"]}).to_parquet(bare, index=False)
    with pytest.raises(ValueError, match="no 'split' column"):
        write_split_records(bare, tmp_path / "none.parquet", "test")
