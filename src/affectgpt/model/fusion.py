"""Pre-fusion of audio and visual (face or frame) features into the `<MultiHere>` tokens.

Three variants, as upstream models/affectgpt.py defines them (`encode_multi_attention`,
`encode_multi_qformer`): `attention` (time-averaged modalities mapped to `hidden_dim`, two
mixing weights from a 2-layer MLP over [video; audio] with no softmax and no activation, the
weighted sum projected to the LLM width), `qformer` (K learned queries, BERT-base-style
blocks with cross-attention into [video; audio] plus learned positions) and `none`.
Each returns [B, K, llm_hidden].

Upstream builds its Q-Former as `BertLMHeadModel(config=...)`: BERT-base's *config*, random
weights from BERT's `_init_weights` (Linear and Embedding normal(0, 0.02), biases 0, LayerNorm
1/0), not bert-base's checkpoint. `qformer_init: bert` (the default) does the same to our
blocks; `torch` keeps PyTorch's default Linear init.
"""

from __future__ import annotations

import math

import torch
from torch import nn

BERT_INITIALIZER_RANGE = 0.02  # BertConfig.initializer_range of bert-base-uncased


def bert_init_(module: nn.Module, std: float = BERT_INITIALIZER_RANGE) -> None:
    """BERT's `_init_weights` on every submodule (upstream Qformer.py `BertPreTrainedModel`):
    Linear/Embedding weights normal(0, std), Linear biases 0, LayerNorm weight 1 and bias 0."""
    for sub in module.modules():
        if isinstance(sub, (nn.Linear, nn.Embedding)):
            nn.init.normal_(sub.weight, mean=0.0, std=std)
        elif isinstance(sub, nn.LayerNorm):
            nn.init.zeros_(sub.bias)
            nn.init.ones_(sub.weight)
        if isinstance(sub, nn.Linear) and sub.bias is not None:
            nn.init.zeros_(sub.bias)


