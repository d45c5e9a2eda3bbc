"""`affectgpt cluster preflight`: the real overlays rendered with a real kubectl, the compiled
pipelines of the checkout and the packaged 7B config, checked together.

The checkout, deployed as docs/deploy.md says (the image tag pinned), must pass; then each check
class gets its defect back once on a fresh copy of it: exactly that check fails, naming the
object."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from affectgpt.cluster import preflight as pf
from affectgpt.cluster.preflight import (
    CHECKS,
    DATA_PVC,
    MODELS_PVC,
    PLATFORM_CONFIG_MAP,
    CompiledPipeline,
    Inputs,
    KfpMode,
    load_pipelines,
    render_overlay,
    run_checks,
    train_step_job,
)
from affectgpt.model.config import load_config

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = ROOT / "infra" / "overlays"
COMPILED = ROOT / "src" / "affectgpt_kfp" / "pipelines" / "compiled"
CONFIG = "affectgpt-7b.yaml"
# The KFP mode each overlay serves (cluster contract).
MODES = {"gpu-cluster": KfpMode(pf.MULTI_USER, "affectgpt", pf.MULTI_USER_RUNNER),
         "local": KfpMode(pf.STANDALONE, pf.STANDALONE_NAMESPACE, pf.STANDALONE_RUNNER)}
TAG = "src-0123456789ab"
ALL_CHECKS = {c.id for c in CHECKS}


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: render_overlay(OVERLAYS / name) for name in MODES}


@pytest.fixture(scope="module")
def compiled() -> dict[str, CompiledPipeline]:
    return load_pipelines(COMPILED)


def failing(results) -> dict[str, list]:
    return {r.check: r.findings for r in results if not r.ok}


def show(results) -> str:
    return "\n".join(f"[{f.check}] {f.where}: {f.problem}" for r in results for f in r.findings)


# ---------------------------------------------------------------------------- the checkout


@pytest.fixture(scope="module")
def deployed_infra(tmp_path_factory) -> Path:
    """The checkout's infra/ as a platform engineer deploys it (docs/deploy.md): the overlays'
    image placeholder replaced by the tag `make images` builds for this code."""
    import shutil

    from affectgpt.image_tag import image_tag

    infra = tmp_path_factory.mktemp("deploy") / "infra"
    shutil.copytree(ROOT / "infra", infra)
    for kustomization in (infra / "overlays").glob("*/kustomization.yaml"):
        text = kustomization.read_text()
        assert "newTag: set-by-make-images" in text, kustomization
        kustomization.write_text(text.replace("newTag: set-by-make-images", f"newTag: {image_tag()}"))
    return infra


@pytest.mark.parametrize("overlay", sorted(MODES))
def test_the_checkout_passes_preflight(overlay, deployed_infra):
    """Both overlays with the compiled pipelines, the 7B config and the operator's
    configuration (infra/operator), read as the command reads them: nothing stops a real run."""
    inputs = pf.load_inputs(deployed_infra / "overlays" / overlay, COMPILED, CONFIG)
    assert inputs.kfp == MODES[overlay] and inputs.operator_docs, inputs.kfp
    results = run_checks(inputs)
    if failing(results):
        pytest.fail(f"preflight of {overlay} ({MODES[overlay].describe()}):\n{show(results)}", pytrace=False)


def test_the_checkouts_image_placeholder_is_refused(rendered, compiled):
    """Undeployed, the overlays name `set-by-make-images`: preflight says which images to pin."""
    inputs = Inputs("gpu-cluster", copy.deepcopy(rendered["gpu-cluster"]), copy.deepcopy(compiled), CONFIG,
                    load_config(CONFIG), MODES["gpu-cluster"])
    assert set(failing(run_checks(inputs, {"images"}))) == {"images"}


# ---------------------------------------------------------------------------- the checkout, broken once


def _retag(image: str) -> str:
    return image.rsplit(":", 1)[0] + ":" + TAG if ":" in image.rsplit("/", 1)[-1] else f"{image}:{TAG}"


@pytest.fixture(scope="module")
def deployed(deployed_infra) -> dict[str, Inputs]:
    return {name: pf.load_inputs(deployed_infra / "overlays" / name, COMPILED, CONFIG) for name in MODES}


@pytest.fixture
def good(deployed):
    """A function: overlay name -> GOOD Inputs, the checkout as deployed (fresh copies, so a
    test may break them)."""
    def make(overlay: str = "gpu-cluster") -> Inputs:
        return copy.deepcopy(deployed[overlay])
    return make


@pytest.mark.parametrize("overlay", sorted(MODES))
def test_the_contract_passes(good, overlay):
    results = run_checks(good(overlay))
    assert not failing(results), show(results)
    assert [r.check for r in results] == [c.id for c in CHECKS]


# ---------------------------------------------------------------------------- each defect, once


def _task(inputs: Inputs, pipeline: str, component: str) -> dict:
    spec = inputs.pipelines[pipeline].spec
    for holder in [spec["root"], *spec["components"].values()]:
        for task in holder.get("dag", {}).get("tasks", {}).values():
            if task["componentRef"]["name"] == component:
                return task
    raise KeyError(component)


def _platform(inputs: Inputs, pipeline: str, executor: str) -> dict:
    return inputs.pipelines[pipeline].platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][executor]


def _doc(inputs: Inputs, kind: str, name: str, namespace: str | None = None) -> dict:
    return next(d for d in inputs.docs if d["kind"] == kind and d["metadata"]["name"] == name
                and (namespace is None or d["metadata"].get("namespace") == namespace))


def assert_only(inputs: Inputs, check: str, *names: str, also: set[str] = frozenset()) -> list:
    """Exactly `check` (and `also`) fails, and its findings name every one of `names`."""
    results = run_checks(inputs)
    failed = failing(results)
    assert set(failed) == {check} | set(also), show(results)
    text = "\n".join(f"{f.where} {f.problem}" for f in failed[check])
    for name in names:
        assert name in text, text
    assert all(f.fix for f in failed[check])
    return failed[check]


def test_a_path_outside_every_mount_is_caught(good):
    inputs = good()
    inputs.pipelines["retrain-k8s"].root_inputs()["unibench_dir"]["defaultValue"] = "/mnt/unibench"
    findings = assert_only(inputs, "data", "retrain-k8s", "score", "unibench_dir", "/mnt/unibench")
    assert all(f.where.startswith("retrain-k8s") for f in findings)


def test_a_dropped_data_mount_is_caught(good):
    """Without /data the step can read neither raw_dir nor write its workspace there."""
    inputs = good()
    platform = _platform(inputs, "retrain-k8s", "exec-build-dataset")
    platform["pvcMount"] = [m for m in platform["pvcMount"] if m["constant"] != DATA_PVC]
    findings = assert_only(inputs, "data", "build-dataset", "raw_dir", also={"workspace"})
    assert {f.where for f in findings} == {"retrain-k8s: task exit-handler-1/build-dataset"}


def test_a_data_pvc_outside_the_pipeline_namespace_is_caught(good):
    inputs = good("local")
    inputs.docs.remove(_doc(inputs, "PersistentVolumeClaim", DATA_PVC, "kubeflow"))
    assert_only(inputs, "data", f"PVC {DATA_PVC}", "kubeflow", "affectgpt")


def test_a_workspace_without_affectgpt_home_is_caught(good):
    inputs = good()
    del _doc(inputs, "ConfigMap", PLATFORM_CONFIG_MAP, "affectgpt")["data"]["AFFECTGPT_HOME"]
    findings = assert_only(inputs, "workspace", "build-dataset", "register", "AFFECTGPT_HOME",
                           "ConfigMap affectgpt-platform has no key AFFECTGPT_HOME")
    assert len({f.where for f in findings}) >= 7  # every step of every pipeline


def test_a_workspace_on_a_read_only_root_is_caught(good):
    inputs = good("local")
    _doc(inputs, "ConfigMap", PLATFORM_CONFIG_MAP, "kubeflow")["data"]["AFFECTGPT_HOME"] = "/app/.affectgpt"
    assert_only(inputs, "workspace", "AFFECTGPT_HOME=/app/.affectgpt", "drift-report")


def test_a_step_without_the_models_volume_is_caught(good):
    inputs = good()
    platform = _platform(inputs, "retrain-k8s", "exec-extract-features-shard")
    platform["pvcMount"] = [m for m in platform["pvcMount"] if m["constant"] != MODELS_PVC]
    findings = assert_only(inputs, "weights", "retrain-k8s: task exit-handler-1/for-loop-3/extract-features-shard", MODELS_PVC)
    assert len(findings) == 1


def test_a_training_job_without_the_models_volume_is_caught(good):
    def without_models(size: dict, namespace: str) -> dict:
        job = train_step_job(size, namespace)
        for replica in job["spec"]["pytorchReplicaSpecs"].values():
            pod = replica["template"]["spec"]
            names = {v["name"] for v in pod["volumes"]
                     if v.get("persistentVolumeClaim", {}).get("claimName") == MODELS_PVC}
            pod["volumes"] = [v for v in pod["volumes"] if v["name"] not in names]
            for container in pod["containers"]:
                container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] not in names]
        return job

    inputs = good()
    inputs.job_builder = without_models
    findings = assert_only(inputs, "weights", "retrain-k8s: PyTorchJob of the train step", MODELS_PVC)
    assert {f.where.split(":")[0] for f in findings} == {"retrain-k8s", "monitor-k8s"}  # which nests it too


def test_the_models_pvc_missing_from_the_overlay_is_caught(good):
    inputs = good()
    inputs.docs.remove(_doc(inputs, "PersistentVolumeClaim", MODELS_PVC))
    assert_only(inputs, "weights", f"PersistentVolumeClaim/{MODELS_PVC}", "affectgpt")


def test_a_global_batch_fixed_at_three_is_caught(good):
    inputs = good()
    inputs.config = inputs.config.model_copy(update={
        "train": inputs.config.train.model_copy(update={"global_batch_size": 3, "batch_policy": "exact"})})
    findings = assert_only(inputs, "world-size", f"{CONFIG} at 8 rank(s)", f"{CONFIG} at 16 rank(s)")
    assert {f.where for f in findings} == {f"{CONFIG} at 8 rank(s)", f"{CONFIG} at 16 rank(s)"}


def test_an_undersized_training_job_is_caught(good):
    inputs = good()
    inputs.pipelines["retrain-k8s"].root_inputs()["train_memory"]["defaultValue"] = "16Gi"
    where = "retrain-k8s: task train"
    findings = assert_only(inputs, "job-size", where, "train_memory = 16Gi", "128Gi")
    assert all(f.where == where for f in findings)


def test_a_missing_size_input_is_caught(good):
    inputs = good()
    train = _task(inputs, "retrain-k8s", "comp-train")
    del train["inputs"]["parameters"]["train_shm_size"]
    del inputs.pipelines["retrain-k8s"].spec["components"]["comp-train"]["inputDefinitions"]["parameters"][
        "train_shm_size"]
    assert_only(inputs, "job-size", "takes no input train_shm_size")


def test_a_training_pod_bigger_than_a_node_of_the_pool_is_caught(good):
    """The rule of `cluster train-job` and `pipeline submit` (affectgpt.cluster.job_shape), with
    the pool's GPUs per node from the overlay's platform ConfigMap: on nodes of 4 GPUs, the
    train step's default 8 per node, the nightly run's 8 and an overlay job's 8 never schedule."""
    inputs = good()
    _doc(inputs, "ConfigMap", PLATFORM_CONFIG_MAP, "affectgpt")["data"]["AFFECTGPT_NODE_GPUS"] = "4"
    job = yaml.safe_load((ROOT / "infra" / "examples" / "pytorchjob.yaml").read_text())
    job["metadata"]["namespace"] = "affectgpt"
    inputs.docs.append(job)
    findings = assert_only(inputs, "job-size", "8 GPUs per node, but a node of the pool has 4",
                           "AFFECTGPT_NODE_GPUS = 4 in ConfigMap affectgpt-platform",
                           also={"standing-jobs", "images"})  # the example job: standing, its tag unpinned
    assert {f.where for f in findings} == {"retrain-k8s: task train", "monitor-k8s: task train",
                                           "PyTorchJob/affectgpt-train-example (namespace affectgpt)",
                                           "CronJob/affectgpt-monitor (namespace affectgpt)"}


