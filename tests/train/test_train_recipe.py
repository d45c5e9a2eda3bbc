"""The 7B config carries upstream's recipe; optimiser groups, schedule and data stream follow
formulas written from upstream (LAVIS runner_base `optimizer`, optims `cosine_lr_schedule`,
IterLoader over a shuffled loader), not from our code."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from affectgpt.model.config import load_config
from affectgpt.train.ds_config import build_optimizer, lr_lambda
from affectgpt.train.run import stream_chunk

REPO = Path(__file__).resolve().parents[2]


def test_seven_b_config_is_upstreams_recipe():
    train = load_config(REPO / "configs" / "affectgpt-7b.yaml").train
    assert train.optimizer == "adamw" and tuple(train.betas) == (0.9, 0.999)
    assert train.weight_decay == 0.05 and train.decay_exemptions
    assert train.lr == 1e-5 and train.micro_batch_size == 3 and train.grad_accumulation == 1
    assert train.epochs == 60 and train.iters_per_epoch == 5000 and train.precision == "fp16"
    assert train.max_length == 1024
    # upstream: cosine_lr_schedule(epoch, max_epoch, init_lr=1e-5, min_lr=1e-5), warm-up never runs
    total = train.epochs * train.iters_per_epoch
    ours = lr_lambda(train, total)
    for epoch in range(train.epochs):
        upstream = (1e-5 - 1e-5) * 0.5 * (1.0 + math.cos(math.pi * epoch / train.epochs)) + 1e-5
        assert math.isclose(train.lr * ours(epoch * train.iters_per_epoch), upstream, rel_tol=1e-12)


def test_weight_decay_exempts_biases_norms_and_small_params_as_upstream():
    tiny_config = load_config(REPO / "configs" / "tiny.yaml")
    model = torch.nn.ModuleDict({"proj": torch.nn.Linear(4, 3), "ln_vision": torch.nn.Linear(3, 3),
                                 "norm": torch.nn.LayerNorm(3)})
    model.register_parameter("query_tokens", torch.nn.Parameter(torch.zeros(1, 2, 3)))
    named = list(model.named_parameters())
    optimizer, _ = build_optimizer(tiny_config.train, named, 10)
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    exempt = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    # upstream: p.ndim < 2 or "bias" in n or "ln" in n or "bn" in n -> no decay
    expected_exempt = {id(p) for n, p in named if p.ndim < 2 or "bias" in n or "ln" in n or "bn" in n}
    assert exempt == expected_exempt and decayed == {id(p) for _, p in named} - expected_exempt
    assert {n for n, p in named if id(p) in decayed} == {"proj.weight", "query_tokens"}
    no_exemptions = tiny_config.train.model_copy(update={"decay_exemptions": False})
    assert [g["weight_decay"] for g in build_optimizer(no_exemptions, named, 10)[0].param_groups] == [0.05]


def test_training_stream_is_successive_shuffled_passes_across_epoch_boundaries():
    n, micro = 9, 3  # 3 micro-batches per pass
    chunks = [stream_chunk(n, micro, 42, step, 0, 1) for step in range(7)]
    assert [p for p, _ in chunks] == [0, 0, 0, 1, 1, 1, 2]
    for data_pass in (0, 1):
        seen = [i for p, c in chunks if p == data_pass for i in c]
        assert len(seen) == 9 and len(set(seen)) == 9  # without replacement within a pass
    assert [c for p, c in chunks if p == 0] != [c for p, c in chunks if p == 1]  # reshuffled each pass
