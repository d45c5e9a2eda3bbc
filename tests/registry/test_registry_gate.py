"""The gate rules, score parsing and the promotion config, without MLflow."""

from __future__ import annotations

import json

import pytest

from affectgpt.registry.errors import InvalidInput
from affectgpt.registry.gate import PromotionConfig, evaluate_gate, load_promotion_config
from affectgpt.registry.scores import load_scores, score_tag_key

RULES = PromotionConfig(
    required_datasets=["MER2023", "MELD", "SIMS"],
    min_mean_improvement=0.5,
    max_regression=2.0,
    min_scores={"MER2023": 40.0},
    min_mean=30.0,
)
CHAMPION = {"MER2023": 60.0, "MELD": 50.0, "SIMS": 70.0}


def test_first_model_is_judged_on_absolute_rules_only():
    passed = evaluate_gate({"MER2023": 45.0, "MELD": 30.0, "SIMS": 40.0}, RULES)
    assert passed.verdict == "pass"
    assert any("no champion yet" in reason for reason in passed.reasons)
    failed = evaluate_gate({"MER2023": 39.0, "MELD": 30.0, "SIMS": 40.0}, RULES)
    assert failed.verdict == "fail"
    assert any("MER2023 39.00 is below the minimum 40.00" in reason for reason in failed.reasons)
    low_mean = evaluate_gate({"MER2023": 41.0, "MELD": 10.0, "SIMS": 10.0}, RULES)
    assert low_mean.verdict == "fail" and any("below the minimum mean" in r for r in low_mean.reasons)


def test_candidate_must_beat_champion_without_large_regressions():
    better = evaluate_gate(
        {"MER2023": 61.0, "MELD": 51.0, "SIMS": 70.0},
        RULES,
        champion_scores=CHAMPION,
        champion_version="3",
        candidate_mode="corrected",
        champion_mode="corrected",
    )
    assert better.verdict == "pass"
    assert better.deltas == {"MER2023": 1.0, "MELD": 1.0, "SIMS": 0.0}
    assert better.champion_version == "3"
    too_small = evaluate_gate(
        {"MER2023": 60.5, "MELD": 50.0, "SIMS": 70.0}, RULES, champion_scores=CHAMPION, champion_version="3"
    )
    assert too_small.verdict == "fail"
    assert any("needs at least +0.50" in reason for reason in too_small.reasons)
    regressed = evaluate_gate(
        {"MER2023": 70.0, "MELD": 47.5, "SIMS": 75.0}, RULES, champion_scores=CHAMPION, champion_version="3"
    )
    assert regressed.verdict == "fail"
    assert regressed.reasons[0] == "MELD regresses by 2.50 (allowed 2.00)"


def test_missing_required_dataset_and_scorer_mode_mismatch_fail():
    missing = evaluate_gate({"MER2023": 70.0, "MELD": 70.0}, RULES)
    assert missing.verdict == "fail" and "required dataset SIMS has no score" in missing.reasons
    other_mode = evaluate_gate(
        {"MER2023": 90.0, "MELD": 90.0, "SIMS": 90.0},
        RULES,
        champion_scores=CHAMPION,
        champion_version="1",
        candidate_mode="official",
        champion_mode="corrected",
    )
    assert other_mode.verdict == "fail"
    assert any("scorer mode 'official' differs" in reason for reason in other_mode.reasons)


def test_no_scores_and_champion_without_scores():
    assert evaluate_gate({}, RULES).verdict == "no_scores"
    unscored_champion = evaluate_gate(
        {"MER2023": 45.0, "MELD": 30.0, "SIMS": 40.0}, RULES, champion_scores={}, champion_version="1"
    )
    assert unscored_champion.verdict == "pass"
    assert any("champion v1 has no recorded scores" in reason for reason in unscored_champion.reasons)


def test_shipped_config_loads_and_bad_configs_name_the_field(tmp_path):
    shipped = load_promotion_config()
    assert shipped.required_datasets and shipped.max_regression >= 0
    bad = tmp_path / "promotion.yaml"
    bad.write_text("max_regression: -1\n")
    with pytest.raises(InvalidInput, match=r"promotion.yaml: field 'max_regression'"):
        load_promotion_config(bad)
    bad.write_text("min_mean_improvment: 1\n")
    with pytest.raises(InvalidInput, match=r"field 'min_mean_improvment'"):
        load_promotion_config(bad)
    with pytest.raises(InvalidInput, match="not found"):
        load_promotion_config(tmp_path / "absent.yaml")


