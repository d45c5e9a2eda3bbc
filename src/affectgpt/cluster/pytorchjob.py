"""The Kubeflow PyTorchJob that trains AffectGPT with DeepSpeed on N nodes x G GPUs.

`affectgpt train` runs under `torchrun --no-python`; the Training Operator sets the rendezvous
(PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR, PET_MASTER_PORT) and `nprocPerNode` becomes
PET_NPROC_PER_NODE, so the same command serves 1 CPU process and 16 GPU ranks. The pod
template matches `infra/examples/pytorchjob.yaml` (same identities, volumes and security
settings): that file is what an operator applies by hand, this is what `train --backend k8s`
submits with per-run values.

    from affectgpt.cluster import TrainJobSpec, build_pytorchjob
    job = build_pytorchjob(TrainJobSpec(name="affectgpt-train-ab12", config_path="affectgpt-7b.yaml",
                                        data_dir="/data/datasets/v3", out_dir="/data/runs/ab12",
                                        nodes=2, gpus_per_node=8))
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, field_validator

from affectgpt.cluster.validate import PYTORCHJOB_API_VERSION, ensure_valid
from affectgpt.image_tag import platform_image

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Pod names are "<job>-worker-<i>" and must stay a DNS label (63 characters).
MAX_JOB_NAME = 48
TRAIN_APP_LABEL = "affectgpt-train"
# The pipeline run a job belongs to: the run's exit handler deletes the jobs it left running.
RUN_LABEL = "affectgpt.io/kfp-run"


class TrainJobSpec(BaseModel):
    """What varies between training jobs. Paths are inside the pod: the config is a packaged
    one named bare (`affectgpt-7b.yaml`, shipped in the wheel) or a file on the data volume;
    data and outputs are on the data volume."""

    name: str = Field(description="job name, unique per run (DNS label, at most 48 characters)")
    namespace: str = "affectgpt"
    image: str = Field(default_factory=platform_image, description="default: the content-tagged platform image")
    config_path: str
    data_dir: str
    out_dir: str
    nodes: int = Field(1, ge=1, description="pods; the first is the Master, the rest Workers")
    gpus_per_node: int = Field(0, ge=0, description="0 trains on CPU (one process per pod)")
    cpu: str = "2"
    memory: str = "8Gi"
    memory_limit: str = "16Gi"
    shm_size: str = "1Gi"
    service_account: str = "affectgpt-trainer"
    data_pvc: str = "affectgpt-data"
    data_mount: str = "/data"
    models_pvc: str | None = Field("affectgpt-models", description="volume holding the pretrained weights "
                                   "(the HF cache under <models_mount>/hf); None mounts none")
    models_mount: str = "/models"
    labels: dict[str, str] = Field(default_factory=dict, description="extra labels, e.g. the pipeline run's id")
    owner: dict[str, str] | None = Field(None, description="ownerReference (apiVersion, kind, name, uid): the "
                                         "object whose deletion deletes the job, e.g. the pipeline step's pod")
    platform_config_map: str = "affectgpt-platform"
    mlflow_identity_secret: str | None = Field("mlflow-pipeline-identity", description="Secret with the pipeline "
                                               "identity's MLflow username and password (the job logs its run)")
    node_selector: dict[str, str] = Field(default_factory=dict)
    env: dict[str, str] = Field(default_factory=dict)
    backoff_limit: int = Field(2, ge=0)
    ttl_seconds_after_finished: int = Field(86400, ge=0)

    @field_validator("name")
    @classmethod
    def _dns_label(cls, name: str) -> str:
        if len(name) > MAX_JOB_NAME or not DNS_LABEL.match(name):
            raise ValueError(
                f"job name {name!r} must be lower-case letters, digits and '-', start with a letter "
                f"and be at most {MAX_JOB_NAME} characters"
            )
        return name

    @property
    def world_size(self) -> int:
        return self.nodes * max(self.gpus_per_node, 1)


def _container(spec: TrainJobSpec) -> dict[str, Any]:
    env = {"HOME": "/tmp", "AFFECTGPT_HOME": f"{spec.data_mount}/.affectgpt"}
    if spec.models_pvc:
        env["HF_HOME"] = f"{spec.models_mount}/hf"  # the hub ids of the config resolve from this cache
    if spec.gpus_per_node == 0:
        env["DS_ACCELERATOR"] = "cpu"
    env.update(spec.env)
    resources: dict[str, dict[str, str]] = {
        "requests": {"cpu": spec.cpu, "memory": spec.memory},
        "limits": {"memory": spec.memory_limit},
    }
    if spec.gpus_per_node:
        resources["requests"]["nvidia.com/gpu"] = str(spec.gpus_per_node)
        resources["limits"]["nvidia.com/gpu"] = str(spec.gpus_per_node)
    return {
        "name": "pytorch",  # the operator injects the rendezvous into the container of this name
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["torchrun", "--no-python", "affectgpt", "train"],
        "args": [f"--config={spec.config_path}", f"--data={spec.data_dir}", f"--out={spec.out_dir}"],
        "env": [{"name": key, "value": value} for key, value in env.items()] + _identity_env(spec),
        "envFrom": [{"configMapRef": {"name": spec.platform_config_map}}],
        "resources": resources,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "data", "mountPath": spec.data_mount},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "dshm", "mountPath": "/dev/shm"},
            *([{"name": "models", "mountPath": spec.models_mount, "readOnly": True}] if spec.models_pvc else []),
        ],
    }


def _identity_env(spec: TrainJobSpec) -> list[dict[str, Any]]:
    """The MLflow login of the pipeline identity, from its Secret: the training run logs to an
    authenticated MLflow as the same identity the pipeline's steps use."""
    if not spec.mlflow_identity_secret:
        return []
    return [{"name": env, "valueFrom": {"secretKeyRef": {"name": spec.mlflow_identity_secret, "key": key}}}
            for key, env in (("username", "MLFLOW_TRACKING_USERNAME"), ("password", "MLFLOW_TRACKING_PASSWORD"))]


