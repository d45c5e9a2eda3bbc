"""The evaluation gate: may a candidate's MER-UniBench scores replace the champion's?

Pure functions over score dicts, so the rules are tested without MLflow. The rules come from
`configs/promotion.yaml` (a `PromotionConfig`); the verdict and every reason are stored on the
model version so a reviewer sees exactly why it passed or failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from affectgpt.config import load_yaml_model
from affectgpt.paths import PACKAGED_CONFIGS, resolve_config
from affectgpt.registry.errors import InvalidInput
from affectgpt.registry.rules import PromotionConfig

if TYPE_CHECKING:
    from affectgpt.registry.scores import BenchScores

DEFAULT_PROMOTION_CONFIG = PACKAGED_CONFIGS / "promotion.yaml"

Verdict = Literal["pass", "fail", "no_scores"]


def load_promotion_config(path: str | Path | None = None) -> PromotionConfig:
    """Read and check the rules; a bad file names itself and the offending field."""
    config_path = resolve_config(path) if path is not None else DEFAULT_PROMOTION_CONFIG
    if not config_path.is_file():
        raise InvalidInput(f"{config_path}: promotion config not found; pass --promotion-config PATH")
    return load_yaml_model(config_path, PromotionConfig, InvalidInput)


class GateResult(BaseModel):
    """What the gate decided, against which champion, and why."""

    verdict: Verdict
    reasons: list[str]
    champion_version: str | None = None
    candidate_mean: float | None = None
    champion_mean: float | None = None
    deltas: dict[str, float] = Field(default_factory=dict)
    config_hash: str = ""
    # What the reviewer reads beside the verdict (percent; intervals are 95 %): one row per set
    # in Table 2's order (`gate_evidence.set_rows`), the mean's interval, the paired differences
    # the rules judged, and the lineage the bench report names.
    sets: list[dict[str, Any]] = Field(default_factory=list)
    mean_interval: list[float] | None = None
    champion_difference: dict[str, Any] | None = None
    baseline_mean: float | None = None
    baseline_difference: dict[str, Any] | None = None
    lineage: dict[str, str] = Field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


def _mean(scores: dict[str, float], datasets: list[str]) -> float | None:
    values = [scores[name] for name in datasets if name in scores]
    return sum(values) / len(values) if values else None


def evaluate_gate(
    candidate_scores: dict[str, float],
    config: PromotionConfig,
    *,
    champion_scores: dict[str, float] | None = None,
    champion_version: str | None = None,
    candidate_mode: str | None = None,
    champion_mode: str | None = None,
    candidate_evidence: BenchScores | None = None,
    champion_evidence: BenchScores | None = None,
) -> GateResult:
    """Apply the rules. Without a champion (or a champion without scores) only the absolute rules
    apply, and a reason says so, so nobody mistakes an absolute pass for a win over a champion.
    `candidate_evidence`/`champion_evidence` are the bench reports behind the scores: clip
    counts, intervals, the subtitle-only baseline and per-clip scores for paired differences."""
    from affectgpt.registry.gate_evidence import EvidenceRules

    judge = EvidenceRules(config, candidate_evidence, champion_evidence, candidate_mode or
                          (candidate_evidence.mode if candidate_evidence else None))
    reasons: list[str] = []
    failed = False
    config_hash = config.content_hash()
    if not candidate_scores:
        return GateResult(
            verdict="no_scores",
            reasons=["no MER-UniBench scores are recorded on this version; it cannot be promoted"],
            champion_version=champion_version,
            config_hash=config_hash,
        )
    datasets = config.required_datasets or sorted(candidate_scores)
    missing = [name for name in config.required_datasets if name not in candidate_scores]
    for name in missing:
        failed = True
        reasons.append(f"required dataset {name} has no score")
    for name, floor in sorted(config.min_scores.items()):
        if name in candidate_scores and candidate_scores[name] < floor:
            failed = True
            reasons.append(f"{name} {candidate_scores[name]:.2f} is below the minimum {floor:.2f}")
        elif name not in candidate_scores and name not in missing:
            failed = True
            reasons.append(f"{name} has a minimum score but no score")
    candidate_mean = _mean(candidate_scores, datasets)
    if config.min_mean is not None and candidate_mean is not None and candidate_mean < config.min_mean:
        failed = True
        reasons.append(f"mean {candidate_mean:.2f} is below the minimum mean {config.min_mean:.2f}")
    for problem in judge.too_few_clips(datasets):
        failed = True
        reasons.append(problem)
    for problem in judge.inconsistent(candidate_scores, datasets):
        failed = True
        reasons.append(problem)
    baseline_failed, baseline_reason = judge.baseline_rule(datasets)
    failed = failed or baseline_failed
    if baseline_reason:
        reasons.append(baseline_reason)

    deltas: dict[str, float] = {}
    champion_mean = None
    if champion_version is None:
        reasons.append("no champion yet: judged on the absolute rules only")
    elif not champion_scores:
        reasons.append(
            f"champion v{champion_version} has no recorded scores: judged on the absolute rules only"
        )
    elif config.require_same_scorer_mode and candidate_mode != champion_mode:
        failed = True
        reasons.append(
            f"scorer mode {candidate_mode!r} differs from the champion's {champion_mode!r}; "
            "re-score both in the same mode"
        )
    else:
        for name in datasets:
            if name in candidate_scores and name in champion_scores:
                deltas[name] = candidate_scores[name] - champion_scores[name]
                # With judge_on_interval the paired interval decides (gate_evidence.regression_rule);
                # a set without one is judged on its point value, as with the option off.
                on_interval = judge.regression_rule(name, datasets, deltas[name]) if config.judge_on_interval else None
                if on_interval is not None:
                    regressed, reason = on_interval
                    failed = failed or regressed
                    if reason:
                        reasons.append(reason)
                elif -deltas[name] > config.max_regression:
                    failed = True
                    reasons.append(
                        f"{name} regresses by {-deltas[name]:.2f} (allowed {config.max_regression:.2f})"
                    )
        champion_mean = _mean(champion_scores, datasets)
        if candidate_mean is not None and champion_mean is not None and config.judge_on_interval:
            interval_failed, reason = judge.champion_rule(datasets, champion_version or "")
            failed = failed or interval_failed
            reasons.append(reason)
        elif candidate_mean is not None and champion_mean is not None:
            improvement = candidate_mean - champion_mean
            if improvement < config.min_mean_improvement:
                failed = True
                reasons.append(
                    f"mean improves by {improvement:+.2f} over champion v{champion_version} "
                    f"(needs at least {config.min_mean_improvement:+.2f})"
                )
            else:
                reasons.append(f"mean improves by {improvement:+.2f} over champion v{champion_version}")
    if not failed:
        reasons.append("all rules passed")
    return GateResult(
        verdict="fail" if failed else "pass",
        reasons=reasons,
        champion_version=champion_version,
        candidate_mean=candidate_mean,
        champion_mean=champion_mean,
        deltas=deltas,
        config_hash=config_hash,
        **judge.shown(candidate_scores, champion_scores if deltas else None, datasets),
    )
