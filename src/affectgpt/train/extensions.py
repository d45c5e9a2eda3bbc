"""Compiled ops around DeepSpeed: none is built at training time, and a dead build never blocks one.

DeepSpeed's CPU accelerator JIT-compiles its shared-memory allreduce (`deepspeed_shm_comm`,
deepspeed/comm/torch.py `build_shm_op`) with g++ and ninja on the first `initialize` of every
fresh machine: 20 s on a quiet one, 25 min on a loaded 2-core one. It only speeds up CPU
collectives between processes of one host, which gloo also does, and the CUDA accelerator has no
such op, so `avoid_shm_comm_build` tells DeepSpeed the op is unavailable (its own compatibility
table, probed once per process) and the runtime image needs no compiler. A prebuilt op (installed
with `DS_BUILD_SHM_COMM=1`) is left alone.

torch's extension builder serialises builds with a `lock` file (`torch.utils.file_baton.FileBaton`)
and waits, with no timeout, while one exists; a build killed mid-way leaves it behind, so every
later build of that op waits forever. `clear_stale_locks` removes a lock no live process holds
open (the builder keeps the file descriptor open until it releases the lock). It looks at the
processes this one can see, which is every builder of an extension folder that belongs to this
machine or pod (torch keeps it under `TORCH_EXTENSIONS_DIR` or `~/.cache/torch_extensions`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

SHM_COMM_OP = "deepspeed_shm_comm"


def extensions_root() -> Path:
    """Where torch builds extensions: `TORCH_EXTENSIONS_DIR`, else its per-user cache folder."""
    root = os.environ.get("TORCH_EXTENSIONS_DIR")
    if root:
        return Path(root)
    from torch.utils.cpp_extension import get_default_build_root

    return Path(get_default_build_root())


def lock_holders(lock: Path, proc: Path = Path("/proc")) -> set[int]:
    """Ids of the visible processes with `lock` open."""
    target = os.path.realpath(lock)
    holders: set[int] = set()
    for fd_dir in proc.glob("[0-9]*/fd"):
        try:
            links = list(fd_dir.iterdir())
        except OSError:  # gone, or another user's process
            continue
        for link in links:
            try:
                if os.readlink(link) == target:
                    holders.add(int(fd_dir.parent.name))
                    break
            except OSError:
                continue
    return holders


def clear_stale_locks(root: Path | None = None) -> list[Path]:
    """Remove each extension build `lock` under `root` (two levels: torch nests a
    `py311_cpu`-style folder when TORCH_EXTENSIONS_DIR is unset) that no live process holds.
    Returns the removed paths, each also logged as a warning."""
    root = extensions_root() if root is None else root
    removed: list[Path] = []
    for lock in [*root.glob("*/lock"), *root.glob("*/*/lock")]:
        if lock_holders(lock):
            continue
        try:
            lock.unlink()
        except FileNotFoundError:  # released meanwhile
            continue
        log.warning("removed %s: a torch extension build left it when it was killed, and every later "
                    "build of that op would have waited on it forever", lock)
        removed.append(lock)
    return removed


def avoid_shm_comm_build() -> bool:
    """Keep DeepSpeed from compiling its shared-memory CPU allreduce (collectives go through
    gloo instead). True when the op was switched off, False when a prebuilt copy is installed."""
    import deepspeed.ops
    from deepspeed.git_version_info import installed_ops

    if installed_ops.get(SHM_COMM_OP, False):
        return False
    deepspeed.ops.__compatible_ops__[SHM_COMM_OP] = False
    return True


def prepare_deepspeed_ops() -> None:
    """Before `deepspeed.initialize`: no shm op to build, and no dead build's lock to wait on."""
    clear_stale_locks()
    avoid_shm_comm_build()