def test_a_platform_config_without_the_node_pools_gpus_is_caught(good):
    """The train step maps AFFECTGPT_NODE_GPUS from the platform ConfigMap: without the key its
    pod cannot start."""
    inputs = good()
    del _doc(inputs, "ConfigMap", PLATFORM_CONFIG_MAP, "affectgpt")["data"]["AFFECTGPT_NODE_GPUS"]
    findings = assert_only(inputs, "job-size", "has no key AFFECTGPT_NODE_GPUS")
    assert [f.where for f in findings] == ["ConfigMap/affectgpt-platform (namespace affectgpt)"]


def test_a_job_size_unlike_the_overlays_own_job_is_caught(good):
    """An overlay that ships its own job (none does now: infra/examples) must size it alike."""
    inputs = good()
    job = yaml.safe_load((ROOT / "infra" / "examples" / "pytorchjob.yaml").read_text())
    job["metadata"]["namespace"] = "affectgpt"
    assert run_checks(Inputs(**{**inputs.__dict__, "docs": [*inputs.docs, job]}), {"job-size"})[0].ok
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"]["requests"][
        "cpu"] = "48"
    result = run_checks(Inputs(**{**inputs.__dict__, "docs": [*inputs.docs, job]}), {"job-size"})[0]
    differs = "train_cpu default '32' differs from PyTorchJob/affectgpt-train-example (namespace affectgpt): '48'"
    assert {(f.where.split(":")[0], f.problem) for f in result.findings} == {
        (name, differs) for name in ("retrain-k8s", "monitor-k8s")}