def test_bench_report_shapes_and_bad_values(tmp_path):
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps(
            {
                "mode": "official",
                "mean": 55.0,
                "datasets": {
                    "MER2023": {"metric": "WAF", "value": 60.0, "n_scored": 411},
                    "OV-MERD+": {"metric": "F1_s", "value": 50.0, "n_scored": 332},
                },
            }
        )
    )
    bench = load_scores(report)
    assert bench.scores == {"MER2023": 60.0, "OV-MERD+": 50.0}
    assert bench.mode == "official" and bench.reported_mean == 55.0
    assert load_scores(tmp_path).scores == bench.scores  # the report's folder works too
    report.write_text(json.dumps({"mode": "corrected", "datasets": [{"dataset": "MELD", "value": 41.5}]}))
    assert load_scores(report).scores == {"MELD": 41.5}
    report.write_text(json.dumps({"datasets": {"MELD": {"value": "n/a"}}}))
    with pytest.raises(InvalidInput, match=r"report.json: datasets.MELD.value: expected a number"):
        load_scores(report)
    report.write_text('{"datasets": {"MELD": 1,}}')
    with pytest.raises(InvalidInput, match=r"report.json: line 1 column 25: not valid JSON"):
        load_scores(report)
    with pytest.raises(InvalidInput, match="not a finite number"):
        load_scores({"MELD": float("nan")})
    assert score_tag_key("OV-MERD+") == "affectgpt.score.OV-MERD_"


def test_bench_report_written_by_the_scorer_is_read_in_percent(tmp_path):
    """The registry reads what `affectgpt bench run` writes: fractions become percent, and a
    dataset without labels is listed as unscored rather than read as a number."""
    from affectgpt.bench.report import write_report_files
    from affectgpt.bench.runner import BenchReport, DatasetReport

    scored = DatasetReport(dataset="mer2023", display_name="MER2023", task="hit", status="scored",
                           metric="hit_rate", value=0.615, n_scored=323)
    unlabelled = DatasetReport(dataset="mer2024", display_name="MER2024", task="hit",
                               status="missing_labels", metric="hit_rate", value=None, n_scored=0)
    report = BenchReport(mode="official", level=1, wheels="mer2025", extractor={"name": "lexicon"},
                         datasets={"mer2023": scored, "mer2024": unlabelled}, mean=0.615,
                         mean_over=["mer2023"], complete=False)
    write_report_files(report, tmp_path)
    bench = load_scores(tmp_path / "report.json")
    assert bench.scores == {"mer2023": 61.5}
    assert bench.unscored == {"mer2024": "missing_labels"}
    assert bench.reported_mean == 61.5 and bench.mode == "official"


# -- rules on the evidence: clip counts, intervals, the subtitle-only baseline ----------------

def _report(answers: dict[str, list[bool]], baseline: dict[str, list[bool]] | None = None) -> dict:
    """A bench report.json as `bench eval` writes it, from per-clip right/wrong HIT answers
    (one wheel word per clip), scored by the real bench code: values, n, intervals, per-clip scores."""
    from affectgpt.bench.bootstrap import BootstrapSettings, interval, replicates
    from affectgpt.bench.clip_scores import additive_columns, clip_scores, metric_from_sums
    from affectgpt.bench.mode import scorer_mode

    mode, settings = scorer_mode("corrected"), BootstrapSettings(n_resamples=300)

    def scored(name: str, right: list[bool]) -> tuple[float, dict, list[float] | None]:
        samples = [{"name": f"{name}{i}", "gt": ["happy"], "pred": ["happy"] if ok else ["sad"]}
                   for i, ok in enumerate(right)]
        clips = clip_scores("hit", samples, mode)
        value = float(metric_from_sums("hit", mode, additive_columns(clips, mode).sum(axis=0))[0])
        return value, clips.to_json(), interval(replicates(clips, mode, settings, name), 0.95)

    datasets = {}
    for name, right in answers.items():
        value, clips, bounds = scored(name, right)
        datasets[name] = {"status": "scored", "value": value, "n_scored": len(right), "interval": bounds,
                          "clip_scores": clips, "too_few_clips": len(right) < 20}
        if baseline is not None:
            base_value, base_clips, _ = scored(name, baseline[name])
            datasets[name] |= {"baseline_value": base_value, "baseline_clip_scores": base_clips}
    return {"units": "fraction", "mode": "corrected", "datasets": datasets, "decoding": "greedy",
            "lineage": {"unibench_rev": "sha256:abc"}}


def _evidence(report: dict):
    from affectgpt.registry.scores import parse_report

    return parse_report(report)


EVIDENCE_RULES = PromotionConfig(required_datasets=["mer2023", "meld"], min_mean_improvement=0.5,
                                 max_regression=100.0, judge_on_interval=True, min_improvement_over_baseline=0.0,
                                 min_clips=20, bootstrap_resamples=300, require_authenticated=False)


