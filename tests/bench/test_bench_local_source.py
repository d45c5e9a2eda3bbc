"""`bench run --datasets local` scores exactly the clips `affectgpt infer` answered: the data
folder and split recorded in `<name>.source.json`, gold labels from the same records; other
data is refused with what to pass instead."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from affectgpt.bench.answered import source_path, write_source
from affectgpt.bench.datasets import DatasetError, load_dataset
from affectgpt.bench.runner import run_bench


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A built data folder: records (what infer reads) and a clip manifest with more test clips."""
    data = tmp_path / "data" / "mer-caption"
    data.mkdir(parents=True)
    pq.write_table(pa.table({
        "clip_id": ["a", "b", "c", "d", "e"],
        "split": ["test", "train", "validation", "test", None],  # e: no split column value -> hash split
        "ov_labels": [["happy", "joyful"], ["sad"], ["angry"], ["calm", "relaxed"], ["tired"]],
        "subtitle": ["so happy", "so sad", "so angry", "so calm", "so tired"],
    }), data / "mer-caption-plus.parquet")
    pq.write_table(pa.table({
        "clip_id": ["a", "d", "x1", "x2", "x3", "x4"], "split": ["test"] * 6,
        "emotion": ["happy", "neutral", "sad", "angry", "happy", "sad"],
    }), data / "clip_manifest.parquet")
    return data


def answer(preds: Path, data: Path, clip_ids: list[str], splits: list[str] | None, labels: dict[str, list[str]]) -> Path:
    """Prediction lines and their sidecar, as `affectgpt infer` writes them."""
    preds.mkdir(exist_ok=True)
    out = preds / "local.jsonl"
    out.write_text("".join(json.dumps({"clip_id": c, "dataset": "local", "output": " ".join(labels[c]),
                                       "extracted_labels": labels[c]}) + "\n" for c in clip_ids))
    write_source(out, data, data / "mer-caption-plus.parquet", splits, clip_ids)
    return out


def test_the_sidecar_names_the_data_and_split(tmp_path, data_dir):
    out = answer(tmp_path / "preds", data_dir, ["a", "d"], ["test"], {"a": ["happy"], "d": ["calm"]})
    assert source_path(out) == tmp_path / "preds" / "local.source.json"
    source = json.loads(source_path(out).read_text())
    assert source["data"] == str(data_dir.resolve()) and source["splits"] == ["test"] and source["n_clips"] == 2
    assert source["records"].endswith("mer-caption-plus.parquet")


def test_local_scores_the_answered_split_of_the_answered_data(tmp_path, data_dir):
    answer(tmp_path / "preds", data_dir, ["a", "d"], ["test"], {"a": ["happy", "joyful"], "d": ["calm"]})
    for name in ("local", f"local={data_dir}", f"local={data_dir / 'mer-caption-plus.parquet'}"):
        dataset = load_dataset(name, predictions_dir=tmp_path / "preds")
        assert [s.clip_id for s in dataset.samples] == ["a", "d"], name
        assert dataset.task == "ov" and dataset.samples[1].gt == ["calm", "relaxed"]
    report = run_bench(tmp_path / "preds", ["local"], tmp_path / "report", mode="corrected")
    entry = report.datasets["local"]
    assert entry.status == "scored" and entry.n_gold == 2 and entry.n_missing_predictions == 0
    assert math.isfinite(entry.value) and 0 < entry.value <= 1
    # `validation` is the `val` split inference sees: the same rule on both sides
    answer(tmp_path / "val", data_dir, ["c"], ["val"], {"c": ["angry"]})
    assert [s.clip_id for s in load_dataset("local", predictions_dir=tmp_path / "val").samples] == ["c"]


def test_other_data_than_infer_answered_is_refused_with_what_to_pass(tmp_path, data_dir):
    answer(tmp_path / "preds", data_dir, ["a", "d"], ["test"], {"a": ["happy"], "d": ["calm"]})
    manifest = data_dir / "clip_manifest.parquet"
    with pytest.raises(DatasetError) as refused:
        load_dataset(f"local={manifest}", predictions_dir=tmp_path / "preds")
    message = str(refused.value)
    assert "answers split test of" in message and "(2 clips)" in message
    assert "4 of its 6 labelled clips were never asked (first: x1, x2, x3)" in message
    assert f"--datasets local={data_dir.resolve()}" in message
    with pytest.raises(DatasetError, match="answers split test"):  # never "scored" with 4 of 6 unanswered
        run_bench(tmp_path / "preds", [f"local={manifest}"], tmp_path / "report", mode="corrected")


def test_without_a_sidecar_local_needs_its_data(tmp_path, data_dir):
    (tmp_path / "old").mkdir()
    with pytest.raises(DatasetError, match="needs a clip-manifest Parquet or a data folder"):
        load_dataset("local", predictions_dir=tmp_path / "old")
    dataset = load_dataset(f"local={data_dir}", predictions_dir=tmp_path / "old")  # default: the test split
    assert [s.clip_id for s in dataset.samples] == ["a", "d"]


def test_a_manifest_whose_clips_were_all_answered_from_a_copy_is_scored(tmp_path, data_dir):
    """The pipeline's evaluate step answers a temporary copy of the manifest's test rows: the
    clips agree, so the manifest is accepted although the recorded folder is gone."""
    copy = tmp_path / "scratch" / "local"
    copy.mkdir(parents=True)
    pq.write_table(pq.read_table(data_dir / "clip_manifest.parquet"), copy / "records.parquet")
    clips = ["a", "d", "x1", "x2", "x3", "x4"]
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "local.jsonl").write_text("".join(json.dumps({"clip_id": c, "dataset": "local", "output": "happy",
                                                           "extracted_labels": ["happy"]}) + "\n" for c in clips))
    write_source(preds / "local.jsonl", copy, copy / "records.parquet", ["test"], clips)
    for path in copy.iterdir():
        path.unlink()
    copy.rmdir()
    report = run_bench(preds, [f"local={data_dir / 'clip_manifest.parquet'}"], tmp_path / "report", mode="corrected")
    entry = report.datasets["local"]
    assert entry.status == "scored" and entry.task == "hit" and entry.n_gold == 6 and entry.n_missing_predictions == 0
    assert 0 < entry.value < 1  # a and x3 are happy, the other four are not
