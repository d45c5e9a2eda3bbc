"""Process setup for DeepSpeed: one CPU process works without a launcher.

DeepSpeed falls back to MPI discovery (and fails without mpi4py) unless the torch.distributed
variables are set, so a single process gets RANK=0/WORLD_SIZE=1 and a free local port.
"""

from __future__ import annotations

import os
import socket


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_distributed_env() -> tuple[int, int]:
    """Fill in the launcher variables where absent; returns (rank, world_size)."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
