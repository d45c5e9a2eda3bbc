"""Assemble an AffectGPT from its config: tokenizer, frozen LLM + LoRA, pooling, fusion, projectors.

Every random initialisation is seeded from `train.seed`, so building twice gives the same
weights: the basis for bit-identical resume and for rebuilding a random-init base.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from transformers import PreTrainedTokenizerBase

from affectgpt.model.config import AffectGPTConfig
from affectgpt.model.llm import apply_lora, build_llm, fit_embeddings
from affectgpt.model.mllm import AffectGPT
from affectgpt.model.prompt import PLACEHOLDERS
from affectgpt.model.tokenizer import load_pretrained_tokenizer, placeholder_ids, train_bpe_tokenizer


def build_tokenizer(config: AffectGPTConfig, corpus_texts: Iterable[str] = ()) -> PreTrainedTokenizerBase:
    """The LLM's tokenizer, or a BPE trained on `corpus_texts` for random-init LLMs."""
    if config.llm.tokenizer == "train-bpe":
        return train_bpe_tokenizer(corpus_texts, config.llm.tokenizer_vocab_size)
    return load_pretrained_tokenizer(config.llm.name_or_path)


def build_model(config: AffectGPTConfig, tokenizer: PreTrainedTokenizerBase, *, base_dir: str | None = None,
                llm_dtype: torch.dtype = torch.float32) -> AffectGPT:
    """A fresh AffectGPT on CPU, fp32 unless `llm_dtype` says otherwise for the base LM
    (DeepSpeed casts for bf16/fp16 training)."""
    seed = config.train.seed
    llm = build_llm(config.llm, vocab_size=len(tokenizer), base_dir=base_dir, seed=seed, dtype=llm_dtype)
    fit_embeddings(llm, len(tokenizer))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        llm = apply_lora(llm, config.lora)
        model = AffectGPT(config, llm, placeholder_ids(tokenizer))
    return model


def build_meta_model(config: AffectGPTConfig) -> AffectGPT:
    """The full model on the meta device (no memory, no weights): for parameter counts of the
    7B setup on any machine. The vocabulary comes from `llm.architecture`."""
    if config.llm.architecture is None:
        raise ValueError("model summary needs llm.architecture (the Qwen2Config values) to build on the meta device")
    vocab_size = int(config.llm.architecture.get("vocab_size", 0)) or None
    if config.llm.tokenizer == "train-bpe":  # the trained BPE's target size (its real size can only be smaller)
        vocab_size = config.llm.tokenizer_vocab_size
    meta_llm_config = config.llm.model_copy(update={"init": "random"})
    with torch.device("meta"):
        llm = build_llm(meta_llm_config, vocab_size=vocab_size)
        llm = apply_lora(llm, config.lora)
        ids = {name: index for index, name in enumerate(PLACEHOLDERS)}
        return AffectGPT(config, llm, ids)
