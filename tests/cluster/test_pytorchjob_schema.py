"""A rendered PyTorchJob is checked against the Training Operator CRD's own openAPIV3Schema
(vendored), and a broken one is refused with the path of the bad field."""

from __future__ import annotations

import copy

import pytest
import yaml

from affectgpt.cluster import ManifestInvalid, TrainJobSpec, build_pytorchjob, ensure_valid
from affectgpt.cluster.validate import PYTORCHJOB_SCHEMA, pytorchjob_problems


@pytest.fixture(scope="module")
def job() -> dict:
    return build_pytorchjob(TrainJobSpec(name="affectgpt-train-ab12", config_path="affectgpt-7b.yaml",
                                         data_dir="/data/datasets/v3", out_dir="/data/runs/ab12",
                                         nodes=2, gpus_per_node=8))


def test_the_vendored_schema_names_its_source_and_licence():
    header = PYTORCHJOB_SCHEMA.read_text().split("\ntype: object", 1)[0]
    for words in ("kubeflow/training-operator", "manifests/base/crds/kubeflow.org_pytorchjobs.yaml",
                  "Apache-2.0", "commit:"):
        assert words in header
    schema = yaml.safe_load(PYTORCHJOB_SCHEMA.read_text())
    assert schema["properties"]["spec"]["required"] == ["pytorchReplicaSpecs"]


def test_the_rendered_job_passes(job):
    assert pytorchjob_problems(job) == []
    ensure_valid([job])


@pytest.mark.parametrize("break_it, path", [
    (lambda j: j["spec"]["pytorchReplicaSpecs"]["Worker"].__setitem__("replicas", "1"),
     "spec.pytorchReplicaSpecs.Worker.replicas: '1' is not of type 'integer'"),
    (lambda j: j["spec"].__setitem__("nprocPerNode", 8), "spec.nprocPerNode: 8 is not of type 'string'"),
    (lambda j: j["spec"]["runPolicy"].__setitem__("backofLimit", 3),
     "spec.runPolicy: Additional properties are not allowed ('backofLimit' was unexpected)"),
    (lambda j: j["spec"].pop("pytorchReplicaSpecs"), "spec: 'pytorchReplicaSpecs' is a required property"),
    (lambda j: j["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"].__setitem__("labels", {"a": 1}),
     "spec.pytorchReplicaSpecs.Master.template.metadata.labels.a: 1 is not of type 'string'"),
])
def test_a_broken_job_is_refused_with_the_path_to_the_bad_field(job, break_it, path):
    broken = copy.deepcopy(job)
    break_it(broken)
    with pytest.raises(ManifestInvalid) as refused:
        ensure_valid([broken])
    assert f"PyTorchJob/affectgpt-train-ab12: {path}" in str(refused.value)
