"""Metric semantics: hand-made cases, the official scorer as an oracle, published targets."""

from __future__ import annotations

import math
import random

import pytest
from bench_official_oracle import Oracle

from affectgpt.bench.metrics import score_hit, score_ov, score_ov_clusters, score_sentiment, weighted_f1
from affectgpt.bench.parsing import corrected_labels, official_labels
from affectgpt.bench.wheels import RESOURCES_DIR

nan = float("nan")


def test_label_parsing_official_and_corrected():
    assert official_labels("['Happy', ' sad ']") == ["happy", "sad"]
    assert official_labels("[happy, sad]") == ["happy", "sad"]
    assert official_labels(["Happy "]) == ["happy"]
    assert official_labels("") == [] and official_labels(None) == [] and official_labels(nan) == []
    assert official_labels("[don't care]") == ["don", "t care"]  # the apostrophe quirk
    assert official_labels("[") == []
    assert corrected_labels("[\"don't care\", 'Happy.']") == ["don’t care", "happy"]
    assert corrected_labels("happy,  Very  Sad") == ["happy", "very sad"]


def test_ov_hand_made_cases():
    samples = [
        {"name": "a", "gt": "['happy', 'joyful']", "pred": ["Cheerful", "cheerful", "qwerty"]},  # dup, case, unknown
        {"name": "b", "gt": ["angry"], "pred": []},  # empty prediction: P = R = 0
        {"name": "c", "gt": ["neutral"], "pred": ["happy"]},  # gt maps to nothing: skipped
    ]
    result = score_ov(samples, mode="official", wheels="mer2026")
    wheel1 = result.per_wheel["wheel1"]
    assert wheel1.n_scored == 2
    assert wheel1.precision == pytest.approx(0.5) and wheel1.recall == pytest.approx(0.5)
    assert wheel1.f == pytest.approx(0.5)
    assert result.samples[0]["wheels"]["wheel1"] == {"gt": ["happy"], "pred": ["happy"], "precision": 1.0,
                                                     "recall": 1.0}
    assert result.samples[2]["wheels"]["wheel1"] is None
    assert result.n_scored == 2


def test_ov_nan_in_official_fixed_in_corrected():
    samples = [{"name": "a", "gt": ["happy"], "pred": ["angry"]}]
    official = score_ov(samples, mode="official")
    corrected = score_ov(samples, mode="corrected")
    assert math.isnan(official.score) and math.isnan(official.per_wheel["wheel1"].f)  # 0/0
    assert corrected.score == 0.0
    no_gt = [{"name": "a", "gt": ["neutral"], "pred": ["happy"]}]
    assert math.isnan(score_ov(no_gt, mode="official").score)
    assert score_ov(no_gt, mode="official").to_json()["score"] is None


def test_ov_apostrophes_split_in_official_kept_in_corrected():
    samples = [{"name": "a", "gt": ["sad"], "pred": "[don't care]"}]
    assert score_ov(samples, mode="official", wheels="mer2026").per_wheel["wheel1"].precision == 0.0
    assert score_ov(samples, mode="corrected", wheels="mer2026").per_wheel["wheel1"].precision == 1.0


def test_hit_hand_made_cases():
    samples = [
        {"name": "a", "gt": "happy", "pred": ["joyful", "sad"]},
        {"name": "b", "gt": "angry", "pred": ["happy"]},
        {"name": "c", "gt": "neutral", "pred": ["happy"]},  # never scored
    ]
    result = score_hit(samples, mode="official")
    assert result.n_scored == 2
    assert result.score == pytest.approx(0.5)
    assert all(w.n_scored == 2 for w in result.per_wheel.values())
    all_neutral = score_hit([{"name": "a", "gt": "neutral", "pred": []}], mode="official")
    assert math.isnan(all_neutral.score) and all_neutral.n_scored == 0
    # a two-word ground truth: official counts |G∩P| (2), corrected an indicator (1)
    two = [{"name": "a", "gt": ["happy", "sad"], "pred": ["happy", "sad"]}]
    assert score_hit(two, mode="official").score == 2.0
    assert score_hit(two, mode="corrected").score == 1.0


def _weighted_f1_by_definition(y_true: list[bool], y_pred: list[bool]) -> float:
    """The weighted F1 the official scorer reports (scikit-learn's average="weighted"), written
    from its definition: per class c present in either list, F1_c = 2 TP_c / (2 TP_c + FP_c +
    FN_c), weighted by the class's support (its count in y_true), divided by the sample count."""
    score = 0.0
    for c in set(y_true) | set(y_pred):
        tp = sum(t == c and p == c for t, p in zip(y_true, y_pred))
        fp = sum(t != c and p == c for t, p in zip(y_true, y_pred))
        fn = sum(t == c and p != c for t, p in zip(y_true, y_pred))
        score += y_true.count(c) * 2 * tp / (2 * tp + fp + fn)
    return score / len(y_true)


