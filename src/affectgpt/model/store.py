"""The saved model directory: what inference, MLflow and the registry pick up.

Layout: `config.json` (the AffectGPTConfig plus format metadata), `lora.safetensors`,
`multimodal.safetensors` (pooling, fusion, projectors), `tokenizer/`, and `llm_base/` when the
base LM was randomly initialised (so it reloads identically; a pretrained base is referenced by
path instead of copied).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from affectgpt.model.build import build_model
from affectgpt.model.config import AffectGPTConfig
from affectgpt.model.mllm import AffectGPT, split_trainable, trainable_state
from affectgpt.model.tokenizer import load_tokenizer_dir

MODEL_FORMAT = "affectgpt-model/1"
CONFIG_FILE = "config.json"
LORA_FILE = "lora.safetensors"
MULTIMODAL_FILE = "multimodal.safetensors"
TOKENIZER_DIR = "tokenizer"
LLM_BASE_DIR = "llm_base"


@dataclass
class LoadedModel:
    model: AffectGPT
    tokenizer: PreTrainedTokenizerBase
    config: AffectGPTConfig
    metadata: dict[str, Any]


def save_model_dir(model: AffectGPT, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path, *,
                   trainable: dict[str, torch.Tensor] | None = None, metadata: dict[str, Any] | None = None) -> Path:
    """Write the model directory. `trainable` overrides the module's current weights (e.g. the
    best-on-validation state kept during training)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config: AffectGPTConfig = model.config
    state = trainable if trainable is not None else trainable_state(model)
    lora, multimodal = split_trainable({k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()})
    save_file(lora, str(out / LORA_FILE), metadata={"format": MODEL_FORMAT})
    save_file(multimodal, str(out / MULTIMODAL_FILE), metadata={"format": MODEL_FORMAT})
    tokenizer.save_pretrained(str(out / TOKENIZER_DIR))
    base_is_random = config.llm.init == "random"
    if base_is_random:
        save_base_llm(model.llm, out / LLM_BASE_DIR)
    payload = {
        "format": MODEL_FORMAT,
        "config": config.model_dump(mode="json"),
        "llm_base": LLM_BASE_DIR if base_is_random else config.llm.name_or_path,
        "vocab_size": len(tokenizer),
        "tokens_per_modality": model.tokens_per_modality,
        "metadata": metadata or {},
    }
    (out / CONFIG_FILE).write_text(json.dumps(payload, indent=2, sort_keys=True))
    return out


def save_base_llm(peft_llm, out_dir: Path) -> None:
    """Save the frozen base LM without its LoRA layers (peft wraps modules in place, so the
    base's own state dict carries `base_layer` names and adapter weights)."""
    base = peft_llm.get_base_model()
    clean = {name.replace(".base_layer.", "."): tensor for name, tensor in base.state_dict().items()
             if ".lora_" not in name}
    base.save_pretrained(str(out_dir), state_dict=clean, safe_serialization=True)


def read_model_config(model_dir: str | Path) -> dict[str, Any]:
    path = Path(model_dir) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not an AffectGPT model directory (no {CONFIG_FILE}); "
                                "pass the `model/` folder written by `affectgpt train`")
    payload = json.loads(path.read_text())
    if payload.get("format") != MODEL_FORMAT:
        raise ValueError(f"{path}: format {payload.get('format')!r}, expected {MODEL_FORMAT!r}")
    return payload


def load_model_dir(model_dir: str | Path, *, device: str | None = None, dtype: torch.dtype | None = None) -> LoadedModel:
    """Rebuild the model from a directory: same outputs as the model that was saved. Default
    placement: fp32 on CPU, bf16 on the GPU when one is visible (a 7B base in fp32 would not fit
    most machines)."""
    model_dir = Path(model_dir)
    payload = read_model_config(model_dir)
    config = AffectGPTConfig.model_validate(payload["config"])
    tokenizer = load_tokenizer_dir(model_dir / TOKENIZER_DIR)
    base = payload["llm_base"]
    base_dir = str(model_dir / base) if (model_dir / base).is_dir() else base
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or (torch.bfloat16 if device.startswith("cuda") else torch.float32)
    model = build_model(config, tokenizer, base_dir=base_dir, llm_dtype=dtype)
    state = {**load_file(str(model_dir / LORA_FILE)), **load_file(str(model_dir / MULTIMODAL_FILE))}
    load_trainable(model, state, source=str(model_dir))
    model.to(device=device, dtype=dtype)
    model.eval()
    return LoadedModel(model=model, tokenizer=tokenizer, config=config, metadata=payload.get("metadata", {}))


def load_trainable(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy trainable weights in, insisting that the names match exactly both ways."""
    expected = {name for name, param in model.named_parameters() if param.requires_grad}
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise ValueError(f"{source}: trainable weights do not match the config "
                         f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor.to(params[name].dtype))
