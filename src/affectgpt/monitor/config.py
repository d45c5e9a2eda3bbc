"""Drift thresholds and the retrain rule, read from `configs/monitoring.yaml`.

Analysts own these numbers; keeping them in one YAML file (validated here) means the monitor
pipeline, the CLI and the notebook decide with the same rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from affectgpt.config import load_yaml_model
from affectgpt.errors import BadInput, ExitCode, NotFound
from affectgpt.paths import PACKAGED_CONFIGS, resolve_config

DEFAULT_CONFIG_PATH = PACKAGED_CONFIGS / "monitoring.yaml"
GROUPS = ("metadata", "embeddings", "text", "predictions")
TextDescriptor = Literal["length", "words", "sentences", "non_letter_share"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Columns of the monitored batches that are not drift checks, and why (the defaults of
# configs/monitoring.yaml; kept equal to it by tests/monitor/test_drift_batch_columns.py).
DEFAULT_IGNORE: dict[str, str] = {
    "clip_id": "the key batches are joined on",
    "event_timestamp": "when a row was written, not what the clip is",
    "created_timestamp": "when a row was written, not what the clip is",
    "split": "corpus bookkeeping: a production batch has no split",
    "video_path": "a location, not content",
    "audio_path": "a location, not content",
    "pack": "a location, not content (the packed features file a clip is in)",
    "cache_key": "identifies a file, not its content's distribution",
    "media_hash": "identifies a file, not its content's distribution",
    "encoder_hash": "identifies the encoders; another encoder shows as embedding drift",
    "n_video_frames": "duration_s x fps, both checked",
    "prompt_type": "a setting of the infer run, not of the clips",
    "decoding": "a setting of the infer run, not of the clips",
    "dataset": "a setting of the infer run, not of the clips",
    "emotion": "gold label: production batches have none, and it is never a model output",
    "valence": "gold label: production batches have none",
    "sentiment": "gold annotation of caption records; `affectgpt infer` does not predict it",
}


class ColumnGroups(_Strict):
    """Which input columns belong to which kind of check. A column in no group and not in
    `ignore` is listed in the report as skipped ('not_configured'), never silently dropped.

    The groups describe what `affectgpt features extract` and `affectgpt infer` write (see
    docs/monitoring.md, "Which files are the batches"); `ignore` maps each column left out to why."""

    metadata: list[str] = Field(default_factory=lambda: [
        "duration_s", "fps", "audio_duration_s", "face_ratio", "speech_ratio", "subtitle_len", "language", "source"])
    embeddings: list[str] = Field(default_factory=lambda: ["frame_emb", "face_emb", "audio_emb", "text_emb"])
    text: list[str] = Field(default_factory=lambda: ["subtitle", "description"])
    predictions: list[str] = Field(default_factory=lambda: ["predicted_label", "ov_labels", "description_len"])
    ignore: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_IGNORE),
                                   description="column -> why it is not checked")

    @field_validator("ignore", mode="before")
    @classmethod
    def _ignore_with_reasons(cls, value: object) -> object:
        """A plain list (older configs) is accepted: each column's reason is then unknown."""
        if isinstance(value, list):
            return {str(column): "" for column in value}
        return value


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
    """Text columns are compared on their readable texts only: a garbled text (decoder byte soup,
    a broken encoding: affectgpt.monitor.text_quality) or an empty one would let the content
    classifier and the descriptors tell the batches apart by garbage alone. The garbled share is
    a check of its own (`<column>.garbled_share`)."""

    content_drift: bool = Field(True, description="Evidently's text-content drift (a domain classifier; slower)")
    content_threshold: float | None = Field(None, gt=0, lt=1, description="percentile of a random classifier's "
                                            "ROC AUC the domain classifier must beat (null: 0.95)")
    descriptors: list[TextDescriptor] = Field(default_factory=lambda: [
        "length", "words", "sentences", "non_letter_share"])
    garbled_max_increase: float = Field(0.05, ge=0, lt=1, description="drifted when the share of garbled texts "
                                        "rose by more than this (lower 95% confidence bound of the rise)")


class MissingPredictions(_Strict):
    """Clips without a usable prediction (no answer for the clip, or an output no label could be
    read from) are a rate of their own, never a category of the label distribution: the label
    checks compare answered clips only."""

    max_increase: float = Field(0.05, ge=0, lt=1, description="drifted when the share of clips without a "
                                "prediction rose by more than this (lower 95% confidence bound of the rise)")


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
    missing_predictions: MissingPredictions = Field(default_factory=MissingPredictions)
    retrain: RetrainRule = Field(default_factory=RetrainRule)
    model_column: str = Field("model_version", description="a reference from another model is an error")
    mlflow_experiment: str = "affectgpt-drift"
    seed: int = 0


class MonitoringConfigError(BadInput, ValueError):
    """The monitoring YAML is unreadable or invalid; the message names the file and the field."""


class MonitoringConfigMissing(MonitoringConfigError, NotFound):
    """The monitoring config named does not exist (exit 4, as every missing input)."""

    exit_code = ExitCode.NOT_FOUND


def load_monitoring_config(path: str | Path | None = None) -> tuple[MonitoringConfig, Path | None]:
    """The config and the file it came from (built-in defaults when no file exists)."""
    candidate = resolve_config(path) if path is not None else DEFAULT_CONFIG_PATH
    if not candidate.is_file():
        if path is not None:
            raise MonitoringConfigMissing(f"{candidate}: monitoring config not found")
        return MonitoringConfig(), None
    return load_yaml_model(candidate, MonitoringConfig, MonitoringConfigError), candidate
