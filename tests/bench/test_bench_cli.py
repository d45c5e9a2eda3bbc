"""`affectgpt bench score|run` and `affectgpt demo`: outputs, reports and clear errors."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from affectgpt.cli import app

runner = CliRunner()


def _jsonl(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_score_writes_json_with_null_for_nan(tmp_path):
    source = _jsonl(tmp_path / "ov.jsonl", [
        {"name": "a", "gt": "['happy', 'joyful']", "pred": ["cheerful", "sad"]},
        {"name": "b", "gt": ["angry"], "pred": "[]"},
    ])
    out = tmp_path / "scores.json"
    result = runner.invoke(app, ["bench", "score", "--task", "ov", "--input", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(out.read_text())
    assert payload["mode"] == "official" and payload["wheels"] == "mer2025"
    assert payload["score"] is None  # wheel4: P = R = 0 -> NaN in the official arithmetic
    assert payload["per_wheel"]["wheel1"] == {"n_scored": 2, "precision": 0.25, "recall": 0.5,
                                              "f": pytest.approx(1 / 3)}
    assert "samples" not in payload  # per-sample details only on request (--samples)
    corrected = runner.invoke(app, ["bench", "score", "--task", "ov", "--input", str(source), "--mode", "corrected"])
    assert json.loads(corrected.stdout)["score"] == pytest.approx(4 / 15)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_score_writes_per_sample_details_only_on_request(tmp_path, suffix):
    import pandas as pd

    source = _jsonl(tmp_path / "ov.jsonl", [
        {"name": "a", "gt": "['happy', 'joyful']", "pred": ["cheerful", "sad"]},
        {"name": "b", "gt": ["angry"], "pred": "[]"},
    ])
    details = tmp_path / "out" / f"details{suffix}"
    result = runner.invoke(app, ["bench", "score", "--task", "ov", "--input", str(source),
                                 "--out", str(tmp_path / "s.json"), "--samples", str(details)])
    assert result.exit_code == 0, result.output
    rows = (pd.read_json(details, lines=True) if suffix == ".jsonl" else pd.read_parquet(details)).to_dict("records")
    assert [row["name"] for row in rows] == ["a", "b"]
    wheels = rows[0]["wheels"] if suffix == ".jsonl" else json.loads(rows[0]["wheels"])
    assert wheels["wheel1"] == {"gt": ["happy"], "pred": ["happy", "sad"], "precision": 0.5, "recall": 1.0}
    assert list(details.parent.iterdir()) == [details]  # no temporary left behind
    bad = runner.invoke(app, ["bench", "score", "--task", "ov", "--input", str(source), "--samples",
                              str(tmp_path / "d.csv")])
    assert bad.exit_code == 2 and ".jsonl or .parquet" in " ".join(bad.output.split())


def test_score_sentiment_details_to_parquet(tmp_path):
    import pandas as pd

    source = _jsonl(tmp_path / "s.jsonl", [{"name": "a", "gt": 1.5, "pred": "positive"},
                                           {"name": "b", "gt": 0, "pred": "negative"}])
    details = tmp_path / "d.parquet"
    result = runner.invoke(app, ["bench", "score", "--task", "sentiment", "--input", str(source),
                                 "--samples", str(details)])
    assert result.exit_code == 0, result.output
    rows = pd.read_parquet(details).to_dict("records")
    assert rows[0]["y_true"] == 1 and rows[0]["scored"] and not rows[1]["scored"]


@pytest.mark.parametrize("lines,task,message", [
    (['{"name": "a", "gt": 1, "pred": "positive"}', '{"name": "b" "gt": 1}'], "sentiment", "line 2: not valid JSON"),
    ([{"name": "a", "gt": ["happy"]}], "ov", "line 1: missing field 'pred'"),
    ([{"name": "a", "gt": "very", "pred": "positive"}], "sentiment", "line 1: field 'gt' must be a number"),
    ([{"name": "a", "gt": 3, "pred": ["x"]}], "hit", "line 1: field 'gt' must be a list or a string"),
])
def test_score_bad_input_names_line_and_field_without_traceback(tmp_path, lines, task, message):
    source = _jsonl(tmp_path / "bad.jsonl", lines)
    result = runner.invoke(app, ["bench", "score", "--task", task, "--input", str(source)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output
    # The command exited on purpose (SystemExit); an exception that escaped would be kept here.
    assert isinstance(result.exception, SystemExit), repr(result.exception)


def test_run_scores_prediction_files_and_writes_the_report(reference_data, tmp_path):
    predictions = tmp_path / "preds"
    predictions.mkdir()
    _jsonl(predictions / "mer2023.jsonl", [
        {"clip_id": "sample_00003564", "dataset": "mer2023", "prompt_type": "description",
         "output": "He looks happy and cheerful.", "extracted_labels": None, "extractor": None},
        {"clip_id": "sample_00001998", "dataset": "mer2023", "output": "x", "extracted_labels": ["angry"]},
        "{not json",
        {"dataset": "mer2023", "output": "no clip id"},
        {"clip_id": "not_a_clip", "output": "happy"},
    ])
    _jsonl(predictions / "cmumosi.jsonl", [{"clip_id": "k5Y_838nuGo_2", "output": "She is delighted."}])
    report_dir = tmp_path / "report"
    result = runner.invoke(app, ["bench", "run", "--predictions", str(predictions), "--datasets",
                                 "mer2023,cmumosi,meld", "--out", str(report_dir), "--labels", str(reference_data)])
    assert result.exit_code == 0, result.output
    report = json.loads((report_dir / "report.json").read_text())
    assert report["mode"] == "official" and report["extractor"]["name"] == "lexicon"
    mer2023 = report["datasets"]["mer2023"]
    assert mer2023["status"] == "scored" and mer2023["metric"] == "hit_rate"
    assert mer2023["n_predictions"] == 2 and mer2023["n_skipped"] == 3 and mer2023["n_gold"] == 411
    # one correct answer (happy), one wrong (angry for worried), the rest missing -> scored as empty
    expected = sum(1 / wheel["n_scored"] for wheel in mer2023["per_wheel"].values()) / 5
    assert mer2023["value"] == pytest.approx(expected)
    assert report["datasets"]["cmumosi"]["metric"] == "weighted_f1"
    assert report["datasets"]["meld"]["status"] == "missing_predictions"
    assert report["mean_over"] == ["cmumosi", "mer2023"] and report["complete"] is False
    manifest = json.loads((report_dir / "manifest.json").read_text())
    # The quarantined lines, and the gold clips no metric scores: MER2023's neutral ones, CMU-MOSI's zero valences.
    assert manifest["skipped_by_reason"] == {"malformed_json": 1, "missing_field": 1, "unknown_clip": 1,
                                             "unmapped_label": 88, "neutral_valence": 30}
    assert mer2023["n_scored"] + mer2023["n_excluded"] == mer2023["n_gold"]
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    for entry in (mer2023, report["datasets"]["cmumosi"]):  # each scored row, with its score in percent
        assert entry["display_name"] in page and f"{100 * entry['value']:.2f}" in page
    charts = re.findall(r'<figure class="chart" aria-label="([^"]+)"><svg\b', page)  # inline, vector
    assert charts[0] == "each set: this model beside the paper"
    assert sorted(charts[1:]) == ["CMU-MOSI", "MER2023"], charts  # one per scored set: none for MELD
    assert not list(report_dir.glob("*.png"))
    unknown = runner.invoke(app, ["bench", "run", "--predictions", str(predictions), "--datasets", "mer2030",
                                  "--out", str(report_dir)])
    assert unknown.exit_code == 2 and "unknown dataset 'mer2030'" in unknown.output


def test_run_lists_the_gold_clips_a_metric_skips_with_their_reason(tmp_path):
    """A neutral clip of a HIT set (no emotion wheel holds `neutral`) and a zero-valence clip of
    a sentiment set are scored by neither metric: report.json lists each with its reason, the
    console and the page say so, and the manifest counts them as skipped, not silently gone."""
    sets = tmp_path / "unibench"
    for name, rows in (("mer2023", ["test1,clip_happy,happy,1.0", "test1,clip_neutral,neutral,0.0",
                                    "test1,clip_sad,sad,-1.0"]),
                       ("cmumosi", ["test,clip_up,0,1.5", "test,clip_flat,0,0.0", "test,clip_down,0,-1.0"])):
        (sets / name).mkdir(parents=True)
        (sets / name / "labels.csv").write_text("split,name,emo,val\n" + "\n".join(rows) + "\n")
    predictions = tmp_path / "preds"
    predictions.mkdir()
    _jsonl(predictions / "mer2023.jsonl", [{"clip_id": c, "extracted_labels": [label]} for c, label in
                                           (("clip_happy", "happy"), ("clip_neutral", "calm"), ("clip_sad", "sad"))])
    _jsonl(predictions / "cmumosi.jsonl", [{"clip_id": c, "output": text} for c, text in
                                           (("clip_up", "She is delighted."), ("clip_flat", "He is fine."),
                                            ("clip_down", "He is furious."))])
    report_dir = tmp_path / "report"
    result = runner.invoke(app, ["bench", "run", "--predictions", str(predictions), "--datasets", "mer2023,cmumosi",
                                 "--out", str(report_dir), "--labels", str(sets)])
    assert result.exit_code == 0, result.output
    report = json.loads((report_dir / "report.json").read_text())
    mer2023, cmumosi = report["datasets"]["mer2023"], report["datasets"]["cmumosi"]
    assert (mer2023["n_gold"], mer2023["n_scored"], mer2023["n_excluded"]) == (3, 2, 1)
    assert (cmumosi["n_gold"], cmumosi["n_scored"], cmumosi["n_excluded"]) == (3, 2, 1)
    assert [(c["clip_id"], c["reason"]) for c in mer2023["excluded"]] == [("clip_neutral", "unmapped_label")]
    assert "['neutral']" in mer2023["excluded"][0]["detail"]
    assert [(c["clip_id"], c["reason"]) for c in cmumosi["excluded"]] == [("clip_flat", "neutral_valence")]
    assert ("1 gold clip skipped by the metric, not scored: 1 its label is on no emotion wheel (e.g. neutral) "
            "(clip_neutral)") in mer2023["notes"]
    assert "1 gold clip skipped by the metric, not scored: 1 valence 0, neither positive nor negative (clip_flat)" \
        in cmumosi["notes"]
    console = " ".join(result.output.replace("│", " ").split())  # the notes column of the table, unwrapped
    assert console.count("skipped by the metric") == 2 and "(clip_neutral)" in console and "(clip_flat)" in console
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    assert "<h2>Gold clips skipped by the metric</h2>" in page and "MER2023: 1 of 3 clips" in page
    assert "clip_neutral" in page and "clip_flat" in page
    manifest = json.loads((report_dir / "manifest.json").read_text())
    assert manifest["kept"] == 6 and manifest["skipped_by_reason"] == {"neutral_valence": 1, "unmapped_label": 1}
    assert {r["record_id"] for r in manifest["skipped"]} == {"mer2023/clip_neutral", "cmumosi/clip_flat"}


def test_demo_runs_on_real_files(reference_data, tmp_path):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    results = json.loads((tmp_path / "reference" / "results.json").read_text())
    assert results["mer2024_clusters"]["accuracy"] == pytest.approx(0.581777108433735)
    from affectgpt.demo_cli import DEMO_DESCRIPTIONS

    n_bundled = len(json.loads(DEMO_DESCRIPTIONS.read_text(encoding="utf-8")))
    bundled = json.loads((tmp_path / "bundled" / "report" / "report.json").read_text())["datasets"]["local"]
    assert bundled["status"] == "scored" and bundled["n_gold"] == bundled["n_predictions"] == n_bundled
    assert 0.0 <= bundled["value"] <= 1.0
    official = json.loads((tmp_path / "reference" / "report-official" / "report.json").read_text())
    assert official["mode"] == "official"  # the same number in the report as in results.json
    assert official["datasets"]["ovmerdplus"]["value"] == results["emer_v2_lexicon_ew_official"]["fscore"]
    assert "<svg" in (tmp_path / "reference" / "report-official" / "report.html").read_text(encoding="utf-8")
