"""Dataset adapters on the real MERBench label files, and their error reporting."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from affectgpt.bench.datasets import DATASETS, DatasetError, load_dataset

EXPECTED_TEST_SIZES = {"mer2023": 411, "meld": 2610, "iemocapfour": 1241, "cmumosi": 686, "cmumosei": 4659,
                       "sims": 457, "simsv2": 1034, "ovmerdplus": 332}


def test_real_test_splits(reference_data):
    for name, size in EXPECTED_TEST_SIZES.items():
        dataset = load_dataset(name, labels_root=reference_data)
        assert len(dataset.samples) == size, name
        assert dataset.task == DATASETS[name].task
    meld = load_dataset("meld", labels_root=reference_data)
    assert {s.gt for s in meld.samples} == {"anger", "joy", "sadness", "neutral", "disgust", "fear", "surprise"}
    iemocap = load_dataset("iemocapfour", labels_root=reference_data)
    assert {s.gt for s in iemocap.samples} == {"happy", "sad", "neutral", "anger"}
    assert all(s.clip_id.startswith("Ses05") for s in iemocap.samples)
    mer2023 = load_dataset("mer2023", labels_root=reference_data)
    assert all(s.subtitle is not None for s in mer2023.samples)
    mosei = load_dataset("cmumosei", labels_root=reference_data)
    assert any("transcripts missing" in note for note in mosei.notes)
    assert all(isinstance(s.gt, float) for s in mosei.samples)


def test_missing_labels_and_bad_rows_are_reported(reference_data, tmp_path):
    with pytest.raises(DatasetError, match="mer2024: label file .* not found"):
        load_dataset("mer2024", labels_root=reference_data)
    with pytest.raises(DatasetError, match="unknown dataset 'mer2030'"):
        load_dataset("mer2030", labels_root=reference_data)
    labels = tmp_path / "label.csv"
    labels.write_text("split,name,emo,val\ntest,a,0,1.0\ntest,b,0,high\ntest,c,0,-0.5\ntrain,d,0,1\n")
    dataset = load_dataset("cmumosi", label_path=labels, media_dir=tmp_path)
    assert [s.clip_id for s in dataset.samples] == ["a", "c"]
    assert [(r.record_id, r.reason) for r in dataset.skipped] == [("label.csv:3", "bad_label")]
    assert "no media" in " ".join(dataset.notes)
    bad = tmp_path / "bad.csv"
    bad.write_text("name,emo\na,1\n")
    with pytest.raises(DatasetError, match="missing column 'split'"):
        load_dataset("meld", label_path=bad)


def test_local_clip_manifest(tmp_path):
    path = tmp_path / "clips.parquet"
    pq.write_table(pa.table({
        "clip_id": ["a", "b", "c", "d"],
        "split": ["test", "test", "test", "train"],
        "emotion": ["happy", None, "sad", "angry"],
        "valence": [1.0, -1.0, None, 0.5],
    }), path)
    hit = load_dataset(f"local={path}")
    assert hit.task == "hit" and [s.gt for s in hit.samples] == ["happy", "sad"]
    assert [(r.record_id, r.reason) for r in hit.skipped] == [("b", "no_label")]
    sentiment = load_dataset(f"local={path}", local_task="sentiment")
    assert [s.gt for s in sentiment.samples] == [1.0, -1.0]
    with pytest.raises(DatasetError, match="needs a clip-manifest"):
        load_dataset("local")
