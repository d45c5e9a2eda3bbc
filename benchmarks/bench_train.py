"""Tiny-config throughput: training tokens/s under the DeepSpeed engine vs a plain PyTorch loop
(same model, data, optimizer and schedule; target ratio >= 0.9), and greedy generation samples/s
batched at 8 vs one by one (target >= 4x). Ratios come from runs in the same process.

    .venv/bin/python benchmarks/bench_train.py [--steps 40] [--samples 32] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from rich.console import Console
from rich.table import Table

from affectgpt.model.batching import Batcher
from affectgpt.model.build import build_model, build_tokenizer
from affectgpt.model.config import load_config
from affectgpt.model.generation import generate_texts
from affectgpt.model.prompt import ov_answer
from affectgpt.model.store import LoadedModel
from affectgpt.paths import reference_data_dir
from affectgpt.train.ds_config import build_optimizer, deepspeed_config
from affectgpt.train.env import prepare_distributed_env

REPO = Path(__file__).resolve().parents[1]


def reference_text(n: int) -> list[tuple[str, str]]:
    """(subtitle, OV answer) pairs from the MER2023 transcripts and labels."""
    mer = reference_data_dir() / "zeroQiaoba-MERTools" / "MERBench" / "dataset" / "mer2023-dataset-process"
    table = pd.read_csv(mer / "label-6way.csv").merge(pd.read_csv(mer / "transcription-engchi-polish.csv"), on="name")
    table = table.sort_values("name").head(n)
    return [(str(s), ov_answer([e])) for s, e in zip(table["english"], table["emo"])]


def _batches(batcher: Batcher, pairs, micro: int, vision_dim: int, audio_dim: int):
    generator = torch.Generator().manual_seed(0)
    out = []
    for start in range(0, len(pairs) - micro + 1, micro):
        chunk = pairs[start:start + micro]
        features = {"frames": torch.randn(micro, 8, vision_dim, generator=generator),
                    "faces": torch.randn(micro, 8, vision_dim, generator=generator),
                    "audio": torch.randn(micro, 8, audio_dim, generator=generator)}
        out.append(batcher.training_batch([s for s, _ in chunk], ["ov"] * micro, [a for _, a in chunk], features))
    return out


def _interleaved_tokens_per_s(step_fns, batches, steps: int, rounds: int = 4, warmup: int = 3) -> list[float]:
    """tokens/s of each step function, measured in alternating rounds so that load from other
    processes on a shared machine hits every contender alike."""
    for step_fn in step_fns:
        for batch in batches[:warmup]:
            step_fn(batch)
    tokens, seconds = [0] * len(step_fns), [0.0] * len(step_fns)
    per_round = max(1, steps // rounds)
    for round_index in range(rounds):
        for which, step_fn in enumerate(step_fns):
            started = time.perf_counter()
            for index in range(per_round):
                batch = batches[(round_index * per_round + index) % len(batches)]
                step_fn(batch)
                tokens[which] += batch.n_tokens
            seconds[which] += time.perf_counter() - started
    return [t / s for t, s in zip(tokens, seconds)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the table rows here (benchmarks/report.py)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    prepare_distributed_env()
    import deepspeed

    from affectgpt.train.extensions import prepare_deepspeed_ops

    config = load_config(REPO / "configs" / "tiny.yaml")
    micro = config.train.micro_batch_size
    pairs = reference_text(max(micro * 16, args.samples))
    tokenizer = build_tokenizer(config, [text for pair in pairs for text in pair])
    vision_dim, audio_dim = config.modality_dims()

    # plain PyTorch loop
    model = build_model(config, tokenizer)
    batcher = Batcher(model, tokenizer, config.train.max_length)
    batches = _batches(batcher, pairs, micro, vision_dim, audio_dim)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer, scheduler = build_optimizer(config.train, trainable, args.steps + 10)
    model.train()

    def plain_step(batch):
        loss = model(batch.input_ids, batch.attention_mask, batch.features, batch.labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.train.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    # the same under a DeepSpeed engine (the trainer's path)
    ds_model = build_model(config, tokenizer)
    ds_trainable = [p for p in ds_model.parameters() if p.requires_grad]
    ds_optimizer, ds_scheduler = build_optimizer(config.train, ds_trainable, args.steps + 10)
    prepare_deepspeed_ops()  # as the trainer: nothing compiles here either
    engine, *_ = deepspeed.initialize(model=ds_model, model_parameters=ds_trainable, optimizer=ds_optimizer,
                                      lr_scheduler=ds_scheduler, config=deepspeed_config(config.train, 1, on_gpu=False))
    engine.train()

    def ds_step(batch):
        loss = engine(input_ids=batch.input_ids, attention_mask=batch.attention_mask, features=batch.features,
                      labels=batch.labels).loss
        engine.backward(loss)
        engine.step()

    plain, with_deepspeed = _interleaved_tokens_per_s([plain_step, ds_step], batches, args.steps)

    # generation: batched at 8 vs one by one, same clips, greedy
    model = build_model(config, tokenizer).eval()
    loaded = LoadedModel(model=model, tokenizer=tokenizer, config=config, metadata={})
    subtitles = [s for s, _ in pairs[: args.samples]]
    generator = torch.Generator().manual_seed(1)
    features = [{"frames": torch.randn(8, vision_dim, generator=generator),
                 "faces": torch.randn(8, vision_dim, generator=generator),
                 "audio": torch.randn(8, audio_dim, generator=generator)} for _ in subtitles]
    generate_texts(loaded, subtitles[:2], features[:2], "ov", batch_size=2, max_new_tokens=4)  # warm up
    batched_s = single_s = 0.0
    batched_texts, single_texts = [], []
    for start in range(0, len(subtitles), 8):  # alternate per group of 8 so machine load hits both alike
        group, group_features = subtitles[start:start + 8], features[start:start + 8]
        started = time.perf_counter()
        batched_texts += generate_texts(loaded, group, group_features, "ov", batch_size=8, max_new_tokens=24)
        batched_s += time.perf_counter() - started
        started = time.perf_counter()
        single_texts += generate_texts(loaded, group, group_features, "ov", batch_size=1, max_new_tokens=24)
        single_s += time.perf_counter() - started
    batched, single = len(subtitles) / batched_s, len(subtitles) / single_s

    table = Table(title=f"AffectGPT tiny: train and generation throughput ({args.threads} CPU thread(s), "
                        f"{os.cpu_count()} cores)")
    for column in ("measure", "baseline", "candidate", "ratio", "target"):
        table.add_column(column, justify="right" if column != "measure" else "left")
    table.add_row("train tokens/s: plain torch vs DeepSpeed", f"{plain:,.0f}", f"{with_deepspeed:,.0f}",
                  f"{with_deepspeed / plain:.2f}", ">= 0.9")
    table.add_row("generation samples/s: 1-by-1 vs batch 8", f"{single:.2f}", f"{batched:.2f}",
                  f"{batched / single:.2f}", ">= 4")
    console = Console()
    console.print(table)
    console.print(f"batched == one-by-one outputs: {batched_texts == single_texts}")
    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from rows import BenchRow, write_rows

        write_rows([
            BenchRow(name="train tokens/s under DeepSpeed", value=with_deepspeed, unit="tok/s",
                     baseline_name="plain PyTorch loop", baseline=plain, target="ratio >= 0.9",
                     passed=with_deepspeed / plain >= 0.9),
            BenchRow(name="generation samples/s, batch 8", value=batched, unit="samples/s", baseline_name="one by one",
                     baseline=single, target="ratio >= 4", passed=batched / single >= 4,
                     note=f"same outputs: {batched_texts == single_texts}"),
        ], args.json)


if __name__ == "__main__":
    main()
