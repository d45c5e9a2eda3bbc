"""The shape of a training job (nodes x GPUs per node) that training can run: one rule, checked
before anything is emitted or submitted, by `cluster train-job`, `pipeline submit`/`schedule`,
the train step's k8s backend and `cluster preflight` alike.

1. A pod asks for at most the GPUs one node of the node pool has, and a divisor of them (1, 2,
   4 or 8 on 8-GPU nodes), so the job's pods fill whole nodes: a 5-GPU pod on an 8-GPU node
   strands 3 GPUs that no rank of the job can use. The Training Operator puts
   each rank group in one pod, and one pod on one node: a pod asking for 12 GPUs on 8-GPU nodes
   is never scheduled, and the job waits Pending forever while it holds its quota. The pool's
   GPUs per node come from the platform ConfigMap (`AFFECTGPT_NODE_GPUS`, infra/steps), which
   every step pod, the nightly run and the training pods get; `--node-gpus` overrides it; 8
   (the gpu-cluster overlay's nodes, infra/examples/pytorchjob.yaml) without either.
2. The model config trains at the job's world size (nodes x GPUs per node, one rank per GPU,
   one per pod on CPU): `check_global_batch`, what DeepSpeed's config is built from, passes.
   Otherwise every rank raises ConfigError at its first step, after the GPUs were allocated.

    problems = job_shape_problems(nodes=3, gpus_per_node=5, node_gpus=8, train=config.train)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from affectgpt.errors import BadInput

NODE_GPUS_ENV = "AFFECTGPT_NODE_GPUS"
DEFAULT_NODE_GPUS = 8
# Where a command's node GPUs come from, as its refusals say.
NODE_GPUS_SOURCES = f"the pool's GPUs per node: --node-gpus, else ${NODE_GPUS_ENV}, else {DEFAULT_NODE_GPUS}"


def node_gpus_from_env(environ: Mapping[str, str] | None = None) -> int:
    """The node pool's GPUs per node from `$AFFECTGPT_NODE_GPUS` (the platform ConfigMap's key),
    else DEFAULT_NODE_GPUS. BadInput when it is set to anything but a whole number >= 0."""
    raw = (os.environ if environ is None else environ).get(NODE_GPUS_ENV, "").strip()
    if not raw:
        return DEFAULT_NODE_GPUS
    return parse_node_gpus(raw, NODE_GPUS_ENV)


def parse_node_gpus(raw: Any, where: str) -> int:
    """A node's GPU count as written in `where` (an env var, a ConfigMap key): a whole number >= 0."""
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise BadInput(f"{where}={raw!r}: the GPUs of one node must be a whole number (e.g. 8)") from None
    if value < 0:
        raise BadInput(f"{where}={value}: the GPUs of one node cannot be negative")
    return value


def ranks(nodes: int, gpus_per_node: int) -> int:
    """The job's world size: one rank per GPU, one per pod on CPU (as `nprocPerNode` says)."""
    return nodes * max(gpus_per_node, 1)


def gpus_per_node_problem(gpus_per_node: int, node_gpus: int) -> str | None:
    """Why a pod of `gpus_per_node` GPUs cannot run on the pool, or runs on it badly, naming
    both numbers (None: it can)."""
    if gpus_per_node > node_gpus:
        return (f"{gpus_per_node} GPUs per node, but a node of the pool has {node_gpus}: no node can schedule "
                f"the pod (it stays Pending); ask for at most {node_gpus} per node and more nodes")
    if gpus_per_node and node_gpus and node_gpus % gpus_per_node:
        fits = [n for n in range(1, node_gpus + 1) if node_gpus % n == 0]
        return (f"{gpus_per_node} GPUs per node on nodes of {node_gpus}: each node would keep "
                f"{node_gpus % gpus_per_node} GPU(s) no rank of the job can use, and its ranks would cross the "
                f"node's GPU groups; ask for one of {', '.join(map(str, fits))} per node")
    return None


def world_size_problem(train: Any, nodes: int, gpus_per_node: int) -> str | None:
    """Why the config's batch does not train at this world size (None: it does)."""
    from affectgpt.model.config import ConfigError, check_global_batch

    per_pod = max(gpus_per_node, 1)
    try:
        check_global_batch(train, ranks(nodes, gpus_per_node))
    except ConfigError as exc:
        return (f"{nodes} node(s) x {per_pod} rank(s) = {ranks(nodes, gpus_per_node)} rank(s): {exc} "
                "(DeepSpeed's train_batch_size is micro batch x accumulation x ranks)")
    return None


def job_shape_problems(nodes: int, gpus_per_node: int, node_gpus: int, train: Any | None = None) -> list[str]:
    """Every way the shape breaks the rule (module doc); the world size only when the model
    config's `train` section is at hand."""
    problems = [gpus_per_node_problem(gpus_per_node, node_gpus)]
    if train is not None:
        problems.append(world_size_problem(train, nodes, gpus_per_node))
    return [problem for problem in problems if problem]
