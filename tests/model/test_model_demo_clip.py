"""The real demo clip end to end: media decoding -> frozen encoders -> AffectGPT -> generation."""

from __future__ import annotations

import torch

from affectgpt.media.clip import load_clip
from affectgpt.model.encoders import build_encoders, encode_clip
from affectgpt.model.generation import generate_texts
from affectgpt.model.store import LoadedModel


def test_demo_clip_goes_from_media_to_generated_text(demo_clip, tiny_config, tiny_model, tiny_tokenizer):
    clip = load_clip(demo_clip["video"], demo_clip["audio"])
    vision, audio = build_encoders(tiny_config.encoders)
    features = encode_clip(clip, vision, audio)
    vision_dim, audio_dim = tiny_config.modality_dims()
    assert features["frames"].shape == (8, vision_dim) and features["faces"].shape == (8, vision_dim)
    assert features["audio"].shape == (8, audio_dim)
    assert torch.isfinite(torch.cat([features["frames"], features["audio"]], dim=1)).all()

    loaded = LoadedModel(model=tiny_model, tokenizer=tiny_tokenizer, config=tiny_config, metadata={})
    subtitle = "I don't know! I, I, I don't have experience in this area."
    with_media = generate_texts(loaded, [subtitle], [features], "description", max_new_tokens=8)
    zeros = {key: torch.zeros_like(value) for key, value in features.items()}
    without_media = generate_texts(loaded, [subtitle], [zeros], "description", max_new_tokens=8)
    assert isinstance(with_media[0], str) and with_media[0]
    # the clip's own features reach the LLM as modality tokens that differ from zero features
    with_tokens = tiny_model.modality_tokens({k: v.unsqueeze(0) for k, v in features.items()})
    zero_tokens = tiny_model.modality_tokens({k: v.unsqueeze(0) for k, v in zeros.items()})
    assert not torch.allclose(with_tokens["audio"], zero_tokens["audio"])
    assert isinstance(without_media[0], str) and "###" not in with_media[0]
