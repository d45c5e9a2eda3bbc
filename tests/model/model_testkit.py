"""Helpers shared by the model tests (imported by module name: unique across test folders)."""

from __future__ import annotations

import torch

TEXTS = [
    "I don't know! I, I, I don't have experience in this area.",
    "Don't talk to me about feelings anymore.",
    "Last night, I forgot to thank you properly.",
    "In the video, he roared, spoke passionately and stared with wide eyes.",
    "Her mouth curved upwards and her eyebrows lifted, showing some shyness.",
] * 4


def randomise_lora(model) -> None:
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.05)


def random_features(batch: int, vision_dim: int = 32, audio_dim: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"frames": torch.randn(batch, 8, vision_dim, generator=generator),
            "faces": torch.randn(batch, 8, vision_dim, generator=generator),
            "audio": torch.randn(batch, 8, audio_dim, generator=generator)}
