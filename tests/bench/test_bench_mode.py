"""The scorer mode is resolved once into its rules; an unknown name is bad input."""

from __future__ import annotations

import math

import pytest

from affectgpt.bench.metrics import score_hit, score_ov, score_sentiment
from affectgpt.bench.mode import CORRECTED, MODES, OFFICIAL, ScorerMode, scorer_mode
from affectgpt.errors import BadInput, ExitCode, exit_code_for


def test_names_resolve_to_their_rules_and_unknown_names_are_bad_input():
    assert MODES == ("official", "corrected")
    assert scorer_mode("official") is OFFICIAL and scorer_mode("corrected") is CORRECTED
    assert scorer_mode(CORRECTED) is CORRECTED  # already resolved: returned as is
    for bad in ("Official", "strict", "", None):
        with pytest.raises(BadInput, match="unknown scoring mode") as caught:
            scorer_mode(bad)
        assert exit_code_for(caught.value) == ExitCode.BAD_INPUT
    with pytest.raises(BadInput, match="use one of official, corrected"):
        score_ov([{"name": "a", "gt": ["happy"], "pred": ["happy"]}], mode="strict")


def test_each_rule_of_the_two_modes():
    assert OFFICIAL.parse("[don't care]") == ["don", "t care"]
    assert CORRECTED.parse("[don't care]") == ["don’t care"]
    assert (OFFICIAL.wheels_version, CORRECTED.wheels_version) == ("mer2025", "mer2026")
    assert (OFFICIAL.hit(2), CORRECTED.hit(2), CORRECTED.hit(0)) == (2.0, 1.0, 0.0)
    assert not OFFICIAL.is_positive("Positive") and CORRECTED.is_positive(" [Positive]. ")
    assert CORRECTED.is_positive(["positive"]) and not CORRECTED.is_positive(["positive", "sad"])
    assert math.isnan(OFFICIAL.f_score(0.0, 0.0)) and CORRECTED.f_score(0.0, 0.0) == 0.0
    assert OFFICIAL.f_score(0.5, 1.0) == CORRECTED.f_score(0.5, 1.0) == pytest.approx(2 / 3)
    assert math.isnan(CORRECTED.f_score(float("nan"), 1.0))
    assert OFFICIAL.averages_unscored_wheels and not CORRECTED.averages_unscored_wheels
    assert OFFICIAL.drops_nan_valence is False and CORRECTED.drops_nan_valence is True
    assert str(CORRECTED) == "corrected"


def test_the_metrics_follow_the_rules_of_the_object_they_are_given():
    """A mode is only its rules: a home-made one changes the score exactly where its rule does,
    so no metric looks at the name."""
    lenient = ScorerMode(name="lenient-hit", parse=CORRECTED.parse, wheels_version="mer2026",
                         hit=lambda common: 0.5 * (common > 0), is_positive=lambda pred: True,
                         drops_nan_valence=True, f_when_no_overlap=0.25, averages_unscored_wheels=False,
                         arrow_parse=False)
    hit = score_hit([{"name": "a", "gt": "happy", "pred": ["joyful"]}], mode=lenient)
    assert hit.score == 0.5 and hit.mode == "lenient-hit"
    ov = score_ov([{"name": "a", "gt": ["happy"], "pred": ["angry"]}], mode=lenient, keep_samples=False)
    assert ov.score == 0.25  # every scored wheel has P = R = 0
    sentiment = score_sentiment([{"name": "a", "gt": 1.0, "pred": "negative"},
                                 {"name": "b", "gt": float("nan"), "pred": "negative"}], mode=lenient)
    assert sentiment.n_scored == 1 and sentiment.score == 1.0
