"""Pre- and post-filter decisions on measured signals (no media decoding)."""

from __future__ import annotations

import numpy as np

from affectgpt.bench.wheels import labels_agree
from affectgpt.data.classifiers import LinearHead, TextClassifiers, weighted_vote
from affectgpt.data.clipwork import prefilter_decision
from affectgpt.data.config import BuildConfig
from affectgpt.data.postfilter import (
    av_mismatch_decision,
    high_level_decisions,
    length_decisions,
    speech_face_overlap,
)
from affectgpt.data.signals import ClipSignals


def _signals(face_found, speech=((0.5, 3.5),), duration=4.0, fer=None) -> ClipSignals:
    times = list(np.linspace(0, duration * 0.96, len(face_found)))
    return ClipSignals(duration_s=duration, audio_duration_s=duration, speech_segments_s=list(speech),
                       speech_s=sum(e - s for s, e in speech), frame_times_s=times, face_found=list(face_found),
                       face_ratio=float(np.mean(face_found)), fer_probs=fer or {})


def test_prefilter_duration_voice_face():
    config = BuildConfig()
    assert prefilter_decision(_signals([True] * 8), config)["kept"]
    assert prefilter_decision(_signals([True] * 8, duration=0.2), config)["reason"] == "too_short_clip"
    assert prefilter_decision(_signals([True] * 8, speech=()), config)["reason"] == "no_voice"
    assert prefilter_decision(_signals([False] * 8), config)["reason"] == "no_face"
    config.prefilter.require_face = False
    assert prefilter_decision(_signals([False] * 8), config)["kept"]


def test_length_tails_dropped():
    texts = {f"c{i}": "x" * (100 + i) for i in range(20)}
    decisions, bounds = length_decisions(texts, (0.1, 0.9))
    dropped = sorted(k for k, d in decisions.items() if not d["kept"])
    assert dropped == ["c0", "c1", "c18", "c19"]
    assert decisions["c0"]["reason"].startswith("too_short") and decisions["c19"]["reason"].startswith("too_long")
    assert bounds["low_chars"] < bounds["high_chars"]


def test_av_mismatch():
    assert av_mismatch_decision(_signals([True] * 8), 0.5)["kept"]
    assert av_mismatch_decision(_signals([False] * 8), 0.5)["reason"] == "no_face_while_speech"
    late_face = _signals([False] * 4 + [True] * 4, speech=((0.0, 1.5),))
    assert speech_face_overlap(late_face) == 0.0
    assert av_mismatch_decision(late_face, 0.5)["reason"].startswith("speech_without_face")
    assert av_mismatch_decision(_signals([False] * 8, speech=()), 0.5)["kept"]  # silence: nothing to match


def test_weighted_vote_breaks_ties_by_confidence():
    assert weighted_vote([("happy", 0.9), ("sad", 0.4)]) == "happy"
    assert weighted_vote([("happy", 0.3), ("sad", 0.8)]) == "sad"
    assert weighted_vote([("happy", 0.4), ("sad", 0.5), ("happy", 0.3)]) == "happy"


class _FixedClassifiers(TextClassifiers):
    """Text heads with fixed weights over a 2-d embedding (the real MiniLM heads are tested with
    the reference data); only `predict` is replaced."""

    def predict(self, texts):
        features = np.array([[1.0, 0.0] if "great" in t else [0.0, 1.0] for t in texts])
        return self.emotion.predict_proba(features), self.sentiment.predict_proba(features)


def test_high_level_vote_must_agree_with_description():
    head = LinearHead(["happy", "sad"], np.array([[4.0, -4.0], [-4.0, 4.0]]), np.zeros(2))
    sentiment = LinearHead(["negative", "positive"], np.array([[-4.0, 4.0], [4.0, -4.0]]), np.zeros(2))
    classifiers = _FixedClassifiers(head, sentiment, "fixed", 0)
    records = [
        {"clip_id": "a", "subtitle": "great day", "ov_labels": ["joyful"], "sentiment": "positive"},
        {"clip_id": "b", "subtitle": "bad day", "ov_labels": ["joyful"], "sentiment": "positive"},
    ]
    signals = {"a": _signals([True] * 8), "b": _signals([True] * 8, fer={"sad": 0.9, "happy": 0.1})}
    decisions = high_level_decisions(records, signals, classifiers, use_face=True, labels_agree=labels_agree)
    assert decisions["a"]["emotion_vote"]["kept"] and decisions["a"]["sentiment_vote"]["kept"]
    assert decisions["b"]["emotion_vote"]["reason"].startswith("emotion_disagrees: vote sad")
    assert decisions["b"]["sentiment_vote"]["reason"].startswith("sentiment_disagrees: vote negative")
