"""A test-set folder has one loader: its label CSV is parsed once per report, labels and clip
files are paired by clip id, and the report's decoding is the one the predictions name.

The parse count is a spy around the real CSV reader (`datasets._read_rows`, which every label
file goes through): it counts and calls through, so the scoring below is the real one.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from affectgpt.bench import datasets
from affectgpt.bench.evaluation import (
    NO_TEST_SET_FOLDER,
    DecodingMismatch,
    SetPredictions,
    decoding_that_ran,
    score_test_sets,
)
from affectgpt.bench.testsets import check_set, load_test_set
from affectgpt.model.decoding import Decoding

LABELS = [("split", "name", "emo", "val"), ("test1", "clip_b", "happy", "1"), ("train", "clip_t", "sad", "-1"),
          ("test1", "clip_a", "angry", "-2")]


def _test_set_folder(root: Path) -> Path:
    """`<root>/mer2023/`: labels (two test clips, listed b before a), one transcript, and media
    for clip_a only, so a pairing by position would give clip_b's files to clip_a."""
    folder = root / "mer2023"
    (folder / "clips").mkdir(parents=True)
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(LABELS)
    (folder / "transcripts.csv").write_text("name,english\nclip_a,I am furious.\n", encoding="utf-8")
    (folder / "clips" / "clip_a.mp4").write_bytes(b"not decoded here")
    return root


def _predictions(folder: Path, decoding: str, answers: dict[str, str]) -> Path:
    (folder / "baseline").mkdir(parents=True)
    lines = [{"clip_id": clip, "dataset": "mer2023", "prompt_type": "ov", "decoding": decoding, "output": text}
             for clip, text in answers.items()]
    (folder / "mer2023.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "baseline" / "mer2023.jsonl").write_text(
        "".join(json.dumps({"clip_id": c, "dataset": "mer2023", "output": ""}) + "\n" for c in answers))
    SetPredictions("mer2023", "predicted", n_gold=2, n_predicted=2, decoding=decoding).write(folder)
    return folder


@pytest.fixture
def label_reads(monkeypatch) -> Counter:
    """How often each label file is parsed (a spy: the real reader still runs)."""
    reads: Counter = Counter()
    real = datasets._read_rows

    def counting(path: Path, required: tuple[str, ...]):
        reads[Path(path).name] += 1
        return real(path, required)

    monkeypatch.setattr(datasets, "_read_rows", counting)
    return reads


def test_the_loader_pairs_labels_subtitles_and_files_by_clip_id(tmp_path: Path, label_reads: Counter):
    root = _test_set_folder(tmp_path / "unibench")
    test_set = load_test_set(root, "mer2023")
    assert [(c.sample.clip_id, c.sample.gt, c.sample.subtitle) for c in test_set.clips] == [
        ("clip_b", "happy", None), ("clip_a", "angry", "I am furious.")]
    assert [(c.sample.clip_id, c.files.clip_id, c.files.problem) for c in test_set.clips] == [
        ("clip_b", "clip_b", "missing_file"), ("clip_a", "clip_a", None)]
    status = check_set(root, "mer2023")
    assert status.n_test == 2 and status.n_media == 1 and status.n_subtitles == 1
    assert status.test_set is not None and [c.clip_id for c in status.clips] == ["clip_b", "clip_a"]
    assert label_reads == {"labels.csv": 2}  # one per call: the status keeps what it read


def test_scoring_parses_each_label_file_once_for_model_and_baseline(tmp_path: Path, label_reads: Counter):
    root = _test_set_folder(tmp_path / "unibench")
    preds = _predictions(tmp_path / "preds" / "mer2023", "official", {"clip_a": "angry", "clip_b": "happy"})
    report = score_test_sets([preds], tmp_path / "report", unibench_dir=root, mode="corrected")
    entry = report.datasets["mer2023"]
    assert entry.status == "scored" and entry.n_gold == 2 and entry.value == pytest.approx(1.0)
    assert entry.baseline_value == pytest.approx(0.0)  # the baseline's empty answers, scored on the same labels
    assert label_reads == {"labels.csv": 1}
    assert report.decoding == "official"  # what the lines say ran; no decoding was passed
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert saved["decoding"] == "official"


def test_a_report_refuses_a_decoding_other_than_the_one_that_ran(tmp_path: Path):
    root = _test_set_folder(tmp_path / "unibench")
    preds = _predictions(tmp_path / "preds" / "mer2023", "official", {"clip_a": "angry"})
    with pytest.raises(DecodingMismatch, match="generated with decoding official, not greedy"):
        score_test_sets([preds], tmp_path / "report", unibench_dir=root, decoding="greedy")
    assert not (tmp_path / "report" / "report.json").exists()
    report = score_test_sets([preds], tmp_path / "report", unibench_dir=root, decoding=Decoding.OFFICIAL)
    assert report.decoding == "official"


def test_predictions_of_two_decodings_are_not_one_report(tmp_path: Path):
    first = _predictions(tmp_path / "a", "greedy", {"clip_a": "angry"}) / "mer2023.jsonl"
    second = _predictions(tmp_path / "b", "official", {"clip_b": "happy"}) / "mer2023.jsonl"
    assert decoding_that_ran([first]) is Decoding.GREEDY
    with pytest.raises(DecodingMismatch, match="several decodings"):
        decoding_that_ran([first, second])
    legacy = tmp_path / "legacy.jsonl"
    legacy.write_text('{"clip_id": "clip_a", "output": "angry"}\nnot json\n')
    assert decoding_that_ran([legacy], Decoding.GREEDY) is None  # nothing names a decoding: nothing to claim


def test_without_a_test_set_folder_each_row_says_so_once(tmp_path: Path, label_reads: Counter):
    preds = _predictions(tmp_path / "preds" / "mer2023", "greedy", {"clip_a": "angry"})
    report = score_test_sets([preds], tmp_path / "report", unibench_dir=None)
    for name in ("mer2023", "meld"):  # predicted but unlabelled, and not predicted at all
        entry = report.datasets[name]
        assert entry.status == "missing_labels" and entry.notes.count(NO_TEST_SET_FOLDER) == 1, entry.notes
    assert not label_reads  # nothing else (the reference data, say) was read in the folder's place
