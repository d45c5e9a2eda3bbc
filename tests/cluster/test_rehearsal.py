"""The compiled cluster pipeline (`retrain-k8s`), rehearsed pod by pod on this machine: each task
of the checked-in IR run through kfp's executor as its container spec says, in a bubblewrap
sandbox shaped like its pod (uid 10001, read-only root and WORKDIR, only /tmp and the volumes
its spec mounts, the env of its spec and of the `local` overlay's ConfigMap and Secrets),
artifacts handed through an object-store folder, the PyTorchJob's pod run with torchrun and 2
CPU ranks by the stand-in API server, and a real MLflow server with authentication
standing for the `mlflow` Service. See docs/platform.md, "Rehearsal without a cluster", for what is and is not modelled.

The data volume holds what an operator puts there: the demo corpus (`/data/raw`), the
MER-UniBench fixture (`/data/unibench`) and two configs (`/data/configs`: the fast build
config, and the tiny model config cut to 10 steps so the rehearsal stays short).
"""

import copy
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from rehearsal import ImageRuntime, Rehearsal, TaskFailed, load_ir, mlflow_service, rehearsal_world

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (Debian `bubblewrap`) not installed")]

REPO = Path(__file__).resolve().parents[2]
COMPILED = REPO / "src" / "affectgpt_kfp" / "pipelines" / "compiled" / "retrain-k8s.yaml"
OVERLAY = REPO / "infra" / "overlays" / "local"
NAMESPACE, RUNNER = "kubeflow", "pipeline-runner"  # KFP standalone (the `local` overlay)
MODEL_NAME = "affectgpt-rehearsal"
PIPELINE_USER, PIPELINE_PASSWORD = "affectgpt-pipeline", "rehearsal-only-password"
# Created out of band by the operator (docs/platform.md); the values are the test's own.
IDENTITY = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mlflow-pipeline-identity", "namespace": NAMESPACE},
            "stringData": {"username": PIPELINE_USER, "password": PIPELINE_PASSWORD}}
# No promotion_config: on a server registry the gate rules are the ones the administrator stored
# with the model (`affectgpt registry init`), here the demo rules (the sets the fixture has).
ARGUMENTS = {"raw_dir": "/data/raw", "data_rev": "rehearsal", "build_config": "/data/configs/build.yaml",
             "model_config": "/data/configs/tiny-rehearsal.yaml", "gpus_per_node": 0, "nodes": 1, "workers": 1,
             "unibench_dir": "/data/unibench", "unibench_rev": "fixture", "model_name": MODEL_NAME,
             "scorer_mode": "corrected", "submitted_by": "rehearsal"}


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> ImageRuntime:
    """The affectgpt wheel built from this checkout, installed beside the venv's stack."""
    return ImageRuntime.build(tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="module")
def volumes(tmp_path_factory, reference_data) -> dict[str, Path]:
    """Host folders standing for the PVCs, filled as an operator would fill them."""
    from affectgpt.bench.fixture import make_fixture
    from affectgpt.data.demo_corpus import make_demo_corpus

    root = tmp_path_factory.mktemp("volumes")
    data, models = root / "affectgpt-data", root / "affectgpt-models"
    models.mkdir(parents=True)
    # 24 clips: 12 train records, two micro-batches of 8, one per torchrun rank.
    make_demo_corpus(root / "corpus", n_clips=24, workers=2)
    shutil.copytree(root / "corpus" / "raw", data / "raw")
    make_fixture(data / "unibench", per_dataset=2)
    configs = data / "configs"
    configs.mkdir()
    (configs / "build.yaml").write_text("postfilter:\n  high_level:\n    enabled: false\n")  # the classifier: minutes
    tiny = yaml.safe_load((REPO / "src" / "affectgpt" / "configs" / "tiny.yaml").read_text())
    tiny["train"].update(max_steps=10, checkpoint_every=5)
    (configs / "tiny-rehearsal.yaml").write_text(yaml.safe_dump(tiny))
    return {"affectgpt-data": data, "affectgpt-models": models}


@pytest.fixture(scope="module")
def mlflow(tmp_path_factory):
    from affectgpt.paths import packaged_config

    with mlflow_service(tmp_path_factory.mktemp("mlflow"), model_name=MODEL_NAME, pipeline_user=PIPELINE_USER,
                        pipeline_password=PIPELINE_PASSWORD, rules=packaged_config("promotion-demo.yaml")) as service:
        yield service


