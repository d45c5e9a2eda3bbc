"""The pipelines compile, the checked-in IR is current, and the compiled specs carry what the
cluster needs: the DVC revision reaching the first step, GPUs, retries, resources, the
drift-gated retrain. The components' own sources never enter the library (no kfp import)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt_kfp.pipelines import COMPILED_DIR
from affectgpt_kfp.pipelines.compile import compile_all, compile_pipeline

REPO = Path(__file__).resolve().parents[2]
STEPS = ["pull_data", "build_dataset", "extract_features", "train", "predict", "score", "register", "drift_report",
         "release_training_jobs"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("compiled")
    return {p.stem: {"path": p, "docs": list(yaml.safe_load_all(p.read_text()))} for p in compile_all(out)}


def test_checked_in_yaml_is_not_stale(compiled):
    for name, item in compiled.items():
        checked_in = COMPILED_DIR / f"{name}.yaml"
        assert checked_in.is_file(), f"{checked_in} missing: run `affectgpt pipeline compile`"
        assert checked_in.read_text() == item["path"].read_text(), f"{checked_in} is stale: run `affectgpt pipeline compile`"


def test_compile_check_fails_on_stale_yaml(tmp_path, monkeypatch):
    from affectgpt_kfp import pipelines

    stale_dir = tmp_path / "compiled"
    stale_dir.mkdir()
    for path in COMPILED_DIR.glob("*.yaml"):
        (stale_dir / path.name).write_text(path.read_text())
    (stale_dir / "retrain.yaml").write_text((stale_dir / "retrain.yaml").read_text().replace("data_rev", "data_version"))
    monkeypatch.setattr(pipelines, "COMPILED_DIR", stale_dir)
    result = CliRunner().invoke(app, ["pipeline", "compile", "--check"])
    assert result.exit_code == 1 and "stale compiled pipelines: retrain.yaml" in result.output
    monkeypatch.setattr(pipelines, "COMPILED_DIR", COMPILED_DIR)
    assert CliRunner().invoke(app, ["pipeline", "compile", "--check"]).exit_code == 0


def _spec(docs: list[dict]) -> dict:
    return docs[0]


def _platform(docs: list[dict]) -> dict:
    return docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"] if len(docs) > 1 else {}


def test_data_revision_reaches_the_first_step(compiled):
    spec = _spec(compiled["retrain"]["docs"])
    assert "data_rev" in spec["root"]["inputDefinitions"]["parameters"]
    pull = spec["root"]["dag"]["tasks"]["pull-data"]
    assert {name: binding["componentInputParameter"] for name, binding in pull["inputs"]["parameters"].items()} == {
        "dvc_repo": "dvc_repo", "raw_dir": "raw_dir", "data_rev": "data_rev"}
    assert spec["root"]["inputDefinitions"]["parameters"]["dvc_repo"]["defaultValue"] == ""
    build = spec["root"]["dag"]["tasks"]["build-dataset"]
    assert build["inputs"]["parameters"]["data_rev"] == {"componentInputParameter": "data_rev"}
    # The build reads the folder the pull step hands on (raw_dir itself without a DVC repository).
    assert build["inputs"]["parameters"]["raw_dir"] == {
        "taskOutputParameter": {"producerTask": "pull-data", "outputParameterKey": "Output"}}
    register = spec["root"]["dag"]["tasks"]["register"]
    assert register["inputs"]["parameters"]["data_rev"] == {"componentInputParameter": "data_rev"}


def _loop_of(spec: dict, inner: str) -> str:
    """The root task of the `dsl.ParallelFor` whose body holds the task `inner`."""
    return next(name for name, task in spec["root"]["dag"]["tasks"].items() if name.startswith("for-loop")
                and inner in spec["components"][task["componentRef"]["name"]]["dag"]["tasks"])


def test_steps_chain_and_request_resources(compiled):
    spec = _spec(compiled["retrain"]["docs"])
    tasks = spec["root"]["dag"]["tasks"]
    loops = {_loop_of(spec, inner) for inner in ("build-dataset-shard", "extract-features-shard", "predict")}
    assert set(tasks) == {"pull-data", "plan-shards", "build-dataset", "merge-features", "train", "score", "register", *loops}
    assert tasks["train"]["inputs"]["artifacts"]["features"]["taskOutputArtifact"] == {
        "producerTask": "merge-features", "outputArtifactKey": "features"}
    assert tasks["register"]["inputs"]["artifacts"]["bench_report"]["taskOutputArtifact"]["producerTask"] == "score"
    executors = spec["deploymentSpec"]["executors"]
    for task in ("extract-features-shard", "train", "predict"):
        resources = executors[f"exec-{task}"]["container"]["resources"]
        assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu", task
        assert resources["accelerator"]["resourceCount"] == "1", task
    for executor in executors.values():
        assert executor["container"]["image"].startswith("ghcr.io/affectgpt/affectgpt-")
        assert executor["container"]["resources"]["resourceCpuRequest"]
        assert executor["container"]["resources"]["resourceMemoryRequest"]
    assert "retryPolicy" not in tasks["build-dataset"]  # a bad input is not transient
    assert tasks["register"]["retryPolicy"]["maxRetryCount"] == 3


def test_build_and_extraction_fan_out_over_the_planned_shards(compiled):
    """One build task and one extraction task per shard, over the indices `plan-shards` lists
    from the `shards` input; each loop is collected by its reduce; evaluation gets the test
    split's features alone."""
    for name in ("retrain", "retrain-k8s"):
        spec = _spec(compiled[name]["docs"])
        root = spec["root"]
        dag = root["dag"]["tasks"] if "plan-shards" in root["dag"]["tasks"] else next(
            c["dag"]["tasks"] for c in spec["components"].values() if "plan-shards" in c.get("dag", {}).get("tasks", {}))
        assert root["inputDefinitions"]["parameters"]["shards"]["defaultValue"] == 4
        for inner, reduce in (("build-dataset-shard", "build-dataset"), ("extract-features-shard", "merge-features")):
            loop_name = next(n for n, t in dag.items() if n.startswith("for-loop")
                             and inner in spec["components"][t["componentRef"]["name"]]["dag"]["tasks"])
            assert dag[loop_name]["parameterIterator"]["items"]["inputParameter"].endswith("plan-shards-Output")
            assert dag[reduce]["inputs"]["artifacts"]["parts"]["taskOutputArtifact"]["producerTask"] == loop_name
        predict_inputs = [t for n, t in dag.items() if n.startswith("for-loop") and "predict" in
                          spec["components"][t["componentRef"]["name"]]["dag"]["tasks"]][0]["inputs"]["artifacts"]
        produced = {v["taskOutputArtifact"]["outputArtifactKey"] for v in predict_inputs.values()
                    if v["taskOutputArtifact"]["producerTask"] == "merge-features"}
        assert produced == {"test_features"}, name


