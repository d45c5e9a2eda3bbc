"""The MER-UniBench fixture and the test-set layout: real labels and subtitles copied from the
reference data, synthetic media, honest about what the reference data lacks; `check-sets`
says per dataset what is there and what is missing; the training corpus `make run` builds
takes real text from train splits only."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.bench.datasets import DATASETS, load_dataset
from affectgpt.cli import app


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory, reference_data: Path) -> Path:
    from affectgpt.bench.fixture import make_fixture

    out = tmp_path_factory.mktemp("unibench") / "fixture"
    make_fixture(out, per_dataset=2, workers=2)
    return out


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_fixture_copies_real_test_labels_and_subtitles(fixture_dir: Path, reference_data: Path):
    info = json.loads((fixture_dir / "fixture.json").read_text())
    assert info["synthetic"] is True and "SYNTHETIC" in (fixture_dir / "README.md").read_text()
    assert (info["per_dataset"], info["seed"], info["selection"]) == (2, 0, "scored-clips")
    for name, spec in DATASETS.items():
        entry = info["datasets"][name]
        if name == "mer2024":  # the reference data has no MER2024 labels: said, not invented
            assert entry["status"] == "no_labels" and "no MER2024 labels" in entry["note"]
            assert not (fixture_dir / name).exists()
            continue
        assert entry["status"] == "ok" and entry["n_clips"] == 2, name
        reference_rows = {row["name"]: row for row in _rows(reference_data / spec.label_file)}
        copied = _rows(fixture_dir / name / "labels.csv")
        assert len(copied) == 2 and all(reference_rows[row["name"]] == row for row in copied), name
        test_ids = {s.clip_id for s in load_dataset(name, labels_root=reference_data).samples}
        assert {row["name"] for row in copied} <= test_ids, f"{name}: a fixture clip outside the test split"
        for row in copied:
            clip = fixture_dir / name / "clips" / row["name"]
            assert clip.with_suffix(".mp4").stat().st_size > 0 and clip.with_suffix(".wav").stat().st_size > 0
        if name == "cmumosei":  # no transcripts in the reference data: no subtitles, and the row says so
            assert not (fixture_dir / name / "transcripts.csv").exists() and "no CMU-MOSEI transcripts" in entry["note"]
            continue
        source = DATASETS["mer2023" if name == "ovmerdplus" else name].transcript_file
        reference_text = {row["name"]: row["english"] for row in _rows(reference_data / source)}
        for row in _rows(fixture_dir / name / "transcripts.csv"):
            assert row["english"] == reference_text[row["name"]] and row["english"], name


def test_n_fixture_clips_a_set_are_n_scored_clips(reference_data: Path):
    """20 clips a set are 20 clips the set's metric scores (no neutral HIT clip, no zero valence),
    in both scorer modes, so no set of `make run`'s fixture reads "too few clips to compare"."""
    from affectgpt.bench.fixture import plan_fixture
    from affectgpt.bench.metrics import score_task
    from affectgpt.bench.testsets import FIXTURE_CLIPS_PER_SET

    planned = plan_fixture(FIXTURE_CLIPS_PER_SET, labels_root=reference_data)
    for name, clip_ids in planned.items():
        if name == "mer2024":  # no labels in the reference data
            assert clip_ids == []
            continue
        dataset = load_dataset(name, labels_root=reference_data)
        gold = dataset.gold
        samples = [{"name": c, "gt": gold[c].gt, "pred": gold[c].gt if dataset.task != "sentiment" else "positive"}
                   for c in clip_ids]
        for mode in ("official", "corrected"):
            assert score_task(dataset.task, samples, mode=mode, keep_samples=False).n_scored == FIXTURE_CLIPS_PER_SET, \
                (name, mode)


