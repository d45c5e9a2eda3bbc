"""Bad input to `bench score` and `bench run`: deep JSON, empty files, repeated names (also
`1` vs `"1"`), NaN/Infinity ground truths and non-UTF-8 bytes get a clear answer naming the file
and line, never a traceback, a silent 0 or a double count."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.bench.datasets import load_dataset
from affectgpt.bench.extract import get_extractor
from affectgpt.bench.runner import read_predictions
from affectgpt.cli import app

runner = CliRunner()


def _score(tmp_path: Path, text: bytes | str, task: str = "ov"):
    path = tmp_path / "in.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path, runner.invoke(app, ["bench", "score", "--task", task, "--input", str(path),
                                     "--out", str(tmp_path / "out.json")])


def test_score_deep_json_is_exit_2_with_file_and_line(tmp_path):
    good = json.dumps({"name": "a", "gt": ["happy"], "pred": ["happy"]})
    path, result = _score(tmp_path, good + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    assert result.exit_code == 2, result.output
    assert f"{path} line 2" in result.output.replace("\n", "") and "deeper than" in result.output
    assert "RecursionError" not in result.output and "Traceback" not in result.output


def test_score_empty_input_is_an_error_not_zero(tmp_path):
    _, result = _score(tmp_path, "\n\n")
    assert result.exit_code == 2 and "no samples to score" in " ".join(result.output.split())  # the console wraps
    assert not (tmp_path / "out.json").exists()


def test_score_repeated_names_count_once_first_kept(tmp_path):
    lines = [{"name": 1, "gt": ["happy"], "pred": ["happy"]}, {"name": "1", "gt": ["happy"], "pred": ["sad"]},
             {"name": "2", "gt": ["sad"], "pred": ["sad"]}]
    _, result = _score(tmp_path, "".join(json.dumps(line) + "\n" for line in lines))
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["n_scored"] == 2 and written["score"] == pytest.approx(1.0)
    assert [(q["reason"], q["record_id"]) for q in written["quarantined"]] == [("duplicate_id", "in.jsonl:2")]


def test_score_nan_and_infinity_ground_truths_are_quarantined(tmp_path):
    text = ('{"name": "a", "gt": NaN, "pred": "positive"}\n{"name": "b", "gt": Infinity, "pred": "positive"}\n'
            '{"name": "c", "gt": 1.5, "pred": "positive"}\n{"name": "d", "gt": -2.0, "pred": "negative"}\n')
    _, result = _score(tmp_path, text, task="sentiment")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["n_scored"] == 2
    assert sorted(q["reason"] for q in written["quarantined"]) == ["bad_label", "bad_label"]


def _unscored_quarantine(written: dict) -> list[tuple[str, str, str]]:
    """Every sample the metric left out must be listed: n_samples - n_scored of them."""
    left_out = [(q["record_id"], q["reason"], q["detail"]) for q in written["quarantined"]
                if q["reason"] in ("unmapped_label", "no_label", "neutral_valence")]
    assert len(left_out) == written["n_samples"] - written["n_scored"], written
    return left_out


@pytest.mark.parametrize(("task", "mode", "details"), [
    ("ov", "official", False),  # the columnar path
    ("ov", "corrected", False),  # the vectorized path
    ("ov", "official", True),  # the per-sample path (--samples)
    ("hit", "official", False),
    ("hit", "corrected", True),
])
def test_score_a_sample_no_label_of_which_maps_is_quarantined_with_the_reason(tmp_path, task, mode, details):
    path = tmp_path / "in.jsonl"
    path.write_text('{"name": "a", "gt": ["happy"], "pred": ["happy"]}\n\n'
                    '{"name": "b", "gt": ["xyz"], "pred": ["happy"]}\n'
                    '{"name": "c", "gt": [], "pred": ["happy"]}\n')
    extra = ["--samples", str(tmp_path / "details.jsonl")] if details else []
    result = runner.invoke(app, ["bench", "score", "--task", task, "--mode", mode, "--input", str(path),
                                 "--out", str(tmp_path / "out.json"), *extra])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out.json").read_text())
    assert (written["n_samples"], written["n_scored"]) == (3, 1)
    (b_id, b_reason, b_detail), (c_id, c_reason, _) = _unscored_quarantine(written)
    assert (b_id, b_reason, c_id, c_reason) == ("in.jsonl:3", "unmapped_label", "in.jsonl:4", "no_label")
    assert f"{path} line 3: sample 'b': no label maps to the emotion wheel: ['xyz']" in b_detail


def test_score_a_neutral_valence_is_listed_not_just_uncounted(tmp_path):
    text = '{"name": "a", "gt": 0, "pred": "positive"}\n{"name": "b", "gt": 1.5, "pred": "positive"}\n'
    _, result = _score(tmp_path, text, task="sentiment")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out.json").read_text())
    assert [(r, i) for i, r, _ in _unscored_quarantine(written)] == [("neutral_valence", "in.jsonl:1")]


@pytest.mark.parametrize("task", ["ov", "hit"])
def test_score_nan_ground_truth_of_a_label_task_is_quarantined_and_the_rest_scored(tmp_path, task):
    text = ('{"name": "a", "gt": NaN, "pred": ["happy"]}\n{"name": "b", "gt": -Infinity, "pred": ["sad"]}\n'
            '{"name": "c", "gt": ["happy"], "pred": ["happy"]}\n')
    _, result = _score(tmp_path, text, task=task)
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["n_scored"] == 1 and written["score"] == pytest.approx(1.0)
    assert [(q["record_id"], q["reason"]) for q in written["quarantined"]] == [
        ("in.jsonl:1", "bad_label"), ("in.jsonl:2", "bad_label")]


# A record cut short after 38 characters: the JSON breaks at column 39 of its line.
CUT_SHORT = '{"name": "b", "gt": ["happy"], "pred":'


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_score_malformed_json_names_the_real_line_and_column(tmp_path, ending):
    assert len(CUT_SHORT) == 38
    good = json.dumps({"name": "a", "gt": ["happy"], "pred": ["happy"]})
    path, result = _score(tmp_path, good + "\n" + CUT_SHORT + ending)
    assert result.exit_code == 2, result.output
    assert f"{path} line 2: not valid JSON (Expecting value at column 39)" in " ".join(result.output.split())


def test_run_quarantines_malformed_json_with_the_real_column(tmp_path, local_set):
    dataset = load_dataset(f"local={local_set}", local_task="hit")
    path = tmp_path / "local.jsonl"
    path.write_text('{"clip_id": "1", "extracted_labels": ["happy"]}\n' + CUT_SHORT + "\n")
    _, skipped = read_predictions(path, dataset, get_extractor("lexicon"))
    assert [(s.record_id, s.reason) for s in skipped] == [("local.jsonl:2", "malformed_json")]
    assert skipped[0].detail == f"{path} line 2: not valid JSON (Expecting value at column 39)"


def test_score_non_utf8_names_file_and_line(tmp_path):
    path, result = _score(tmp_path, b'{"name": "a", "gt": ["happy"], "pred": ["happy"]}\n{"name": "b\xff\xfe"}\n')
    assert result.exit_code == 2
    assert f"{path} line 2" in result.output.replace("\n", "") and "UTF-8" in result.output


@pytest.fixture()
def local_set(tmp_path) -> Path:
    path = tmp_path / "gold.parquet"
    pd.DataFrame({"clip_id": ["1", "2", "3", "3"], "split": "test",
                  "emotion": ["happy", "sad", "angry", "happy"]}).to_parquet(path)
    return path


def test_run_predictions_duplicates_deep_json_and_bad_bytes_are_quarantined(tmp_path, local_set):
    dataset = load_dataset(f"local={local_set}", local_task="hit")
    assert [s.clip_id for s in dataset.samples] == ["1", "2", "3"]  # the repeated gold row is not scored twice
    assert [r.reason for r in dataset.skipped] == ["duplicate_id"]
    path = tmp_path / "local.jsonl"
    path.write_bytes(b'{"clip_id": 1, "extracted_labels": ["happy"]}\n'
                     b'{"clip_id": "1", "extracted_labels": ["sad"]}\n'
                     + b"[" * 50_000 + b"\n"
                     + b'{"clip_id": "2", "output": "sad \xff"}\n'
                     + b'{"clip_id": "2", "extracted_labels": ["sad"]}\n')
    predictions, skipped = read_predictions(path, dataset, get_extractor("lexicon"))
    assert predictions["1"].labels == ["happy"] and predictions["2"].labels == ["sad"]
    assert [(s.record_id, s.reason) for s in skipped] == [
        ("local.jsonl:2", "duplicate_id"), ("local.jsonl:3", "too_deep"), ("local.jsonl:4", "bad_encoding")]
    assert f"{path} line 4" in skipped[2].detail


def test_run_gold_duplicates_and_infinite_labels_are_quarantined(tmp_path):
    gold = tmp_path / "gold.parquet"
    pd.DataFrame({"clip_id": ["a", "b", "b", "c"], "split": "test",
                  "valence": [1.0, -1.0, 2.0, float("inf")]}).to_parquet(gold)
    dataset = load_dataset(f"local={gold}")
    assert [s.clip_id for s in dataset.samples] == ["a", "b"] and dataset.gold["b"].gt == -1.0
    assert sorted(r.reason for r in dataset.skipped) == ["bad_label", "duplicate_id"]


def test_run_empty_predictions_is_no_samples_and_exits_3(tmp_path, local_set):
    predictions = tmp_path / "preds"
    predictions.mkdir()
    (predictions / "local.jsonl").write_text("")
    result = runner.invoke(app, ["bench", "run", "--predictions", str(predictions), "--datasets",
                                 f"local={local_set}", "--out", str(tmp_path / "report")])
    assert result.exit_code == 3, result.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["datasets"]["local"]["status"] == "no_samples" and report["datasets"]["local"]["value"] is None
    assert report["mean"] is None