def test_the_operator_init_container_without_a_security_context_is_caught(good):
    inputs = good()
    template = next(d for d in inputs.operator_docs if d["kind"] == "ConfigMap")
    template["data"]["initContainer.yaml"] = pf.OPERATOR_INIT_TEMPLATE
    findings = assert_only(inputs, "pod-security", "Worker pod", "'init-pytorch'", "allowPrivilegeEscalation",
                           "capabilities.drop")
    assert all("init-pytorch" in f.problem for f in findings)


def test_the_operator_default_template_is_assumed_when_the_overlay_ships_none(good):
    inputs = good()
    inputs.operator_docs = []
    assert_only(inputs, "pod-security", "the Training Operator's default template")


def test_a_step_without_its_security_context_is_caught(good):
    inputs = good()
    del _platform(inputs, "retrain-k8s", "exec-register")["securityContext"]
    assert_only(inputs, "pod-security", "retrain-k8s: task exit-handler-1/register (KFP step pod)", "runAsNonRoot")


def test_a_namespace_that_does_not_enforce_restricted_is_caught(good):
    inputs = good("local")
    _doc(inputs, "Namespace", "affectgpt")["metadata"]["labels"][pf.PSS_ENFORCE_LABEL] = "baseline"
    assert_only(inputs, "pod-security", "Namespace/affectgpt")


