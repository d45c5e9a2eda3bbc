"""What `pipeline run --local` makes for itself into the workspace (the training corpus, the
MER-UniBench fixture) is reused only while it was made with the size asked for, and nothing is
made before the inputs given on the command line are checked."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from affectgpt.cli import app


def _old_run(folder: Path, record: str, written: dict) -> None:
    """What an earlier run left: a record of how it was made (and a stand-in output)."""
    folder.mkdir(parents=True)
    (folder / record).write_text(json.dumps(written))


def test_a_cached_fixture_of_another_size_is_made_afresh(tmp_path: Path, reference_data: Path):
    from affectgpt.pipeline_cli import _local_fixture

    home = tmp_path / "home"
    _old_run(home / "unibench-fixture", "fixture.json", {"per_dataset": 4, "seed": 0})  # an older, smaller fixture
    fixture = _local_fixture(home, 1)
    info = json.loads((fixture / "fixture.json").read_text())
    assert (info["per_dataset"], info["selection"]) == (1, "scored-clips")
    assert len(pd.read_csv(fixture / "meld" / "labels.csv")) == 1
    made = (fixture / "fixture.json").stat().st_mtime_ns
    assert _local_fixture(home, 1) == fixture and (fixture / "fixture.json").stat().st_mtime_ns == made  # reused


def test_a_cached_corpus_of_another_size_is_made_afresh(tmp_path: Path, reference_data: Path):
    from affectgpt.data.reference_corpus import SPLITS_NAME
    from affectgpt.pipeline_cli import _local_corpus

    home = tmp_path / "home"
    _old_run(home / "reference-corpus", "manifest.json", {"parameters": {"n_clips": 24, "seed": 0}})
    pd.DataFrame({"clip_id": ["old"], "video_path": ["old.mp4"]}).to_parquet(home / "reference-corpus" / "clip_manifest.parquet")
    corpus = _local_corpus(home, 3, real_text=True)
    assert len(pd.read_parquet(corpus / "clip_manifest.parquet")) == 3
    assert json.loads((corpus / "manifest.json").read_text())["parameters"] == {"n_clips": 3, "seed": 0,
                                                                                  "splits": SPLITS_NAME}
    made = (corpus / "manifest.json").stat().st_mtime_ns
    assert _local_corpus(home, 3, real_text=True) == corpus and (corpus / "manifest.json").stat().st_mtime_ns == made


def test_a_bad_raw_dir_is_refused_before_the_fixture_is_made(tmp_path: Path, monkeypatch, reference_data: Path):
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    notes = tmp_path / "notes.txt"
    notes.write_text("not a corpus")
    result = CliRunner().invoke(app, ["pipeline", "run", "retrain", "--local", "--param", f"raw_dir={notes}"])
    assert result.exit_code == 2 and "expected a clip folder" in result.output
    assert not (tmp_path / "home" / "unibench-fixture").exists()
