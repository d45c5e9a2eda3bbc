"""Frozen CLIP-vision / HuBERT encoders: shapes, freezing, determinism, and that a saved
checkpoint loads from a local path and matches the reference computation."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from transformers import CLIPConfig, CLIPModel, HubertConfig, HubertModel

from affectgpt.model.encoders import (
    AudioEncoderSpec,
    EncoderConfig,
    TinyAudioSpec,
    TinyVisionSpec,
    VisionEncoderSpec,
    build_encoders,
    encode_clip,
)


class _Clip:
    """The three arrays encode_clip reads from a decoded clip."""

    def __init__(self, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.frames = rng.integers(0, 256, size=(8, 40, 60, 3), dtype=np.uint8)
        self.faces = rng.integers(0, 256, size=(8, 48, 48, 3), dtype=np.uint8)
        self.audio_windows = (0.1 * rng.standard_normal((8, 32000))).astype(np.float32)


@pytest.fixture(scope="module")
def tiny_encoders():
    return build_encoders(EncoderConfig())


def test_tiny_encoders_shapes_and_frozen(tiny_encoders):
    vision, audio = tiny_encoders
    features = encode_clip(_Clip(), vision, audio)
    assert features["frames"].shape == (8, 32) and features["faces"].shape == (8, 32)
    assert features["audio"].shape == (8, 32)
    assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in features.values())
    for encoder in (vision, audio):
        assert not any(p.requires_grad for p in encoder.parameters())
        assert not encoder.model.training
    assert not features["frames"].requires_grad
    # Different images give different embeddings (the tower is not a constant).
    assert not torch.allclose(features["frames"][0], features["frames"][1])


def test_random_init_is_seeded(tiny_encoders):
    clip = _Clip(1)
    again = encode_clip(clip, *build_encoders(EncoderConfig()))
    first = encode_clip(clip, *tiny_encoders)
    for name in first:
        torch.testing.assert_close(first[name], again[name], rtol=0, atol=0)
    other = encode_clip(clip, *build_encoders(EncoderConfig(seed=1)))
    assert not torch.allclose(first["audio"], other["audio"])


def test_config_hash_tracks_output_relevant_fields():
    base = EncoderConfig()
    assert base.config_hash() == EncoderConfig().config_hash()
    assert base.config_hash() == EncoderConfig(device="cuda").config_hash()
    assert base.config_hash() != EncoderConfig(hubert_layers=2).config_hash()
    with pytest.raises(ValidationError, match="exactly one"):
        VisionEncoderSpec(model="x", tiny=TinyVisionSpec())
    with pytest.raises(ValidationError, match="exactly one"):
        AudioEncoderSpec()


def test_clip_checkpoint_from_path_matches_get_image_features(tmp_path):
    torch.manual_seed(0)
    clip_model = CLIPModel(CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 16},
        vision_config={"hidden_size": 48, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 32, "patch_size": 8},
        projection_dim=24,
    )).eval()
    clip_model.save_pretrained(tmp_path / "clip")
    cfg = EncoderConfig(vision=VisionEncoderSpec(model=str(tmp_path / "clip")))
    vision, _ = build_encoders(cfg)
    assert vision.output_dim == 24
    images = _Clip().frames
    pixel_values = vision.preprocess(images)
    assert pixel_values.shape == (8, 3, 32, 32)
    with torch.no_grad():
        expected = clip_model.get_image_features(pixel_values=pixel_values).pooler_output
    torch.testing.assert_close(vision.encode_images(images), expected)


def test_hubert_checkpoint_from_path_pools_last_layers(tmp_path):
    spec = TinyAudioSpec()
    torch.manual_seed(0)
    hubert = HubertModel(HubertConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=5, num_attention_heads=4,
        conv_dim=[32, 32, 32], conv_stride=list(spec.conv_stride), conv_kernel=list(spec.conv_kernel),
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
    )).eval()
    hubert.save_pretrained(tmp_path / "hubert")
    _, audio = build_encoders(EncoderConfig(audio=AudioEncoderSpec(model=str(tmp_path / "hubert"), normalize=False)))
    windows = _Clip().audio_windows
    with torch.no_grad():
        hidden = hubert(torch.from_numpy(windows), output_hidden_states=True).hidden_states
    assert len(hidden) == 6 and hidden[-1].shape[1] == 99  # 2 s at a 320-sample hop, as in the real model
    expected = torch.stack(hidden[-4:]).mean(0).mean(1)
    torch.testing.assert_close(audio.encode_windows(windows), expected)


def test_bad_encoder_settings_say_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="only 4 layers"):
        build_encoders(EncoderConfig(hubert_layers=5))
    with pytest.raises(ValueError, match="local checkpoint folder"):
        build_encoders(EncoderConfig(vision=VisionEncoderSpec(model=str(tmp_path / "no-such-model"))))


@pytest.mark.slow
def test_real_checkpoints_on_the_demo_clip(demo_clip):
    """Set AFFECTGPT_CLIP_PATH (CLIP ViT-L/14) and AFFECTGPT_HUBERT_PATH (chinese-hubert-large)."""
    clip_path, hubert_path = os.environ.get("AFFECTGPT_CLIP_PATH"), os.environ.get("AFFECTGPT_HUBERT_PATH")
    if not clip_path or not hubert_path:
        pytest.skip("set AFFECTGPT_CLIP_PATH and AFFECTGPT_HUBERT_PATH to local checkpoint folders")
    from affectgpt.media import load_clip

    vision, audio = build_encoders(EncoderConfig.paper(clip_path, hubert_path))
    features = encode_clip(load_clip(demo_clip["video"], demo_clip["audio"]), vision, audio)
    assert features["frames"].shape == (8, 768) and features["faces"].shape == (8, 768)
    assert features["audio"].shape == (8, 1024)
    assert Path(clip_path).is_dir() and all(torch.isfinite(t).all() for t in features.values())


def _upstream_maybe_autocast_enabled(device: torch.device) -> bool:
    """Upstream my_affectgpt/models/blip2.py `maybe_autocast(self, dtype=torch.float16)`:
    `enable_autocast = self.device != torch.device("cpu")`, then `torch.amp.autocast('cuda',
    dtype=dtype)` around fp32 encoders (their weights are never cast)."""
    return device != torch.device("cpu")


def test_paper_encoders_are_fp32_under_fp16_autocast_as_upstream():
    from affectgpt.model.config import load_config
    from affectgpt.model.encoders import autocast_enabled

    paper = load_config("affectgpt-7b.yaml").encoders
    assert (paper.dtype, paper.autocast) == ("float32", "float16")
    assert (EncoderConfig.paper().dtype, EncoderConfig.paper().autocast) == ("float32", "float16")
    for device in (torch.device("cpu"), torch.device("cuda"), torch.device("cuda:1")):
        assert autocast_enabled(device, torch.float16) == _upstream_maybe_autocast_enabled(device), device
    assert not autocast_enabled(torch.device("cuda"), None)
    # the CPU features do not move when autocast is configured (off on CPU, as upstream), and
    # caches made before the setting existed keep their key
    clip = _Clip(2)
    plain = encode_clip(clip, *build_encoders(EncoderConfig()))
    autocast = encode_clip(clip, *build_encoders(EncoderConfig(autocast="float16")))
    for name in plain:
        torch.testing.assert_close(plain[name], autocast[name], rtol=0, atol=0)
    assert EncoderConfig().config_hash() != EncoderConfig(autocast="float16").config_hash()