def test_a_model_worse_than_the_subtitle_alone_fails_the_production_rules() -> None:
    """36 % against a subtitle-only 46 % on the same clips: the old gate passed this."""
    worse = _evidence(_report({"mer2023": [i % 3 == 0 for i in range(300)], "meld": [i % 3 == 0 for i in range(300)]},
                              baseline={"mer2023": [i % 2 == 0 for i in range(300)],
                                        "meld": [i % 2 == 0 for i in range(300)]}))
    gate = evaluate_gate(worse.scores, EVIDENCE_RULES, candidate_mode="corrected", candidate_evidence=worse)
    assert gate.verdict == "fail"
    assert any(r.startswith("mean beats the subtitle-only baseline by -16.") and "needs at least +0.00" in r
               for r in gate.reasons), gate.reasons
    assert gate.baseline_difference["interval"][1] < 0
    row = gate.sets[0]
    assert (row["dataset"], row["display_name"], row["n"]) == ("mer2023", "MER2023", 300)
    assert row["baseline"] == pytest.approx(50.0) and row["paper"] == pytest.approx(78.54) and row["interval"][0] < 33.4 < row["interval"][1]
    assert gate.lineage == {"unibench_rev": "sha256:abc", "decoding": "greedy"}
    # Production turns the rule on; the demo leaves it off (its fixture has 3-4 clips a set).
    assert load_promotion_config().min_improvement_over_baseline == 0.0
    assert load_promotion_config().judge_on_interval and load_promotion_config().min_clips == 20


def test_a_gain_the_clips_do_not_support_fails_when_judged_on_the_interval() -> None:
    """+1 point over the champion on 300 clips a set is noise: the point rule passes it, the
    interval rule does not; a large paired gain passes both."""
    champion = _evidence(_report({"mer2023": [i % 2 == 0 for i in range(300)], "meld": [i % 2 == 0 for i in range(300)]}))
    slightly = _evidence(_report({"mer2023": [i % 2 == 0 or i in (1, 3, 5) for i in range(300)],
                                  "meld": [i % 2 == 0 or i in (1, 3, 5) for i in range(300)]}))
    point_rules = EVIDENCE_RULES.model_copy(update={"judge_on_interval": False, "min_improvement_over_baseline": None})
    args = {"champion_scores": champion.scores, "champion_version": "1", "candidate_mode": "corrected",
            "champion_mode": "corrected", "candidate_evidence": slightly, "champion_evidence": champion}
    assert evaluate_gate(slightly.scores, point_rules, **args).verdict == "pass"
    interval_rules = EVIDENCE_RULES.model_copy(update={"min_improvement_over_baseline": None})
    judged = evaluate_gate(slightly.scores, interval_rules, **args)
    assert judged.verdict == "fail"
    assert any("95 % interval" in r and "judged on the lower bound" in r and "needs at least +0.50" in r
               for r in judged.reasons), judged.reasons
    assert judged.champion_difference["n_clips"] == 600 and judged.sets[0]["delta_interval"][0] < 0.5
    much = _evidence(_report({"mer2023": [i % 4 != 0 for i in range(300)], "meld": [i % 4 != 0 for i in range(300)]}))
    assert evaluate_gate(much.scores, interval_rules, **(args | {"candidate_evidence": much})).verdict == "pass"
    # Without per-clip scores on the champion's side the interval cannot be judged: fail, saying so.
    blind = evaluate_gate(slightly.scores, interval_rules, **(args | {"champion_evidence": None}))
    assert blind.verdict == "fail" and any("cannot be judged on an interval" in r for r in blind.reasons)


def test_a_set_scored_on_a_few_clips_is_too_few_to_compare() -> None:
    few = _evidence(_report({"mer2023": [True, True, False], "meld": [True] * 30}))
    gate = evaluate_gate(few.scores, EVIDENCE_RULES.model_copy(update={"min_improvement_over_baseline": None}),
                         candidate_mode="corrected", candidate_evidence=few)
    assert gate.verdict == "fail"
    assert "MER2023 was scored on 3 clips, fewer than 20: too few clips to compare" in gate.reasons
    assert [row["too_few"] for row in gate.sets] == [True, False]