def test_a_step_pod_has_the_image_shape(tmp_path, image):
    """What a step's code sees in its sandbox: uid 10001, the wheel (not the checkout), a
    read-only root and WORKDIR, a writable /tmp, the image's env and no host env."""
    from rehearsal import pod

    volume = tmp_path / "claim"
    volume.mkdir()
    probe = ("import json, os, affectgpt, affectgpt_kfp.components as components, affectgpt_kfp.pipelines as pipelines\n"
             "def writable(path):\n"
             "    try:\n"
             "        open(os.path.join(path, 'probe'), 'w').close(); return True\n"
             "    except OSError:\n"
             "        return False\n"
             "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'cwd': os.getcwd(), 'files': [m.__file__ for m in "
             "(affectgpt, components, pipelines)], 'checkout': os.path.exists(os.environ.get('CHECKOUT', '')), "
             "'writable': {p: writable(p) for p in ('/', '/app', '/tmp', '/usr', '/data')}, 'env': dict(os.environ)}))")
    container = pod.Container("probe-pod", ["python3", "-c", probe], {"CHECKOUT": str(REPO / "pyproject.toml")},
                              pod.image_config("ghcr.io/affectgpt/affectgpt-build_dataset:0.1.0"),
                              mounts=[pod.Mount(volume, "/data")])
    pod.run(container, image, tmp_path / "probe.log", "probe pod")
    seen = json.loads((tmp_path / "probe.log").read_text().splitlines()[-1])
    assert (seen["uid"], seen["gid"], seen["cwd"]) == (10001, 10001, "/app")
    assert all(path.startswith(pod.IMAGE_SITE + "/") for path in seen["files"]), seen["files"]
    assert seen["checkout"] is False
    assert seen["writable"] == {"/": False, "/app": False, "/tmp": True, "/usr": False, "/data": True}
    assert seen["env"]["HOME"] == "/tmp" and seen["env"]["HF_HUB_OFFLINE"] == "1"  # from the Dockerfile
    assert seen["env"]["HOSTNAME"] == "probe-pod" and "PYTEST_CURRENT_TEST" not in seen["env"]


def rehearse(root: Path, image: ImageRuntime, volumes: dict[str, Path], mlflow,
             platform_edit=None) -> tuple[Rehearsal, object]:
    """Run the checked-in `retrain-k8s` (its platform spec edited by `platform_edit`, if given);
    returns the rehearsal and its result, or raises TaskFailed."""
    spec, platform = load_ir(COMPILED)
    if platform_edit is not None:
        platform = platform_edit(copy.deepcopy(platform))
    with rehearsal_world(root, image, overlay=OVERLAY, pvcs=volumes, namespace=NAMESPACE, service_account=RUNNER,
                         services={"mlflow": mlflow.url.removeprefix("http://")},
                         extra_objects=[IDENTITY]) as world:
        rehearsal = Rehearsal(spec, platform, world)
        return rehearsal, rehearsal.run(ARGUMENTS)


@pytest.mark.e2e
def test_retrain_k8s_rehearsal_registers_a_scored_candidate(tmp_path, image, volumes, mlflow):
    rehearsal, result = rehearse(tmp_path, image, volumes, mlflow)
    print("\n".join(f"{task['task']:40s} {task['seconds']:7.1f} s" for task in result.tasks))
    ran = [task["task"].rsplit("/", 1)[-1] for task in result.tasks]  # under an exit handler, a DAG path
    assert ran.count("predict") == 10  # the ParallelFor: 9 sets + local
    assert "register" in ran

    (job_run,) = rehearsal.world.api.runs.values()  # one PyTorchJob, trained by 2 torchrun ranks
    assert job_run.job["status"]["conditions"][-1]["type"] == "Succeeded"
    (_, master_log), = job_run.pods.values()
    assert "OMP_NUM_THREADS" in master_log.text(False, None, None)  # torchrun says so for more than 1 process

    report_artifact = outputs_of(result.artifacts, "score")["bench_report"][0]
    report = json.loads((rehearsal.world.store_path(report_artifact["uri"]) / "report.json").read_text())
    from affectgpt.bench.datasets import DATASETS

    assert set(DATASETS) <= set(report["datasets"]) and len(DATASETS) == 9
    assert report["datasets"]["local"]["status"] == "scored"

    from mlflow import MlflowClient

    with mlflow.acting_as_admin():
        client = MlflowClient(tracking_uri=mlflow.url, registry_uri=mlflow.url)
        version = outputs_of(result.parameters, "register")["version"]
        registered = client.search_model_versions(f"name='{MODEL_NAME}-candidates'")
    assert [str(v.version) for v in registered] == [str(version)]  # the REST store gives strings
    model_manifest = outputs_of(result.artifacts, "train")["model"][0]
    assert registered[0].run_id == model_manifest["metadata"]["mlflow_run_id"]
    assert model_manifest["metadata"]["backend"] == "k8s" and model_manifest["metadata"]["job_name"]


def outputs_of(per_task: dict, task: str) -> dict:
    """The outputs of the one task named `task`, wherever it sits in the DAG."""
    (found,) = [outputs for path, outputs in per_task.items() if path.rsplit("/", 1)[-1] == task]
    return found


def drop_mount(executor: str, mount_path: str):
    def edit(platform: dict) -> dict:
        config = platform.setdefault("deploymentSpec", {}).setdefault("executors", {}).setdefault(executor, {})
        config["pvcMount"] = [m for m in config.get("pvcMount", []) if m.get("mountPath") != mount_path]
        return platform
    return edit