def test_the_pull_step_gets_the_remote_keys_its_endpoint_and_the_object_store_label(compiled):
    """The DVC remote's keys from the Secret `dvc-remote` (optional: a run without dvc_repo needs
    none), the S3-compatible endpoint from the platform ConfigMap (optional key), the label the
    in-cluster object store admits, and never a cache hit (the folder may have been removed)."""
    from affectgpt_kfp.pipelines.retrain import DVC_REMOTE_ENV, DVC_REMOTE_SECRET

    for name in ("retrain", "retrain-k8s", "monitor", "monitor-k8s"):
        platform = _platform(compiled[name]["docs"])["exec-pull-data"]
        (secret,) = platform["secretAsEnv"]
        assert secret["secretName"] == DVC_REMOTE_SECRET == "dvc-remote" and secret["optional"] is True, name
        assert {kv["secretKey"]: kv["envVar"] for kv in secret["keyToEnv"]} == DVC_REMOTE_ENV, name
        endpoint = [item for item in platform["configMapAsEnv"]
                    if item["keyToEnv"] == [{"configMapKey": "AFFECTGPT_DVC_ENDPOINT_URL",
                                             "envVar": "AFFECTGPT_DVC_ENDPOINT_URL"}]]
        assert endpoint and endpoint[0]["optional"] is True, name
        assert platform["podMetadata"]["labels"] == {"affectgpt.io/s3-client": "true"}, name
        pull = _all_tasks(_spec(compiled[name]["docs"]))["pull-data"]
        assert not pull.get("cachingOptions", {}).get("enableCache"), name
    # No other step holds the remote's keys.
    for name, item in compiled.items():
        for executor, config in _platform(item["docs"]).items():
            if executor != "exec-pull-data":
                assert all(s["secretName"] != DVC_REMOTE_SECRET for s in config.get("secretAsEnv", [])), executor


