"""The gate rules that need the bench report, not only its point scores: clip counts, the
subtitle-only baseline, and differences judged on a paired-bootstrap interval
(`affectgpt.bench.comparison`); and the per-set rows a reviewer reads beside the verdict.

Kept apart from `gate` so the point-score rules stay readable; `evaluate_gate` asks this
module one question per rule. Numbers are percent here (the unit of the rules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from affectgpt.bench.comparison import PairedComparison
    from affectgpt.registry.rules import PromotionConfig
    from affectgpt.registry.scores import BenchScores


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value


def _percent_interval(interval: list[float] | None) -> list[float] | None:
    return None if interval is None else [100 * end for end in interval]


def set_order(names: list[str]) -> list[str]:
    """Table 2's order, then any other set by id: the one order every table uses."""
    from affectgpt.bench.datasets import DATASETS

    order = {name: index for index, name in enumerate(DATASETS)}
    return sorted(names, key=lambda name: (order.get(name, len(order)), name))


class EvidenceRules:
    """The evidence rules of one gate evaluation (candidate and champion reports, the rules)."""

    def __init__(self, config: PromotionConfig, candidate: BenchScores | None, champion: BenchScores | None,
                 mode: str | None) -> None:
        self.config, self.candidate, self.champion, self.mode = config, candidate, champion, mode
        self.champion_comparison: PairedComparison | None = None
        self.baseline_comparison: PairedComparison | None = None

    def _compare(self, ours: dict[str, dict], theirs: dict[str, dict], datasets: list[str]) -> PairedComparison:
        from affectgpt.bench.bootstrap import BootstrapSettings
        from affectgpt.bench.clip_scores import ClipScores
        from affectgpt.bench.comparison import compare_paired
        from affectgpt.bench.mode import scorer_mode

        settings = BootstrapSettings(n_resamples=self.config.bootstrap_resamples, seed=self.config.bootstrap_seed,
                                     confidence=self.config.confidence)
        return compare_paired({name: ClipScores.from_json(ours[name]) for name in datasets if name in ours},
                              {name: ClipScores.from_json(theirs[name]) for name in datasets if name in theirs},
                              datasets, scorer_mode(self.mode or "official"), settings)

    def _judged(self, comparison: PairedComparison) -> tuple[float, str]:
        """The number a rule compares with its threshold, and how to name it."""
        delta = 100 * (comparison.delta_mean or 0.0)
        if self.config.judge_on_interval and comparison.interval is not None:
            low, high = (100 * end for end in comparison.interval)
            return low, (f"by {delta:+.2f} (95 % interval {low:+.2f} to {high:+.2f}, paired over "
                         f"{sum(d.n_common for d in comparison.per_set.values())} clips; judged on the lower bound)")
        return delta, f"by {delta:+.2f}"

    def too_few_clips(self, datasets: list[str]) -> list[str]:
        """A required set scored on fewer than `min_clips` clips cannot support a promotion."""
        if not self.config.min_clips or self.candidate is None:
            return []
        problems = []
        for name in datasets:
            n = (self.candidate.sets.get(name) or {}).get("n")
            if name in self.candidate.scores and (n is None or n < self.config.min_clips):
                problems.append(f"{_display(name)} was scored on {n if n is not None else 'an unknown number of'} "
                                f"clips, fewer than {self.config.min_clips}: too few clips to compare")
        return problems

    def inconsistent(self, scores: dict[str, float], datasets: list[str]) -> list[str]:
        """Where the report's own numbers disagree: a score, baseline or clip count that its
        per-clip scores do not give. The interval rules read the per-clip scores and the point
        rules the scores, so a report edited after scoring (one side raised, the other left
        alone) would be judged on two different models; it is refused instead. Both the
        scores passed in and the report's are checked, since they may come from other places."""
        evidence = self.candidate
        if evidence is None:
            return []
        from affectgpt.bench.clip_scores import ClipScores, additive_columns, metric_from_sums
        from affectgpt.bench.mode import scorer_mode

        mode = scorer_mode(self.mode or evidence.mode or "official")
        problems = []
        for name in datasets:
            entry = evidence.sets.get(name) or {}
            claimed = {"score": [scores.get(name), evidence.scores.get(name)], "baseline": [entry.get("baseline")]}
            for what, payload in (("score", evidence.clip_scores.get(name)),
                                  ("baseline", evidence.baseline_clip_scores.get(name))):
                if payload is None:
                    continue
                try:
                    clips = ClipScores.from_json(payload)
                except ValueError as error:
                    problems.append(f"{_display(name)}: the bench report's per-clip {what} scores are unreadable "
                                    f"({error})")
                    continue
                rebuilt = 100 * float(metric_from_sums(clips.task, mode, additive_columns(clips, mode).sum(axis=0))[0])
                for value in claimed[what]:
                    if value is not None and not (rebuilt == rebuilt and abs(rebuilt - value) <= 1e-6):
                        problems.append(f"{_display(name)}: the bench report's {what} {value:.2f} is not what its "
                                        f"per-clip scores give ({rebuilt:.2f}); a report edited after scoring "
                                        "is refused: re-score with `affectgpt bench`")
                        break
                if what == "score" and entry.get("n") is not None and entry["n"] != clips.n_counted():
                    problems.append(f"{_display(name)}: the bench report says {entry['n']} clips were scored but "
                                    f"its per-clip scores count {clips.n_counted()}; re-score with `affectgpt bench`")
        return problems

    def baseline_rule(self, datasets: list[str]) -> tuple[bool, str | None]:
        """(failed, reason) of min_improvement_over_baseline; no reason when the rule is off."""
        threshold = self.config.min_improvement_over_baseline
        evidence = self.candidate
        if evidence is not None and evidence.baseline_clip_scores:
            self.baseline_comparison = self._compare(evidence.clip_scores, evidence.baseline_clip_scores, datasets)
        if threshold is None:
            return False, None
        comparison = self.baseline_comparison
        if comparison is None or comparison.missing or comparison.delta_mean is None:
            missing = ", ".join(_display(name) for name in (comparison.missing if comparison else datasets))
            return True, ("the bench report has no subtitle-only baseline with per-clip scores for "
                          f"{missing or 'the required sets'}; score with `affectgpt bench eval` "
                          "(min_improvement_over_baseline)")
        judged, words = self._judged(comparison)
        if judged < threshold:
            return True, (f"mean beats the subtitle-only baseline {words}; needs at least {threshold:+.2f} "
                          "(a model must add something to the subtitle alone)")
        return False, f"mean beats the subtitle-only baseline {words}"

    def _paired_with_champion(self, datasets: list[str]) -> PairedComparison | None:
        """Candidate minus champion on the clips both answered (bootstrapped once, shared by the
        mean and the per-set rules); None when a report has no per-clip scores."""
        if self.champion_comparison is None and self.candidate is not None and self.champion is not None \
                and self.candidate.clip_scores and self.champion.clip_scores:
            self.champion_comparison = self._compare(self.candidate.clip_scores, self.champion.clip_scores, datasets)
        return self.champion_comparison

    def regression_rule(self, name: str, datasets: list[str], point_delta: float) -> tuple[bool, str | None] | None:
        """(failed, reason) of max_regression for one set, judged on the paired interval of
        candidate minus champion: the set fails only when even the interval's upper bound is below
        -max_regression, i.e. its clips show a larger drop than allowed. The mean rule already asks
        the candidate to prove its gain (lower bound); asking each set to prove the absence of a
        drop would fail a candidate equal to the champion on any set of a few hundred clips (its
        interval is several points wide). A point drop beyond the allowance that the interval does
        not confirm is named in a reason, not hidden. None when the set has no paired interval
        (the caller then judges the point value, as with judge_on_interval off)."""
        comparison = self._paired_with_champion(datasets)
        pair = comparison.per_set.get(name) if comparison is not None else None
        if pair is None or pair.interval is None or pair.delta is None:
            return None
        allowed = self.config.max_regression
        delta = 100 * pair.delta
        low, high = (100 * end for end in pair.interval)
        evidence = f"95 % interval of the change {low:+.2f} to {high:+.2f}, paired over {pair.n_common} clips"
        if high < -allowed:
            return True, (f"{name} regresses by {-delta:.2f} ({evidence}; even the upper bound is below "
                          f"-{allowed:.2f}) (allowed {allowed:.2f})")
        if max(-point_delta, -delta) > allowed:
            return False, (f"{name} drops by {-point_delta:.2f}, more than the allowed {allowed:.2f}, but its "
                           f"{evidence} does not show a drop beyond it (judged on the upper bound)")
        return False, None

    def champion_rule(self, datasets: list[str], champion_version: str) -> tuple[bool, str]:
        """(failed, reason) of min_mean_improvement judged on the paired interval's lower bound."""
        threshold = self.config.min_mean_improvement
        comparison = self._paired_with_champion(datasets)
        if comparison is None:
            return True, (f"mean improvement over champion v{champion_version} cannot be judged on an interval: "
                          "a bench report without per-clip scores (re-score both with this version of "
                          "`affectgpt bench`)")
        if comparison.missing or comparison.delta_mean is None:
            return True, (f"mean improvement over champion v{champion_version} cannot be judged: no clips in "
                          f"common on {', '.join(_display(n) for n in comparison.missing) or 'some set'}")
        judged, words = self._judged(comparison)
        if judged < threshold:
            return True, (f"mean improves {words} over champion v{champion_version} "
                          f"(needs at least {threshold:+.2f})")
        return False, f"mean improves {words} over champion v{champion_version}"

    def shown(self, scores: dict[str, float], champion_scores: dict[str, float] | None,
              datasets: list[str]) -> dict[str, Any]:
        """The GateResult fields a reviewer reads: per-set rows and the paired differences."""
        evidence = self.candidate
        sets = evidence.sets if evidence is not None else {}
        champion_pairs = self.champion_comparison.per_set if self.champion_comparison else {}
        baseline_pairs = self.baseline_comparison.per_set if self.baseline_comparison else {}
        rows = []
        for name in set_order(sorted(set(scores) | set(champion_scores or {}) | set(datasets))):
            entry = sets.get(name) or {}
            theirs = (champion_scores or {}).get(name)
            ours = scores.get(name)
            pair = champion_pairs.get(name)
            rows.append({
                "dataset": name, "display_name": entry.get("display_name") or _display(name),
                "required": name in datasets, "candidate": ours, "interval": entry.get("interval"),
                "n": entry.get("n"), "too_few": bool(entry.get("too_few")) or bool(
                    self.config.min_clips and entry.get("n") is not None and entry["n"] < self.config.min_clips),
                "baseline": entry.get("baseline"), "paper": entry["paper"] if entry.get("paper") is not None else _paper(name),
                "champion": theirs,
                "delta": ours - theirs if ours is not None and theirs is not None else None,
                "delta_interval": _percent_interval(pair.interval) if pair else None,
                "vs_baseline_interval": (_percent_interval(baseline_pairs[name].interval)
                                         if name in baseline_pairs else None),
            })
        baseline_values = [row["baseline"] for row in rows if row["required"] and row["baseline"] is not None]
        return {
            "sets": rows,
            "mean_interval": evidence.mean_interval if evidence is not None else None,
            "champion_difference": _difference(self.champion_comparison),
            "baseline_mean": (sum(baseline_values) / len(baseline_values)
                              if baseline_values and len(baseline_values) == len(datasets) else None),
            "baseline_difference": _difference(self.baseline_comparison),
            "lineage": dict(evidence.lineage) if evidence is not None else {},
        }


def _difference(comparison: PairedComparison | None) -> dict[str, Any] | None:
    if comparison is None or comparison.delta_mean is None:
        return None
    return {"delta": _percent(comparison.delta_mean), "interval": _percent_interval(comparison.interval),
            "datasets": comparison.datasets,
            "n_clips": sum(difference.n_common for difference in comparison.per_set.values())}


def _display(name: str) -> str:
    from affectgpt.bench.datasets import display_name

    return display_name(name)


def _paper(name: str) -> float | None:
    """The AffectGPT paper's Table 2 value in percent, when the report does not carry it."""
    from affectgpt.bench.datasets import DATASETS

    spec = DATASETS.get(name)
    return None if spec is None or spec.paper_value is None else 100 * spec.paper_value
