"""AffectGPT: modality features -> pooled/fused tokens spliced into the LLM's input embeddings.

Per modality a temporal attention pooling and a linear projector give one token; the pre-fusion
gives the `<MultiHere>` token(s). The placeholders in the token ids mark where each modality's
tokens go, which also makes left-padded batched generation work without bookkeeping.
"""

from __future__ import annotations

import torch
from torch import nn

from affectgpt.model.config import AffectGPTConfig
from affectgpt.model.fusion import build_fusion
from affectgpt.model.pooling import TemporalAttentionPooling

FEATURE_KEYS = {"audio": "audio", "face": "faces", "frame": "frames"}


class AffectGPT(nn.Module):
    def __init__(self, config: AffectGPTConfig, llm: nn.Module, placeholder_ids: dict[str, int]) -> None:
        super().__init__()
        self.config = config
        self.llm = llm
        self.placeholder_ids = dict(placeholder_ids)
        vision_dim, audio_dim = config.modality_dims()
        self.feature_dims = {"audio": audio_dim, "face": vision_dim, "frame": vision_dim}
        llm_dim = int(llm.get_input_embeddings().embedding_dim)
        self.modalities = list(config.prompt.modalities)
        unimodal = [name for name in self.modalities if name != "multi"]
        self.pooling = nn.ModuleDict({
            name: TemporalAttentionPooling(self.feature_dims[name], config.pooling.normalize) for name in unimodal
        })
        self.projectors = nn.ModuleDict({name: nn.Linear(self.feature_dims[name], llm_dim) for name in unimodal})
        fusion = config.fusion
        self.fusion = build_fusion(fusion.kind, audio_dim=audio_dim, visual_dim=vision_dim, hidden_dim=fusion.hidden_dim,
                                   llm_dim=llm_dim, n_queries=fusion.qformer_queries, n_layers=fusion.qformer_layers,
                                   n_heads=fusion.qformer_heads, width=fusion.qformer_width, weights=fusion.weights,
                                   qformer_init=fusion.qformer_init)

    @property
    def tokens_per_modality(self) -> dict[str, int]:
        counts = self.config.tokens_per_modality()
        if "multi" in counts:
            counts["multi"] = int(self.fusion.n_tokens)
        return counts

    @property
    def dtype(self) -> torch.dtype:
        return self.llm.get_input_embeddings().weight.dtype

    def modality_tokens(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """features {frames, faces [B,T,D_v], audio [B,W,D_a]} -> name -> [B, n, llm_dim]."""
        dtype = next(iter(self.projectors.parameters()), self.llm.get_input_embeddings().weight).dtype
        tokens = {}
        for name in self.modalities:
            if name == "multi":
                visual_key = FEATURE_KEYS[self.config.fusion.visual]
                tokens[name] = self.fusion(features["audio"].to(dtype), features[visual_key].to(dtype))
            else:
                pooled = self.pooling[name](features[FEATURE_KEYS[name]].to(dtype))
                tokens[name] = self.projectors[name](pooled).unsqueeze(1)
        return tokens

    def embed(self, input_ids: torch.Tensor, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Token embeddings with every placeholder replaced by its modality token, in order."""
        embeds = self.llm.get_input_embeddings()(input_ids)
        for name, modality in self.modality_tokens(features).items():
            mask = input_ids == self.placeholder_ids[name]
            expected = modality.shape[0] * modality.shape[1]
            found = int(mask.sum())
            if found != expected:
                raise ValueError(f"{found} {name} placeholder tokens in the batch, expected {expected} "
                                 f"({modality.shape[1]} per sample); was the prompt built for this model?")
            embeds = embeds.masked_scatter(mask.unsqueeze(-1), modality.to(embeds.dtype).reshape(-1, embeds.shape[-1]))
        return embeds

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, features: dict[str, torch.Tensor],
                labels: torch.Tensor | None = None):
        embeds = self.embed(input_ids, features)
        return self.llm(inputs_embeds=embeds, attention_mask=attention_mask, labels=labels, use_cache=False)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, features: dict[str, torch.Tensor],
                 tokenizer, max_new_tokens: int = 1200, **decoding) -> list[str]:
        """Decode a left-padded batch (greedy unless `decoding` says otherwise: see
        `affectgpt.model.decoding.decoding_settings`). Stops and clean-up are upstream's
        (`affectgpt.model.stopping`): the base model's eos list, upstream's `###` token stops, and
        the text cut at the last `###` and after `Assistant:`."""
        from transformers import StoppingCriteriaList

        from affectgpt.model.stopping import UpstreamStops, decode_responses, eos_ids, upstream_stop_sequences

        if tokenizer.padding_side != "left" and bool((attention_mask[:, -1] == 0).any()):
            raise ValueError("batched generation needs left padding (tokenizer.padding_side = 'left')")
        settings = {"do_sample": False, "num_beams": 1, "repetition_penalty": 1.0, **decoding}
        embeds = self.embed(input_ids, features)
        output_ids = self.llm.generate(
            inputs_embeds=embeds, attention_mask=attention_mask, max_new_tokens=max_new_tokens,
            stopping_criteria=StoppingCriteriaList([UpstreamStops(upstream_stop_sequences(tokenizer))]),
            pad_token_id=tokenizer.pad_token_id, eos_token_id=eos_ids(self.llm, tokenizer), **settings,
        )
        return decode_responses(output_ids, tokenizer)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only what training changes: LoRA, pooling, fusion, projectors (contiguous CPU copies)."""
    return {name: param.detach().cpu().contiguous() for name, param in model.named_parameters() if param.requires_grad}


def split_trainable(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(lora, multimodal) halves of a trainable state, stored as separate safetensors files."""
    lora = {k: v for k, v in state.items() if ".lora_" in k}
    return lora, {k: v for k, v in state.items() if k not in lora}


def parameter_counts(model: AffectGPT) -> dict[str, dict[str, int]]:
    """Parameters by module group: total and trainable (works on the meta device)."""
    groups: dict[str, dict[str, int]] = {}
    for name, param in model.named_parameters():
        if name.startswith("llm."):
            group = "llm.lora" if ".lora_" in name else "llm.base"
        else:
            group = name.split(".", 2)[0] + ("." + name.split(".")[1] if name.startswith(("pooling.", "projectors.")) else "")
        entry = groups.setdefault(group, {"total": 0, "trainable": 0})
        entry["total"] += param.numel()
        entry["trainable"] += param.numel() if param.requires_grad else 0
    return groups


