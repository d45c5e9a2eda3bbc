"""Train in the step's own process (`step`) or as a PyTorchJob on the cluster (`k8s`), same
inputs and same output folder either way, so the `train` pipeline step has one call for both.

For `k8s` the step's files are local to its pod, and the training pods cannot see them: the
data and config are staged on the shared volume (mounted in both), the job trains there, and
the model folder is copied back. The job name derives from the config and data content, so a
retried step re-attaches to the job already running instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from affectgpt.cluster.job_shape import job_shape_problems, node_gpus_from_env
from affectgpt.cluster.pytorchjob import RUN_LABEL, TrainJobSpec, build_pytorchjob
from affectgpt.image_tag import platform_image
from affectgpt.manifest import hash_file, hash_tree
from affectgpt.signals import scratch_dir
from affectgpt.train import CHECKPOINTS_DIR

Backend = Literal["step", "k8s"]


class K8sTrainOptions(BaseModel):
    """Cluster settings for `backend="k8s"`. The job's size defaults to the gpu-cluster overlay's
    (2 pods x 8 GPUs, 32 CPUs, 256 Gi memory, 512 Gi limit, 64 Gi shared memory): what 8 ranks
    of a 7B model need (`affectgpt cluster preflight` checks it against the model)."""

    namespace: str = Field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "affectgpt"),
                           description="where the job runs: the step pod's own namespace when it is known")
    image: str = Field(default_factory=platform_image, description="what the job's pods run")
    nodes: int = Field(2, ge=1)
    gpus_per_node: int = Field(8, ge=0)
    node_gpus: int = Field(default_factory=lambda: node_gpus_from_env(), ge=0,
                           description="GPUs of one node of the pool: $AFFECTGPT_NODE_GPUS (the platform "
                                       "ConfigMap), else 8; gpus_per_node may not exceed it")
    cpu: str = "32"
    memory: str = "256Gi"
    memory_limit: str = "512Gi"
    shm_size: str = "64Gi"
    shared_dir: str = Field("/data", description="where the shared volume is mounted in THIS process")
    pod_data_mount: str = Field("/data", description="where the same volume is mounted in the training pods")
    data_pvc: str = "affectgpt-data"
    models_pvc: str | None = "affectgpt-models"
    run_id: str = Field("", description="the pipeline run's id: a label on the job, so the run's exit "
                                        "handler can delete the jobs it left running")
    owner_pod: tuple[str, str] | None = Field(
        default_factory=lambda: (os.environ["POD_NAME"], os.environ["POD_UID"])
        if os.environ.get("POD_NAME") and os.environ.get("POD_UID") else None,
        description="(name, uid) of the step's pod: the job's owner, deleted with it")
    timeout_s: float = 48 * 3600
    poll_s: float = 15.0


@dataclass
class TrainOutcome:
    backend: str
    model_dir: Path
    job_name: str | None = None

    @property
    def manifest(self) -> dict:
        path = self.model_dir / "manifest.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def summary(self) -> dict[str, str]:
        """Flat strings for artifact metadata: backend, job, MLflow run id."""
        manifest = self.manifest
        run_id = manifest.get("extra", {}).get("mlflow_run_id") or manifest.get("outputs", {}).get("mlflow_run_id", "")
        return {"backend": self.backend, "job_name": self.job_name or "", "mlflow_run_id": str(run_id)}


def training_data_dir(dataset_dir: Path, features_dir: Path | None, into: Path) -> Path:
    """The folder `train_model` reads: the dataset's files plus `features/`, linked, not copied."""
    if features_dir is None:
        return dataset_dir
    into.mkdir(parents=True, exist_ok=True)
    for item in dataset_dir.iterdir():
        if item.name != "features":
            (into / item.name).symlink_to(item.resolve(), target_is_directory=item.is_dir())
    (into / "features").symlink_to(features_dir.resolve(), target_is_directory=True)
    return into


# What identifies a step's output folder without reading its bulk: its manifest (which names the
# step's inputs and, for the dataset, the sha256 of each table) and, for features, the index and
# feature table (a row per clip with the content key of its media and encoders).
IDENTITY_FILES = ("manifest.json", "index.parquet", "clip_features.parquet")