class AttentionFusion(nn.Module):
    """v = W_v mean_t(visual), a = W_a mean_t(audio); alpha = fc_att(attention_mlp([v; a])) with
    no softmax; z = alpha_1 v + alpha_2 a; one token to_llm(z). `weights: softmax` is the
    normalised variant (a deviation)."""

    n_tokens = 1

    def __init__(self, audio_dim: int, visual_dim: int, hidden_dim: int, llm_dim: int, weights: str = "none") -> None:
        super().__init__()
        if weights not in ("none", "softmax"):
            raise ValueError(f"fusion weights must be 'none' or 'softmax', got {weights!r}")
        self.weights = weights
        self.audio_in = nn.Linear(audio_dim, hidden_dim)        # upstream multi_audio_embs
        self.visual_in = nn.Linear(visual_dim, hidden_dim)      # upstream multi_video_embs
        self.attention_mlp = nn.Linear(2 * hidden_dim, hidden_dim)
        self.attention_out = nn.Linear(hidden_dim, 2)           # upstream fc_att
        self.to_llm = nn.Linear(hidden_dim, llm_dim)            # upstream multi_llama_proj

    def mixing_weights(self, audio: torch.Tensor, visual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(alpha [B, 2] in order (video, audio), video_h [B, H], audio_h [B, H])."""
        visual_h = self.visual_in(visual.mean(dim=1))
        audio_h = self.audio_in(audio.mean(dim=1))
        alpha = self.attention_out(self.attention_mlp(torch.cat([visual_h, audio_h], dim=-1)))
        if self.weights == "softmax":
            alpha = torch.softmax(alpha, dim=-1)
        return alpha, visual_h, audio_h

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        alpha, visual_h, audio_h = self.mixing_weights(audio, visual)
        fused = alpha[:, 0:1] * visual_h + alpha[:, 1:2] * audio_h
        return self.to_llm(fused).unsqueeze(1)


class _SelfOutput(nn.Module):
    """BERT post-LN residual: LayerNorm(dropout(dense(h)) + input)."""

    def __init__(self, width: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + residual)


class _Attention(nn.Module):
    """BERT multi-head attention (query from the queries, key/value from `kv_width` inputs)."""

    def __init__(self, width: int, kv_width: int, heads: int, dropout: float, eps: float) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"Q-Former width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(kv_width, width)
        self.value = nn.Linear(kv_width, width)
        self.attention_dropout = nn.Dropout(dropout)
        self.output = _SelfOutput(width, dropout, eps)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        return x.view(batch, length, self.heads, width // self.heads).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(hidden)), self._split(self.key(context)), self._split(self.value(context))
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        probs = self.attention_dropout(torch.softmax(scores, dim=-1))
        merged = (probs @ v).transpose(1, 2).reshape(hidden.shape)
        return self.output(merged, hidden)


class _QFormerLayer(nn.Module):
    """Self-attention over the queries, cross-attention into the encoder sequence (every layer:
    upstream cross_attention_freq = 1), then the query feed-forward (GELU, 4x width), all post-LN."""

    def __init__(self, width: int, encoder_width: int, heads: int, dropout: float, eps: float) -> None:
        super().__init__()
        self.attention = _Attention(width, width, heads, dropout, eps)
        self.crossattention = _Attention(width, encoder_width, heads, dropout, eps)
        self.intermediate_query = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU())
        self.output_query = _SelfOutput(width, dropout, eps)
        self.output_query.dense = nn.Linear(4 * width, width)

    def forward(self, queries: torch.Tensor, encoder_states: torch.Tensor) -> torch.Tensor:
        hidden = self.attention(queries, queries)
        hidden = self.crossattention(hidden, encoder_states)
        return self.output_query(self.intermediate_query(hidden), hidden)


class QFormerFusion(nn.Module):
    """Upstream's multi Q-Former: [video; audio] each mapped to `hidden_dim` (the encoder width),
    plus learned positions (Embedding(264, hidden_dim)); K learned queries of BERT-base width
    (768) pass LayerNorm + dropout, then `n_layers` BERT blocks (12 heads, post-LN, dropout 0.1,
    cross-attention each layer); the K outputs are projected to the LLM width.

    `init: bert` gives the BERT part (query LayerNorm and blocks) BERT's init, as upstream's
    randomly built `BertLMHeadModel`; the input maps, positions and `to_llm` live outside BERT
    upstream too and keep PyTorch's defaults. `init: torch` is PyTorch's default everywhere."""

    def __init__(self, audio_dim: int, visual_dim: int, hidden_dim: int, llm_dim: int, *,
                 n_queries: int, n_layers: int = 2, n_heads: int = 12, width: int = 768, dropout: float = 0.1,
                 max_positions: int = 264, eps: float = 1e-12, init: str = "bert") -> None:
        super().__init__()
        self.n_tokens = n_queries
        self.audio_in = nn.Linear(audio_dim, hidden_dim)        # upstream multi_audio_embs
        self.visual_in = nn.Linear(visual_dim, hidden_dim)      # upstream multi_video_embs
        self.positions = nn.Embedding(max_positions, hidden_dim)  # upstream multi_position_embedding
        self.queries = nn.Parameter(torch.zeros(1, n_queries, width))
        nn.init.normal_(self.queries, std=0.02)
        self.query_norm = nn.LayerNorm(width, eps=eps)          # upstream bert.embeddings.LayerNorm
        self.query_dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(_QFormerLayer(width, hidden_dim, n_heads, dropout, eps) for _ in range(n_layers))
        self.to_llm = nn.Linear(width, llm_dim)                 # upstream multi_llama_proj
        if init == "bert":
            bert_init_(self.query_norm)
            bert_init_(self.layers)
        elif init != "torch":
            raise ValueError(f"Q-Former init must be 'bert' or 'torch', got {init!r}")

    def forward(self, audio: torch.Tensor, visual: torch.Tensor) -> torch.Tensor:
        sequence = torch.cat([self.visual_in(visual), self.audio_in(audio)], dim=1)  # [B, Tv+Ta, H]
        if sequence.shape[1] > self.positions.num_embeddings:
            raise ValueError(f"Q-Former sequence length {sequence.shape[1]} exceeds "
                             f"{self.positions.num_embeddings} positions")
        sequence = sequence + self.positions(torch.arange(sequence.shape[1], device=sequence.device))
        hidden = self.query_dropout(self.query_norm(self.queries.expand(sequence.shape[0], -1, -1)))
        for layer in self.layers:
            hidden = layer(hidden, sequence)
        return self.to_llm(hidden)


def build_fusion(kind: str, *, audio_dim: int, visual_dim: int, hidden_dim: int, llm_dim: int,
                 n_queries: int = 1, n_layers: int = 2, n_heads: int = 12, width: int = 768,
                 weights: str = "none", qformer_init: str = "bert") -> nn.Module | None:
    """The configured pre-fusion module, or None for `none`."""
    if kind == "attention":
        return AttentionFusion(audio_dim, visual_dim, hidden_dim, llm_dim, weights=weights)
    if kind == "qformer":
        return QFormerFusion(audio_dim, visual_dim, hidden_dim, llm_dim,
                             n_queries=n_queries, n_layers=n_layers, n_heads=n_heads, width=width,
                             init=qformer_init)
    if kind == "none":
        return None
    raise ValueError(f"unknown fusion kind {kind!r}; use attention, qformer or none")
