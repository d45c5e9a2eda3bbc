"""Drift thresholds and the retrain rule, read from `configs/monitoring.yaml`.

Analysts own these numbers; keeping them in one YAML file (validated here) means the monitor
pipeline, the CLI and the notebook decide with the same rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from affectgpt.config import load_yaml_model
from affectgpt.paths import PACKAGED_CONFIGS, resolve_config

DEFAULT_CONFIG_PATH = PACKAGED_CONFIGS / "monitoring.yaml"
GROUPS = ("metadata", "embeddings", "text", "predictions")
TextDescriptor = Literal["length", "words", "sentences", "non_letter_share"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnGroups(_Strict):
    """Which input columns belong to which kind of check. A column in no group and not in
    `ignore` is listed in the report as skipped ('not_configured'), never silently dropped."""

    metadata: list[str] = Field(default_factory=lambda: [
        "duration_s", "fps", "face_ratio", "speech_ratio", "subtitle_len", "language", "source"])
    embeddings: list[str] = Field(default_factory=lambda: ["frame_emb", "face_emb", "audio_emb", "text_emb"])
    text: list[str] = Field(default_factory=lambda: ["subtitle", "description"])
    predictions: list[str] = Field(default_factory=lambda: [
        "predicted_label", "ov_labels", "sentiment", "description_len"])
    ignore: list[str] = Field(default_factory=lambda: [
        "clip_id", "event_timestamp", "created_timestamp", "video_path", "audio_path", "split"])


class ColumnTests(_Strict):
    """Evidently stat tests per column kind; null lets Evidently pick by sample size
    (K-S / chi-square below 1000 rows, Wasserstein / Jensen-Shannon above)."""

    numeric_method: str | None = None
    numeric_threshold: float | None = None
    categorical_method: str | None = None
    categorical_threshold: float | None = None
    engine: Literal["vectorised", "evidently"] = Field(
        "vectorised", description="vectorised: numeric/categorical verdicts from affectgpt.monitor.stats (the same "
        "tests, thresholds and verdicts as Evidently, all columns at once), Evidently renders the most drifted; "
        "evidently: one Evidently ValueDrift metric per column (slow beyond a few dozen columns)")
    plot_columns: int = Field(20, ge=0, description="numeric/categorical columns Evidently plots in drift.html "
                              "(the most drifted first; every check is in the report's table)")


class EmbeddingTest(_Strict):
    """Embedding drift with Evidently's embedding drift methods.

    `distance` with bootstrap compares the distance between the two mean vectors with the
    distances seen between random splits of the pooled data: a permutation test, so small
    batches do not raise false alarms the way a fixed classifier-AUC threshold does."""

    method: Literal["distance", "model", "ratio"] = "distance"
    distance: Literal["euclidean", "cosine", "cityblock", "chebyshev"] = "euclidean"
    bootstrap: bool = True
    quantile_probability: float = Field(0.95, gt=0, lt=1)
    threshold: float = Field(0.2, description="used when bootstrap is false (model: ROC AUC, e.g. 0.55)")
    pca_components: int | None = Field(None, ge=1)
    plot_components: int = Field(3, ge=0, description="principal components shown as distributions in drift.html")


class TextTest(_Strict):
    content_drift: bool = Field(True, description="Evidently's text-content drift (a domain classifier; slower)")
    content_threshold: float | None = None
    descriptors: list[TextDescriptor] = Field(default_factory=lambda: [
        "length", "words", "sentences", "non_letter_share"])


class RetrainRule(_Strict):
    """A group votes for retraining when the share of its usable checks that drifted reaches its
    threshold (null: the group never triggers on its own)."""

    metadata_drifted_share: float | None = Field(0.5, ge=0, le=1)
    embeddings_drifted_share: float | None = Field(0.25, ge=0, le=1)
    text_drifted_share: float | None = Field(0.5, ge=0, le=1)
    predictions_drifted_share: float | None = Field(0.5, ge=0, le=1)
    min_current_rows: int = Field(30, ge=1, description="smaller batches are reported but never trigger")
    min_test_rows: int = Field(5, ge=2, description="fewer rows on either side: no test is meaningful, the "
                               "verdict is inconclusive (retrain: null)")


class MonitoringConfig(_Strict):
    columns: ColumnGroups = Field(default_factory=ColumnGroups)
    tests: ColumnTests = Field(default_factory=ColumnTests)
    embeddings: EmbeddingTest = Field(default_factory=EmbeddingTest)
    text: TextTest = Field(default_factory=TextTest)
    retrain: RetrainRule = Field(default_factory=RetrainRule)
    model_column: str = Field("model_version", description="a reference from another model is an error")
    mlflow_experiment: str = "affectgpt-drift"
    seed: int = 0


class MonitoringConfigError(ValueError):
    """The monitoring YAML is unreadable or invalid; the message names the file and the field."""


def load_monitoring_config(path: str | Path | None = None) -> tuple[MonitoringConfig, Path | None]:
    """The config and the file it came from (built-in defaults when no file exists)."""
    candidate = resolve_config(path) if path is not None else DEFAULT_CONFIG_PATH
    if not candidate.is_file():
        if path is not None:
            raise MonitoringConfigError(f"{candidate}: monitoring config not found")
        return MonitoringConfig(), None
    return load_yaml_model(candidate, MonitoringConfig, MonitoringConfigError), candidate
