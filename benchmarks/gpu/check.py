"""The one GPU check: what a GPU loan must measure, prepared and known to run before one exists.

    benchmarks/gpu/check.sh                      # on one H100: 7B shapes, about 5 minutes
    python benchmarks/gpu/check.py --tiny        # anywhere (auto when no CUDA): toy sizes, < 1 min

Nothing is downloaded: the LLM is Qwen2.5-7B-shaped with random weights (configs/affectgpt-7b.yaml,
transformers config built in-process), prompts are tokenised by a BPE trained in-process. Parts,
each timed and each allowed to fail on its own (its error is recorded, the others still run):

1. train   upstream's precision: a DeepSpeed fp16 step (ZeRO-2, LoRA r16, attention pre-fusion,
           batch 3 x 1024 tokens): tokens/s and MFU against the H100's 989 TFLOP/s dense fp16.
2. generate a batch of nine prompts, one per MER-UniBench test set (subtitle lengths assumed,
           no data read), upstream's sampling, a fixed number of new tokens: clips/s and the
           projected time for the 12,799 test clips.
3. agree   fp16 vs fp32 of the attention pre-fusion (7B widths) and of one Qwen2.5-7B layer:
           relative error of the outputs.
4. step    the pipeline's `train` step (`affectgpt.cluster.train_on_backend`, backend `step`, as
           the component runs it) on a synthetic 24-clip dataset with configs/tiny.yaml, on the GPU.

Output: `<out>/gpu_check.json` and a short table on stdout. `--layers N` builds N of the 28
decoder layers (the output says how many); all 28 fit an 80 GB H100 at fp16.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
PEAK_TFLOPS_FP16 = 989.0  # H100 SXM dense fp16/bf16 tensor cores
UNIBENCH_CLIPS = 12_799
# One prompt per test set; subtitle lengths in words are assumptions (no data is read here).
SUBTITLE_WORDS = {"mer2023": 18, "mer2024": 18, "meld": 10, "iemocap": 12, "cmumosi": 15, "cmumosei": 24,
                  "sims": 14, "simsv2": 14, "ovmerd": 20}
WORDS = ("I really did not expect that you would come back here today after everything that happened "
         "between us last year so please tell me what you want now").split()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _config(tiny: bool, layers: int | None):
    """configs/affectgpt-7b.yaml with a random-init LLM; toy widths under --tiny."""
    from affectgpt.model.config import load_config

    config = load_config(REPO / "configs" / "affectgpt-7b.yaml")
    arch = dict(config.llm.architecture)
    if tiny:
        arch.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, vocab_size=2048, max_position_embeddings=2048)
        config = config.model_copy(update={
            "feature_dims": config.feature_dims.model_copy(update={"vision": 32, "audio": 32}),
            "fusion": config.fusion.model_copy(update={"hidden_dim": 32})})
    if layers:
        arch["num_hidden_layers"] = layers
    llm = config.llm.model_copy(update={"architecture": arch, "init": "random", "tokenizer": "train-bpe"})
    return config.model_copy(update={"llm": llm})


def _tokenizer():
    from affectgpt.model.tokenizer import train_bpe_tokenizer

    return train_bpe_tokenizer([" ".join(WORDS)] * 20, vocab_size=1000)


def _build(config, tokenizer, device: torch.device, dtype: torch.dtype):
    """The AffectGPT of `config`, built straight on the device in `dtype` (no fp32 copy of 7B)."""
    from affectgpt.model.llm import apply_lora, build_llm
    from affectgpt.model.mllm import AffectGPT
    from affectgpt.model.tokenizer import placeholder_ids

    vocab = int(config.llm.architecture["vocab_size"])
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            llm = apply_lora(build_llm(config.llm, vocab_size=vocab, dtype=dtype), config.lora)
            model = AffectGPT(config, llm, placeholder_ids(tokenizer))
    finally:
        torch.set_default_dtype(previous)
    return model


def _features(n: int, config, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    vision, audio = config.modality_dims()
    generator = torch.Generator().manual_seed(seed)
    return {"frames": torch.randn(n, 8, vision, generator=generator).to(device),
            "faces": torch.randn(n, 8, vision, generator=generator).to(device),
            "audio": torch.randn(n, 8, audio, generator=generator).to(device)}


def part_train(ctx: dict[str, Any], args) -> dict[str, Any]:
    import deepspeed

    from affectgpt.train.ds_config import build_optimizer, deepspeed_config
    from affectgpt.train.extensions import prepare_deepspeed_ops

    config, tokenizer, device = ctx["config"], ctx["tokenizer"], ctx["device"]
    on_gpu = device.type == "cuda"
    precision = "fp16" if on_gpu else "bf16"  # DeepSpeed has no fp16 on a CPU
    dtype = torch.float16 if on_gpu else torch.bfloat16
    started = time.perf_counter()
    model = _build(config, tokenizer, device, dtype)
    build_s = time.perf_counter() - started
    train = config.train.model_copy(update={"micro_batch_size": args.micro, "grad_accumulation": 1,
                                            "global_batch_size": None, "zero_stage": 2, "precision": precision})
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    trainable = [p for _, p in named]
    optimizer, scheduler = build_optimizer(train, named, args.steps + args.warmup)
    prepare_deepspeed_ops()
    engine, *_ = deepspeed.initialize(model=model, model_parameters=trainable, optimizer=optimizer,
                                      lr_scheduler=scheduler, config=deepspeed_config(train, 1, on_gpu=on_gpu))
    from affectgpt.model.batching import Batcher

    batcher = Batcher(model, tokenizer, args.seq)
    subtitle = " ".join(WORDS * 40)
    answer = " ".join(WORDS * 40)
    batch = batcher.training_batch([subtitle] * args.micro, ["description"] * args.micro, [answer] * args.micro,
                                   _features(args.micro, config, device)).to(device)

    def step() -> float:
        loss = engine(batch.input_ids, batch.attention_mask, batch.features, labels=batch.labels).loss
        engine.backward(loss)
        engine.step()
        return float(loss.detach().float())

    for _ in range(args.warmup):
        step()
    _sync(device)
    started = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    _sync(device)
    elapsed = time.perf_counter() - started
    arch = config.llm.architecture
    seq = int(batch.input_ids.shape[1])
    n_base = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    n_trainable = sum(p.numel() for p in trainable)
    tokens_per_s = args.steps * args.micro * seq / elapsed
    # frozen base: forward 2N + backward through activations 2N; LoRA 6N; causal attention 6 L s h
    flops_per_token = 4 * n_base + 6 * n_trainable + 3 * 4 * arch["num_hidden_layers"] * seq * arch["hidden_size"] / 2
    ctx["model"] = engine.module
    return {"precision": precision, "zero_stage": 2, "layers": arch["num_hidden_layers"], "micro_batch": args.micro,
            "seq": seq, "steps": args.steps, "build_s": round(build_s, 2), "step_s": round(elapsed / args.steps, 4),
            "tokens_per_s": round(tokens_per_s, 1), "mfu": round(tokens_per_s * flops_per_token / 1e12 / PEAK_TFLOPS_FP16, 4),
            "base_params": n_base, "trainable_params": n_trainable, "loss_first_last": [losses[0], losses[-1]],
            "finite_loss": all(map(lambda x: x == x and abs(x) != float("inf"), losses))}


def part_generate(ctx: dict[str, Any], args) -> dict[str, Any]:
    from affectgpt.model.batching import Batcher
    from affectgpt.model.decoding import decoding_settings

    config, tokenizer, device = ctx["config"], ctx["tokenizer"], ctx["device"]
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    model = ctx.get("model") or _build(config, tokenizer, device, dtype)
    model.eval()
    tokenizer.padding_side = "left"
    subtitles = [" ".join((WORDS * 4)[i:i + n]) for i, n in enumerate(SUBTITLE_WORDS.values())]
    batcher = Batcher(model, tokenizer, config.train.max_length)
    batch = batcher.generation_batch(subtitles, "ov", _features(len(subtitles), config, device, seed=1)).to(device)
    settings = {key: value for key, value in decoding_settings("official", model.llm).items()
                if value is not None and key != "min_length"}  # the length is fixed below

    def run(new_tokens: int) -> float:
        _sync(device)
        started = time.perf_counter()
        with torch.no_grad():
            embeds = model.embed(batch.input_ids, batch.features)
            out = model.llm.generate(inputs_embeds=embeds, attention_mask=batch.attention_mask,
                                     max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                     pad_token_id=tokenizer.pad_token_id, **settings)
        _sync(device)
        assert out.shape[1] == new_tokens, out.shape
        return time.perf_counter() - started

    run(2)  # warm-up
    elapsed = run(args.new_tokens)
    clips_per_s = len(subtitles) / elapsed
    return {"batch": len(subtitles), "sets": list(SUBTITLE_WORDS), "prompt_tokens_max": int(batch.input_ids.shape[1]),
            "new_tokens": args.new_tokens, "decoding": "official (sampling T 1.0, top-p 0.9)",
            "seconds": round(elapsed, 3), "clips_per_s": round(clips_per_s, 3),
            "tokens_per_s": round(len(subtitles) * args.new_tokens / elapsed, 1),
            "projected_unibench_h": round(UNIBENCH_CLIPS / clips_per_s / 3600, 3)}


def _relative_error(reference: torch.Tensor, other: torch.Tensor) -> float:
    reference, other = reference.float(), other.float()
    return float((reference - other).norm() / reference.norm().clamp_min(1e-12))


def part_agree(ctx: dict[str, Any], args) -> dict[str, Any]:
    import copy

    from transformers import Qwen2Config, Qwen2ForCausalLM

    from affectgpt.model.fusion import AttentionFusion

    config, device = ctx["config"], ctx["device"]
    half = torch.float16
    vision, audio = config.modality_dims()
    llm_dim = int(config.llm.architecture["hidden_size"])
    torch.manual_seed(0)
    fusion = AttentionFusion(audio, vision, config.fusion.hidden_dim, llm_dim).to(device)
    feats = _features(4, config, device, seed=2)
    with torch.no_grad():
        full = fusion(feats["audio"], feats["faces"])
        low = copy.deepcopy(fusion).to(half)(feats["audio"].to(half), feats["faces"].to(half))
    arch = {k: v for k, v in config.llm.architecture.items() if k not in ("model_type",)}
    arch.update(num_hidden_layers=1, vocab_size=256)
    with torch.device(device):
        layer_model = Qwen2ForCausalLM(Qwen2Config(**arch)).eval()
    embeds = torch.randn(1, 256, llm_dim, generator=torch.Generator().manual_seed(3)).to(device)
    with torch.no_grad():
        ref = layer_model.model(inputs_embeds=embeds).last_hidden_state
        layer_model.to(half)
        got = layer_model.model(inputs_embeds=embeds.to(half)).last_hidden_state
    return {"fusion_rel_error_fp16": round(_relative_error(full, low), 6),
            "fusion_finite_fp16": bool(torch.isfinite(low).all()),
            "llm_layer_rel_error_fp16": round(_relative_error(ref, got), 6),
            "llm_layer_finite_fp16": bool(torch.isfinite(got).all()),
            "llm_layer_shape": f"hidden {llm_dim}, {arch['num_attention_heads']} heads, "
                               f"{arch['num_key_value_heads']} kv heads, ffn {arch['intermediate_size']}, 256 tokens"}


def part_step(ctx: dict[str, Any], args) -> dict[str, Any]:
    import pandas as pd
    import yaml

    from affectgpt.cluster import train_on_backend

    with tempfile.TemporaryDirectory(prefix="affectgpt-gpu-check-") as scratch:
        scratch = Path(scratch)
        os.environ["AFFECTGPT_HOME"] = str(scratch / "home")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{scratch / 'mlflow.db'}"
        data = scratch / "data"
        data.mkdir()
        n = 24
        pd.DataFrame({"clip_id": [f"clip{i:03d}" for i in range(n)],
                      "subtitle": [" ".join(WORDS[i % 7:i % 7 + 9]) for i in range(n)],
                      "description": [f"He sounds {'calm' if i % 2 else 'tense'} and looks away." for i in range(n)],
                      "ov_labels": [["happy"] if i % 3 else ["sad", "tired"] for i in range(n)],
                      "split": ["train"] * (n - 4) + ["val"] * 4}).to_parquet(data / "records.parquet")
        tiny = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
        tiny["train"].update(max_steps=args.step_steps, checkpoint_every=args.step_steps, epochs=1)
        config_path = scratch / "tiny.yaml"
        config_path.write_text(yaml.safe_dump(tiny))
        started = time.perf_counter()
        outcome = train_on_backend(config_path, data, scratch / "model", backend="step", echo=lambda _: None)
        elapsed = time.perf_counter() - started
        written = sorted(p.name for p in (scratch / "model").iterdir())
    return {"step": "train (backend step, configs/tiny.yaml)", "optimizer_steps": args.step_steps,
            "seconds": round(elapsed, 2), "model_files": written, "summary": outcome.summary()}


PARTS: dict[str, Callable[[dict[str, Any], Any], dict[str, Any]]] = {
    "train": part_train, "generate": part_generate, "agree": part_agree, "step": part_step}


def _table(result: dict[str, Any]) -> str:
    lines = [f"GPU check on {result['device']} ({result['shapes']}), {result['total_s']} s"]
    keys = {"train": ("precision", "layers", "seq", "tokens_per_s", "mfu"),
            "generate": ("batch", "new_tokens", "clips_per_s", "projected_unibench_h"),
            "agree": ("fusion_rel_error_fp16", "llm_layer_rel_error_fp16"),
            "step": ("optimizer_steps", "seconds")}
    for name, fields in keys.items():
        part = result["parts"].get(name, {})
        shown = part.get("error") or ", ".join(f"{key} {part[key]}" for key in fields if key in part)
        lines.append(f"  {name:<9} {part.get('wall_s', '-'):>8} s  {shown}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="toy sizes (automatic when no CUDA device is visible)")
    parser.add_argument("--layers", type=int, default=None, help="decoder layers to build (default: all of the config)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 10; 2 with --tiny)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--micro", type=int, default=3)
    parser.add_argument("--seq", type=int, default=1024, help="training tokens per sample (upstream's max_length)")
    parser.add_argument("--new-tokens", type=int, default=None, help="generated tokens per clip (default 64; 8 --tiny)")
    parser.add_argument("--step-steps", type=int, default=5, help="optimizer steps of the pipeline step")
    parser.add_argument("--only", nargs="*", choices=list(PARTS), help="run only these parts")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "gpu" / "out")
    args = parser.parse_args(argv)
    tiny = args.tiny or not torch.cuda.is_available()
    args.steps = args.steps or (2 if tiny else 10)
    args.new_tokens = args.new_tokens or (8 if tiny else 64)
    args.warmup = 1 if tiny else args.warmup
    if tiny:
        args.seq = min(args.seq, 128)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from affectgpt.train.env import prepare_distributed_env

    prepare_distributed_env()
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if torch.cuda.is_available() else torch.device("cpu")
    if tiny:
        torch.set_num_threads(min(2, torch.get_num_threads()))
    config = _config(tiny, args.layers)
    ctx: dict[str, Any] = {"config": config, "tokenizer": _tokenizer(), "device": device}
    started = time.perf_counter()
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()})",
        "shapes": "toy (--tiny)" if tiny else f"Qwen2.5-7B, {config.llm.architecture['num_hidden_layers']} of 28 layers",
        "torch": torch.__version__, "parts": {}}
    for name in args.only or list(PARTS):
        part_started = time.perf_counter()
        try:
            part = PARTS[name](ctx, args)
        except Exception as exc:  # noqa: BLE001 - one failing part must not hide the others' numbers
            part = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()[-2000:]}
        part["wall_s"] = round(time.perf_counter() - part_started, 2)
        if device.type == "cuda":
            part["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
        result["parts"][name] = part
    result["total_s"] = round(time.perf_counter() - started, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2, default=str))
    table = _table(result)
    (args.out / "gpu_check.txt").write_text(table + "\n")
    print(table)
    return result


if __name__ == "__main__":
    outcome = main()
    raise SystemExit(1 if any("error" in part for part in outcome["parts"].values()) else 0)
