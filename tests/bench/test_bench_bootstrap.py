"""Intervals: per-clip scores rebuild the scorer's number exactly, the bootstrap is seeded, and
paired differences see what unpaired ones cannot. Its cost is measured in
benchmarks/bench_bootstrap.py."""

from __future__ import annotations

import random

import numpy as np
import pytest

from affectgpt.bench.bootstrap import BootstrapSettings, interval, paired_replicates, replicates
from affectgpt.bench.clip_scores import ClipScores, additive_columns, clip_scores, metric_from_sums
from affectgpt.bench.metrics import score_task
from affectgpt.bench.mode import scorer_mode

WORDS = ["happy", "sad", "angry", "joyful", "worried", "surprised", "neutral", "calm", "fear", "qwerty"]


def _samples(task: str, n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    if task == "sentiment":
        return [{"name": f"c{i}", "gt": rng.choice([-2.0, -0.4, 0.0, 0.6, 1.8]),
                 "pred": rng.choice(["positive", "negative", "neutral"])} for i in range(n)]
    gt = (lambda: [rng.choice(WORDS[:6])]) if task == "hit" else (lambda: rng.sample(WORDS, rng.randint(1, 3)))
    return [{"name": f"c{i}", "gt": gt(), "pred": rng.sample(WORDS, rng.randint(0, 3))} for i in range(n)]


@pytest.mark.parametrize("task", ["ov", "hit", "sentiment"])
@pytest.mark.parametrize("mode_name", ["official", "corrected"])
def test_per_clip_scores_rebuild_the_scorers_number(task: str, mode_name: str) -> None:
    mode = scorer_mode(mode_name)
    samples = _samples(task, 300, seed=len(task))
    expected = score_task(task, samples, mode=mode, keep_samples=False).score
    clips = clip_scores(task, samples, mode)
    rebuilt = metric_from_sums(task, mode, additive_columns(clips, mode).sum(axis=0))[0]
    assert rebuilt == pytest.approx(expected, abs=1e-12, nan_ok=True)
    assert ClipScores.from_json(clips.to_json()).rows.tolist() == clips.rows.tolist()


def test_bootstrap_is_seeded_and_its_interval_holds_the_score() -> None:
    mode = scorer_mode("corrected")
    clips = clip_scores("ov", _samples("ov", 400, seed=3), mode)
    point = metric_from_sums("ov", mode, additive_columns(clips, mode).sum(axis=0))[0]
    settings = BootstrapSettings(n_resamples=500, seed=7)
    first = replicates(clips, mode, settings, "ovmerdplus")
    assert np.array_equal(first, replicates(clips, mode, settings, "ovmerdplus"))
    assert not np.array_equal(first, replicates(clips, mode, BootstrapSettings(n_resamples=500, seed=8), "ovmerdplus"))
    low, high = interval(first, 0.95)
    assert low < point < high and high - low > 0.01


def test_too_few_clips_give_a_wide_interval() -> None:
    mode = scorer_mode("corrected")
    settings = BootstrapSettings(n_resamples=500)
    few = interval(replicates(clip_scores("hit", _samples("hit", 4, 1), mode), mode, settings, "s"), 0.95)
    many = interval(replicates(clip_scores("hit", _samples("hit", 2000, 1), mode), mode, settings, "s"), 0.95)
    assert few[1] - few[0] > 5 * (many[1] - many[0])


def test_paired_difference_cancels_what_both_sides_share() -> None:
    """Two models that agree on most clips and differ on a few: the paired interval of the
    difference is narrow and excludes zero; unpaired intervals of each side overlap."""
    mode = scorer_mode("corrected")
    base = _samples("hit", 1500, seed=11)
    better = [dict(s, pred=s["gt"]) if i % 25 == 0 else s for i, s in enumerate(base)]
    settings = BootstrapSettings(n_resamples=1000)
    ours, theirs = clip_scores("hit", better, mode), clip_scores("hit", base, mode)
    point, difference, n_common = paired_replicates(ours, theirs, mode, settings, "mer2023")
    assert n_common == 1500 and point > 0
    low, high = interval(difference, 0.95)
    assert 0 < low < point < high
    ours_interval = interval(replicates(ours, mode, settings, "a"), 0.95)
    theirs_interval = interval(replicates(theirs, mode, settings, "b"), 0.95)
    assert ours_interval[0] < theirs_interval[1]  # unpaired, the two intervals overlap
    assert high - low < (theirs_interval[1] - theirs_interval[0]) / 2
    # Only the clips both answered are paired.
    _, _, n_half = paired_replicates(ours, clip_scores("hit", base[:700], mode), mode, settings, "mer2023")
    assert n_half == 700