def test_a_runner_that_cannot_read_secrets_is_caught(good):
    inputs = good()
    role = _doc(inputs, "Role", "affectgpt-pipeline-runner", "affectgpt")
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["secrets"]]
    findings = assert_only(inputs, "rbac", "ServiceAccount default-editor", "may not get secrets")
    assert len(findings) == 1


def test_a_binding_to_another_account_is_caught(good):
    inputs = good("local")
    _doc(inputs, "RoleBinding", "affectgpt-pipeline-runner", "kubeflow")["subjects"][0]["name"] = \
        "affectgpt-pipeline-runner"
    findings = assert_only(inputs, "rbac", "ServiceAccount pipeline-runner (namespace kubeflow", "workflowtaskresults")
    assert len(findings) == len(pf.RUNNER_PERMISSIONS)


def test_a_multi_user_overlay_without_a_profile_is_caught(good):
    inputs = good()
    inputs.docs = [d for d in inputs.docs if d["kind"] != "Profile"]
    assert_only(inputs, "rbac", "Profile/affectgpt")


def test_a_training_job_no_exit_handler_deletes_is_caught(good):
    inputs = good()
    del _task(inputs, "retrain-k8s", "comp-release-training-jobs")["triggerPolicy"]
    findings = assert_only(inputs, "cleanup", "retrain-k8s: task exit-handler-1/train", "dsl.ExitHandler")
    assert len(findings) == 1


