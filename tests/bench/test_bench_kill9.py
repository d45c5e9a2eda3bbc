"""kill -9 during `affectgpt bench run` after the new report files are written: the report
folder keeps the previous report.json, HTML, charts and manifest together; a rerun finishes."""

from __future__ import annotations

import json

import pandas as pd


def test_kill_while_writing_the_report_keeps_the_old_report(tmp_path, killkit):
    gold = tmp_path / "gold.parquet"
    pd.DataFrame({"clip_id": ["a", "b", "c"], "split": "test", "emotion": ["happy", "sad", "angry"]}).to_parquet(gold)
    predictions = tmp_path / "preds"
    predictions.mkdir()
    lines = [{"clip_id": "a", "extracted_labels": ["happy"]}, {"clip_id": "b", "extracted_labels": ["happy"]}]
    (predictions / "local.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = tmp_path / "report"
    command = ["bench", "run", "--predictions", predictions, "--datasets", f"local={gold}", "--out", report]
    first = killkit.run(command)
    assert first.returncode == 0, first.stderr[-2000:]
    old = killkit.snapshot(report)

    (predictions / "local.jsonl").write_text(json.dumps({"clip_id": "b", "extracted_labels": ["sad"]}) + "\n")
    killed = killkit.run(command, kill_at="bench:wrote:report")
    assert killed.returncode == -9
    assert killkit.snapshot(report) == old

    rerun = killkit.run(command)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    written = json.loads((report / "report.json").read_text())["datasets"]["local"]
    assert written["n_predictions"] == 1
    assert json.loads((report / "manifest.json").read_text())["kept"] == 1
    assert killkit.leftovers(report) == []
