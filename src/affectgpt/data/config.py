"""Settings of the MER-Caption build, one pydantic model read from `configs/build.yaml`.

Every threshold a reviewer may want to change lives here, and the whole config is hashed into
the per-clip cache keys so a changed setting recomputes exactly what it affects.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from affectgpt.config import load_yaml_model
from affectgpt.errors import BadInput, ExitCode, NotFound
from affectgpt.paths import PACKAGED_CONFIGS, resolve_config


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IngestConfig(_Strict):
    subtitles_file: str = "subtitles.csv"
    labels_file: str = "labels.csv"
    video_extensions: list[str] = [".mp4", ".avi", ".mkv", ".mov", ".webm"]
    wav_sample_rate_hz: int = 16_000
    # "resample": keep wavs at another rate (media decoding resamples them); "quarantine": reject them.
    other_sample_rate: Literal["resample", "quarantine"] = "resample"
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)


class PrefilterConfig(_Strict):
    min_duration_s: float = 0.5
    max_duration_s: float = 60.0
    require_voice: bool = True
    min_speech_s: float = 0.3
    vad_threshold: float = 0.5
    require_face: bool = True
    min_face_ratio: float = 0.25


class HFDescriberConfig(_Strict):
    name: str = "hf"
    model_path: str
    modality: Literal["audio", "visual"]
    max_new_tokens: int = 48


class EndpointDescriberConfig(_Strict):
    name: str = "endpoint"
    url: str = Field(description="base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    model: str
    modality: Literal["audio", "visual"]
    api_key_env: str | None = Field(default=None, description="name of the env var holding the key")
    max_tokens: int = 96
    timeout_s: float = 60.0


class DescribersConfig(_Strict):
    audio: str = "acoustic"
    visual: str = "fer"
    hf: list[HFDescriberConfig] = []
    endpoint: list[EndpointDescriberConfig] = []


class MergerConfig(_Strict):
    kind: Literal["template", "hf", "endpoint"] = "template"
    model_path: str | None = None
    url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    max_new_tokens: int = 160


class HighLevelConfig(_Strict):
    enabled: bool = True
    # "auto": MERBench MER2023 transcripts when the reference data is present, else the labelled
    # train split of the clips being built; "reference" / "clips" force one of them.
    train_data: Literal["auto", "reference", "clips"] = "auto"
    max_train_rows: int = 2_000
    use_face_classifier: bool = True
    seed: int = 0


class PostfilterConfig(_Strict):
    length_quantiles: tuple[float, float] = (0.05, 0.95)
    # Where the length tails come from. "first_build": the quantiles of the corpus's first build
    # into this output folder (recorded in its manifest and data card), reused by every later
    # build so adding clips never flips a kept clip; "batch": the quantiles of each build's own
    # descriptions. `length_bounds_chars` [low, high] fixes the bounds and overrides both.
    length_reference: Literal["first_build", "batch"] = "first_build"
    length_bounds_chars: tuple[float, float] | None = None
    av_mismatch: bool = True
    min_speech_face_overlap: float = 0.5
    high_level: HighLevelConfig = HighLevelConfig()


class BuildConfig(_Strict):
    ingest: IngestConfig = IngestConfig()
    prefilter: PrefilterConfig = PrefilterConfig()
    describers: DescribersConfig = DescribersConfig()
    merger: MergerConfig = MergerConfig()
    postfilter: PostfilterConfig = PostfilterConfig()
    extractor: str = "lexicon"
    cache_dir: str | None = Field(default=None, description="per-clip cache; default <workspace>/build-cache")

    def digest(self, *sections: str) -> str:
        """Short hash of the named sections (all when none): part of the per-clip cache keys."""
        payload = self.model_dump(mode="json")
        if sections:
            payload = {name: payload[name] for name in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


DEFAULT_CONFIG_PATH = PACKAGED_CONFIGS / "build.yaml"


class BuildConfigError(BadInput, ValueError):
    """The build config file is unreadable or invalid; the message names the file and field."""


class BuildConfigMissing(BuildConfigError, NotFound):
    """The build config named does not exist (exit 4, as every missing input)."""

    exit_code = ExitCode.NOT_FOUND


def load_build_config(path: str | Path | None = None) -> BuildConfig:
    """The build config from YAML (`configs/build.yaml` when present and no path is given)."""
    if path is None:
        if not DEFAULT_CONFIG_PATH.is_file():
            return BuildConfig()
        path = DEFAULT_CONFIG_PATH
    path = resolve_config(path)
    if not path.is_file():
        raise BuildConfigMissing(f"{path}: build config not found")
    return load_yaml_model(path, BuildConfig, BuildConfigError)