def test_max_regression_is_judged_per_set_on_the_paired_interval_when_asked() -> None:
    """A 3-point drop on one set of 300 clips (9 answers lost) is within the noise of a 2-point
    allowance: the point rule fails it, the interval rule does not (its upper bound is above -2)
    and says why; a 10-point drop fails both. The mean rule is set aside here."""
    half = [i % 2 == 0 for i in range(300)]
    champion = _evidence(_report({"mer2023": half, "meld": half}))
    slight = _evidence(_report({"mer2023": [ok and i >= 18 for i, ok in enumerate(half)], "meld": half}))
    large = _evidence(_report({"mer2023": [ok and i >= 60 for i, ok in enumerate(half)], "meld": half}))
    interval_rules = EVIDENCE_RULES.model_copy(update={"max_regression": 2.0, "min_mean_improvement": -100.0,
                                                      "min_improvement_over_baseline": None})
    point_rules = interval_rules.model_copy(update={"judge_on_interval": False})
    args = {"champion_scores": champion.scores, "champion_version": "1", "candidate_mode": "corrected",
            "champion_mode": "corrected", "champion_evidence": champion}

    judged = evaluate_gate(slight.scores, interval_rules, **args, candidate_evidence=slight)
    assert judged.verdict == "pass", judged.reasons
    assert judged.deltas["mer2023"] == pytest.approx(-3.0)
    low, high = judged.sets[0]["delta_interval"]
    assert low < -3.0 < high and -2.0 < high < 0
    assert (f"mer2023 drops by 3.00, more than the allowed 2.00, but its 95 % interval of the change "
            f"{low:+.2f} to {high:+.2f}, paired over 300 clips does not show a drop beyond it (judged on the "
            "upper bound)") in judged.reasons
    pointed = evaluate_gate(slight.scores, point_rules, **args, candidate_evidence=slight)
    assert pointed.verdict == "fail" and pointed.reasons[0] == "mer2023 regresses by 3.00 (allowed 2.00)"

    clear = evaluate_gate(large.scores, interval_rules, **args, candidate_evidence=large)
    assert clear.verdict == "fail"
    assert clear.sets[0]["delta_interval"][1] < -2.0
    assert clear.reasons[0].startswith("mer2023 regresses by 10.00 (95 % interval of the change ")
    assert clear.reasons[0].endswith("even the upper bound is below -2.00) (allowed 2.00)")
    assert evaluate_gate(large.scores, point_rules, **args, candidate_evidence=large).verdict == "fail"

    # A set without a paired interval (no per-clip scores on the champion's side) is judged on its
    # point value, never waved through; the interval mean rule fails and says why.
    blind = evaluate_gate(slight.scores, interval_rules, **(args | {"champion_evidence": None}),
                          candidate_evidence=slight)
    assert blind.verdict == "fail" and "mer2023 regresses by 3.00 (allowed 2.00)" in blind.reasons
    assert any("cannot be judged on an interval" in r for r in blind.reasons)


def test_a_report_edited_after_scoring_is_refused_not_judged_twice() -> None:
    """The point rules read a set's score, the interval rules its per-clip scores: an author who
    raises the scores (or the baseline's per-clip rows, or the clip count) after scoring would be
    judged on two models at once. The honest report passes; each edit fails, naming the set."""
    import copy

    honest_report = _report({"mer2023": [i % 4 != 0 for i in range(300)], "meld": [i % 4 != 0 for i in range(300)]},
                            baseline={"mer2023": [i % 2 == 0 for i in range(300)],
                                      "meld": [i % 2 == 0 for i in range(300)]})
    honest = _evidence(honest_report)
    assert evaluate_gate(honest.scores, EVIDENCE_RULES, candidate_mode="corrected",
                         candidate_evidence=honest).verdict == "pass"

    raised = copy.deepcopy(honest_report)
    raised["datasets"]["meld"]["value"] = 0.95
    edited = _evidence(raised)
    gate = evaluate_gate(edited.scores, EVIDENCE_RULES, candidate_mode="corrected", candidate_evidence=edited)
    assert gate.verdict == "fail"
    assert any(r.startswith("MELD: the bench report's score 95.00 is not what its per-clip scores give (75.00)")
               for r in gate.reasons), gate.reasons
    # Scores taken from elsewhere (tags) than the report they claim to come from
    gate = evaluate_gate(honest.scores | {"mer2023": 99.0}, EVIDENCE_RULES, candidate_mode="corrected",
                         candidate_evidence=honest)
    assert gate.verdict == "fail" and any(r.startswith("MER2023: the bench report's score 99.00") for r in gate.reasons)

    weak_baseline = copy.deepcopy(honest_report)
    weak_baseline["datasets"]["mer2023"]["baseline_clip_scores"]["rows"] = [[0] * 5] * 300
    edited = _evidence(weak_baseline)
    gate = evaluate_gate(edited.scores, EVIDENCE_RULES, candidate_mode="corrected", candidate_evidence=edited)
    assert gate.verdict == "fail"
    assert any(r.startswith("MER2023: the bench report's baseline 50.00 is not what its per-clip scores give")
               for r in gate.reasons), gate.reasons

    padded = copy.deepcopy(honest_report)
    padded["datasets"]["meld"]["n_scored"] = 3000
    edited = _evidence(padded)
    gate = evaluate_gate(edited.scores, EVIDENCE_RULES, candidate_mode="corrected", candidate_evidence=edited)
    assert gate.verdict == "fail"
    assert "MELD: the bench report says 3000 clips were scored but its per-clip scores count 300; re-score " \
           "with `affectgpt bench`" in gate.reasons
