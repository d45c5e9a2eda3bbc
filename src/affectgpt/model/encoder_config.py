"""Settings of the frozen modality encoders (which checkpoints, sizes, seed, dtype).

Kept apart from `affectgpt.model.encoders` so that reading a model config (the CLI's light
commands, pipeline compilation, the data build) does not import torch or transformers.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TorchDtype = Literal["float32", "bfloat16", "float16"]


class TinyVisionSpec(BaseModel):
    """A randomly initialised CLIP vision tower (tests, the tiny config)."""

    model_config = ConfigDict(extra="forbid")
    hidden_size: int = 32
    intermediate_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    image_size: int = 32
    patch_size: int = 8
    projection_dim: int = 32


class TinyAudioSpec(BaseModel):
    """A randomly initialised HuBERT. The conv strides multiply to 320 like the real model's,
    so a 2-s window gives 99 frames as in the real model."""

    model_config = ConfigDict(extra="forbid")
    hidden_size: int = 32
    intermediate_size: int = 64
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    conv_dim: tuple[int, ...] = (32, 32, 32)
    conv_stride: tuple[int, ...] = (5, 8, 8)
    conv_kernel: tuple[int, ...] = (10, 8, 8)
    num_conv_pos_embeddings: int = 16
    num_conv_pos_embedding_groups: int = 4


class VisionEncoderSpec(BaseModel):
    """`model`: a local checkpoint folder or a model id (CLIP or CLIP-vision); or `tiny`."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    tiny: TinyVisionSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VisionEncoderSpec:
        if (self.model is None) == (self.tiny is None):
            raise ValueError("vision encoder: set exactly one of `model` (path or id) and `tiny` (random init)")
        return self


class AudioEncoderSpec(BaseModel):
    """`model`: a local checkpoint folder or a model id (HuBERT); or `tiny`. As upstream, each
    window first loses its mean (`remove_window_mean`), then the HuBERT feature extractor
    scales all windows of the clip together to zero mean / unit variance (`normalize`; upstream
    hands it one 2-D tensor)."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    tiny: TinyAudioSpec | None = None
    normalize: bool = True
    remove_window_mean: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> AudioEncoderSpec:
        if (self.model is None) == (self.tiny is None):
            raise ValueError("audio encoder: set exactly one of `model` (path or id) and `tiny` (random init)")
        return self


class EncoderConfig(BaseModel):
    """Which frozen encoders turn a clip into features. Part of the feature cache key, so any
    change here re-extracts."""

    model_config = ConfigDict(extra="forbid")
    vision: VisionEncoderSpec = Field(default_factory=lambda: VisionEncoderSpec(tiny=TinyVisionSpec()))
    audio: AudioEncoderSpec = Field(default_factory=lambda: AudioEncoderSpec(tiny=TinyAudioSpec()))
    hubert_layers: int = Field(4, ge=1)
    frame_size: int | None = Field(224, ge=1, description="frames squashed to size x size before CLIP, as upstream "
                                   "decodes them (None: CLIP's shortest-edge resize and centre crop, a deviation)")
    face_channels: Literal["bgr", "rgb"] = Field("bgr", description="channel order face crops reach CLIP in: "
                                                 "upstream feeds OpenFace's BGR crops unconverted")
    seed: int = Field(0, description="seed for random-init (tiny) encoders")
    dtype: TorchDtype = Field("float32", description="weight dtype of both encoders (upstream: float32)")
    autocast: TorchDtype | None = Field(None, description="autocast dtype on a GPU: upstream runs its fp32 encoders "
                                        "under `maybe_autocast()` (float16 on CUDA, off on CPU)")
    device: str = "cpu"

    @classmethod
    def tiny(cls, **overrides: Any) -> EncoderConfig:
        return cls(**overrides)

    @classmethod
    def paper(cls, clip_path: str = "openai/clip-vit-large-patch14",
              hubert_path: str = "TencentGameMate/chinese-hubert-large", **overrides: Any) -> EncoderConfig:
        """The paper setup: CLIP ViT-L/14 (768-d) and chinese-hubert-large (1024-d), fp32 weights
        under fp16 autocast on a GPU, as upstream."""
        overrides.setdefault("autocast", "float16")
        return cls(vision=VisionEncoderSpec(model=clip_path), audio=AudioEncoderSpec(model=hubert_path), **overrides)

    def config_hash(self) -> str:
        """Hash of the settings that change encoder outputs (device excluded: it does not)."""
        # `autocast` joined later: left out while unset, so caches made before it stay valid
        excluded = {"device"} | ({"autocast"} if self.autocast is None else set())
        payload = self.model_dump(mode="json", exclude=excluded)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