def test_evaluation_fans_out_one_gpu_task_per_test_set_and_collects_into_register(compiled):
    """Nine MER-UniBench sets plus the corpus's `local` split, a task (and a GPU) each; one
    `score` task collects them; the test sets' revision reaches every evaluation and register."""
    import json

    from affectgpt.bench.datasets import DATASETS

    spec = _spec(compiled["retrain"]["docs"])
    tasks = spec["root"]["dag"]["tasks"]
    assert {"unibench_dir", "unibench_rev", "decoding"} <= set(spec["root"]["inputDefinitions"]["parameters"])
    loop_name = _loop_of(spec, "predict")
    loop = tasks[loop_name]
    assert json.loads(loop["parameterIterator"]["items"]["raw"]) == [*DATASETS, "local"]
    inner = spec["components"][loop["componentRef"]["name"]]["dag"]["tasks"]["predict"]["inputs"]["parameters"]
    assert inner["unibench_rev"] == {"componentInputParameter": "pipelinechannel--unibench_rev"}
    assert inner["decoding"] == {"componentInputParameter": "pipelinechannel--decoding"}
    collected = tasks["score"]["inputs"]["artifacts"]["predictions"]["taskOutputArtifact"]
    assert collected["producerTask"] == loop_name
    assert tasks["register"]["inputs"]["parameters"]["unibench_rev"] == {"componentInputParameter": "unibench_rev"}


def _task_graph(spec: dict) -> dict[str, dict]:
    """Every task of a compiled pipeline (sub-DAGs included) with what shapes the run: its
    component, what it waits for, its retry policy, its loop items and trigger."""
    graph = {}
    for component_name, component in [("root", spec["root"]), *spec["components"].items()]:
        for name, task in component.get("dag", {}).get("tasks", {}).items():
            graph[f"{component_name}/{name}"] = {
                "component": task["componentRef"]["name"], "after": sorted(task.get("dependentTasks", [])),
                "retry": task.get("retryPolicy"), "items": task.get("parameterIterator", {}).get("items"),
                "trigger": task.get("triggerPolicy")}
    return graph


def test_the_local_run_executes_the_clusters_compiled_graph(compiled):
    """`pipeline run --local` loads the checked-in IR, so its task graph (fan-out, retries,
    collection) is the one the cluster runs; the cluster-only variants are refused here."""
    from google.protobuf import json_format

    from affectgpt_kfp.pipelines.local_run import PipelineInputError, load_compiled

    for name in ("retrain", "monitor"):
        local = json_format.MessageToDict(load_compiled(name).pipeline_spec)  # what kfp.local is handed
        cluster = _spec(compiled[name]["docs"])  # the code compiled now, as for a cluster
        graph = _task_graph(cluster)
        assert _task_graph(local) == graph, name
        loop = next(task for task in graph.values() if task["items"] and "raw" in task["items"])
        assert len(json.loads(loop["items"]["raw"])) == 10 and any(task["retry"] for task in graph.values())
    # The multi-GPU variant is the same graph, plus the exit handler that releases its jobs.
    one_gpu, many = _task_graph(_spec(compiled["retrain"]["docs"])), _task_graph(_spec(compiled["retrain-k8s"]["docs"]))
    def names(graph: dict) -> set[str]:  # loop and handler numbers depend on the nesting
        return {re.sub(r"-\d+$", "", key.split("/")[1]) for key in graph}

    assert names(many) - names(one_gpu) == {"exit-handler", "release-training-jobs"}
    assert names(one_gpu) <= names(many)
    with pytest.raises(PipelineInputError, match="PyTorchJob"):
        load_compiled("retrain-k8s")


