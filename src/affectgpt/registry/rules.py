"""The promotion rules a production model is judged by (`configs/promotion.yaml`): one typed
object shared by the point-score rules (`gate`) and the evidence rules (`gate_evidence`)."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field


class PromotionConfig(BaseModel):
    """Promotion rules. Scores are in the units the scorer reports (MER-UniBench: percent)."""

    model_config = ConfigDict(extra="forbid")

    required_datasets: list[str] = Field(
        default_factory=list, description="every one must have a score; the mean is taken over these"
    )
    min_mean_improvement: float = Field(
        0.0, description="candidate mean minus champion mean must be at least this"
    )
    max_regression: float = Field(
        0.0, ge=0, description="no dataset may drop by more than this versus the champion (with "
        "judge_on_interval: a set fails only when the upper bound of its paired interval of candidate minus "
        "champion is below -max_regression)"
    )
    min_scores: dict[str, float] = Field(
        default_factory=dict, description="absolute floor per dataset, checked with or without a champion"
    )
    min_mean: float | None = Field(None, description="absolute floor for the mean over required datasets")
    require_same_scorer_mode: bool = Field(
        True, description="official and corrected scores are not comparable; refuse to compare across"
    )
    require_authenticated: bool = Field(
        True,
        description="refuse to promote on a registration, approval or promotion that no server "
        "authenticated (local sqlite stores cannot tell people apart)",
    )
    min_clips: int = Field(
        0, ge=0, description="every required set must be scored on at least this many clips (fewer: too few "
        "clips to compare)")
    judge_on_interval: bool = Field(
        False, description="judge min_mean_improvement and min_improvement_over_baseline on the lower bound of "
        "the paired-bootstrap 95 % interval of the difference, and max_regression per set on the upper bound of "
        "its paired interval, not on the point differences")
    min_improvement_over_baseline: float | None = Field(
        None, description="the candidate's mean minus the subtitle-only baseline's mean (same clips, same "
        "report) must be at least this; None: no baseline rule")
    bootstrap_resamples: int = Field(1000, ge=100, description="resamples of the paired bootstrap")
    bootstrap_seed: int = Field(0, description="seed of the paired bootstrap")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="coverage of the intervals")

    def content_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]