def test_check_sets_says_per_dataset_what_is_missing(fixture_dir: Path, tmp_path: Path):
    broken = tmp_path / "unibench"
    shutil.copytree(fixture_dir, broken)
    meld_ids = [row["name"] for row in _rows(broken / "meld" / "labels.csv")]
    (broken / "meld" / "clips" / f"{meld_ids[0]}.mp4").unlink()  # audio only now
    (broken / "meld" / "clips" / f"{meld_ids[0]}.wav").unlink()  # nothing at all
    (broken / "sims" / "transcripts.csv").unlink()
    (broken / "simsv2" / "labels.csv").write_bytes(b"\xff\xfe not a csv \x00")
    result = CliRunner().invoke(app, ["bench", "check-sets", str(broken), "--json"])
    assert result.exit_code == 0, result.output
    status = {entry["dataset"]: entry for entry in json.loads(result.stdout)}
    assert set(status) == set(DATASETS)
    assert status["meld"]["n_test"] == 2 and status["meld"]["n_media"] == 1 and not status["meld"]["ready"]
    assert any(meld_ids[0] in line for line in status["meld"]["missing"])
    assert status["sims"]["n_subtitles"] == 0 and any("transcripts.csv" in m for m in status["sims"]["missing"])
    assert status["mer2023"]["ready"] and status["mer2023"]["n_subtitles"] == 2
    assert status["simsv2"]["n_test"] == 0 and any("labels.csv" in m for m in status["simsv2"]["missing"])
    assert status["mer2024"]["n_test"] == 0 and any("no MER2024 labels" in n for n in status["mer2024"]["notes"])

    table = CliRunner().invoke(app, ["bench", "check-sets", str(broken)])
    assert table.exit_code == 0, table.output
    ready = sorted(name for name, entry in status.items() if entry["ready"])
    assert "meld" not in ready and "mer2023" in ready
    assert f"{len(ready)} of 9 sets complete" in table.output  # the same count as the JSON says
    table_rows = {line.split("│")[1].strip(): line for line in table.output.splitlines() if line.count("│") > 2}
    assert set(table_rows) >= {DATASETS[name].display_name for name in DATASETS}  # one row per set
    assert [cell.strip() for cell in table_rows["MELD"].split("│")[2:5]] == ["2", "1", "2"]  # labels, media, subtitles
    missing = CliRunner().invoke(app, ["bench", "check-sets", str(tmp_path / "nowhere")])
    assert missing.exit_code == 4 and "test-set folder not found" in missing.output
    assert "Traceback" not in missing.output


def test_make_run_corpus_takes_real_train_text_and_never_a_test_clip(fixture_dir: Path, reference_data: Path,
                                                                     tmp_path: Path):
    from affectgpt.data.reference_corpus import benchmark_test_clip_ids, make_reference_corpus

    manifest = make_reference_corpus(tmp_path / "corpus", n_clips=12, workers=2)
    corpus = pd.read_parquet(manifest)
    assert len(corpus) == 12
    fixture_ids = {row["name"] for name in DATASETS if (fixture_dir / name).is_dir()
                   for row in _rows(fixture_dir / name / "labels.csv")}
    assert not set(corpus["clip_id"]) & fixture_ids
    assert not set(corpus["clip_id"]) & benchmark_test_clip_ids(reference_data)
    mer = DATASETS["mer2023"]
    train = {row["name"]: row for row in _rows(reference_data / mer.label_file) if row["split"] == "train"}
    text = {row["name"]: row["english"].strip() for row in _rows(reference_data / mer.transcript_file)}
    from_mer = corpus[corpus["source"].str.endswith(":mer2023")]
    assert len(from_mer) >= 1
    for row in from_mer.to_dict("records"):  # the real subtitle and label of a MER2023 train clip
        assert row["clip_id"] in train and row["subtitle"] == text[row["clip_id"]]
        assert row["emotion"] == train[row["clip_id"]]["emo"] and list(row["ov_labels"]) == [row["emotion"]]
    assert {"train", "val", "test"} <= set(corpus["split"])


def test_make_runs_corpus_and_fixture_hold_no_common_clip_and_no_test_clip(reference_data: Path):
    """At the sizes `make run` uses (planned, no media made): no clip of the training corpus is a
    clip of any MER-UniBench test split, the fixture's clips among them."""
    from affectgpt.bench.fixture import plan_fixture
    from affectgpt.bench.testsets import FIXTURE_CLIPS_PER_SET
    from affectgpt.data.reference_corpus import (
        LOCAL_CORPUS_CLIPS,
        benchmark_test_clip_ids,
        plan_reference_corpus,
    )

    test_ids = benchmark_test_clip_ids(reference_data)
    planned = plan_fixture(FIXTURE_CLIPS_PER_SET, labels_root=reference_data)
    assert sum(map(len, planned.values())) == 8 * FIXTURE_CLIPS_PER_SET  # (CH-SIMS v2 holds clips of CH-SIMS)
    fixture_ids = {clip for ids in planned.values() for clip in ids}
    assert fixture_ids <= test_ids
    corpus = plan_reference_corpus(LOCAL_CORPUS_CLIPS, labels_root=reference_data)
    corpus_ids = {row["clip_id"] for row in corpus}
    assert len(corpus_ids) == LOCAL_CORPUS_CLIPS and not corpus_ids & test_ids and not corpus_ids & fixture_ids
