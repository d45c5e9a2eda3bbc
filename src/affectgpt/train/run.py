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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from affectgpt.manifest import MANIFEST_NAME, StepManifest, hash_file, hash_tree
from affectgpt.model.config import AffectGPTConfig, ConfigError, load_config
from affectgpt.progress import StepProgress, step_progress
from affectgpt.publish import fault_point, recover, staged_output
from affectgpt.signals import run_status, stop_on_signals
from affectgpt.train import CHECKPOINTS_DIR, MODEL_DIR
from affectgpt.train import checkpoint as ckpt
from affectgpt.train.data import (
    CaptionData,
    CaptionSample,
    DataError,
    corpus_texts,
    load_caption_data,
    stack_features,
)

STEP_NAME = "train"
TOKENIZER_DIR = "tokenizer"


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
    interruption, e.g. a preemptible slot), leaving the run resumable. `progress` shows the
    steps with the current loss and tokens/s (`affectgpt.progress`)."""
    started = time.perf_counter()
    plan = _plan_run(config_path, data_dir, out_dir, resume)
    live = _start_engine(plan)
    with _tracking(plan, live.state) as tracker:
        _log_run_start(plan, live, tracker)
        completed = _train_loop(plan, live, tracker, stop_after_steps, progress)
        result = TrainResult(out_dir=plan.out_dir, model_dir=None, manifest_path=None,
                             mlflow_run_id=live.state["mlflow_run_id"], global_step=live.state["global_step"],
                             completed=completed, best_step=live.state["best_step"],
                             best_val_loss=live.state["best_val_loss"], val_history=live.state["val_history"],
                             train_losses=live.state["train_losses"],
                             resumed_from=plan.latest.name if plan.latest is not None else None)
        if not completed:
            tracker.set_tag("interrupted_at_step", live.state["global_step"])
            tracker.end_status = "KILLED"
            return result
        if plan.is_main:  # rank 0 writes the model, the manifest and the MLflow entries
            _publish_model(plan, live, tracker, result, started)
        else:
            result.model_dir = plan.out_dir / MODEL_DIR
        ckpt.barrier()
        return result


@dataclass
class _Plan:
    """What a run trains on and for how long, fixed before the engine exists."""

    config_path: Path
    config: AffectGPTConfig
    data: CaptionData
    train_samples: list[CaptionSample]
    val_samples: list[CaptionSample]
    rank: int
    world: int
    n_micro_per_epoch: int
    total_steps: int
    out_dir: Path
    checkpoints_dir: Path
    latest: Path | None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass
class _Live:
    """The running engine and the state every checkpoint carries."""

    tokenizer: Any
    engine: Any
    scheduler: Any
    batcher: Any
    ds_config: dict[str, Any]
    state: dict[str, Any]
    best_state: dict[str, torch.Tensor] | None
    truncations: Counter


class _Tracker:
    """MLflow for rank 0, and a tracker that records nothing on the other ranks (only rank 0
    talks to MLflow). `end_status` is how the run ends when the block exits without an error."""

    def __init__(self, mlflow: Any | None = None, run_id: str | None = None) -> None:
        self._mlflow, self.run_id, self.end_status = mlflow, run_id, "FINISHED"

    def log_params(self, params: dict[str, Any]) -> None:
        if self._mlflow is not None:
            self._mlflow.log_params(params)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        if self._mlflow is not None:
            self._mlflow.log_metric(name, value, step=step)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        if self._mlflow is not None:
            self._mlflow.log_metrics(metrics, step=step)

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        if self._mlflow is not None:
            self._mlflow.log_artifact(path, artifact_path=artifact_path)

    def set_tag(self, key: str, value: Any) -> None:
        if self._mlflow is not None:
            self._mlflow.set_tag(key, value)


def _plan_run(config_path: str | Path, data_dir: str | Path, out_dir: str | Path, resume: bool) -> _Plan:
    """Load the config and the data, size the run, and find the checkpoint to resume from
    (refused when it was written with another config)."""
    from affectgpt.paths import resolve_config  # a packaged config's bare name works too
    from affectgpt.train.env import prepare_distributed_env

    config_path, data_dir, out_dir = resolve_config(config_path), Path(data_dir), Path(out_dir)
    config = load_config(config_path)
    train_cfg = config.train
    rank, world = prepare_distributed_env()
    data = load_caption_data(data_dir, *config.modality_dims())
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
    n_micro_per_epoch = _micro_batches_per_epoch(train_cfg, n_micro_per_pass, world)
    total_steps = train_cfg.max_steps or (train_cfg.epochs * n_micro_per_epoch) // accum

    recover(out_dir)  # finish or undo a publication a kill interrupted (affectgpt.publish)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoints_dir = out_dir / CHECKPOINTS_DIR
    checkpoints_dir.mkdir(exist_ok=True)
    latest = ckpt.latest_checkpoint(checkpoints_dir) if resume else None
    if latest is not None and ckpt.read_state(latest).get("config") != _config_fingerprint(config):
        raise ConfigError(f"{latest}: this checkpoint was written with a different config than {config_path}; "
                          "use a new --out folder, or --no-resume to start over")
    return _Plan(config_path=config_path, config=config, data=data, train_samples=train_samples,
                 val_samples=val_samples, rank=rank, world=world, n_micro_per_epoch=n_micro_per_epoch,
                 total_steps=total_steps, out_dir=out_dir, checkpoints_dir=checkpoints_dir, latest=latest)


def _micro_batches_per_epoch(train_cfg, n_micro_per_pass: int, world: int) -> int:
    """Micro-batches each process runs per epoch: one pass, or `iters_per_epoch`; under
    `batch_policy: per-rank` those iterations are the one-GPU count, shared by the ranks, so an
    epoch draws the same number of samples on any number of GPUs."""
    if not train_cfg.iters_per_epoch:
        return n_micro_per_pass
    if train_cfg.batch_policy == "per-rank":
        return max(1, -(-train_cfg.iters_per_epoch // world))
    return train_cfg.iters_per_epoch


def _start_engine(plan: _Plan) -> _Live:
    """The tokenizer (trained here, or the one the checkpoint saved), the model inside a
    DeepSpeed engine, and the training state, restored from the checkpoint when resuming."""
    import deepspeed

    from affectgpt.model.batching import Batcher
    from affectgpt.model.build import build_model, build_tokenizer
    from affectgpt.model.tokenizer import load_tokenizer_dir
    from affectgpt.train.ds_config import build_optimizer, deepspeed_config
    from affectgpt.train.extensions import prepare_deepspeed_ops

    config, train_cfg, latest = plan.config, plan.config.train, plan.latest
    tokenizer_dir = plan.checkpoints_dir / TOKENIZER_DIR
    if latest is not None and tokenizer_dir.is_dir():
        tokenizer = load_tokenizer_dir(tokenizer_dir)
    else:
        tokenizer = build_tokenizer(config, corpus_texts(plan.train_samples))  # deterministic: same on every rank
        if plan.is_main:
            tokenizer.save_pretrained(str(tokenizer_dir))
    tokenizer.padding_side = "right"

    torch.manual_seed(train_cfg.seed)
    model = build_model(config, tokenizer)
    named_trainable = [(name, param) for name, param in model.named_parameters() if param.requires_grad]
    trainable = [param for _, param in named_trainable]
    optimizer, scheduler = build_optimizer(train_cfg, named_trainable, plan.total_steps)
    ds_config = deepspeed_config(train_cfg, plan.world, on_gpu=torch.cuda.is_available())
    prepare_deepspeed_ops()  # nothing compiles at training time (the image has no compiler)
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=trainable, optimizer=optimizer,
                                           lr_scheduler=scheduler, config=ds_config)
    batcher = Batcher(model, tokenizer, train_cfg.max_length)

    state: dict[str, Any] = {"global_step": 0, "micro_step": 0, "global_samples": 0, "best_val_loss": None,
                             "best_step": None, "val_history": [], "train_losses": [], "mlflow_run_id": None,
                             "truncations": {}, "config": _config_fingerprint(config)}
    best_state = None
    if latest is not None:
        state, best_state = ckpt.load_checkpoint(latest, engine, scheduler, plan.rank)
    return _Live(tokenizer=tokenizer, engine=engine, scheduler=scheduler, batcher=batcher, ds_config=ds_config,
                 state=state, best_state=best_state, truncations=Counter(state["truncations"]))


@contextmanager
def _tracking(plan: _Plan, state: dict[str, Any]) -> Iterator[_Tracker]:
    """The MLflow run (rank 0 only): continued when resuming, else started. It ends FAILED on an
    error, KILLED when the process is stopped (SIGTERM or Ctrl-C: `affectgpt.signals`), else
    with the tracker's `end_status` (KILLED for a planned interruption)."""
    if not plan.is_main:
        yield _Tracker()
        return
    import mlflow

    from affectgpt.train.tracking import setup_experiment

    experiment_id = setup_experiment(plan.config.train.mlflow_experiment)
    with stop_on_signals():
        run = mlflow.start_run(run_id=state["mlflow_run_id"]) if state["mlflow_run_id"] else \
            mlflow.start_run(experiment_id=experiment_id, run_name=f"{plan.config.name}-{plan.out_dir.name}")
        state["mlflow_run_id"] = run.info.run_id
        tracker = _Tracker(mlflow, run.info.run_id)
        try:
            yield tracker
        except BaseException as error:
            mlflow.end_run(status=run_status(error))
            raise
        finally:
            if mlflow.active_run() is not None:
                mlflow.end_run(status=tracker.end_status)