def test_monitor_hands_every_retrain_input_to_the_nested_retrain(compiled):
    retrain_inputs = set(_spec(compiled["retrain"]["docs"])["root"]["inputDefinitions"]["parameters"])
    monitor_inputs = set(_spec(compiled["monitor"]["docs"])["root"]["inputDefinitions"]["parameters"])
    assert retrain_inputs <= monitor_inputs, retrain_inputs - monitor_inputs


def _all_tasks(spec: dict) -> dict[str, dict]:
    """Every task of the pipeline, in the root DAG and in each sub-DAG (loops, exit handlers, ifs)."""
    tasks: dict[str, dict] = {}
    for component in [spec["root"], *spec["components"].values()]:
        tasks.update(component.get("dag", {}).get("tasks", {}))
    return tasks


def test_k8s_variant_trains_through_a_pytorchjob_without_holding_a_gpu(compiled):
    from affectgpt_kfp.pipelines.retrain import POD_FIELDS

    docs = compiled["retrain-k8s"]["docs"]
    spec = _spec(docs)
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert "accelerator" not in train["resources"]
    inputs = _all_tasks(spec)["train"]["inputs"]["parameters"]
    assert inputs["backend"]["runtimeValue"]["constant"] == "k8s"
    # The job's size comes from pipeline inputs whose defaults are the gpu-cluster overlay's job.
    defaults = {name: item.get("defaultValue") for name, item in spec["root"]["inputDefinitions"]["parameters"].items()}
    assert {k: defaults[k] for k in ("nodes", "gpus_per_node", "train_cpu", "train_memory", "train_memory_limit",
                                     "train_shm_size")} == {"nodes": 2.0, "gpus_per_node": 8.0, "train_cpu": "32",
                                                            "train_memory": "256Gi", "train_memory_limit": "512Gi",
                                                            "train_shm_size": "64Gi"}
    assert inputs["train_shm_size"] == {"componentInputParameter": "pipelinechannel--train_shm_size"}
    assert inputs["job_image"]["runtimeValue"]["constant"] == train["image"]
    assert inputs["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    platform = _platform(docs)["exec-train"]
    assert platform["pvcMount"][0]["constant"] == "affectgpt-data" and platform["pvcMount"][0]["mountPath"] == "/data"
    assert platform["configMapAsEnv"][0]["configMapName"] == "affectgpt-platform"
    assert {item["name"]: item["fieldPath"] for item in platform["fieldPathAsEnv"]} == POD_FIELDS


def test_a_failed_or_cancelled_k8s_run_releases_its_training_jobs(compiled):
    """The whole retrain-k8s DAG sits in an exit handler whose task deletes the run's unfinished
    PyTorchJobs; the monitor's drift-launched retrain is the same multi-GPU variant."""
    for name in ("retrain-k8s", "monitor-k8s"):
        spec = _spec(compiled[name]["docs"])
        tasks = _all_tasks(spec)
        release = tasks["release-training-jobs"]
        assert release["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED", name
        assert release["inputs"]["parameters"]["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
        platform = _platform(compiled[name]["docs"])["exec-release-training-jobs"]
        assert {"name": "POD_NAMESPACE", "fieldPath": "metadata.namespace"} in platform["fieldPathAsEnv"]
        handler = next(t for t in tasks.values() if t["componentRef"]["name"].startswith("comp-exit-handler"))
        inside = spec["components"][handler["componentRef"]["name"]]["dag"]["tasks"]
        assert {"build-dataset", "train", "register"} <= set(inside), name
        assert _all_tasks(spec)["train"]["inputs"]["parameters"]["backend"]["runtimeValue"]["constant"] == "k8s"


def test_every_step_pod_sees_the_data_volume_and_a_writable_workspace(compiled):
    """Paths (raw clips, test sets, drift batches, the workspace) live on the data volume in
    every pod; steps that load weights also mount the models volume; the workspace and the HF
    cache come from the platform ConfigMap."""
    from affectgpt_kfp.pipelines.retrain import WORKSPACE_ENV

    loads_weights = {"exec-extract-features-shard", "exec-predict"}
    for name in ("retrain", "retrain-k8s", "monitor", "monitor-k8s"):
        platform = _platform(compiled[name]["docs"])
        executors = _spec(compiled[name]["docs"])["deploymentSpec"]["executors"]
        assert set(platform) == set(executors), name
        for executor, config in platform.items():
            mounts = {m["constant"]: m["mountPath"] for m in config["pvcMount"]}
            assert mounts["affectgpt-data"] == "/data", (name, executor)
            weights = executor in loads_weights or (executor == "exec-train" and not name.endswith("-k8s"))
            assert ("affectgpt-models" in mounts) == weights, (name, executor)
            env = {kv["envVar"] for item in config["configMapAsEnv"] if item["configMapName"] == "affectgpt-platform"
                   for kv in item["keyToEnv"]}
            assert env >= set(WORKSPACE_ENV), (name, executor)
            assert int(config["activeDeadlineSeconds"]) > 0, (name, executor)


def test_side_effecting_steps_are_never_cache_hits(compiled):
    """A cached `register` would report a version it never created; a cached drift report would
    answer every night with the first night's batch."""
    for name, task_name in (("retrain", "register"), ("retrain-k8s", "register"), ("monitor", "drift-report"),
                            ("monitor", "register"), ("monitor-k8s", "drift-report"), ("monitor-k8s", "register")):
        task = _all_tasks(_spec(compiled[name]["docs"]))[task_name]
        assert not task.get("cachingOptions", {}).get("enableCache"), (name, task_name)
    assert _all_tasks(_spec(compiled["retrain"]["docs"]))["train"]["cachingOptions"]["enableCache"] is True


def test_every_step_image_is_the_content_tag_of_this_code(compiled):
    """Images are immutable: tagged with the hash of what they are built from, compiled in."""
    from affectgpt.image_tag import image_tag

    tag = image_tag()
    assert tag.startswith("src-") and len(tag) == 16
    for name, item in compiled.items():
        for executor in _spec(item["docs"])["deploymentSpec"]["executors"].values():
            assert executor["container"]["image"].endswith(f":{tag}"), (name, executor["container"]["image"])


def test_monitor_launches_retrain_only_when_drift_says_so(compiled):
    spec = _spec(compiled["monitor"]["docs"])
    tasks = spec["root"]["dag"]["tasks"]
    condition = next(t for t in tasks.values() if "triggerPolicy" in t)
    assert "drift-report" in condition["triggerPolicy"]["condition"] and "drift-report" in condition["dependentTasks"]
    branch = spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert any(task["componentRef"]["name"].startswith("comp-affectgpt-retrain") for task in branch.values())


def test_each_component_has_its_files():
    """(The import layering, kfp included, is tests/test_import_layers.py.)"""
    for step in STEPS:
        folder = REPO / "src" / "affectgpt_kfp" / "components" / step
        for name in ("component.py", "Dockerfile", "README.md"):
            assert (folder / name).is_file(), f"components/{step}/{name} missing"


def test_unknown_pipeline_name_is_a_clear_error(tmp_path):
    with pytest.raises(KeyError, match="unknown pipeline 'nope'"):
        compile_pipeline("nope", tmp_path / "x.yaml")
    result = CliRunner().invoke(app, ["pipeline", "submit", "nope", "--host", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "unknown pipeline 'nope'" in result.output


def test_every_step_pod_runs_as_non_root(compiled):
    for name in ("retrain", "retrain-k8s", "monitor", "monitor-k8s"):
        docs = compiled[name]["docs"]
        executors = _spec(docs)["deploymentSpec"]["executors"]
        platform = _platform(docs)
        for executor in executors:
            context = platform[executor]["securityContext"]
            assert context["runAsNonRoot"] is True and context["runAsUser"] == "10001", (name, executor)
