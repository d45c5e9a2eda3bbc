"""`train_model`: the DeepSpeed training step the CLI and the Kubeflow component both call.

Every run goes through a DeepSpeed engine (one CPU process here, N GPUs under a launcher).
Data order, the hybrid target draw, optimizer, scheduler and RNG state are all restored on
resume, so an interrupted run continues bit for bit. The saved model is the best checkpoint on
the validation split (never the test split), logged to MLflow as a pyfunc model under `model`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from affectgpt.manifest import MANIFEST_NAME, StepManifest, hash_file, hash_tree
from affectgpt.model.config import AffectGPTConfig, ConfigError, load_config
from affectgpt.publish import fault_point, recover, staged_output
from affectgpt.train.data import CaptionSample, DataError, corpus_texts, load_caption_data, stack_features

STEP_NAME = "train"
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"
TOKENIZER_DIR = "tokenizer"


class _NoTracking:
    """Stands in for the mlflow module on ranks other than 0."""

    def __getattr__(self, name: str):
        return lambda *args, **kwargs: None


@dataclass
class TrainResult:
    out_dir: Path
    model_dir: Path | None
    manifest_path: Path | None
    mlflow_run_id: str
    global_step: int
    completed: bool
    best_step: int | None = None
    best_val_loss: float | None = None
    val_history: list[dict[str, float]] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    resumed_from: str | None = None
    mlflow_model_uri: str | None = None


def _epoch_chunks(n_samples: int, micro: int, seed: int, epoch: int, rank: int, world: int) -> list[list[int]]:
    """This rank's micro-batches (sample indices) for `epoch`: a seeded permutation, chunked,
    dealt round-robin to ranks, with the uneven tail dropped so all ranks step together."""
    order = torch.randperm(n_samples, generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
    chunks = [order[i:i + micro] for i in range(0, n_samples, micro)]
    per_rank = len(chunks) // world
    return chunks[rank::world][:per_rank]


def stream_chunk(n_samples: int, micro: int, seed: int, micro_step: int, rank: int, world: int) -> tuple[int, list[int]]:
    """(pass index, sample indices) of this rank's `micro_step`-th micro-batch in the training
    stream: successive seeded shuffled passes, as upstream's IterLoader cycles a shuffled
    DataLoader (upstream drops a pass's last partial batch; here it is kept)."""
    per_pass = len(_epoch_chunks(n_samples, micro, seed, 0, rank, world))
    data_pass, offset = divmod(micro_step, per_pass)
    return data_pass, _epoch_chunks(n_samples, micro, seed, data_pass, rank, world)[offset]


def _targets(samples: Sequence[CaptionSample], seed: int, epoch: int) -> tuple[list[str], list[str]]:
    from affectgpt.model.prompt import choose_prompt_type, target_text

    types, answers = [], []
    for sample in samples:
        prompt_type = choose_prompt_type(seed, epoch, sample.clip_id, bool(sample.description), bool(sample.ov_labels))
        types.append(prompt_type)
        answers.append(target_text(prompt_type, sample.description, sample.ov_labels))
    return types, answers


def _validation_items(samples: Sequence[CaptionSample]) -> list[tuple[CaptionSample, str]]:
    """Every (clip, target) pair the clip supports: a fixed, draw-free validation set."""
    items = []
    for sample in samples:
        if sample.description:
            items.append((sample, "description"))
        if sample.ov_labels:
            items.append((sample, "ov"))
    return items


def validation_loss(engine, batcher, samples: Sequence[CaptionSample], micro: int) -> float:
    """Token-weighted mean loss over the validation targets (eval mode: no dropout)."""
    from affectgpt.model.prompt import target_text

    items = _validation_items(samples)
    total, n_tokens = 0.0, 0
    engine.eval()
    with torch.no_grad():
        for start in range(0, len(items), micro):
            chunk = items[start:start + micro]
            clips = [sample for sample, _ in chunk]
            types = [prompt_type for _, prompt_type in chunk]
            answers = [target_text(t, s.description, s.ov_labels) for s, t in chunk]
            batch = batcher.training_batch([s.subtitle for s in clips], types, answers, stack_features(clips))
            batch = batch.to(engine.device)
            out = engine(input_ids=batch.input_ids, attention_mask=batch.attention_mask, features=batch.features,
                         labels=batch.labels)
            count = int((batch.labels[:, 1:] != -100).sum())
            total += float(out.loss.float()) * count
            n_tokens += count
    engine.train()
    return total / max(n_tokens, 1)


def _config_fingerprint(config: AffectGPTConfig) -> str:
    return json.dumps(config.model_dump(mode="json"), sort_keys=True)


def train_model(config_path: str | Path, data_dir: str | Path, out_dir: str | Path, *, resume: bool = True,
                stop_after_steps: int | None = None, progress: bool = True) -> TrainResult:
    """Train per `config_path` on `data_dir`, writing `out_dir/model`, checkpoints and
    `out_dir/manifest.json` (with the MLflow run id). `resume` continues from the latest
    checkpoint in `out_dir`; `stop_after_steps` ends early after a checkpoint (a planned
    interruption, e.g. a preemptible slot), leaving the run resumable."""
    started = time.perf_counter()
    from affectgpt.paths import resolve_config  # a packaged config's bare name works too

    config_path, data_dir, out_dir = resolve_config(config_path), Path(data_dir), Path(out_dir)
    config = load_config(config_path)
    train_cfg = config.train

    from affectgpt.train.env import prepare_distributed_env

    rank, world = prepare_distributed_env()
    import deepspeed
    import mlflow
    from tqdm.auto import tqdm

    is_main = rank == 0

    from affectgpt.model.batching import Batcher
    from affectgpt.model.build import build_model, build_tokenizer
    from affectgpt.model.pyfunc import log_model_to_mlflow
    from affectgpt.model.store import save_model_dir
    from affectgpt.model.tokenizer import load_tokenizer_dir
    from affectgpt.train import checkpoint as ckpt
    from affectgpt.train.ds_config import build_optimizer, deepspeed_config
    from affectgpt.train.tracking import flatten, setup_experiment

    vision_dim, audio_dim = config.modality_dims()
    data = load_caption_data(data_dir, vision_dim, audio_dim)
    train_samples, val_samples = data.split("train"), data.split("val")
    if not train_samples:
        raise DataError(f"{data.records_path}: no records with split 'train' (splits found: "
                        f"{sorted({s.split for s in data.samples})})")
    micro, accum, seed = train_cfg.micro_batch_size, train_cfg.grad_accumulation, train_cfg.seed
    n_micro_per_pass = len(_epoch_chunks(len(train_samples), micro, seed, 0, rank, world))
    if n_micro_per_pass < accum:
        raise DataError(f"{data.records_path}: {len(train_samples)} training records give {n_micro_per_pass} micro "
                        f"batches per process per epoch, fewer than grad_accumulation {accum}; lower the batch")
    # An epoch is one shuffled pass, or `iters_per_epoch` micro-batches of the stream of passes
    # (upstream's IterLoader cycles a shuffled loader), which may cross pass boundaries.
    n_micro_per_epoch = train_cfg.iters_per_epoch or n_micro_per_pass
    total_steps = train_cfg.max_steps or (train_cfg.epochs * n_micro_per_epoch) // accum

    recover(out_dir)  # finish or undo a publication a kill interrupted (affectgpt.publish)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoints_dir = out_dir / CHECKPOINTS_DIR
    checkpoints_dir.mkdir(exist_ok=True)
    latest = ckpt.latest_checkpoint(checkpoints_dir) if resume else None
    if latest is not None:
        saved = ckpt.read_state(latest)
        if saved.get("config") != _config_fingerprint(config):
            raise ConfigError(f"{latest}: this checkpoint was written with a different config than {config_path}; "
                              "use a new --out folder, or --no-resume to start over")
    tokenizer_dir = checkpoints_dir / TOKENIZER_DIR
    if latest is not None and tokenizer_dir.is_dir():
        tokenizer = load_tokenizer_dir(tokenizer_dir)
    else:
        tokenizer = build_tokenizer(config, corpus_texts(train_samples))  # deterministic: same on every rank
        if is_main:
            tokenizer.save_pretrained(str(tokenizer_dir))
    tokenizer.padding_side = "right"

    torch.manual_seed(seed)
    model = build_model(config, tokenizer)
    named_trainable = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    trainable = [param for _, param in named_trainable]
    optimizer, scheduler = build_optimizer(train_cfg, named_trainable, total_steps)
    ds_config = deepspeed_config(train_cfg, world, on_gpu=torch.cuda.is_available())
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=trainable, optimizer=optimizer,
                                           lr_scheduler=scheduler, config=ds_config)
    batcher = Batcher(model, tokenizer, train_cfg.max_length)

    state: dict[str, Any] = {"global_step": 0, "micro_step": 0, "global_samples": 0, "best_val_loss": None,
                             "best_step": None, "val_history": [], "train_losses": [], "mlflow_run_id": None,
                             "truncations": {}, "config": _config_fingerprint(config)}
    best_state = None
    if latest is not None:
        state, best_state = ckpt.load_checkpoint(latest, engine, scheduler, rank)

    if is_main:
        experiment_id = setup_experiment(train_cfg.mlflow_experiment)
        run = mlflow.start_run(run_id=state["mlflow_run_id"]) if state["mlflow_run_id"] else \
            mlflow.start_run(experiment_id=experiment_id, run_name=f"{config.name}-{out_dir.name}")
        state["mlflow_run_id"] = run.info.run_id
    else:
        mlflow = _NoTracking()  # only rank 0 talks to MLflow
    truncations = Counter(state["truncations"])
    try:
        if latest is None:
            mlflow.log_params(flatten("", config.model_dump(mode="json")))
            mlflow.log_params({"data.records": str(data.records_path), "data.train": len(train_samples),
                               "data.val": len(val_samples), "data.missing_features": data.missing_features,
                               "deepspeed.world_size": world, "train.total_steps": total_steps})
            mlflow.log_artifact(str(config_path), artifact_path="config")
        else:
            mlflow.set_tag("resumed_from", latest.name)

        if val_samples and latest is None:  # the untrained baseline every later val loss is compared with
            initial_val = validation_loss(engine, batcher, val_samples, micro)
            state["val_history"].append({"step": 0, "epoch": 0, "val_loss": initial_val})
            mlflow.log_metric("val_loss", initial_val, step=0)

        bar = tqdm(total=total_steps, initial=state["global_step"], desc="train", unit="step",
                   disable=not progress or rank != 0)
        step_losses: list[float] = []
        interrupted = False
        engine.train()
        while state["global_step"] < total_steps:
            epoch = state["micro_step"] // n_micro_per_epoch
            data_pass, chunk = stream_chunk(len(train_samples), micro, seed, state["micro_step"], rank, world)
            samples = [train_samples[i] for i in chunk]
            types, answers = _targets(samples, seed, data_pass)
            batch = batcher.training_batch([s.subtitle for s in samples], types, answers, stack_features(samples))
            truncations.update(batch.truncations)
            batch = batch.to(engine.device)
            out = engine(input_ids=batch.input_ids, attention_mask=batch.attention_mask, features=batch.features,
                         labels=batch.labels)
            engine.backward(out.loss)
            engine.step()
            step_losses.append(float(out.loss.detach().float()))
            state["micro_step"] += 1
            state["global_samples"] += len(samples) * world
            if state["micro_step"] % accum:
                continue
            state["global_step"] = step = int(engine.global_steps)
            train_loss = sum(step_losses) / len(step_losses)
            step_losses = []
            state["train_losses"].append(train_loss)
            mlflow.log_metrics({"train_loss": train_loss, "lr": scheduler.get_last_lr()[0]}, step=step)
            bar.update(1)
            bar.set_postfix(loss=f"{train_loss:.3f}")
            epoch_done = state["micro_step"] // n_micro_per_epoch > (state["micro_step"] - accum) // n_micro_per_epoch
            final = step >= total_steps
            stopping = stop_after_steps is not None and step >= stop_after_steps and not final
            periodic_eval = train_cfg.eval_every is not None and step % train_cfg.eval_every == 0
            if val_samples and (epoch_done or final or periodic_eval):
                val_loss = validation_loss(engine, batcher, val_samples, micro)
                state["val_history"].append({"step": step, "epoch": epoch, "val_loss": val_loss})
                mlflow.log_metric("val_loss", val_loss, step=step)
                if state["best_val_loss"] is None or val_loss < state["best_val_loss"]:
                    state["best_val_loss"], state["best_step"] = val_loss, step
                    best_state = ckpt.live_trainable(engine)
            if step % train_cfg.checkpoint_every == 0 or final or stopping:
                state["truncations"] = dict(truncations)
                ckpt.save_checkpoint(checkpoints_dir / f"step-{step:08d}", engine, scheduler, state, best_state,
                                     rank=rank)
                if is_main:
                    ckpt.prune_checkpoints(checkpoints_dir, train_cfg.keep_checkpoints)
            if stopping:
                interrupted = True
                break
        bar.close()

        result = TrainResult(out_dir=out_dir, model_dir=None, manifest_path=None, mlflow_run_id=state["mlflow_run_id"],
                             global_step=state["global_step"], completed=not interrupted,
                             best_step=state["best_step"], best_val_loss=state["best_val_loss"],
                             val_history=state["val_history"], train_losses=state["train_losses"],
                             resumed_from=latest.name if latest is not None else None)
        if interrupted:
            mlflow.set_tag("interrupted_at_step", state["global_step"])
            return result
        if not is_main:  # rank 0 writes the model, the manifest and the MLflow entries
            ckpt.barrier()
            result.model_dir = out_dir / MODEL_DIR
            return result

        use_best = best_state is not None and train_cfg.select == "best-val"
        final_state = best_state if use_best else ckpt.live_trainable(engine)
        chosen = ("best validation loss" if use_best else
                  "last step (train.select: last)" if train_cfg.select == "last" else "last step (no validation split)")
        model_dir = out_dir / MODEL_DIR
        # model/ and manifest.json are one result: staged together and published with renames.
        with staged_output(out_dir, owned=(MODEL_DIR, MANIFEST_NAME)) as stage:
            staged_model = stage / MODEL_DIR
            source_model = build_model(config, tokenizer) if config.llm.init == "random" else engine.module
            metadata = {"global_step": state["global_step"],
                        "chosen_step": state["best_step"] if use_best else state["global_step"],
                        "chosen_by": chosen, "best_val_loss": state["best_val_loss"], "mlflow_run_id": state["mlflow_run_id"]}
            save_model_dir(source_model, tokenizer, staged_model, trainable=final_state, metadata=metadata)
            fault_point("train:wrote:model")
            mlflow.log_metrics({"truncated_subtitles": truncations["subtitle_truncated"],
                                "truncated_answers": truncations["answer_truncated"],
                                "clips_without_features": data.missing_features, "skipped_records": len(data.skipped)})
            if state["best_val_loss"] is not None:
                mlflow.log_metrics({"best_val_loss": state["best_val_loss"], "best_step": state["best_step"]})
            model_info = log_model_to_mlflow(staged_model, artifact_path="model")
            result.model_dir, result.mlflow_model_uri = model_dir, model_info.model_uri

            test_count = len(data.split("test"))
            manifest = StepManifest(
                step=STEP_NAME,
                inputs={"config": hash_file(config_path), "records": hash_file(data.records_path),
                        **({"features": hash_tree(data.features_dir)} if data.features_dir else {})},
                parameters=config.model_dump(mode="json"),
                kept=len(train_samples) + len(val_samples),
                skipped=data.skipped,
                outputs={"model_dir": str(model_dir), "mlflow_run_id": state["mlflow_run_id"],
                         "mlflow_model_uri": model_info.model_uri, "mlflow_run_model_uri": f"runs:/{state['mlflow_run_id']}/model"},
                timings_s={"total": round(time.perf_counter() - started, 3)},
                extra={
                    "mlflow_run_id": state["mlflow_run_id"], "global_step": state["global_step"],
                    "total_steps": total_steps, "chosen_step": metadata["chosen_step"], "chosen_by": chosen,
                    "best_val_loss": state["best_val_loss"], "val_history": state["val_history"],
                    "final_train_loss": state["train_losses"][-1] if state["train_losses"] else None,
                    "split_counts": {"train": len(train_samples), "val": len(val_samples), "test_unused": test_count},
                    "split_source": data.split_source, "clips_without_features": data.missing_features,
                    "truncations": dict(truncations), "resumed_from": result.resumed_from, "world_size": world,
                    "deepspeed": ds_config,
                },
            )
            mlflow.log_artifact(str(manifest.write(stage)))
        result.manifest_path = out_dir / MANIFEST_NAME
        ckpt.barrier()
        return result
    except BaseException:
        mlflow.end_run(status="FAILED")
        raise
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run(status="FINISHED" if not locals().get("interrupted") else "KILLED")