def _folder_digest(folder: Path) -> str:
    """A step's output folder by its identity files; a folder no step wrote (no manifest) by
    every byte. The packed features of 115k clips are never re-read on a retried attempt."""
    if not (folder / IDENTITY_FILES[0]).is_file():
        return hash_tree(folder, ignore=())
    digest = hashlib.sha256()
    for name in IDENTITY_FILES:
        if (folder / name).is_file():
            digest.update(name.encode())
            digest.update(hash_file(folder / name).encode())
    return digest.hexdigest()


def training_key(config_path: Path, data_dir: Path) -> str:
    """Content key of a training run: same config and data -> same job (a retried step
    re-attaches to it, or resumes its checkpoints)."""
    digest = hashlib.sha256()
    digest.update(hash_file(config_path).encode())
    for entry in sorted(data_dir.iterdir()):  # entries may be links into the step's inputs
        target = entry.resolve()
        digest.update(entry.name.encode())
        digest.update((_folder_digest(target) if target.is_dir() else hash_file(target)).encode())
    return digest.hexdigest()[:12]


def run_training_job(
    spec: TrainJobSpec,
    *,
    api_client=None,
    timeout_s: float = 48 * 3600,
    poll_s: float = 15.0,
    on_status: Callable | None = None,
    on_log: Callable[[str], None] | None = None,
):
    """Build, check, submit and follow one PyTorchJob; returns its final JobStatus."""
    from affectgpt.cluster.launcher import kube_api_client, submit_job, wait_for_job

    job = build_pytorchjob(spec)
    api_client = api_client or kube_api_client()
    submit_job(job, api_client)
    return wait_for_job(spec.name, spec.namespace, api_client, timeout_s=timeout_s, poll_s=poll_s,
                        on_status=on_status, on_log=on_log)


def train_on_backend(
    config_path: str | Path,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    features_dir: str | Path | None = None,
    backend: Backend = "step",
    k8s: K8sTrainOptions | None = None,
    api_client=None,
    echo: Callable[[str], None] = print,
) -> TrainOutcome:
    """Train and leave the model folder (with its manifest.json) in `out_dir`. `features_dir`
    (per-clip encoder features) joins the dataset as `features/` when given."""
    if backend not in ("step", "k8s"):
        raise ValueError(f"backend must be 'step' or 'k8s', got {backend!r}")
    from affectgpt.paths import resolve_config  # a packaged config's bare name works too

    config_path, out_dir = resolve_config(config_path), Path(out_dir)
    with scratch_dir("affectgpt-train-data-") as scratch:
        data_dir = training_data_dir(Path(data_dir), Path(features_dir) if features_dir else None,
                                     Path(scratch) / "data")
        if backend == "step":
            return _train_in_process(config_path, data_dir, out_dir, echo)
        return _train_on_cluster(config_path, data_dir, out_dir, k8s or K8sTrainOptions(), api_client, echo)


def _train_in_process(config_path: Path, data_dir: Path, out_dir: Path, echo: Callable[[str], None]) -> TrainOutcome:
    """Train in the workspace (`$AFFECTGPT_HOME/train-runs/<key>`, a volume in the cluster), not
    in the step's output folder: a pod that dies loses its outputs, while the checkpoints in the
    workspace let the retried step resume where the last one stopped."""
    from affectgpt.paths import workspace_dir
    from affectgpt.train.run import train_model

    stage = workspace_dir() / "train-runs" / training_key(config_path, data_dir)
    echo(f"training in {stage} (checkpoints stay there; a rerun resumes)")
    train_model(config_path, data_dir, stage / "model")
    _copy_model(stage / "model", out_dir)
    return TrainOutcome("step", out_dir)


def _copy_model(model_dir: Path, out_dir: Path) -> None:
    """The model folder without its checkpoints (what evaluation and registration read), published
    whole (affectgpt.publish): a kill mid-copy leaves no half model in the step's output."""
    from affectgpt.publish import staged_output

    with staged_output(out_dir) as stage:
        shutil.copytree(model_dir, stage, dirs_exist_ok=True, ignore=shutil.ignore_patterns(CHECKPOINTS_DIR))


