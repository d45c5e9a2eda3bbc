"""7B-shaped AffectGPT training throughput on one GPU: random weights from configs/affectgpt-7b.yaml
(Qwen2.5-7B shape, LoRA r16 on q,k,v,o,gate,up,down, attention pre-fusion), bf16, DeepSpeed
ZeRO-2, the trainer's own model/batching/optimizer code. Prints tokens/s and MFU against the
H100's 989 TFLOP/s dense bf16 peak. Kept to a few minutes so it fits a short GPU loan.

    python benchmarks/gpu/train_throughput.py [--steps 20] [--warmup 3] [--seq 1024] [--micro 3]
    python benchmarks/gpu/train_throughput.py --dry-run      # CPU, toy sizes: checks the code path

FLOPs per token: the frozen base needs the forward (2N) and the backward through activations
(2N) but no weight gradients, so 4N; LoRA adds 6 x its parameters; attention (QK^T, AV) adds
6 x layers x seq x hidden (12 forward+backward, halved by the causal mask). The 6N convention
of full fine-tuning is printed too, for comparison with other reports.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
PEAK_TFLOPS = 989.0


def _toy_overrides(config):
    """Same structure at toy size for --dry-run on CPU."""
    arch = dict(config.llm.architecture)
    arch.update(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, vocab_size=512, max_position_embeddings=512)
    return config.model_copy(update={
        "llm": config.llm.model_copy(update={"architecture": arch, "init": "random"}),
        "feature_dims": config.feature_dims.model_copy(update={"vision": 32, "audio": 32}),
        "fusion": config.fusion.model_copy(update={"hidden_dim": 32}),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "configs" / "affectgpt-7b.yaml"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--micro", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes, 3 steps")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()

    from affectgpt.train.env import prepare_distributed_env

    prepare_distributed_env()
    import deepspeed

    from affectgpt.model.config import load_config
    from affectgpt.model.llm import apply_lora, build_llm
    from affectgpt.model.mllm import AffectGPT
    from affectgpt.model.prompt import PLACEHOLDERS
    from affectgpt.train.ds_config import build_optimizer, deepspeed_config

    config = load_config(args.config)
    on_gpu = torch.cuda.is_available() and not args.dry_run
    if args.dry_run:
        config = _toy_overrides(config)
        args.steps, args.warmup, args.seq = 3, 1, min(args.seq, 64)
    elif not torch.cuda.is_available():
        raise SystemExit("no GPU visible; use --dry-run to check the code path on CPU")
    train = config.train.model_copy(update={"micro_batch_size": args.micro, "grad_accumulation": 1,
                                            "global_batch_size": None, "zero_stage": 2, "precision": "bf16"})
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))) if on_gpu else torch.device("cpu")

    started = time.perf_counter()
    random_llm = config.llm.model_copy(update={"init": "random"})
    vocab = int(random_llm.architecture["vocab_size"])
    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # build straight in bf16 on the device: 7.6B params, no fp32 copy
    with torch.device(device):
        llm = build_llm(random_llm, vocab_size=vocab, dtype=torch.bfloat16)
        llm = apply_lora(llm, config.lora)
        ids = {name: vocab - 1 - index for index, name in enumerate(PLACEHOLDERS)}
        model = AffectGPT(config, llm, ids)
    torch.set_default_dtype(previous_dtype)
    build_s = time.perf_counter() - started
    trainable = [p for p in model.parameters() if p.requires_grad]
    n_base = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    n_trainable = sum(p.numel() for p in trainable)
    optimizer, scheduler = build_optimizer(train, trainable, args.steps + args.warmup)
    engine, *_ = deepspeed.initialize(model=model, model_parameters=trainable, optimizer=optimizer,
                                      lr_scheduler=scheduler, config=deepspeed_config(train, 1, on_gpu=on_gpu))

    vision_dim, audio_dim = config.modality_dims()
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, vocab - 8, (args.micro, args.seq), generator=generator)
    for row in range(args.micro):  # one placeholder of each prompt modality near the start, as in a real prompt
        for offset, name in enumerate(model.modalities):
            input_ids[row, 4 + offset] = ids[name]
    labels = input_ids.clone()
    labels[:, : args.seq // 2] = -100  # loss on the answer half
    batch = {"input_ids": input_ids.to(device), "attention_mask": torch.ones_like(input_ids).to(device),
             "labels": labels.to(device),
             "features": {"frames": torch.randn(args.micro, 8, vision_dim, generator=generator).to(device),
                          "faces": torch.randn(args.micro, 8, vision_dim, generator=generator).to(device),
                          "audio": torch.randn(args.micro, 8, audio_dim, generator=generator).to(device)}}

    def step() -> float:
        loss = engine(**batch).loss
        engine.backward(loss)
        engine.step()
        return float(loss.detach().float())

    for _ in range(args.warmup):
        step()
    if on_gpu:
        torch.cuda.synchronize()
    started = time.perf_counter()
    losses = [step() for _ in range(args.steps)]
    if on_gpu:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started

    arch = config.llm.architecture
    tokens = args.steps * args.micro * args.seq
    tokens_per_s = tokens / elapsed
    # QK^T and AV: 4*seq*hidden per token per layer forward, halved by the causal mask, x3 with the backward
    attention = 3 * 4 * arch["num_hidden_layers"] * args.seq * arch["hidden_size"] / 2
    flops_per_token = 4 * n_base + 6 * n_trainable + attention
    achieved = tokens_per_s * flops_per_token / 1e12
    result = {
        "device": torch.cuda.get_device_name(device) if on_gpu else "cpu (dry run, toy sizes)",
        "base_params": n_base, "trainable_params": n_trainable, "micro_batch": args.micro, "seq": args.seq,
        "steps": args.steps, "build_s": round(build_s, 2), "step_s": round(elapsed / args.steps, 4),
        "tokens_per_s": round(tokens_per_s, 1), "achieved_tflops": round(achieved, 2),
        "mfu_frozen_base": round(achieved / PEAK_TFLOPS, 4),
        "mfu_6N_convention": round(tokens_per_s * 6 * (n_base + n_trainable) / 1e12 / PEAK_TFLOPS, 4),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if on_gpu else None,
        "last_loss": losses[-1],
    }
    from rich.console import Console
    from rich.table import Table

    table = Table(title="AffectGPT 7B-shaped training throughput (bf16, ZeRO-2, 1 process)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:,}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
