"""Frozen modality encoders: CLIP vision for frames and face crops, HuBERT for audio windows.

Both load a real checkpoint from a local path (or a model id already in the local HF cache),
or build a randomly initialised model from a small `tiny` spec in-process, so tests and the
tiny config run the production code path with no download. Outputs per clip:
frames/faces [T, D_v] (CLIP `image_embeds`, 768 for ViT-L/14) and audio [W, D_a] (per window,
the mean of the last `hubert_layers` hidden layers, then the mean over time; 1024 for large).
"""

from __future__ import annotations

import contextlib

from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import (
    AutoConfig,
    CLIPConfig,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    HubertConfig,
    HubertModel,
    Wav2Vec2FeatureExtractor,
)
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
from transformers.utils import logging as hf_logging

from affectgpt.model.encoder_config import (  # noqa: F401  (re-exported: the settings live there)
    AudioEncoderSpec,
    EncoderConfig,
    TinyAudioSpec,
    TinyVisionSpec,
    TorchDtype,
    VisionEncoderSpec,
)


def _torch_dtype(name: TorchDtype) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _checkpoint_error(source: str, what: str, exc: BaseException) -> ValueError:
    hint = ("the folder exists but does not hold a loadable checkpoint" if Path(source).exists()
            else "not a local folder and not in the local Hugging Face cache (downloads are off)")
    return ValueError(
        f"{what} encoder '{source}': {hint}; set `model` to a local checkpoint folder "
        f"(e.g. one written by save_pretrained) or use `tiny` for random init. ({exc})"
    )


def _vision_config(source: str) -> CLIPVisionConfig:
    """The vision-tower config of a CLIP or CLIP-vision checkpoint. A full CLIP checkpoint keeps
    `projection_dim` at the top level; carried over here, else the projection would be rebuilt
    at the default width and silently re-initialised."""
    config = AutoConfig.from_pretrained(source)
    if isinstance(config, CLIPConfig):
        vision_config = CLIPVisionConfig(**config.vision_config.to_dict())
        vision_config.projection_dim = config.projection_dim
        return vision_config
    if isinstance(config, CLIPVisionConfig):
        return config
    raise ValueError(f"model_type '{config.model_type}' is not a CLIP model")


def _load_pretrained(model_cls: type, source: str, what: str, dtype: torch.dtype, config: Any = None):
    """from_pretrained that fails (with what to do) when weights are absent, missing or reshaped:
    a frozen encoder with random layers would produce plausible-looking garbage features."""
    try:
        if config is None and model_cls is CLIPVisionModelWithProjection:
            config = _vision_config(source)
        extra = {"config": config} if config is not None else {}
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the text tower of a full CLIP checkpoint is expected to be unused
        try:
            model, info = model_cls.from_pretrained(source, dtype=dtype, output_loading_info=True, **extra)
        finally:
            hf_logging.set_verbosity(verbosity)
    except (OSError, ValueError) as exc:
        raise _checkpoint_error(source, what, exc) from None
    broken = list(info.get("missing_keys", [])) + [str(m) for m in info.get("mismatched_keys", [])]
    if broken:
        raise ValueError(f"{what} encoder '{source}': checkpoint lacks or reshapes {len(broken)} weight(s) "
                         f"(e.g. {broken[:3]}); it does not match {model_cls.__name__}")
    return model


def autocast_enabled(device: torch.device, dtype: torch.dtype | None) -> bool:
    """Upstream's `maybe_autocast` (models/blip2.py): autocast on any device but the CPU;
    `dtype=None` (no `encoders.autocast`) runs the encoder in its weight dtype."""
    return dtype is not None and device.type != "cpu"


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if not autocast_enabled(device, dtype):
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def _freeze(module: torch.nn.Module) -> torch.nn.Module:
    module.eval()
    module.requires_grad_(False)
    return module


class VisionEncoder(torch.nn.Module):
    """Frozen CLIP vision tower with its projection: uint8 RGB images -> [N, D_v] embeddings."""

    def __init__(self, model: CLIPVisionModelWithProjection, device: str = "cpu", *, frame_size: int | None = 224,
                 face_channels: str = "bgr", autocast: torch.dtype | None = None) -> None:
        super().__init__()
        self.model = _freeze(model).to(device)
        self.autocast = autocast
        self.frame_size = frame_size
        self.face_channels = face_channels
        size = int(model.config.image_size)
        # Built from the model's own config so no preprocessor file is needed: CLIP normalisation,
        # shortest edge resized to the model's image size, centre crop (a no-op on the 224 x 224
        # squashed frames and face crops for ViT-L/14, as upstream's CLIP processor).
        self.processor = CLIPImageProcessorPil(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size},
            image_mean=OPENAI_CLIP_MEAN, image_std=OPENAI_CLIP_STD,
        )

    @property
    def output_dim(self) -> int:
        return int(self.model.config.projection_dim)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def preprocess(self, images: np.ndarray) -> torch.Tensor:
        """[N,H,W,3] uint8 RGB -> pixel_values [N,3,S,S] float32."""
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"expected images [N,H,W,3] uint8 RGB, got shape {images.shape}")
        batch = self.processor(images=list(images), return_tensors="pt")
        return batch["pixel_values"]

    @torch.no_grad()
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pixel_values = pixel_values.to(self.device, dtype=self.model.dtype)
        with autocast_context(self.device, self.autocast):
            return self.model(pixel_values=pixel_values).image_embeds.float()

    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        """[N,H,W,3] uint8 RGB -> [N, D_v] float32 on CPU."""
        return self(self.preprocess(images)).cpu()


