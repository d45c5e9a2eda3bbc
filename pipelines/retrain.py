"""`retrain`: build_dataset -> extract_features -> train -> evaluate_dataset (one task per
MER-UniBench set, `dsl.ParallelFor`) -> evaluate (collect and score) -> register.

The DVC revision of the corpus (`data_rev`) is a pipeline input that reaches the first step,
so a kfp cache hit can never reuse outputs built from other data; `unibench_rev` (the test
sets' revision) does the same for the evaluation. `unibench_dir` is the MER-UniBench test-set
folder (`affectgpt bench check-sets`); each of the nine sets and the corpus's own `local` split
is evaluated by its own task (a GPU each on the cluster; under kfp.local one task predicts them
all, see `evaluate_test_sets`), and one `evaluate` task scores them all, so the production gate in `register` judges the nine real numbers. Two variants compile from
this module: training inside the `train` step's pod on one GPU (`retrain.yaml`), or the `train`
step launching a PyTorchJob on N GPUs and waiting for it (`retrain-k8s.yaml`).

    affectgpt pipeline run retrain --local          # kfp.local, demo corpus, tiny config
    affectgpt pipeline compile                      # -> pipelines/compiled/*.yaml
"""


from typing import Literal

from kfp import dsl, kubernetes

from affectgpt.bench.datasets import DATASETS, LOCAL
from components.build_dataset.component import build_dataset
from components.evaluate.component import evaluate
from components.evaluate_dataset.component import evaluate_dataset
from components.extract_features.component import extract_features
from components.register.component import register
from components.train.component import train

