"""Pre-fusion of audio and visual (face or frame) features into the `<MultiHere>` tokens.

Three variants from the paper: `attention` (two weights from a 2-layer MLP over the
time-averaged modalities, weighted sum), `qformer` (K learned queries attend over the
concatenated time sequences) and `none` (no fused token). Each returns [B, K, llm_hidden].
"""

from __future__ import annotations

import torch
from torch import nn


class AttentionFusion(nn.Module):
    """Both modalities mapped to `hidden_dim`, averaged over time, 2*hidden -> hidden -> 2 gives
    the mixing weights (softmax), the weighted sum is projected to the LLM width: one token."""

    n_tokens = 1

    def __init__(self, audio_dim: int, visual_dim: int, hidden_dim: int, llm_dim: int) -> None:
        super().__init__()
        self.audio_in = nn.Linear(audio_dim, hidden_dim)
        self.visual_in = nn.Linear(visual_dim, hidden_dim)
        self.attention_mlp = nn.Linear(2 * hidden_dim, hidden_dim)
        self.attention_out = nn.Linear(hidden_dim, 2)
        self.to_llm = nn.Linear(hidden_dim, llm_dim)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        audio_h = self.audio_in(audio).mean(dim=1)  # [B, H]
        visual_h = self.visual_in(visual).mean(dim=1)
        weights = torch.softmax(self.attention_out(self.attention_mlp(torch.cat([audio_h, visual_h], dim=-1))), dim=-1)
        fused = weights[:, 0:1] * audio_h + weights[:, 1:2] * visual_h
        return self.to_llm(fused).unsqueeze(1)


class QFormerFusion(nn.Module):
    """A small Q-Former: K learned queries, each layer self-attention over the queries then
    cross-attention into the concatenated audio+visual sequence (with learned positions)."""

    def __init__(self, audio_dim: int, visual_dim: int, hidden_dim: int, llm_dim: int, *,
                 n_queries: int, n_layers: int, n_heads: int, max_positions: int = 64) -> None:
        super().__init__()
        self.n_tokens = n_queries
        self.audio_in = nn.Linear(audio_dim, hidden_dim)
        self.visual_in = nn.Linear(visual_dim, hidden_dim)
        self.positions = nn.Parameter(torch.zeros(1, max_positions, hidden_dim))
        self.queries = nn.Parameter(torch.zeros(1, n_queries, hidden_dim))
        nn.init.normal_(self.positions, std=0.02)
        nn.init.normal_(self.queries, std=0.02)
        layer = nn.TransformerDecoderLayer(hidden_dim, n_heads, dim_feedforward=4 * hidden_dim, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerDecoder(layer, n_layers)
        self.to_llm = nn.Linear(hidden_dim, llm_dim)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        sequence = torch.cat([self.audio_in(audio), self.visual_in(visual)], dim=1)  # [B, Ta+Tv, H]
        if sequence.shape[1] > self.positions.shape[1]:
            raise ValueError(f"Q-Former sequence length {sequence.shape[1]} exceeds {self.positions.shape[1]} positions")
        sequence = sequence + self.positions[:, : sequence.shape[1]]
        queries = self.queries.expand(sequence.shape[0], -1, -1)
        return self.to_llm(self.layers(queries, sequence))


def build_fusion(kind: str, *, audio_dim: int, visual_dim: int, hidden_dim: int, llm_dim: int,
                 n_queries: int = 4, n_layers: int = 2, n_heads: int = 8) -> nn.Module | None:
    """The configured pre-fusion module, or None for `none`."""
    if kind == "attention":
        return AttentionFusion(audio_dim, visual_dim, hidden_dim, llm_dim)
    if kind == "qformer":
        return QFormerFusion(audio_dim, visual_dim, hidden_dim, llm_dim,
                             n_queries=n_queries, n_layers=n_layers, n_heads=n_heads)
    if kind == "none":
        return None
    raise ValueError(f"unknown fusion kind {kind!r}; use attention, qformer or none")