def test_a_cached_exit_task_is_caught(good):
    inputs = good()
    _task(inputs, "monitor-k8s", "comp-release-training-jobs")["cachingOptions"] = {"enableCache": True}
    assert_only(inputs, "cleanup", "monitor-k8s: task condition-1/affectgpt-retrain-k8s/release-training-jobs",
                "cached")


def test_a_cached_register_is_caught(good):
    inputs = good()
    _task(inputs, "retrain-k8s", "comp-register")["cachingOptions"] = {"enableCache": True}
    findings = assert_only(inputs, "caching", "retrain-k8s: task exit-handler-1/register")
    assert len(findings) == 1


def test_a_version_tag_is_caught(good):
    inputs = good()
    inputs.pipelines["retrain"].executors["exec-train"]["container"]["image"] = \
        "ghcr.io/affectgpt/affectgpt-train:0.1.0"
    findings = assert_only(inputs, "images", "retrain: exec-train", ":0.1.0")
    assert len(findings) == 1


def test_a_mutable_tag_in_a_workload_is_caught(good):
    inputs = good("local")
    _doc(inputs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["image"] = "affectgpt:dev"
    assert_only(inputs, "images", "Deployment/mlflow", ":dev")


def test_image_tags(good):
    assert pf._image_problem("ghcr.io/affectgpt/affectgpt@sha256:" + "a" * 64) is None
    assert pf._image_problem(f"ghcr.io/affectgpt/affectgpt:{TAG}") is None
    assert pf._image_problem("localhost:5000/affectgpt") == "has no tag (means :latest)"
    for tag in ("latest", "dev", "0.1.0"):
        assert pf._image_problem(f"ghcr.io/affectgpt/affectgpt:{tag}") == f"has the mutable tag :{tag}"


def test_a_standing_pytorchjob_is_caught(good):
    """The example job, applied with the overlay, is a standing job; so is a GPU batch Job; a
    small setup Job (the local overlay's MinIO bucket) is not."""
    inputs = good()
    job = yaml.safe_load((ROOT / "infra" / "examples" / "pytorchjob.yaml").read_text())
    job["metadata"]["namespace"] = "affectgpt"
    for replica in job["spec"]["pytorchReplicaSpecs"].values():
        container = replica["template"]["spec"]["containers"][0]
        container["image"] = _retag(container["image"])
    inputs.docs.append(job)
    assert_only(inputs, "standing-jobs", "PyTorchJob/affectgpt-train")
    local = good("local")
    setup = _doc(local, "Job", "minio-make-bucket")
    assert run_checks(local, {"standing-jobs"})[0].ok
    gpu_job = copy.deepcopy(setup)
    gpu_job["metadata"]["name"] = "train-now"
    gpu_job["spec"]["template"]["spec"]["containers"][0].setdefault("resources", {})["limits"] = {"nvidia.com/gpu": "1"}
    local.docs.append(gpu_job)
    assert_only(local, "standing-jobs", "Job/train-now")


def test_an_object_without_a_namespace_is_caught(good):
    inputs = good("local")
    del _doc(inputs, "Service", "minio")["metadata"]["namespace"]
    findings = assert_only(inputs, "namespaces", "Service/minio (no namespace)")
    assert len(findings) == 1


def test_a_shared_claim_without_a_storage_class_is_caught(good):
    inputs = good()
    del _doc(inputs, "PersistentVolumeClaim", DATA_PVC, "affectgpt")["spec"]["storageClassName"]
    assert_only(inputs, "namespaces", f"PersistentVolumeClaim/{DATA_PVC}", "storageClassName")


def test_a_schedule_without_test_sets_token_or_gpus_is_caught(good):
    inputs = good()
    pod = _doc(inputs, "CronJob", "affectgpt-monitor")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod["containers"][0]["args"] = [a for a in pod["containers"][0]["args"] if "unibench_dir" not in a]
    findings = assert_only(inputs, "schedule", "CronJob/affectgpt-monitor", "unibench_dir")
    assert len(findings) == 1
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] != "kfp-token"]
    _task(inputs, "monitor-k8s", "comp-train")["inputs"]["parameters"]["backend"] = \
        {"runtimeValue": {"constant": "step"}}
    problems = [f.problem for f in failing(run_checks(inputs, {"schedule"}))["schedule"]]
    assert any("KFP token" in p for p in problems) and any("backend step" in p for p in problems)