TrainBackend = Literal["local", "k8s"]
PLATFORM_CONFIG_MAP = "affectgpt-platform"
DATA_PVC = "affectgpt-data"
# Steps that talk to MLflow read its address from the platform ConfigMap and log in as the
# pipeline identity from its Secret (created out of band, docs/platform.md).
MLFLOW_ENV = {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"}
# One evaluation task per MER-UniBench set, plus the built corpus's own held-out split.
TEST_SETS = [*DATASETS, LOCAL]
PIPELINE_IDENTITY_SECRET = "mlflow-pipeline-identity"
PIPELINE_IDENTITY_ENV = {"username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD"}


def non_root(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Run as the image's user (uid 10001), so step pods meet the namespace's "restricted" Pod
    Security Standard; kfp itself drops capabilities and sets RuntimeDefault seccomp."""
    return kubernetes.set_security_context(task, run_as_user=10001, run_as_group=10001, run_as_non_root=True)


def _mlflow_client(task: dsl.PipelineTask) -> dsl.PipelineTask:
    kubernetes.use_config_map_as_env(task, PLATFORM_CONFIG_MAP, MLFLOW_ENV)
    kubernetes.use_secret_as_env(task, PIPELINE_IDENTITY_SECRET, PIPELINE_IDENTITY_ENV)
    kubernetes.add_pod_label(task, "affectgpt.io/mlflow-client", "true")
    return task


def _retry(task: dsl.PipelineTask, enabled: bool, num_retries: int, backoff: str) -> dsl.PipelineTask:
    if enabled:
        task.set_retry(num_retries=num_retries, backoff_duration=backoff, backoff_factor=2)
    return task


def test_set_groups(eval_fanout: bool) -> list[str]:
    """The `evaluate_dataset` tasks' `test_set` values: one set per task (fan-out), or one task
    for every set (comma-separated)."""
    return list(TEST_SETS) if eval_fanout else [",".join(TEST_SETS)]


def evaluate_test_sets(model, dataset, features, *, unibench_dir, unibench_rev, decoding, scorer_mode, extractor,
                       judge, retries: bool = True, eval_parallelism: int = 0, eval_fanout: bool = True,
                       test_sets: list[str] | None = None) -> dsl.PipelineTask:
    """The evaluation part of `retrain`: `evaluate_dataset` over the test sets in a
    `dsl.ParallelFor`, then one `evaluate` task that scores them all; returns that task.
    `eval_fanout=True` (the cluster) runs one task per set, a GPU each; `False` (one machine,
    where the tasks would run one after the other anyway) runs one task for all sets, which
    writes the same per-set folders, so `evaluate` gives the same report either way."""
    groups = list(test_sets) if test_sets is not None else test_set_groups(eval_fanout)
    with dsl.ParallelFor(groups, parallelism=eval_parallelism, name="per-test-set") as test_set:
        predicted = evaluate_dataset(model=model, dataset=dataset, features=features, test_set=test_set,
                                     unibench_dir=unibench_dir, unibench_rev=unibench_rev, decoding=decoding)
        predicted.set_display_name("evaluate test set").set_cpu_request("4").set_memory_request("32G")
        predicted.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        _retry(predicted, retries, 1, "60s")  # node preemption
        non_root(predicted)

    scored = evaluate(predictions=dsl.Collected(predicted.outputs["predictions"]), unibench_dir=unibench_dir,
                      unibench_rev=unibench_rev, mode=scorer_mode, extractor=extractor, judge=judge,
                      decoding=decoding)
    scored.set_display_name("evaluate").set_cpu_request("2").set_memory_request("8G")
    return scored


def make_retrain_pipeline(train_backend: TrainBackend = "local", retries: bool = True, eval_parallelism: int = 0,
                          eval_fanout: bool = True):
    """The retrain pipeline whose `train` step trains in its pod (`local`) or on the cluster
    (`k8s`); resources differ, so the choice is made when compiling. `retries=False` is for
    runs on one machine, where a failure is not transient and should be reported at once
    (kfp.local honours the backoff, minutes per retry). `eval_parallelism` bounds how many
    evaluation tasks run at once (0: all). `eval_fanout=False` evaluates every test set in one
    task (for one machine: see `evaluate_test_sets`)."""

    @dsl.pipeline(
        name="affectgpt-retrain" if train_backend == "local" else "affectgpt-retrain-k8s",
        description="Rebuild the MER-Caption dataset at a DVC revision, extract features, train AffectGPT "
                    "with DeepSpeed, score on MER-UniBench and register a gated candidate in MLflow.",
    )
    def retrain(
        raw_dir: str,
        data_rev: str,
        model_config: str = "affectgpt-7b.yaml",  # a packaged config's name, or a path in the pod
        build_config: str = "",
        model_name: str = "affectgpt",
        scorer_mode: str = "official",
        promotion_config: str = "",
        workers: int = 4,
        gpus_per_node: int = 8,
        nodes: int = 1,
        unibench_dir: str = "",
        unibench_rev: str = "",
        decoding: str = "greedy",
        extractor: str = "lexicon",
        judge: str = "",
        submitted_by: str = "",
    ) -> str:
        built = build_dataset(raw_dir=raw_dir, data_rev=data_rev, config_path=build_config, workers=workers)
        built.set_display_name("build dataset").set_cpu_request("4").set_memory_request("8G")
        _retry(built, retries, 2, "60s")  # describer endpoints, DVC remote

        features = extract_features(dataset=built.outputs["dataset"], model_config=model_config, workers=workers)
        features.set_display_name("extract features").set_cpu_request("4").set_memory_request("16G")
        features.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        _retry(features, retries, 1, "60s")  # node preemption

        trained = train(dataset=built.outputs["dataset"], features=features.outputs["features"],
                        model_config=model_config, backend=train_backend, gpus_per_node=gpus_per_node, nodes=nodes)
        trained.set_display_name("train").set_caching_options(True)
        _mlflow_client(trained)
        if train_backend == "local":
            trained.set_cpu_request("8").set_memory_request("64G")
            trained.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        else:
            # Stages data on the shared volume, submits the PyTorchJob and follows it; the job's pods
            # hold the GPUs. A retry re-attaches to the job already running (names derive from content).
            trained.set_cpu_request("1").set_memory_request("4G")
            _retry(trained, retries, 3, "120s")
            kubernetes.mount_pvc(trained, pvc_name=DATA_PVC, mount_path="/data")

        scored = evaluate_test_sets(trained.outputs["model"], built.outputs["dataset"], features.outputs["features"],
                                    unibench_dir=unibench_dir, unibench_rev=unibench_rev, decoding=decoding,
                                    scorer_mode=scorer_mode, extractor=extractor, judge=judge, retries=retries,
                                    eval_parallelism=eval_parallelism, eval_fanout=eval_fanout)

        registered = register(model=trained.outputs["model"], bench_report=scored.outputs["bench_report"],
                              model_name=model_name, data_rev=data_rev, scorer_mode=scorer_mode,
                              promotion_config=promotion_config, unibench_rev=unibench_rev, submitted_by=submitted_by)
        registered.set_display_name("register").set_cpu_request("500m").set_memory_request("1G")
        _retry(registered, retries, 3, "30s")  # MLflow server restarts
        _mlflow_client(registered)
        for task in (built, features, trained, scored, registered):
            non_root(task)
        return registered.outputs["version"]

    return retrain


retrain = make_retrain_pipeline("local")
retrain_k8s = make_retrain_pipeline("k8s")
