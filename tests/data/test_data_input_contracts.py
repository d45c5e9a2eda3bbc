"""Keyed inputs of the build: a repeated subtitle or label row is quarantined as `duplicate_id`
with the first row kept; a non-finite valence is quarantined as `bad_label`; the length filter's
bounds come from the corpus's first build, so adding clips never flips a clip already kept."""

from __future__ import annotations

import csv
import shutil

import pandas as pd
from data_testkit import fast_config

from affectgpt.data.build import build_dataset
from affectgpt.data.ingest import ingest
from affectgpt.data.schema import read_caption_records


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_repeated_subtitle_row_keeps_the_first_and_is_quarantined(raw_copy):
    first = dict(_rows(raw_copy / "subtitles.csv")[1:])["demo_00000"]
    with open(raw_copy / "subtitles.csv", "a", encoding="utf-8") as handle:
        handle.write("demo_00000,A second and different subtitle for the same clip.\n")
    result = ingest(raw_copy)
    clip = next(c for c in result.clips if c["clip_id"] == "demo_00000")
    assert clip["subtitle"] == first.strip()
    [dup] = [s for s in result.skipped if s.reason == "duplicate_id"]
    assert dup.record_id == "demo_00000" and "line 8" in dup.detail and "line 2" in dup.detail


def test_repeated_label_row_and_nan_or_inf_valence_are_quarantined(raw_copy):
    rows = _rows(raw_copy / "labels.csv")
    header, body = rows[0], rows[1:]
    valence = header.index("valence")
    body[1][valence] = "nan"
    body[2][valence] = "-inf"
    repeated = list(body[0])
    repeated[header.index("emotion")] = "angry"
    with open(raw_copy / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *body, repeated])
    result = ingest(raw_copy)
    reasons = {(s.record_id, s.reason) for s in result.skipped}
    assert {(body[1][0], "bad_label"), (body[2][0], "bad_label"), (body[0][0], "duplicate_id")} <= reasons
    by_id = {c["clip_id"]: c for c in result.clips}
    assert by_id[body[0][0]]["emotion"] == body[0][header.index("emotion")]  # the first row wins
    assert "valence" not in by_id[body[1][0]] and len(by_id) == 6  # the clip stays, its bad label does not


def test_adding_clips_never_flips_a_kept_clip_on_length(demo_corpus, shared_cache, tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(demo_corpus / "raw", raw)
    config = fast_config(shared_cache, high_level=False)
    config.postfilter.av_mismatch = False
    config.postfilter.length_quantiles = (0.2, 0.8)  # tails a six-clip corpus can show
    first = build_dataset(raw, tmp_path / "out", config=config)
    kept_first = {r.clip_id for r in read_caption_records(first.paths["mer_caption"]).itertuples()}
    assert kept_first
    for index in range(4):  # shorter descriptions pull a batch's 80 % quantile down
        shutil.copy(raw / "demo_00000.mp4", raw / f"short_{index}.mp4")
        shutil.copy(raw / "demo_00000.wav", raw / f"short_{index}.wav")
        with open(raw / "subtitles.csv", "a", encoding="utf-8") as handle:
            handle.write(f"short_{index},Ok.\n")
    second = build_dataset(raw, tmp_path / "out", config=config)
    kept_second = {r.clip_id for r in read_caption_records(second.paths["mer_caption"]).itertuples()}
    assert kept_first <= kept_second
    bounds = pd.read_json(second.manifest_path, typ="series")["extra"]["length_bounds"]
    assert bounds["source"].startswith("first build of this corpus")
    assert "length bounds from" in (second.out_dir / "data_card.md").read_text()
    # the same two builds with per-batch quantiles (the former behaviour) do flip a kept clip
    config.postfilter.length_reference = "batch"
    batch = build_dataset(raw, tmp_path / "batch", config=config)
    flipped = kept_first - {r.clip_id for r in read_caption_records(batch.paths["mer_caption"]).itertuples()}
    assert flipped


def test_empty_input_is_an_error_not_an_empty_dataset(tmp_path, shared_cache):
    import pytest

    from affectgpt.data.build import BuildError

    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "subtitles.csv").write_text("name,english\n", encoding="utf-8")
    with pytest.raises(BuildError, match="no clips found"):
        build_dataset(raw, tmp_path / "out", config=fast_config(shared_cache))
    assert not (tmp_path / "out").exists()