@pytest.mark.parametrize("overlay", sorted(MODES))
def test_a_cronjob_that_starts_no_pipeline_run_is_not_held_to_the_schedule_rules(good, overlay):
    """The Feast materialisation is a CronJob of its own (`affectgpt features ...`): it needs no
    test sets, no KFP token and submits nothing. A monitor run without `pipeline submit` is
    still caught."""
    inputs = good(overlay)
    materialize = _doc(inputs, "CronJob", "affectgpt-feast-materialize")
    assert not [f for f in failing(run_checks(inputs, {"schedule"})).get("schedule", [])
                if "affectgpt-feast-materialize" in f.where]
    pod = _doc(inputs, "CronJob", "affectgpt-monitor")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    pod["containers"][0]["command"] = ["affectgpt", "pipeline", "runs"]
    problems = [f.problem for f in failing(run_checks(inputs, {"schedule"}))["schedule"]]
    assert any("submits no pipeline" in p for p in problems)
    assert materialize["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][:2] == \
        ["affectgpt", "features"]


def test_a_field_the_api_server_refuses_is_caught(good):
    inputs = good()
    _doc(inputs, "Deployment", "feast")["spec"]["replicas"] = "two"
    assert_only(inputs, "schema", "Deployment/feast", "replicas")


def test_every_check_has_a_mutation_here():
    """One defect per check class above; a new check needs its own."""
    text = Path(__file__).read_text()
    for check in ALL_CHECKS:
        assert f'"{check}"' in text.split("# ------------------------------------------------------------------"
                                          "---------- each defect, once")[1], check


def test_restricted_pss_takes_pod_or_container_level_as_admission_does():
    from affectgpt.cluster.validate import restricted_pss_problems

    container = {"name": "c", "image": "x", "securityContext": {"allowPrivilegeEscalation": False,
                                                                "capabilities": {"drop": ["ALL"]}}}
    pod = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [container], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "p"}}]}
    assert restricted_pss_problems("pod", pod) == []  # no readOnlyRootFilesystem, no requests: still admitted
    container["securityContext"]["runAsNonRoot"] = False
    pod["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
    pod["initContainers"] = [{"name": "i", "image": "y"}]
    problems = restricted_pss_problems("pod", pod)
    assert "pod container 'c': runAsNonRoot must be true (on the pod or the container)" in problems
    assert any("volume 'h' of type hostPath" in p for p in problems)
    assert any("container 'i': securityContext.allowPrivilegeEscalation" in p for p in problems)


def test_a_master_only_job_gets_no_init_container(good):
    job = train_step_job({"nodes": 1}, "affectgpt")
    pod, source = pf.operator_worker_pod(job, [])
    assert "initContainers" not in pod and source.startswith("none")
    pod, source = pf.operator_worker_pod(train_step_job({"nodes": 2}, "affectgpt"), [])
    assert [c["name"] for c in pod["initContainers"]] == ["init-pytorch"] and "default" in source


# ---------------------------------------------------------------------------- the command


def _write_fixture(inputs: Inputs, tmp_path: Path) -> tuple[Path, Path]:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "objects.yaml").write_text(yaml.safe_dump_all(inputs.docs, sort_keys=False))
    (overlay / "kustomization.yaml").write_text("apiVersion: kustomize.config.k8s.io/v1beta1\n"
                                                "kind: Kustomization\nresources: [objects.yaml]\n")
    compiled_dir = tmp_path / "compiled"
    compiled_dir.mkdir()
    for name, pipeline in inputs.pipelines.items():
        (compiled_dir / f"{name}.yaml").write_text(yaml.safe_dump_all([pipeline.spec, pipeline.platform]))
    return overlay, compiled_dir