def test_a_step_without_its_data_volume_fails_naming_what_it_could_not_see(tmp_path, image, volumes, mlflow):
    """`build-dataset-shard` (the first task that reads the corpus) with its `/data` mount taken
    out of the IR: it fails, and the failure names the path under /data its pod could not see;
    nothing after the shards runs but the exit handler's task."""
    with pytest.raises(TaskFailed) as failed:
        rehearse(tmp_path, image, volumes, mlflow, drop_mount("exec-build-dataset-shard", "/data"))
    message = str(failed.value)
    assert failed.value.task.rsplit("/", 1)[-1] == "build-dataset-shard", message  # in the exit handler's loop
    log_tail = message.partition("--- last lines of its log ---")[2]
    assert "/data" in log_tail, message
    # Nothing after the shards ran (no reduce, no extraction); before them only the plan and
    # `pull-data` (no DVC repository given: it hands raw_dir on), after them only the exit
    # handler's task, which runs however the work ends.
    ran = {p.name.split("-", 4)[-1].rsplit("-", 1)[0] for p in (tmp_path / "pods").iterdir()}
    assert ran == {"pull-data", "plan-shards", "build-dataset-shard", "release-training-jobs"}, ran


def test_the_run_follows_kfp_control_flow(tmp_path, image):
    """ParallelFor items, a Collected list, a dsl.If and an exit handler, on a small compiled
    pipeline: the exit task runs after the work, with the work's final status, also when it fails.
    (No `from __future__ import annotations` in this module: kfp reads these annotations.)"""
    from typing import List  # noqa: UP035 - kfp reads the annotation

    from kfp import compiler, dsl

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def square(x: int, fail_on: int, out: dsl.Output[dsl.Dataset]):
        if x == fail_on:
            raise ValueError(f"item {x} fails on purpose")
        with open(out.path, "w") as f:
            f.write(str(x * x))
        out.metadata["x"] = x

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def total(parts: dsl.Input[List[dsl.Dataset]]) -> int:  # noqa: UP006
        return sum(int(open(p.path).read()) for p in parts)

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def report(value: int) -> str:
        return f"total {value}"

    @dsl.component(base_image="python:3.11", install_kfp_package=False)
    def cleanup(status: dsl.PipelineTaskFinalStatus) -> str:
        print(f"cleanup sees {status.state}")
        return status.state

    @dsl.pipeline(name="control-flow")
    def control_flow(fail_on: int = 0):
        with dsl.ExitHandler(cleanup()):
            with dsl.ParallelFor([1, 2, 3]) as item:
                squared = square(x=item, fail_on=fail_on)
            summed = total(parts=dsl.Collected(squared.outputs["out"]))
            with dsl.If(summed.output > 10):
                report(value=summed.output)

    package = tmp_path / "control-flow.yaml"
    compiler.Compiler().compile(control_flow, str(package))
    spec, platform = load_ir(package)
    runner_rbac = [
        {"kind": "Role", "apiVersion": "rbac.authorization.k8s.io/v1",
         "metadata": {"name": "launcher", "namespace": NAMESPACE},
         "rules": [{"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get"]},
                   {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]},
        {"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
         "metadata": {"name": "launcher", "namespace": NAMESPACE},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "launcher"},
         "subjects": [{"kind": "ServiceAccount", "name": RUNNER, "namespace": NAMESPACE}]}]

    def run(root: Path, arguments: dict):
        with rehearsal_world(root, image, overlay=OVERLAY, objects=runner_rbac, pvcs={}, services={}) as world:
            rehearsal = Rehearsal(spec, platform, world)
            try:
                return rehearsal.run(arguments), rehearsal
            except TaskFailed as failure:
                return failure, rehearsal

    result, rehearsal = run(tmp_path / "ok", {})
    ran = [task["task"] for task in rehearsal.result.tasks]
    reported = [t for t in ran if re.fullmatch(r"exit-handler-1/condition-\d+/report", t)]
    assert ran[-1] == "cleanup" and sum(t.endswith("/square") for t in ran) == 3 and len(reported) == 1
    assert result.parameters[reported[0]]["Output"] == "total 14"
    assert "cleanup sees SUCCEEDED" in next((tmp_path / "ok" / "pods").glob("*cleanup*/log.txt")).read_text()

    failure, rehearsal = run(tmp_path / "failing", {"fail_on": 2})
    assert isinstance(failure, TaskFailed) and re.fullmatch(r"exit-handler-1/for-loop-\d+\[1\]/square", failure.task)
    assert "item 2 fails on purpose" in str(failure)
    ran = [task["task"] for task in rehearsal.result.tasks]
    assert ran[-1] == "cleanup" and not any(t.endswith("/total") for t in ran)
    assert "cleanup sees FAILED" in next((tmp_path / "failing" / "pods").glob("*cleanup*/log.txt")).read_text()
