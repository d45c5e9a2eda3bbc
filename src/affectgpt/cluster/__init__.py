"""Kubernetes side of training: the PyTorchJob for DeepSpeed on N GPUs, its offline checks,
and a launcher that submits it and follows it to the end."""

from affectgpt.cluster.backend import K8sTrainOptions, release_run_jobs, run_training_job, train_on_backend
from affectgpt.cluster.pytorchjob import TrainJobSpec, build_pytorchjob
from affectgpt.cluster.validate import ManifestInvalid, check_objects, ensure_valid

__all__ = [
    "K8sTrainOptions", "ManifestInvalid", "TrainJobSpec", "build_pytorchjob", "check_objects",
    "ensure_valid", "release_run_jobs", "run_training_job", "train_on_backend",
]