def _log_run_start(plan: _Plan, live: _Live, tracker: _Tracker) -> None:
    """A new run logs its parameters, config and the untrained validation loss (the baseline
    every later one is compared with); a resumed one says where it resumed from."""
    from affectgpt.train.tracking import flatten

    if plan.latest is not None:
        tracker.set_tag("resumed_from", plan.latest.name)
        return
    tracker.log_params(flatten("", plan.config.model_dump(mode="json")))
    tracker.log_params({"data.records": str(plan.data.records_path), "data.train": len(plan.train_samples),
                        "data.val": len(plan.val_samples), "data.missing_features": plan.data.missing_features,
                        "deepspeed.world_size": plan.world, "train.total_steps": plan.total_steps})
    tracker.log_artifact(str(plan.config_path), artifact_path="config")
    if plan.val_samples:
        initial_val = validation_loss(live.engine, live.batcher, plan.val_samples, plan.config.train.micro_batch_size)
        live.state["val_history"].append({"step": 0, "epoch": 0, "val_loss": initial_val})
        tracker.log_metric("val_loss", initial_val, step=0)


def _train_loop(plan: _Plan, live: _Live, tracker: _Tracker, stop_after_steps: int | None, progress: bool) -> bool:
    """Optimizer steps until `total_steps` (True) or a planned stop after `stop_after_steps`
    (False); each step logs its loss, and validates and checkpoints when due."""
    accum, state = plan.config.train.grad_accumulation, live.state
    with step_progress("train", plan.total_steps, unit="step", initial=state["global_step"],
                       enabled=progress and plan.is_main) as bar:
        step_losses: list[float] = []
        step_tokens, step_started = 0, time.perf_counter()
        live.engine.train()
        while state["global_step"] < plan.total_steps:
            loss, tokens = _micro_step(plan, live)
            step_losses.append(loss)
            step_tokens += tokens
            if state["micro_step"] % accum:
                continue
            state["global_step"] = step = int(live.engine.global_steps)
            train_loss = sum(step_losses) / len(step_losses)
            state["train_losses"].append(train_loss)
            tracker.log_metrics({"train_loss": train_loss, "lr": live.scheduler.get_last_lr()[0]}, step=step)
            _report_step(bar, train_loss, step_tokens * plan.world, time.perf_counter() - step_started)
            step_losses, step_tokens = [], 0
            if not _end_of_step(plan, live, tracker, step, stop_after_steps):
                return False
            step_started = time.perf_counter()  # validation and checkpoints are not training throughput
    return True


