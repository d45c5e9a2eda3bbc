"""The rehearsal's surroundings, started for a test: a real MLflow server on 127.0.0.1 (the
stand-in for the cluster's `mlflow` Service), the stand-in API server, the cluster's objects
(the rendered overlay, what KFP installs, the Secrets an operator creates) and the folders that
stand for the PVCs and the object store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import pod as sandbox
from .kfp_run import World
from .kube import Cluster, StandInApiServer, render_overlay

# What a KFP standalone install creates that our overlay relies on: the namespace its step pods
# run in and its runner ServiceAccount (our Role is bound to it; KFP's own roles are not modelled).
KFP_STANDALONE = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}},
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "pipeline-runner", "namespace": "kubeflow"}},
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def mlflow_server(root: Path, timeout_s: float = 180) -> Iterator[str]:
    """`mlflow server` with a sqlite store and proxied artifacts (clients upload through it, so no
    folder is shared with the pods); yields its http://127.0.0.1:PORT address."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{address}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start:\n{(root / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield address
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@contextmanager
def rehearsal_world(root: Path, runtime: sandbox.ImageRuntime, *, overlay: Path, pvcs: dict[str, Path],
                    services: dict[str, str], extra_objects: list[dict] = (), namespace: str = "kubeflow",
                    service_account: str = "pipeline-runner", objects: list[dict] | None = None) -> Iterator[World]:
    """A World on the rendered `overlay` (or on `objects`, already rendered) plus `extra_objects`
    (KFP's, the operator-created Secrets), with the stand-in API server running."""
    rendered = render_overlay(overlay) if objects is None else objects
    cluster = Cluster([*rendered, *KFP_STANDALONE, *extra_objects])
    world_holder: list[World] = []

    def start_pod(job, replica_type, index, pod_name):
        return world_holder[0].start_job_pod(job, replica_type, index, pod_name)

    with StandInApiServer(cluster, root / "apiserver", root / "job-logs", start_pod) as api:
        world = World(runtime=runtime, cluster=cluster, api=api, root=root, pvcs=pvcs, services=services,
                      namespace=namespace, service_account=service_account)
        world_holder.append(world)
        yield world