class AudioEncoder(torch.nn.Module):
    """Frozen HuBERT: 16 kHz windows [W, n] -> [W, D_a] (mean of the last `layers` hidden states,
    then mean over time, as the AffectGPT audio branch does)."""

    def __init__(self, model: HubertModel, layers: int = 4, normalize: bool = True, device: str = "cpu",
                 remove_window_mean: bool = True, autocast: torch.dtype | None = None) -> None:
        super().__init__()
        self.autocast = autocast
        n_layers = int(model.config.num_hidden_layers)
        if layers > n_layers:
            raise ValueError(f"hubert_layers={layers} but the audio encoder has only {n_layers} layers")
        self.model = _freeze(model).to(device)
        self.layers = layers
        self.remove_window_mean = remove_window_mean
        self.feature_extractor = Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=normalize,
            return_attention_mask=False,
        )

    @property
    def output_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def preprocess(self, windows: np.ndarray) -> torch.Tensor:
        """[W, n] float32 16 kHz -> input_values [W, n]: each window minus its mean, then (as
        upstream, which passes one 2-D tensor) all windows scaled together."""
        if windows.ndim != 2:
            raise ValueError(f"expected audio windows [W, n_samples], got shape {windows.shape}")
        windows = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        if self.remove_window_mean:
            windows = windows - windows.mean(dim=1, keepdim=True)
        return self.feature_extractor(windows, sampling_rate=16000, return_tensors="pt")["input_values"][0]

    @torch.no_grad()
    def forward(self, input_values: torch.Tensor) -> torch.Tensor:
        input_values = input_values.to(self.device, dtype=self.model.dtype)
        with autocast_context(self.device, self.autocast):
            hidden_states = self.model(input_values=input_values, output_hidden_states=True).hidden_states
        last_layers = torch.stack(hidden_states[-self.layers:]).float().mean(dim=0)  # [W, time, D]
        return last_layers.mean(dim=1)

    def encode_windows(self, windows: np.ndarray) -> torch.Tensor:
        """[W, n] float32 16 kHz -> [W, D_a] float32 on CPU."""
        return self(self.preprocess(windows)).cpu()


def _tiny_vision(spec: TinyVisionSpec) -> CLIPVisionModelWithProjection:
    return CLIPVisionModelWithProjection(CLIPVisionConfig(**spec.model_dump()))


def _tiny_audio(spec: TinyAudioSpec) -> HubertModel:
    config = HubertConfig(**{**spec.model_dump(), "conv_dim": list(spec.conv_dim),
                             "conv_stride": list(spec.conv_stride), "conv_kernel": list(spec.conv_kernel)},
                          mask_time_prob=0.0, layerdrop=0.0)
    return HubertModel(config)


def build_vision_encoder(cfg: EncoderConfig) -> VisionEncoder:
    dtype = _torch_dtype(cfg.dtype)
    if cfg.vision.tiny is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            model = _tiny_vision(cfg.vision.tiny).to(dtype)
    else:
        model = _load_pretrained(CLIPVisionModelWithProjection, cfg.vision.model, "vision", dtype)
    return VisionEncoder(model, device=cfg.device, frame_size=cfg.frame_size, face_channels=cfg.face_channels,
                         autocast=_torch_dtype(cfg.autocast) if cfg.autocast else None)


def build_audio_encoder(cfg: EncoderConfig) -> AudioEncoder:
    dtype = _torch_dtype(cfg.dtype)
    if cfg.audio.tiny is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            model = _tiny_audio(cfg.audio.tiny).to(dtype)
    else:
        model = _load_pretrained(HubertModel, cfg.audio.model, "audio", dtype)
    return AudioEncoder(model, layers=cfg.hubert_layers, normalize=cfg.audio.normalize, device=cfg.device,
                        remove_window_mean=cfg.audio.remove_window_mean,
                        autocast=_torch_dtype(cfg.autocast) if cfg.autocast else None)


def build_encoders(cfg: EncoderConfig) -> tuple[VisionEncoder, AudioEncoder]:
    """Both frozen encoders for `cfg` (random-init ones are seeded, so the same config gives the
    same weights and the feature cache stays valid)."""
    return build_vision_encoder(cfg), build_audio_encoder(cfg)


def squash_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Resize [T,H,W,3] frames to size x size ignoring the aspect ratio, as upstream's decoder
    (decord with height = width = 224) does; area interpolation when shrinking."""
    import cv2

    out = []
    for frame in frames:
        shrink = frame.shape[0] >= size and frame.shape[1] >= size
        out.append(cv2.resize(np.ascontiguousarray(frame), (size, size),
                              interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC))
    return np.stack(out).astype(np.uint8)


def encode_clip(clip: Any, vision: VisionEncoder, audio: AudioEncoder) -> dict[str, torch.Tensor]:
    """Encode a decoded clip (`affectgpt.media.ClipMedia`): frames [T,D_v], faces [T,D_v],
    audio [W,D_a]. Frames are squashed to `vision.frame_size` and faces reach CLIP in
    `vision.face_channels` order, as upstream (see `EncoderConfig`); both go through the vision
    tower as one batch."""
    n_frames = len(clip.frames)
    frames = squash_frames(clip.frames, vision.frame_size) if vision.frame_size else clip.frames
    faces = clip.faces[..., ::-1] if vision.face_channels == "bgr" else clip.faces
    pixel_values = torch.cat([vision.preprocess(frames), vision.preprocess(np.ascontiguousarray(faces))])
    image_embeds = vision(pixel_values).cpu()
    return {
        "frames": image_embeds[:n_frames].contiguous(),
        "faces": image_embeds[n_frames:].contiguous(),
        "audio": audio.encode_windows(clip.audio_windows).contiguous(),
    }