def test_the_command_prints_a_table_and_exits_3_on_a_finding(good, tmp_path):
    from affectgpt.cli import app

    inputs = good()
    inputs.pipelines["retrain-k8s"].executors["exec-register"]["container"]["image"] = \
        "ghcr.io/affectgpt/affectgpt-register:0.1.0"
    overlay, compiled_dir = _write_fixture(inputs, tmp_path)
    runner = CliRunner()
    args = ["cluster", "preflight", "--overlay", str(overlay), "--pipelines", str(compiled_dir),
            "--check", "images", "--check", "caching", "--check", "rbac"]
    done = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert done.exit_code == 3, done.output
    assert "FAIL" in done.output and "retrain-k8s: exec-register" in done.output and ":0.1.0" in done.output
    assert "│ caching" in done.output and "ok" in done.output
    assert "KFP multi-user" in done.output  # the Profile says so

    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 3
    report = json.loads(done.output)
    assert report["ok"] is False and report["kfp"]["namespace"] == "affectgpt"
    by_id = {c["check"]: c for c in report["checks"]}
    assert set(by_id) == {"images", "caching", "rbac"} and by_id["caching"]["ok"] and by_id["rbac"]["ok"]
    assert [f["where"] for f in by_id["images"]["findings"]] == ["retrain-k8s: exec-register"]


def test_the_command_exits_0_when_clean_4_on_a_missing_overlay_and_2_on_bad_input(good, tmp_path):
    from affectgpt.cli import app

    overlay, compiled_dir = _write_fixture(good(), tmp_path)
    runner = CliRunner()
    done = runner.invoke(app, ["cluster", "preflight", "--overlay", str(overlay), "--pipelines", str(compiled_dir),
                               "--check", "images", "--check", "caching"], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    assert "all 2 checks pass" in done.output
    done = runner.invoke(app, ["cluster", "preflight", "--overlay", str(tmp_path / "nowhere")])
    assert done.exit_code == 4  # a missing input is not found, in every command
    done = runner.invoke(app, ["cluster", "preflight", "--overlay", str(overlay), "--check", "spelling"])
    assert done.exit_code == 2 and "unknown" in done.output
