"""Temporal attention pooling: 8 per-frame (or per-window) vectors become one per modality.

Follows the official AffectGPT code: a scalar score per time step s_t = w.z_t + b and the
pooled vector z = sum_t s_t z_t, without normalising the scores; softmax is an opt-in variant
because unnormalised scores can blow up with large encoders.
"""

from __future__ import annotations

import torch
from torch import nn


class TemporalAttentionPooling(nn.Module):
    def __init__(self, feature_dim: int, normalize: str = "none") -> None:
        super().__init__()
        if normalize not in ("none", "softmax"):
            raise ValueError(f"pooling normalize must be 'none' or 'softmax', got {normalize!r}")
        self.score = nn.Linear(feature_dim, 1)
        self.normalize = normalize

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features [B, T, D] -> pooled [B, D]."""
        if features.dim() != 3:
            raise ValueError(f"expected features of shape [batch, time, dim], got {tuple(features.shape)}")
        scores = self.score(features)  # [B, T, 1]
        if self.normalize == "softmax":
            scores = torch.softmax(scores, dim=1)
        return (scores * features).sum(dim=1)