def _train_on_cluster(config_path: Path, data_dir: Path, out_dir: Path, options: K8sTrainOptions,
                      api_client, echo: Callable[[str], None]) -> TrainOutcome:
    from affectgpt.errors import BadInput
    from affectgpt.model.config import load_config

    # The job's shape, before anything is staged or submitted (affectgpt.cluster.job_shape).
    problems = job_shape_problems(options.nodes, options.gpus_per_node, options.node_gpus,
                                  load_config(config_path).train)
    if problems:
        raise BadInput(f"PyTorchJob of {options.nodes} node(s) x {options.gpus_per_node} GPU(s) with "
                       f"{config_path.name}: " + "; ".join(problems))
    shared = Path(options.shared_dir)
    if not shared.is_dir():
        raise FileNotFoundError(
            f"{shared}: the shared data volume is not mounted here; the k8s backend stages data on it "
            "(mount the PVC, e.g. kfp.kubernetes.mount_pvc, or set shared_dir)")
    key = training_key(config_path, data_dir)
    stage = shared / "train-jobs" / key
    if not (stage / "data").is_dir():
        shutil.copytree(data_dir, stage / "data.partial", dirs_exist_ok=True)
        (stage / "data.partial").rename(stage / "data")
    shutil.copy2(config_path, stage / "config.yaml")
    pod_stage = f"{options.pod_data_mount.rstrip('/')}/train-jobs/{key}"
    spec = TrainJobSpec(
        name=f"affectgpt-train-{key}", namespace=options.namespace, image=options.image,
        config_path=f"{pod_stage}/config.yaml", data_dir=f"{pod_stage}/data", out_dir=f"{pod_stage}/model",
        nodes=options.nodes, gpus_per_node=options.gpus_per_node, cpu=options.cpu, memory=options.memory,
        memory_limit=options.memory_limit, shm_size=options.shm_size, data_pvc=options.data_pvc,
        data_mount=options.pod_data_mount, models_pvc=options.models_pvc,
        labels={RUN_LABEL: options.run_id} if options.run_id else {},
        owner={"apiVersion": "v1", "kind": "Pod", "name": options.owner_pod[0], "uid": options.owner_pod[1]}
        if options.owner_pod else None,
    )
    echo(f"submitting PyTorchJob {spec.namespace}/{spec.name}: {spec.nodes} pod(s) x "
         f"{spec.gpus_per_node or 'CPU'} GPU(s), world size {spec.world_size}")
    run_training_job(spec, api_client=api_client, timeout_s=options.timeout_s, poll_s=options.poll_s,
                     on_status=lambda status: echo(status.line()), on_log=lambda line: echo(f"  | {line}"))
    model_dir = stage / "model"
    if not (model_dir / "manifest.json").is_file():
        raise FileNotFoundError(f"{model_dir}: the job succeeded but wrote no model manifest; "
                                f"see `kubectl -n {spec.namespace} logs {spec.name}-master-0`")
    _copy_model(model_dir, out_dir)
    return TrainOutcome("k8s", out_dir, spec.name)


def release_run_jobs(run_id: str, *, namespace: str | None = None, api_client=None,
                     echo: Callable[[str], None] = print) -> list[str]:
    """Delete the PyTorchJobs of pipeline run `run_id` that have not finished: a failed or
    cancelled run must not leave a job holding its GPUs. Finished jobs stay (their TTL removes
    them) so their logs can be read. Returns the names deleted."""
    from affectgpt.cluster.launcher import delete_unfinished_jobs, kube_api_client

    namespace = namespace or os.environ.get("POD_NAMESPACE", "affectgpt")
    deleted = delete_unfinished_jobs(f"{RUN_LABEL}={run_id}", namespace, api_client or kube_api_client())
    echo(f"released {len(deleted)} unfinished training job(s) of run {run_id}"
         + (f": {', '.join(deleted)}" if deleted else ""))
    return deleted