def _micro_step(plan: _Plan, live: _Live) -> tuple[float, int]:
    """Forward and backward on this rank's next micro-batch of the stream (DeepSpeed steps the
    optimizer every `grad_accumulation` of these); returns its loss and its token count."""
    train_cfg, state = plan.config.train, live.state
    data_pass, chunk = stream_chunk(len(plan.train_samples), train_cfg.micro_batch_size, train_cfg.seed,
                                    state["micro_step"], plan.rank, plan.world)
    samples = [plan.train_samples[i] for i in chunk]
    types, answers = _targets(samples, train_cfg.seed, data_pass)
    batch = live.batcher.training_batch([s.subtitle for s in samples], types, answers, stack_features(samples))
    live.truncations.update(batch.truncations)
    tokens = int(batch.attention_mask.sum())
    batch = batch.to(live.engine.device)
    out = live.engine(input_ids=batch.input_ids, attention_mask=batch.attention_mask, features=batch.features,
                      labels=batch.labels)
    live.engine.backward(out.loss)
    live.engine.step()
    state["micro_step"] += 1
    state["global_samples"] += len(samples) * plan.world
    return float(out.loss.detach().float()), tokens


def _report_step(bar: StepProgress, train_loss: float, tokens: int, seconds: float) -> None:
    """One step on the progress display. Every rank takes equal-size micro-batches, so rank 0's
    token count times the world size is the job's rate."""
    bar.update(1, loss=train_loss, **{"tokens/s": tokens / seconds if seconds > 0 else 0.0})


