"""The language model: a transformers causal LM, frozen, with LoRA adapters from peft.

Random init from `llm.architecture` (tiny config, meta-device summaries) or a pretrained
checkpoint from a local folder / cached id (the paper's Qwen2.5-7B-Instruct).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedModel

from affectgpt.model.config import LLMConfig, LoRAConfig

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def architecture_config(llm: LLMConfig, vocab_size: int | None = None):
    """A transformers config object from `llm.architecture` (default model type qwen2)."""
    if not llm.architecture:
        raise ValueError("llm.architecture is not set; cannot build the LLM without loading a checkpoint")
    kwargs: dict[str, Any] = dict(llm.architecture)
    model_type = kwargs.pop("model_type", "qwen2")
    if vocab_size is not None:
        kwargs["vocab_size"] = vocab_size
    return AutoConfig.for_model(model_type, **kwargs)


def build_llm(llm: LLMConfig, *, vocab_size: int | None = None, base_dir: str | None = None,
              seed: int = 0, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """The frozen base LM. `base_dir` (a folder written by save_pretrained) wins over the config,
    so a saved random-init model reloads exactly the same base weights."""
    source = base_dir or (llm.name_or_path if llm.init == "pretrained" else None)
    if source is not None:
        try:
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ValueError(f"LLM '{source}': cannot load it offline; give a local checkpoint folder ({exc})") from None
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(architecture_config(llm, vocab_size)).to(dtype)
    model.requires_grad_(False)
    return model


def fit_embeddings(model: PreTrainedModel, vocab_size: int) -> None:
    """Grow the embedding table only when the tokenizer outgrew it (Qwen2.5 has spare rows)."""
    if model.get_input_embeddings().num_embeddings < vocab_size:
        model.resize_token_embeddings(vocab_size)


def apply_lora(model: PreTrainedModel, lora: LoRAConfig) -> PeftModel:
    """Wrap with LoRA adapters; only the adapters are trainable afterwards."""
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), task_type="CAUSAL_LM", bias="none")
    with warnings.catch_warnings():  # peft still calls a transformers alias deprecated in v5
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, config)