def _pod_template(spec: TrainJobSpec) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {
        "serviceAccountName": spec.service_account,
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(spec)],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": spec.data_pvc}},
            {"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}},
            # NCCL and DataLoader workers exchange tensors through /dev/shm.
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": spec.shm_size}},
            *([{"name": "models", "persistentVolumeClaim": {"claimName": spec.models_pvc, "readOnly": True}}]
              if spec.models_pvc else []),
        ],
    }
    if spec.gpus_per_node:
        pod_spec["nodeSelector"] = spec.node_selector or {"nvidia.com/gpu.present": "true"}
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    elif spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    labels = {"app.kubernetes.io/name": TRAIN_APP_LABEL, "app.kubernetes.io/part-of": "affectgpt",
              "affectgpt.io/mlflow-client": "true", "affectgpt.io/job": spec.name, **spec.labels}
    # In a multi-user Kubeflow (Istio) namespace an injected sidecar would keep a finished rank's
    # pod running and sit between the ranks' rendezvous: training pods go without one.
    return {"metadata": {"labels": labels, "annotations": {"sidecar.istio.io/inject": "false"}}, "spec": pod_spec}


def build_pytorchjob(spec: TrainJobSpec) -> dict[str, Any]:
    """The PyTorchJob object for `spec`, checked offline (schema of the pod templates, CRD
    shape, pod security) before anything is sent; raises ManifestInvalid otherwise."""
    replicas: dict[str, Any] = {
        "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": _pod_template(spec)},
    }
    if spec.nodes > 1:
        replicas["Worker"] = {"replicas": spec.nodes - 1, "restartPolicy": "OnFailure",
                              "template": _pod_template(spec)}
    metadata: dict[str, Any] = {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": {"app.kubernetes.io/name": TRAIN_APP_LABEL, "app.kubernetes.io/part-of": "affectgpt", **spec.labels},
        "annotations": {"affectgpt.io/world-size": str(spec.world_size)},
    }
    if spec.owner:
        # Deleting the owner (the step's pod, when its run is deleted) deletes the job and its pods.
        metadata["ownerReferences"] = [{**spec.owner, "blockOwnerDeletion": False, "controller": False}]
    job = {
        "apiVersion": PYTORCHJOB_API_VERSION,
        "kind": "PyTorchJob",
        "metadata": metadata,
        "spec": {
            "nprocPerNode": str(max(spec.gpus_per_node, 1)),
            "runPolicy": {
                "backoffLimit": spec.backoff_limit,
                "cleanPodPolicy": "None",  # keep finished pods so their logs can be read
                "ttlSecondsAfterFinished": spec.ttl_seconds_after_finished,
            },
            "pytorchReplicaSpecs": replicas,
        },
    }
    ensure_valid([job])
    return job
