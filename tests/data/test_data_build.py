"""The full build on demo clips: outputs, records, caching, resume, incremental, parallel."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from data_testkit import fast_config

from affectgpt.data.build import BuildError, build_dataset
from affectgpt.data.clipwork import ClipWorker
from affectgpt.data.ingest import ingest
from affectgpt.data.schema import CAPTION_COLUMNS, read_caption_records


@pytest.fixture(scope="module")
def built(demo_corpus, shared_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "mer-caption"
    return build_dataset(demo_corpus / "raw", out, config=fast_config(shared_cache))


def test_outputs_and_record_shape(built):
    for name in ("mer-caption.parquet", "mer-caption-plus.parquet", "clip_manifest.parquet", "quarantine.parquet",
                 "data_card.md", "data_card.html", "length_histogram.svg", "manifest.json"):
        assert (built.out_dir / name).is_file(), name
    caption = read_caption_records(built.paths["mer_caption"])
    plus = read_caption_records(built.paths["mer_caption_plus"])
    assert list(caption.columns) == list(CAPTION_COLUMNS)
    assert set(plus["clip_id"]) <= set(caption["clip_id"])
    assert built.counts["mer_caption"] == len(caption) and built.counts["mer_caption_plus"] == len(plus)
    record = caption.iloc[0]
    assert record["clues"]["audio"].startswith("The speaker talks") and record["clues"]["text"] == record["subtitle"]
    assert record["description"] and record["sentiment"] in {"positive", "negative", "neutral"}
    assert {"acoustic", "fer", "merger:template", "extractor:lexicon"} <= set(record["describers"])
    assert set(record["filters"]) == {"prefilter", "length", "av_mismatch", "emotion_vote", "sentiment_vote"}
    for row in plus.itertuples():
        assert all(decision["kept"] for decision in row.filters.values())


def test_nothing_silently_dropped(built):
    quarantine = pd.read_parquet(built.paths["quarantine"])
    plus = read_caption_records(built.paths["mer_caption_plus"])
    assert len(plus) + len(quarantine) == built.counts["ingested"] == 6
    manifest = json.loads(built.manifest_path.read_text())
    assert manifest["kept"] == len(plus) and len(manifest["skipped"]) == len(quarantine)
    assert manifest["extra"]["high_level"]["trained_on"].startswith("labelled train split")
    card = (built.out_dir / "data_card.md").read_text()
    assert "## Quarantined" in card and "acoustic" in card


def test_cached_rebuild_and_resume_after_kill(demo_corpus, shared_cache, tmp_path, built):
    again = build_dataset(demo_corpus / "raw", tmp_path / "again", config=fast_config(shared_cache))
    assert again.computed_clips == 0 and again.cached_clips == 6
    same = read_caption_records(again.paths["mer_caption"])["description"].tolist()
    assert same == read_caption_records(built.paths["mer_caption"])["description"].tolist()
    # A build killed after two clips left their cache entries; the rerun computes only the rest.
    fresh_cache = tmp_path / "fresh-cache"
    config = fast_config(fresh_cache, high_level=False)
    worker = ClipWorker(config, str(fresh_cache))
    for clip in ingest(demo_corpus / "raw").clips[:2]:
        worker.process(clip)
    resumed = build_dataset(demo_corpus / "raw", tmp_path / "resumed", config=config)
    assert resumed.computed_clips == 4 and resumed.cached_clips == 2


def test_incremental_build_computes_only_new_clips(demo_corpus, shared_cache, tmp_path, built):
    raw = tmp_path / "raw"
    shutil.copytree(demo_corpus / "raw", raw)
    shutil.copy(raw / "demo_00000.mp4", raw / "extra_clip.mp4")
    shutil.copy(raw / "demo_00000.wav", raw / "extra_clip.wav")
    with open(raw / "subtitles.csv", "a", encoding="utf-8") as handle:
        handle.write("extra_clip,A brand new line for the same face.\n")
    result = build_dataset(raw, tmp_path / "out", config=fast_config(shared_cache, high_level=False))
    assert result.computed_clips == 1 and result.cached_clips == 6


def test_high_level_without_training_data_is_a_clear_error(raw_copy, shared_cache, tmp_path):
    (raw_copy / "labels.csv").unlink()
    with pytest.raises(BuildError, match="needs labelled training data"):
        build_dataset(raw_copy, tmp_path / "out", config=fast_config(shared_cache))


@pytest.mark.integration
def test_two_workers_give_the_same_dataset(demo_corpus, tmp_path, built):
    result = build_dataset(demo_corpus / "raw", tmp_path / "par", config=fast_config(tmp_path / "cache2"), workers=2)
    assert result.computed_clips == 6
    parallel = read_caption_records(result.paths["mer_caption_plus"])
    serial = read_caption_records(built.paths["mer_caption_plus"])
    assert parallel["description"].tolist() == serial["description"].tolist()


def test_progress_lines_count_processed_quarantined_and_cached_clips(raw_copy, shared_cache, tmp_path, built,
                                                                     capsys, monkeypatch):
    """Off a terminal the clip work logs plain count lines: a damaged clip (refused at ingest)
    is counted as quarantined from the start, the others as served from the cache."""
    monkeypatch.delenv("AFFECTGPT_PROGRESS", raising=False)
    (raw_copy / "demo_00003.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    result = build_dataset(raw_copy, tmp_path / "out", config=fast_config(shared_cache), show_progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("build dataset: ")]
    quarantine = pd.read_parquet(result.paths["quarantine"])
    early = quarantine[quarantine["stage"].isin(["ingest", "decode", "prefilter"])]
    assert "demo_00003" in set(early["clip_id"])
    valid, dropped_in_clip_work = result.counts["valid_clips"], int((early["stage"] != "ingest").sum())
    assert lines[-1] == (f"build dataset: clip {valid}/{valid} "
                         f"quarantined {len(early)} cached {valid - dropped_in_clip_work}"), lines
    capsys.readouterr()
    build_dataset(raw_copy, tmp_path / "quiet", config=fast_config(shared_cache))  # show_progress off by default
    assert "build dataset:" not in capsys.readouterr().err


def test_the_dataset_travels_without_its_clips(built, demo_corpus, tmp_path):
    """In the cluster the dataset moves from pod to pod as an artifact while the clips stay on
    the data volume: its media paths are relative to the raw folder it records, so a copy of
    the dataset anywhere still finds the clips; a volume mounted elsewhere is named with
    `media_root`, and a clip that is really missing is quarantined with its path."""
    from affectgpt.data.schema import read_clip_manifest
    from affectgpt.features.extract import extract_features
    from affectgpt.model.encoders import EncoderConfig

    manifest = json.loads((built.out_dir / "manifest.json").read_text())
    assert manifest["extra"]["media_root"] == str((demo_corpus / "raw").resolve())
    clips = read_clip_manifest(built.paths["clip_manifest"])
    assert not any(path.startswith("/") for path in clips["video_path"]), list(clips["video_path"])[:2]
    assert not any(str(path).startswith("/") for path in read_caption_records(built.paths["mer_caption"])["video_path"])

    artifact = tmp_path / "artifact" / "dataset"
    shutil.copytree(built.out_dir, artifact)
    features = extract_features(artifact / "clip_manifest.parquet", tmp_path / "f1", EncoderConfig(), progress=False)
    assert features.kept == len(clips) and not features.skipped

    moved = tmp_path / "elsewhere" / "raw"
    shutil.copytree(demo_corpus / "raw", moved)
    (artifact / "manifest.json").write_text(json.dumps({**manifest, "extra": {**manifest["extra"],
                                                                               "media_root": "/nowhere/raw"}}))
    lost = extract_features(artifact / "clip_manifest.parquet", tmp_path / "f2", EncoderConfig(), progress=False)
    assert lost.kept == 0 and {s.reason for s in lost.skipped} == {"missing_file"}
    assert "/nowhere/raw/" in lost.skipped[0].detail
    found = extract_features(artifact / "clip_manifest.parquet", tmp_path / "f3", EncoderConfig(), progress=False,
                             media_root=moved)
    assert found.kept == len(clips)