def test_sentiment_semantics_and_weighted_f1_by_its_definition():
    samples = [
        {"name": "a", "gt": 1.2, "pred": "positive"},
        {"name": "b", "gt": -0.4, "pred": "negative"},
        {"name": "c", "gt": 0.0, "pred": "positive"},  # dropped
        {"name": "d", "gt": 2.0, "pred": "Positive"},  # not positive in official mode
    ]
    official = score_sentiment(samples, mode="official")
    corrected = score_sentiment(samples, mode="corrected")
    assert official.n_scored == 3
    assert official.secondary["accuracy"] == pytest.approx(2 / 3)
    # y_true [1, 0, 1], y_pred [1, 0, 0]: F1(1) = 2/3 (support 2), F1(0) = 2/3 (support 1)
    assert official.score == pytest.approx(2 / 3)
    assert corrected.score == 1.0
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 12)
        y_true = [rng.random() < 0.5 for _ in range(n)]
        y_pred = [rng.random() < 0.5 for _ in range(n)]
        assert weighted_f1(y_true, y_pred) == pytest.approx(_weighted_f1_by_definition(y_true, y_pred), abs=1e-12)
    assert weighted_f1([True, True], [True, True]) == 1.0  # one class only
    assert weighted_f1([True, False], [False, True]) == 0.0
    assert math.isnan(weighted_f1([], []))  # nothing scored: undefined, not 0
    with pytest.raises(ValueError, match="must be a number"):
        score_sentiment([{"name": "x", "gt": "high", "pred": "positive"}])


def test_mer2024_published_regression_target(ov_gold_and_baseline, ov_clusters):
    gold, baseline = ov_gold_and_baseline
    result = score_ov_clusters(gold, baseline, ov_clusters)
    assert result["accuracy"] == pytest.approx(0.581777108433735, abs=1e-12)
    assert result["recall"] == pytest.approx(0.4977911646586345, abs=1e-12)
    assert result["avg"] == pytest.approx(0.5397841365461847, abs=1e-12)


@pytest.mark.parametrize("version", ["mer2025", "mer2026"])
def test_official_ov_equals_the_official_code_on_real_labels(ov_gold_and_baseline, version):
    gold, baseline = ov_gold_and_baseline
    oracle = Oracle(str(RESOURCES_DIR), str(RESOURCES_DIR / f"format-{version}.csv"))
    names = sorted(gold)
    shuffled = dict(zip(names, [baseline[n] for n in random.Random(1).sample(names, len(names))]))
    for predictions in (baseline, shuffled, {n: gold[n] for n in names}):
        expected_f, expected_p, expected_r = oracle.ov(gold, predictions)
        result = score_ov([{"name": n, "gt": gold[n], "pred": predictions[n]} for n in names],
                          mode="official", wheels=version, keep_samples=False)
        assert result.score == pytest.approx(expected_f, abs=1e-12)
        assert result.secondary["precision"] == pytest.approx(expected_p, abs=1e-12)
        assert result.secondary["recall"] == pytest.approx(expected_r, abs=1e-12)
    level2 = oracle.ov(gold, baseline, level="level2")[0]
    assert score_ov([{"name": n, "gt": gold[n], "pred": baseline[n]} for n in names], level=2,
                    wheels=version, keep_samples=False).score == pytest.approx(level2, abs=1e-12)


def test_official_hit_equals_the_official_code_on_mer2023(mertools):
    from affectgpt.bench.datasets import load_dataset

    dataset = load_dataset("mer2023", labels_root=mertools.parent)
    rng = random.Random(2)
    choices = ["happy", "angry", "worried", "sad", "surprise", "neutral", "joyful", "anxious", "qwerty"]
    name2gt = {s.clip_id: s.gt for s in dataset.samples}
    name2pred = {n: str(rng.sample(choices, rng.randint(0, 3))) for n in name2gt}
    oracle = Oracle(str(RESOURCES_DIR), str(RESOURCES_DIR / "format-mer2025.csv"))
    expected_hit, expected_mscore = oracle.hit(name2gt, name2pred)
    result = score_hit([{"name": n, "gt": name2gt[n], "pred": name2pred[n]} for n in name2gt], keep_samples=False)
    assert result.score == pytest.approx(expected_hit, abs=1e-12)
    assert result.secondary["mscore"] == pytest.approx(expected_mscore, abs=1e-12)
