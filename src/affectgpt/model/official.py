"""Import a checkpoint released by the official AffectGPT code into a model folder.

Upstream saves `{"model": state_dict, ...}` where the state dict keeps every trainable
parameter (LoRA, projectors, pooling, fusion) plus the buffers of frozen modules, under the
names of upstream models/affectgpt.py: `llama_model.base_model.model.model.layers.{i}.*.lora_{A,B}
.default.weight` (peft), `video_attention_mlp` / `affectgpt_proj` (faces and frames share them),
`audio_attention_mlp` / `audio_llama_proj`, `multi_video_embs` / `multi_audio_embs`,
`attention_mlp` / `fc_att` or the `multi_Qformer` family, and `multi_llama_proj`. Each maps onto
one parameter here; anything else is an error that lists it, except buffers of frozen modules
and heads the paper's model never feeds (listed in the folder's metadata as ignored). The file
is read with `torch.load(weights_only=True)` or safetensors: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import torch

from affectgpt.errors import BadInput

# Upstream keys that carry no weight this model uses: buffers of frozen modules and the image /
# AU heads (always built upstream, never fed by the paper's prompt).
IGNORED_PREFIXES = ("visual_encoder.", "acoustic_encoder.", "image_llama_proj.", "au_llama_proj.",
                    "au_attention_mlp.")
IGNORED_SUFFIXES = (".position_ids",)

_LAYER = re.compile(r"^multi_Qformer\.bert\.encoder\.layer\.(\d+)\.(.+)$")


class OfficialCheckpointError(BadInput, ValueError):
    """The checkpoint cannot be mapped onto the configured model; the message lists the keys."""


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a released checkpoint (`.pth` with a `model` entry, a bare state dict, or
    safetensors), read without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for foreign pickles
        raise OfficialCheckpointError(f"{path}: not loadable with weights_only=True ({exc}); "
                                      "re-save it as a plain state dict or safetensors") from None
    state = payload.get("model", payload) if isinstance(payload, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise OfficialCheckpointError(f"{path}: expected a state dict (or a dict with 'model'), "
                                      f"got {type(payload).__name__}")
    return state


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors checkpoint; its framing is checked first, so an empty,
    foreign or damaged file (a header length of 40 GB, say) is refused before anything is
    allocated, and whatever the loader still rejects is one line too."""
    from safetensors.torch import load_file

    from affectgpt.model.safetensors_file import safetensors_problem

    problem = safetensors_problem(path)
    if problem is None:
        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - SafetensorError and friends, not ValueError
            problem = f"the safetensors loader refused it ({exc})"
    raise OfficialCheckpointError(f"{path}: not a readable safetensors checkpoint: {problem}; "
                                  "export the checkpoint again or pass the .pth file")


def _map_qformer(key: str) -> str | None:
    if key == "multi_query_tokens":
        return "fusion.queries"
    if key == "multi_position_embedding.weight":
        return "fusion.positions.weight"
    if key.startswith("multi_Qformer.bert.embeddings.LayerNorm."):
        return "fusion.query_norm." + key.rsplit(".", 1)[1]
    match = _LAYER.match(key)
    if not match:
        return None
    index, rest = match.groups()
    rest = rest.replace("attention.self.", "attention.")  # covers crossattention.self. too
    rest = rest.replace("intermediate_query.dense.", "intermediate_query.0.")
    return f"fusion.layers.{index}.{rest}"


def map_key(key: str, modalities: list[str], fusion_kind: str) -> list[str] | None:
    """Our parameter names for one upstream key ([] when ignorable, None when unknown)."""
    if key.startswith(IGNORED_PREFIXES) or key.endswith(IGNORED_SUFFIXES):
        return []
    if key.startswith("llama_model.") and ".lora_" in key:
        return ["llm." + key[len("llama_model."):]]
    name, _, leaf = key.rpartition(".")
    visual = [m for m in ("face", "frame") if m in modalities]
    simple = {
        "video_attention_mlp": [f"pooling.{m}.score" for m in visual],
        "affectgpt_proj": [f"projectors.{m}" for m in visual],
        "audio_attention_mlp": ["pooling.audio.score"] if "audio" in modalities else [],
        "audio_llama_proj": ["projectors.audio"] if "audio" in modalities else [],
    }
    if "multi" in modalities and fusion_kind in ("attention", "qformer"):
        simple |= {"multi_video_embs": ["fusion.visual_in"], "multi_audio_embs": ["fusion.audio_in"],
                   "multi_llama_proj": ["fusion.to_llm"]}
        if fusion_kind == "attention":
            simple |= {"attention_mlp": ["fusion.attention_mlp"], "fc_att": ["fusion.attention_out"]}
        else:
            mapped = _map_qformer(key)
            if mapped is not None:
                return [mapped]
    if simple.get(name):
        return [f"{target}.{leaf}" for target in simple[name]]
    return None


def map_state(upstream: dict[str, torch.Tensor], model: torch.nn.Module, source: str
              ) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(our trainable state, ignored upstream keys). Unknown keys, missing parameters and shape
    mismatches are one error listing all of them."""
    config = model.config
    expected = {name: param for name, param in model.named_parameters() if param.requires_grad}
    mapped: dict[str, torch.Tensor] = {}
    unknown, ignored, reshaped = [], [], []
    for key, tensor in upstream.items():
        targets = map_key(key, list(config.prompt.modalities), config.fusion.kind)
        if targets is None:
            unknown.append(key)
        elif not targets:
            ignored.append(key)
        for target in targets or []:
            if target not in expected:
                unknown.append(key)
                continue
            if tuple(tensor.shape) != tuple(expected[target].shape):
                reshaped.append(f"{key} {tuple(tensor.shape)} -> {target} {tuple(expected[target].shape)}")
                continue
            mapped[target] = tensor.detach().to("cpu", torch.float32).contiguous()
    missing = sorted(set(expected) - set(mapped))
    problems = []
    if unknown:
        problems.append(f"{len(unknown)} unknown key(s): {sorted(set(unknown))}")
    if missing:
        problems.append(f"{len(missing)} parameter(s) of this config missing from the checkpoint: {missing}")
    if reshaped:
        problems.append(f"{len(reshaped)} shape mismatch(es): {reshaped}")
    if problems:
        raise OfficialCheckpointError(f"{source}: cannot import into {config.name} ({'; '.join(problems)}); "
                                      "check that --config matches the checkpoint's fusion, modalities and LLM")
    return mapped, sorted(ignored)


def import_official(checkpoint: str | Path, config_path: str | Path, out_dir: str | Path) -> Path:
    """Write a model folder (`affectgpt infer`, `bench eval` and the pyfunc load it) from an
    official checkpoint and one of our configs. A pretrained base is referenced, not loaded: the
    model is assembled on the meta device; a random-init base (tests) is built for real."""
    from affectgpt.model.build import build_meta_model, build_model, build_tokenizer
    from affectgpt.model.config import load_config
    from affectgpt.model.store import save_model_dir

    checkpoint = Path(checkpoint)
    config = load_config(config_path)
    upstream = read_checkpoint(checkpoint)
    tokenizer = build_tokenizer(config)
    model = build_model(config, tokenizer) if config.llm.init == "random" else build_meta_model(config)
    state, ignored = map_state(upstream, model, str(checkpoint))
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    metadata: dict[str, Any] = {"imported_from": str(checkpoint), "checkpoint_sha256": digest,
                                "ignored_upstream_keys": ignored, "chosen_by": "official checkpoint"}
    return save_model_dir(model, tokenizer, out_dir, trainable=state, metadata=metadata)
