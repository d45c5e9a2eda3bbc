"""Training checkpoints that resume exactly and load with `torch.load(weights_only=True)`.

DeepSpeed's own checkpoint loader unpickles arbitrary objects, so we keep our own layout:
trainable weights (safetensors), the optimizer state with DeepSpeed's non-tensor helpers
(loss scaler, slice mappings) taken out and re-supplied from the live engine on load, the
scheduler, the RNG states and a JSON trainer state (step, data position, best-on-val).

A checkpoint folder is written under a temporary name and renamed when whole; its last file,
`checksums.json`, holds the size and SHA-256 of every other file. Before resuming, each
checkpoint is verified (checksums, safetensors headers, the trainer state) newest first, and
the newest intact one is used; the damaged ones are named in a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from affectgpt.model.config import ConfigError
from affectgpt.model.safetensors_file import safetensors_problem

TRAINABLE_FILE = "trainable.safetensors"
BEST_FILE = "best_trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
SCHEDULER_FILE = "scheduler.pt"
RNG_FILE = "rng.pt"
STATE_FILE = "trainer_state.json"
CHECKSUM_FILE = "checksums.json"
logger = logging.getLogger(__name__)
_SCALARS = (int, float, bool, str, type(None))


def _is_plain(value: Any) -> bool:
    """True when weights_only unpickling can restore `value` (tensors, numbers, containers)."""
    if isinstance(value, torch.Tensor) or type(value) in _SCALARS:  # exact types: an IntEnum is not plain
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(item) for item in value)
    if isinstance(value, dict):
        return all(type(key) in (str, int) and _is_plain(item) for key, item in value.items())
    return False


def live_trainable(engine) -> dict[str, torch.Tensor]:
    """Trainable module weights as CPU tensors (gathered first under ZeRO-3)."""
    module = engine.module
    params = [(name, param) for name, param in module.named_parameters() if param.requires_grad]
    if _is_zero3(engine):
        import deepspeed

        with deepspeed.zero.GatheredParameters([param for _, param in params], modifier_rank=None):
            return {name: param.detach().cpu().clone().contiguous() for name, param in params}
    return {name: param.detach().cpu().clone().contiguous() for name, param in params}


def _is_zero3(engine) -> bool:
    return getattr(engine, "zero_optimization_stage", lambda: 0)() == 3


def _load_live_trainable(engine, state: dict[str, torch.Tensor], source: str) -> None:
    """Copy full trainable weights into the module. Under ZeRO-3 each parameter is a shard, so
    it is gathered, written on rank 0 and re-partitioned to every rank on leaving the context."""
    from affectgpt.model.store import load_trainable

    if not _is_zero3(engine):
        load_trainable(engine.module, state, source=source)
        return
    import deepspeed

    params = [param for param in engine.module.parameters() if param.requires_grad]
    with deepspeed.zero.GatheredParameters(params, modifier_rank=0):
        load_trainable(engine.module, state, source=source)


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def barrier() -> None:
    import torch.distributed as dist

    if _world_size() > 1:
        dist.barrier()


def _rank_file(name: str, rank: int) -> str:
    stem, suffix = name.rsplit(".", 1)
    return f"{stem}-rank{rank}.{suffix}"


def save_checkpoint(directory: Path, engine, scheduler, state: dict[str, Any],
                    best_trainable: dict[str, torch.Tensor] | None, rank: int = 0) -> Path:
    """Write a checkpoint atomically (to a temp folder, then renamed). Each rank writes its own
    optimizer partition and RNG state; rank 0 writes the shared files and renames."""
    tmp = directory.with_name(directory.name + ".tmp")
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    optimizer_state = engine.optimizer.state_dict()
    kept = {key: value for key, value in optimizer_state.items() if _is_plain(value)}
    torch.save(kept, tmp / _rank_file(OPTIMIZER_FILE, rank))
    rng = {"torch": torch.get_rng_state(), "python": _python_rng_as_plain()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    torch.save(rng, tmp / _rank_file(RNG_FILE, rank))
    trainable = live_trainable(engine)  # a collective under ZeRO-3: every rank takes part
    if rank == 0:
        save_file(trainable, str(tmp / TRAINABLE_FILE))
        if best_trainable is not None:
            save_file(best_trainable, str(tmp / BEST_FILE))
        torch.save(scheduler.state_dict(), tmp / SCHEDULER_FILE)
        state = {**state, "optimizer_keys_from_engine": sorted(set(optimizer_state) - set(kept))}
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True))
    barrier()
    if rank == 0:
        _write_checksums(tmp)  # last: a folder with a valid checksums.json holds every file whole
        from affectgpt.publish import fault_point

        fault_point(f"checkpoint:{directory.name}:checksummed")
        shutil.rmtree(directory, ignore_errors=True)
        tmp.rename(directory)
    barrier()
    return directory


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_checksums(directory: Path) -> None:
    entries = {path.name: {"size": path.stat().st_size, "sha256": _sha256(path)}
               for path in sorted(directory.iterdir()) if path.is_file() and path.name != CHECKSUM_FILE}
    tmp = directory / (CHECKSUM_FILE + ".tmp")
    tmp.write_text(json.dumps(entries, indent=2, sort_keys=True))
    tmp.replace(directory / CHECKSUM_FILE)


def verify_checkpoint(directory: Path) -> str | None:
    """None when `directory` is a whole checkpoint, else what is wrong with it."""
    state_path, checksum_path = directory / STATE_FILE, directory / CHECKSUM_FILE
    if not checksum_path.is_file():
        return f"no {CHECKSUM_FILE} (the write did not finish)"
    try:
        expected = json.loads(checksum_path.read_text())
    except ValueError as exc:
        return f"{CHECKSUM_FILE} is not valid JSON ({exc})"
    for name, entry in sorted(expected.items()):
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != entry["size"]:
            return f"{name} has {path.stat().st_size} bytes, {entry['size']} were written"
    for name in (TRAINABLE_FILE, BEST_FILE):
        if (directory / name).is_file() and (problem := safetensors_problem(directory / name)):
            return f"{name}: {problem}"
    for name, entry in sorted(expected.items()):
        if _sha256(directory / name) != entry["sha256"]:
            return f"{name} does not match its checksum (changed after it was written)"
    try:
        json.loads(state_path.read_text())
    except (OSError, ValueError) as exc:
        return f"{STATE_FILE} unreadable ({exc})"
    if TRAINABLE_FILE not in expected:
        return f"{TRAINABLE_FILE} missing from the checkpoint"
    return None


def _python_rng_as_plain() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def read_state(directory: Path) -> dict[str, Any]:
    return json.loads((directory / STATE_FILE).read_text())


def load_checkpoint(directory: Path, engine, scheduler,
                    rank: int = 0) -> tuple[dict[str, Any], dict[str, torch.Tensor] | None]:
    """Restore weights, optimizer, scheduler and RNG into a freshly initialised engine."""
    state = read_state(directory)
    _load_live_trainable(engine, load_file(str(directory / TRAINABLE_FILE)), str(directory))
    live = engine.optimizer.state_dict()
    per_rank = []
    for index in range(len(list(directory.glob(_rank_file(OPTIMIZER_FILE, 0).replace("rank0", "rank*"))))):
        saved = torch.load(directory / _rank_file(OPTIMIZER_FILE, index), weights_only=True, map_location="cpu")
        for key in state.get("optimizer_keys_from_engine", []):
            saved[key] = live[key]
        per_rank.append(saved)
    world = _world_size()
    if len(per_rank) != world:  # optimizer shards and the data position are per process
        from affectgpt.model.config import ConfigError

        raise ConfigError(f"{directory}: written by {len(per_rank)} process(es), resumed with {world}; "
                          "resume with the same process count, or use --no-resume")
    saved = per_rank[rank]
    if isinstance(engine.optimizer, torch.optim.Optimizer) and not hasattr(engine.optimizer, "loss_scaler"):
        engine.optimizer.load_state_dict(saved)
    elif "single_partition_of_fp32_groups" in saved:  # ZeRO 1/2: DeepSpeed indexes the list by rank
        engine.optimizer.load_state_dict(per_rank, load_optimizer_states=True, load_from_fp32_weights=True)
    elif "fp32_flat_groups" in saved:  # ZeRO-3: this rank's fp32 master shard and its AdamW moments
        engine.optimizer.load_state_dict(per_rank, load_optimizer_states=True)
    else:
        engine.optimizer.load_state_dict(saved)
    scheduler.load_state_dict(torch.load(directory / SCHEDULER_FILE, weights_only=True))
    rng = torch.load(directory / _rank_file(RNG_FILE, rank), weights_only=True)
    torch.set_rng_state(rng["torch"])
    version, internal, gauss = rng["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    engine.global_steps = state["global_step"]
    engine.global_samples = state["global_samples"]
    engine.micro_steps = state["micro_step"]
    best = load_file(str(directory / BEST_FILE)) if (directory / BEST_FILE).is_file() else None
    return state, best


class CheckpointError(ConfigError):
    """No checkpoint in the folder can be resumed; the message lists what is wrong with each."""


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest intact checkpoint (see `verify_checkpoint`); damaged newer ones are named in a
    warning. None when there is no checkpoint; CheckpointError when none of them is intact."""
    candidates = sorted((p for p in checkpoints_dir.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp")),
                        reverse=True)
    rejected: list[str] = []
    for candidate in candidates:
        problem = verify_checkpoint(candidate)
        if problem is None:
            if rejected:
                logger.warning("skipping damaged checkpoint(s) %s; resuming from %s", "; ".join(rejected),
                               candidate.name)
            return candidate
        rejected.append(f"{candidate.name}: {problem}")
    if rejected:
        raise CheckpointError(f"{checkpoints_dir}: no intact checkpoint to resume ({'; '.join(rejected)}); "
                     "use --no-resume to start over, or restore a checkpoint")
    return None


def prune_checkpoints(checkpoints_dir: Path, keep: int) -> None:
    """Keep the newest `keep` checkpoints; leftovers of interrupted writes (`*.tmp`) go too."""
    steps = sorted(p for p in checkpoints_dir.glob("step-*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in steps[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in checkpoints_dir.glob("step-*.tmp"):
        shutil.rmtree(leftover, ignore_errors=True)