def _end_of_step(plan: _Plan, live: _Live, tracker: _Tracker, step: int, stop_after_steps: int | None) -> bool:
    """Validate at an epoch end, every `eval_every` steps and at the last step (keeping the best
    weights); checkpoint every `checkpoint_every` steps, at the last step and before a planned
    stop. Returns False when the run stops here."""

    train_cfg, state, n_epoch = plan.config.train, live.state, plan.n_micro_per_epoch
    epoch = (state["micro_step"] - 1) // n_epoch  # the epoch of the step's micro-batches
    epoch_done = state["micro_step"] // n_epoch > (state["micro_step"] - train_cfg.grad_accumulation) // n_epoch
    final = step >= plan.total_steps
    stopping = stop_after_steps is not None and step >= stop_after_steps and not final
    periodic_eval = train_cfg.eval_every is not None and step % train_cfg.eval_every == 0
    if plan.val_samples and (epoch_done or final or periodic_eval):
        val_loss = validation_loss(live.engine, live.batcher, plan.val_samples, train_cfg.micro_batch_size)
        state["val_history"].append({"step": step, "epoch": epoch, "val_loss": val_loss})
        tracker.log_metric("val_loss", val_loss, step=step)
        if state["best_val_loss"] is None or val_loss < state["best_val_loss"]:
            state["best_val_loss"], state["best_step"] = val_loss, step
            live.best_state = ckpt.live_trainable(live.engine)
    if step % train_cfg.checkpoint_every == 0 or final or stopping:
        state["truncations"] = dict(live.truncations)
        ckpt.save_checkpoint(plan.checkpoints_dir / f"step-{step:08d}", live.engine, live.scheduler, state,
                             live.best_state, rank=plan.rank)
        if plan.is_main:
            ckpt.prune_checkpoints(plan.checkpoints_dir, train_cfg.keep_checkpoints)
    return not stopping


