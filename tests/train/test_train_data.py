"""Caption-record loading: accepted file names, split aliases, quarantine reasons, features
from the feature cache (present, missing -> zeros and counted, mis-shaped -> quarantined),
and the CLI's clean errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from affectgpt.features.packs import write_features
from affectgpt.train.data import DataError, labels_as_written, load_caption_data, stack_features


def _records(folder, name="mer-caption.parquet"):
    table = pd.DataFrame({
        "clip_id": ["a", "b", "b", "c", "d", "e", ""],
        "subtitle": ["Of course.", "Hi.", "dup", "x", "y", None, "z"],
        "description": ["He smiles.", None, "d", None, "She frowns.", "He sighs.", "q"],
        "ov_labels": [["happy"], ["sad", "worried"], ["x"], [], ["angry"], ["relaxed", "calm"], ["z"]],
        "split": ["train", "Validation", "train", "train", "train", "test", "train"],
    })
    folder.mkdir(parents=True, exist_ok=True)
    table.to_parquet(folder / name)
    return folder


def test_records_are_read_with_split_aliases_and_bad_rows_quarantined(tmp_path):
    data = load_caption_data(_records(tmp_path / "d"), 32, 32)
    # "c" has an explicitly empty label list: upstream trains it as `neutral`
    assert [s.clip_id for s in data.samples] == ["a", "b", "c", "d", "e"]
    assert {s.clip_id: s.split for s in data.samples} == {"a": "train", "b": "val", "c": "train", "d": "train",
                                                          "e": "test"}
    assert data.samples[2].ov_labels == ["neutral"]
    assert {r.record_id: r.reason for r in data.skipped} == {"b": "duplicate_id", "row-7": "missing_clip_id"}
    assert "mer-caption.parquet row 3" in next(r.detail for r in data.skipped if r.record_id == "b")
    assert data.samples[4].ov_labels == ["relaxed", "calm"] and data.samples[4].subtitle == ""
    assert data.missing_features == 5 and data.samples[0].features["audio"].shape == (8, 32)


def test_features_from_the_cache_are_used_and_bad_shapes_quarantined(tmp_path):
    folder = _records(tmp_path / "d", name="records.parquet")
    features = folder / "features"
    good = {"frames": torch.randn(8, 32), "faces": torch.randn(8, 32), "audio": torch.randn(8, 32)}
    write_features(features, {"a": good, "d": {**good, "audio": torch.randn(8, 7)}})
    data = load_caption_data(folder, 32, 32)
    by_id = {s.clip_id: s for s in data.samples}
    assert by_id["a"].has_features and torch.equal(by_id["a"].features["faces"], good["faces"])
    assert "d" not in by_id
    bad = next(r for r in data.skipped if r.record_id == "d")
    assert bad.reason == "bad_features" and "'audio' has shape (8, 7)" in bad.detail
    assert data.missing_features == 3  # b, c and e have no features: zero features, counted
    batch = stack_features([by_id["a"], by_id["b"]])
    assert batch["frames"].shape == (2, 8, 32) and torch.count_nonzero(batch["frames"][1]) == 0


def test_label_parsing_accepts_the_writers_formats():
    assert labels_as_written("happy, sad") == ["happy", "sad"]
    assert labels_as_written("['pleasurable', 'self-deprecating']") == ["pleasurable", "self-deprecating"]
    assert labels_as_written(None) == [] and labels_as_written(float("nan")) == []
    assert labels_as_written("['Happy', \"don't care\"]") == ["Happy", "don't care"]  # as written, not normalised


def test_missing_or_unusable_data_folders_raise_clear_errors(tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        load_caption_data(tmp_path / "nope", 32, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="mer-caption-plus.parquet"):
        load_caption_data(tmp_path / "empty", 32, 32)
    (tmp_path / "bad").mkdir()
    pd.DataFrame({"id": ["a"]}).to_parquet(tmp_path / "bad" / "records.parquet")
    with pytest.raises(DataError, match="column 'clip_id' is missing"):
        load_caption_data(tmp_path / "bad", 32, 32)


def test_cli_reports_user_errors_without_a_traceback(tmp_path):
    from affectgpt.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"), "--data", str(tmp_path / "none"),
                                 "--out", str(tmp_path / "out")])
    assert result.exit_code == 4 and f"--data {tmp_path / 'none'}: not found" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, ["infer", "--model", str(tmp_path), "--data", str(tmp_path), "--prompt", "ov"])
    assert result.exit_code == 4 and "not an AffectGPT model directory" in result.output
