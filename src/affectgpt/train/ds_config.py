"""The one place a DeepSpeed config is derived from our `TrainConfig`.

The optimizer and scheduler are torch objects passed to `deepspeed.initialize`, not DeepSpeed's
own (those JIT-compile fused kernels on first use, which a CPU run should not pay for).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from affectgpt.model.config import ConfigError, TrainConfig, check_global_batch


def deepspeed_config(train: TrainConfig, world_size: int, *, on_gpu: bool) -> dict[str, Any]:
    if train.precision == "fp16" and not on_gpu:
        raise ConfigError("train.precision fp16 needs a GPU (DeepSpeed has no fp16 on CPU); use bf16 or fp32")
    global_batch = check_global_batch(train, world_size)
    config: dict[str, Any] = {
        "train_batch_size": global_batch,
        "train_micro_batch_size_per_gpu": train.micro_batch_size,
        "gradient_accumulation_steps": train.grad_accumulation,
        "gradient_clipping": train.grad_clip,
        "zero_optimization": {"stage": train.zero_stage},
        "bf16": {"enabled": train.precision == "bf16"},
        "fp16": {"enabled": train.precision == "fp16"},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if train.zero_stage in (1, 2):
        config["zero_optimization"].update({"overlap_comm": False, "contiguous_gradients": True,
                                            "reduce_bucket_size": 5e7, "allgather_bucket_size": 5e7})
    return config


def lr_lambda(train: TrainConfig, total_steps: int) -> Callable[[int], float]:
    """Multiplier on the base lr per optimizer step: linear warmup, then constant or cosine
    down to `min_lr_ratio`."""
    warmup, floor = train.warmup_steps, train.min_lr_ratio

    def multiplier(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if train.schedule == "constant":
            return 1.0
        decay_steps = max(1, total_steps - warmup)
        progress = min(1.0, (step - warmup) / decay_steps)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return multiplier


def decays(name: str, param: torch.nn.Parameter) -> bool:
    """Upstream's rule (LAVIS runner_base `optimizer`): no weight decay for parameters with fewer
    than 2 dimensions or whose name contains `bias`, `ln` or `bn`."""
    return not (param.ndim < 2 or "bias" in name or "ln" in name or "bn" in name)


def param_groups(train: TrainConfig, params) -> list[dict]:
    """AdamW groups: decayed and exempt (upstream), or one decayed group when
    `train.decay_exemptions` is off. `params`: (name, parameter) pairs, or bare parameters
    (then the rule falls back to the dimension test, which covers biases and norms)."""
    named = [item if isinstance(item, tuple) else ("", item) for item in params]
    if not train.decay_exemptions:
        return [{"params": [p for _, p in named], "weight_decay": train.weight_decay}]
    groups = [{"params": [p for n, p in named if decays(n, p)], "weight_decay": train.weight_decay},
              {"params": [p for n, p in named if not decays(n, p)], "weight_decay": 0.0}]
    return [group for group in groups if group["params"]]


def build_optimizer(train: TrainConfig, params, total_steps: int):
    """torch AdamW (betas, weight decay with upstream's exemptions) + the LambdaLR schedule."""
    optimizer = torch.optim.AdamW(param_groups(train, params), lr=train.lr, weight_decay=train.weight_decay,
                                  betas=train.betas)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(train, total_steps))
    return optimizer, scheduler