def _publish_model(plan: _Plan, live: _Live, tracker: _Tracker, result: TrainResult, started: float) -> None:
    """Save the chosen weights (best on validation, or the last step) as `model/` and write the
    manifest, staged together and published with renames; log both to MLflow."""
    from affectgpt.model.build import build_model
    from affectgpt.model.pyfunc import log_model_to_mlflow
    from affectgpt.model.store import save_model_dir

    config, train_cfg, state, data = plan.config, plan.config.train, live.state, plan.data
    use_best = live.best_state is not None and train_cfg.select == "best-val"
    final_state = live.best_state if use_best else ckpt.live_trainable(live.engine)
    chosen = ("best validation loss" if use_best else
              "last step (train.select: last)" if train_cfg.select == "last" else "last step (no validation split)")
    # model/ and manifest.json are one result: staged together and published with renames.
    with staged_output(plan.out_dir, owned=(MODEL_DIR, MANIFEST_NAME)) as stage:
        staged_model = stage / MODEL_DIR
        source_model = build_model(config, live.tokenizer) if config.llm.init == "random" else live.engine.module
        metadata = {"global_step": state["global_step"],
                    "chosen_step": state["best_step"] if use_best else state["global_step"],
                    "chosen_by": chosen, "best_val_loss": state["best_val_loss"], "mlflow_run_id": state["mlflow_run_id"]}
        save_model_dir(source_model, live.tokenizer, staged_model, trainable=final_state, metadata=metadata)
        fault_point("train:wrote:model")
        tracker.log_metrics({"truncated_subtitles": live.truncations["subtitle_truncated"],
                             "truncated_answers": live.truncations["answer_truncated"],
                             "clips_without_features": data.missing_features, "skipped_records": len(data.skipped)})
        if state["best_val_loss"] is not None:
            tracker.log_metrics({"best_val_loss": state["best_val_loss"], "best_step": state["best_step"]})
        model_info = log_model_to_mlflow(staged_model, artifact_path="model")
        result.model_dir, result.mlflow_model_uri = plan.out_dir / MODEL_DIR, model_info.model_uri
        manifest = _manifest(plan, live, result, metadata, started)
        tracker.log_artifact(str(manifest.write(stage)))
    result.manifest_path = plan.out_dir / MANIFEST_NAME


def _manifest(plan: _Plan, live: _Live, result: TrainResult, metadata: dict[str, Any], started: float) -> StepManifest:
    """The step manifest: inputs by hash, the config, the split counts and how the model was chosen."""
    data, state, run_id = plan.data, live.state, live.state["mlflow_run_id"]
    return StepManifest(
        step=STEP_NAME,
        inputs={"config": hash_file(plan.config_path), "records": hash_file(data.records_path),
                **({"features": hash_tree(data.features_dir)} if data.features_dir else {})},
        parameters=plan.config.model_dump(mode="json"),
        kept=len(plan.train_samples) + len(plan.val_samples),
        skipped=data.skipped,
        outputs={"model_dir": str(result.model_dir), "mlflow_run_id": run_id,
                 "mlflow_model_uri": result.mlflow_model_uri, "mlflow_run_model_uri": f"runs:/{run_id}/model"},
        timings_s={"total": round(time.perf_counter() - started, 3)},
        extra={
            "mlflow_run_id": run_id, "global_step": state["global_step"],
            "total_steps": plan.total_steps, "chosen_step": metadata["chosen_step"], "chosen_by": metadata["chosen_by"],
            "best_val_loss": state["best_val_loss"], "val_history": state["val_history"],
            "final_train_loss": state["train_losses"][-1] if state["train_losses"] else None,
            "split_counts": {"train": len(plan.train_samples), "val": len(plan.val_samples),
                             "test_unused": len(data.split("test"))},
            "split_source": data.split_source, "clips_without_features": data.missing_features,
            "truncations": dict(live.truncations), "resumed_from": result.resumed_from, "world_size": plan.world,
            "deepspeed": live.ds_config,
        },
    )
