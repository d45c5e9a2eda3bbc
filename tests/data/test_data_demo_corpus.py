"""The demo corpus: real faces, synthetic speech, labelled sentences; deterministic."""

from __future__ import annotations

import csv
from collections import Counter

import soundfile as sf

from affectgpt.bench.wheels import vocabulary
from affectgpt.data.demo_corpus import _plan_clips, make_demo_corpus
from affectgpt.data.demo_sentences import DEMO_SENTENCES, EMOTIONS, PROSODY
from affectgpt.data.schema import read_clip_manifest
from affectgpt.manifest import hash_file
from affectgpt.media import probe_video


def test_sentences_are_labelled_with_wheel_words():
    words = vocabulary()
    assert {s.emotion for s in DEMO_SENTENCES} == set(EMOTIONS) == set(PROSODY)
    for sentence in DEMO_SENTENCES:
        assert sentence.ov_labels, sentence.text
        assert all(label in words for label in sentence.ov_labels), sentence
        assert -5 <= sentence.valence <= 5
        assert (sentence.valence > 0) == (sentence.emotion == "happy") or sentence.emotion == "surprise"


def test_demo_corpus_layout_and_manifest(demo_corpus):
    manifest = read_clip_manifest(demo_corpus / "clip_manifest.parquet")
    assert len(manifest) == 6
    assert sorted(manifest["emotion"]) == sorted(EMOTIONS)  # first 6 clips: one per emotion
    assert set(manifest["source"]) == {"demo-synthetic"}
    with open(demo_corpus / "raw" / "subtitles.csv", encoding="utf-8") as handle:
        subtitles = {row["name"]: row["english"] for row in csv.DictReader(handle)}
    for row in manifest.itertuples():
        assert subtitles[row.clip_id] == row.subtitle
        info = probe_video(row.video_path)
        assert info.has_audio and info.width == 160 and info.fps == 25
        audio = sf.info(row.audio_path)
        assert audio.samplerate == 16000 and audio.channels == 1
        assert abs(audio.duration - row.duration_s) < 0.01
        assert abs(info.duration_s - row.duration_s) < 0.2
    assert "synthetic" in (demo_corpus / "README.md").read_text()


def test_demo_corpus_is_deterministic(tmp_path):
    first = make_demo_corpus(tmp_path / "a", n_clips=3, seed=3)
    make_demo_corpus(tmp_path / "b", n_clips=3, seed=3)
    names = sorted(p.name for p in (tmp_path / "a" / "raw").iterdir())
    assert len(names) == 3 * 2 + 2  # mp4 + wav per clip, subtitles.csv, labels.csv
    for name in names:
        assert hash_file(tmp_path / "a" / "raw" / name) == hash_file(tmp_path / "b" / "raw" / name), name
    assert len(read_clip_manifest(first)) == 3


def test_plan_is_balanced_seeded_and_covers_every_split():
    plans = _plan_clips(24, seed=0)
    assert Counter(p.sentence.emotion for p in plans) == {e: 4 for e in EMOTIONS}
    assert Counter(p.split for p in plans) == {"train": 12, "val": 6, "test": 6}
    assert len({p.face_index for p in plans}) == 24
    assert [p.sentence for p in _plan_clips(24, seed=1)] != [p.sentence for p in plans]
    assert [p.sentence for p in _plan_clips(24, seed=0)] == [p.sentence for p in plans]
