"""Post-filters: low-level (description-length tails, audio-visual mismatch) and high-level
(classifier votes must agree with the labels extracted from the description). Each returns one
decision per clip, `{"kept": bool, "reason": str}`, recorded in the record's `filters` column.
"""

from __future__ import annotations

import numpy as np

from affectgpt.data.classifiers import FER_SENTIMENT, TextClassifiers, weighted_vote
from affectgpt.data.signals import ClipSignals

KEEP = {"kept": True, "reason": ""}


def length_bounds_from(descriptions: dict[str, str], quantiles: tuple[float, float], source: str) -> dict:
    """The kept length range (characters) as the `quantiles` of these descriptions' lengths."""
    if not descriptions:
        return {}
    lengths = np.array([len(text) for text in descriptions.values()], dtype=np.float64)
    low, high = (float(x) for x in np.quantile(lengths, quantiles))
    return {"low_chars": low, "high_chars": high, "quantiles": list(quantiles), "source": source,
            "n_reference": int(lengths.size)}


def length_decisions(descriptions: dict[str, str], quantiles: tuple[float, float],
                     reference: dict | None = None) -> tuple[dict[str, dict], dict]:
    """Drop both tails of the description-length distribution (characters). The bounds come from
    `reference` (the configuration or the corpus's first build) when given, so adding clips never
    changes the verdict on a clip already kept; else from these descriptions. Returns decisions
    and the bounds used (for the data card)."""
    if not descriptions:
        return {}, dict(reference or {})
    bounds = dict(reference) if reference else length_bounds_from(descriptions, quantiles, "this batch")
    low, high = bounds["low_chars"], bounds["high_chars"]
    q_low, q_high = bounds.get("quantiles") or quantiles
    decisions = {}
    for clip_id, text in descriptions.items():
        n = len(text)
        if n < low:
            decisions[clip_id] = {"kept": False, "reason": f"too_short: {n} chars < q{q_low:g}={low:.0f}"}
        elif n > high:
            decisions[clip_id] = {"kept": False, "reason": f"too_long: {n} chars > q{q_high:g}={high:.0f}"}
        else:
            decisions[clip_id] = dict(KEEP)
    return decisions, bounds


def av_mismatch_decision(signals: ClipSignals, min_overlap: float) -> dict:
    """No face while there is speech, or speech that mostly falls where no face is visible."""
    if signals.speech_s <= 0:
        return dict(KEEP)
    if not any(signals.face_found):
        return {"kept": False, "reason": "no_face_while_speech"}
    overlap = speech_face_overlap(signals)
    if overlap < min_overlap:
        return {"kept": False, "reason": f"speech_without_face: {overlap:.0%} of speech has a visible face"}
    return dict(KEEP)


def speech_face_overlap(signals: ClipSignals) -> float:
    """Share of speech time during which a face is visible; each sampled frame stands for the
    time up to halfway to its neighbours."""
    times = np.asarray(signals.frame_times_s, dtype=np.float64)
    if times.size == 0 or signals.speech_s <= 0:
        return 0.0
    edges = np.concatenate([[0.0], (times[1:] + times[:-1]) / 2, [max(signals.duration_s, times[-1])]])
    covered = 0.0
    for (start, end) in signals.speech_segments_s:
        for index, found in enumerate(signals.face_found):
            if found:
                covered += max(0.0, min(end, edges[index + 1]) - max(start, edges[index]))
    return covered / signals.speech_s


def _as_labels(emotion: str) -> list[str]:
    """A classifier's class as a label list for `labels_agree` (neutral = empty list)."""
    return [] if emotion == "neutral" else [emotion]


def high_level_decisions(records: list[dict], signals: dict[str, ClipSignals], classifiers: TextClassifiers,
                         use_face: bool, labels_agree) -> dict[str, dict[str, dict]]:
    """Per clip: {"emotion_vote": decision, "sentiment_vote": decision}. Voters: the text
    classifier on the subtitle, and (when a face was seen) the face classifier."""
    if not records:
        return {}
    emotion_probs, sentiment_probs = classifiers.predict([r["subtitle"] for r in records])
    out = {}
    for record, e_probs, s_probs in zip(records, emotion_probs, sentiment_probs):
        e_top, s_top = int(np.argmax(e_probs)), int(np.argmax(s_probs))
        emotion_votes = [(classifiers.emotion.classes[e_top], float(e_probs[e_top]))]
        sentiment_votes = [(classifiers.sentiment.classes[s_top], float(s_probs[s_top]))]
        fer = signals[record["clip_id"]].fer_probs
        if use_face and fer:
            face_top = max(fer, key=fer.get)
            emotion_votes.append((face_top, fer[face_top]))
            sentiment_votes.append((FER_SENTIMENT[face_top], fer[face_top]))
        emotion = weighted_vote(emotion_votes)
        sentiment = weighted_vote(sentiment_votes)
        emotion_ok = labels_agree(_as_labels(emotion), record["ov_labels"])
        sentiment_ok = sentiment == record["sentiment"]
        out[record["clip_id"]] = {
            "emotion_vote": {"kept": bool(emotion_ok), "reason": "" if emotion_ok else
                             f"emotion_disagrees: vote {emotion} vs description {record['ov_labels'] or ['neutral']}"},
            "sentiment_vote": {"kept": bool(sentiment_ok), "reason": "" if sentiment_ok else
                               f"sentiment_disagrees: vote {sentiment} vs description {record['sentiment']}"},
        }
    return out
