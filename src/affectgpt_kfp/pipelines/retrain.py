"""`retrain`: pull_data -> plan_shards -> build_dataset_shard (one task per shard, `dsl.ParallelFor`) ->
build_dataset (reduce) -> extract_features_shard (one task per shard) -> merge_features ->
train -> predict (one task per MER-UniBench set, `dsl.ParallelFor`) -> score (collect and
score) -> register.

`shards` splits the per-clip work of the build and of the extraction into that many tasks (a
clip's shard is a hash of its id, `affectgpt.data.shard_key`); the reduce does what needs every
clip, and writes the dataset an unsharded build would. The extraction's packs are joined into
`features` (train/val, what training reads) and `test_features` (what evaluation reads).

The DVC revision of the corpus (`data_rev`) is a pipeline input that reaches the first step,
so a kfp cache hit can never reuse outputs built from other data. With `dvc_repo` (a DVC
repository on the data volume, or a git URL) `raw_dir` names the tracked folder inside it, and
`pull_data` first brings that revision from the repository's remote onto the data volume; the
build reads the folder it returns (without `dvc_repo` it hands `raw_dir` on unchanged); `unibench_rev` (the test
sets' revision) does the same for the evaluation. `unibench_dir` is the MER-UniBench test-set
folder (`affectgpt bench check-sets`); each of the nine sets and the corpus's own `local` split
is evaluated by its own task (a GPU each on the cluster, one after the other under kfp.local),
and one `score` task scores them all, so the production gate in `register` judges the nine
real numbers. Two variants compile from this module: training inside the `train` step's pod on
one GPU (`retrain.yaml`, also what `pipeline run --local` runs, from that very file), or the
`train` step launching a PyTorchJob on N GPUs and waiting for it (`retrain-k8s.yaml`).

In the cluster every step pod mounts the data volume at `/data` (raw clips, test sets, the
workspace with its caches and the in-pod training's checkpoints), the steps that load weights
mount the models volume at `/models` (the HF cache the configs' hub ids resolve from), and each
takes `AFFECTGPT_HOME` and `HF_HOME` from the platform ConfigMap (docs/deploy.md).

    affectgpt pipeline run retrain --local          # kfp.local, demo corpus, tiny config
    affectgpt pipeline compile                      # -> src/affectgpt_kfp/pipelines/compiled/*.yaml
"""


from typing import Literal

from kfp import dsl, kubernetes

from affectgpt.bench.datasets import DATASETS, LOCAL
from affectgpt_kfp.components import step_image
from affectgpt_kfp.components.build_dataset.component import build_dataset, build_dataset_shard, plan_shards
from affectgpt_kfp.components.extract_features.component import extract_features_shard, merge_features
from affectgpt_kfp.components.predict.component import predict
from affectgpt_kfp.components.pull_data.component import pull_data
from affectgpt_kfp.components.register.component import register
from affectgpt_kfp.components.release_training_jobs.component import release_training_jobs
from affectgpt_kfp.components.score.component import score
from affectgpt_kfp.components.train.component import train

TrainBackend = Literal["step", "k8s"]
PLATFORM_CONFIG_MAP = "affectgpt-platform"
DATA_PVC = "affectgpt-data"
DATA_MOUNT = "/data"
MODELS_PVC = "affectgpt-models"
MODELS_MOUNT = "/models"
# Every step's workspace and HF cache come from the platform ConfigMap (infra), where they point
# into the volumes above: the image's root is read-only and its WORKDIR belongs to root.
WORKSPACE_ENV = {"AFFECTGPT_HOME": "AFFECTGPT_HOME", "HF_HOME": "HF_HOME", "HF_HUB_OFFLINE": "HF_HUB_OFFLINE"}
# The GPUs of one node of the pool, from the platform ConfigMap: the train step refuses a
# PyTorchJob whose pods ask for more (affectgpt.cluster.job_shape).
NODE_POOL_ENV = {"AFFECTGPT_NODE_GPUS": "AFFECTGPT_NODE_GPUS"}
# The train step's pod, as the owner of the PyTorchJob it launches and the namespace to launch it in.
POD_FIELDS = {"POD_NAME": "metadata.name", "POD_UID": "metadata.uid", "POD_NAMESPACE": "metadata.namespace"}
# How long a step may run before Kubernetes stops it (activeDeadlineSeconds).
HOUR = 3600
# Steps that talk to MLflow read its address from the platform ConfigMap and log in as the
# pipeline identity from its Secret (created out of band, docs/platform.md).
MLFLOW_ENV = {"MLFLOW_TRACKING_URI": "MLFLOW_TRACKING_URI"}
# One evaluation task per MER-UniBench set, plus the built corpus's own held-out split.
TEST_SETS = [*DATASETS, LOCAL]
PIPELINE_IDENTITY_SECRET = "mlflow-pipeline-identity"
PIPELINE_IDENTITY_ENV = {"username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD"}
# The DVC remote's keys (Secret created out of band, docs/deploy.md; optional: a run without
# `dvc_repo` needs none) and the endpoint of an S3-compatible store (platform ConfigMap).
DVC_REMOTE_SECRET = "dvc-remote"
DVC_REMOTE_ENV = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"}
DVC_ENDPOINT_ENV = {"AFFECTGPT_DVC_ENDPOINT_URL": "AFFECTGPT_DVC_ENDPOINT_URL"}


def non_root(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """Run as the image's user (uid 10001), so step pods meet the namespace's "restricted" Pod
    Security Standard; kfp itself drops capabilities and sets RuntimeDefault seccomp."""
    return kubernetes.set_security_context(task, run_as_user=10001, run_as_group=10001, run_as_non_root=True)


def pod_shape(task: dsl.PipelineTask, *, loads_weights: bool = False, timeout_h: float = 6) -> dsl.PipelineTask:
    """What a step's pod needs in the cluster: the data volume, the models volume where weights
    are loaded, the workspace env, a non-root user and a deadline. kfp.local ignores all of it."""
    kubernetes.mount_pvc(task, pvc_name=DATA_PVC, mount_path=DATA_MOUNT)
    if loads_weights:
        kubernetes.mount_pvc(task, pvc_name=MODELS_PVC, mount_path=MODELS_MOUNT)
    kubernetes.use_config_map_as_env(task, PLATFORM_CONFIG_MAP, WORKSPACE_ENV)
    kubernetes.set_timeout(task, int(timeout_h * HOUR))
    return non_root(task)


def _mlflow_client(task: dsl.PipelineTask) -> dsl.PipelineTask:
    kubernetes.use_config_map_as_env(task, PLATFORM_CONFIG_MAP, MLFLOW_ENV)
    kubernetes.use_secret_as_env(task, PIPELINE_IDENTITY_SECRET, PIPELINE_IDENTITY_ENV)
    kubernetes.add_pod_label(task, "affectgpt.io/mlflow-client", "true")
    return task


def _retry(task: dsl.PipelineTask, num_retries: int, backoff: str) -> dsl.PipelineTask:
    """Retries for what fails transiently on a cluster; kfp.local honours them too (a step that
    fails for good is reported after its retries)."""
    return task.set_retry(num_retries=num_retries, backoff_duration=backoff, backoff_factor=2)


def evaluate_test_sets(model, dataset, features, *, unibench_dir, unibench_rev, decoding, scorer_mode, extractor,
                       judge) -> dsl.PipelineTask:
    """The evaluation part of `retrain`: `predict` over the test sets in a
    `dsl.ParallelFor`, one task (a GPU on the cluster) per set, then one `score` task that
    scores them all; returns that task."""
    with dsl.ParallelFor(list(TEST_SETS), name="per-test-set") as test_set:
        predicted = predict(model=model, dataset=dataset, features=features, test_set=test_set,
                            unibench_dir=unibench_dir, unibench_rev=unibench_rev, decoding=decoding)
        predicted.set_display_name("predict test set").set_cpu_request("4").set_memory_request("32G")
        predicted.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        _retry(predicted, 1, "60s")  # node preemption
        pod_shape(predicted, loads_weights=True, timeout_h=12)

    scored = score(predictions=dsl.Collected(predicted.outputs["predictions"]), unibench_dir=unibench_dir,
                   unibench_rev=unibench_rev, mode=scorer_mode, extractor=extractor, judge=judge,
                   decoding=decoding)
    scored.set_display_name("score").set_cpu_request("2").set_memory_request("8G")
    pod_shape(scored, timeout_h=2)
    return scored


def _pull_step(*, dvc_repo, raw_dir, data_rev) -> dsl.PipelineTask:
    """`pull_data`: the corpus revision onto the data volume (a no-op without `dvc_repo`); its
    output is the folder the build reads."""
    pulled = pull_data(dvc_repo=dvc_repo, raw_dir=raw_dir, data_rev=data_rev)
    pulled.set_display_name("pull data").set_cpu_request("500m").set_memory_request("1G")
    # Never a cache hit: the folder it returned last time may have been removed since; a pulled
    # revision is found on the volume at once, and the build's cache keys on the same path.
    pulled.set_caching_options(False)
    _retry(pulled, 2, "30s")  # the object store's blips
    kubernetes.use_secret_as_env(pulled, DVC_REMOTE_SECRET, DVC_REMOTE_ENV, optional=True)
    kubernetes.use_config_map_as_env(pulled, PLATFORM_CONFIG_MAP, DVC_ENDPOINT_ENV, optional=True)
    kubernetes.add_pod_label(pulled, "affectgpt.io/s3-client", "true")
    pod_shape(pulled, timeout_h=6)
    return pulled


def _data_steps(*, raw_dir, data_rev, build_config, model_config, workers, shards):
    """The dataset build and the feature extraction, each fanned out over the shards and joined
    by one task; returns the (build_dataset, merge_features) tasks."""
    plan = plan_shards(shards=shards)
    plan.set_display_name("plan shards").set_cpu_request("100m").set_memory_request("256M")
    pod_shape(plan, timeout_h=0.25)

    with dsl.ParallelFor(plan.output, name="build-shards") as shard:
        part = build_dataset_shard(raw_dir=raw_dir, data_rev=data_rev, shard=shard, shards=shards,
                                   config_path=build_config, workers=workers)
        part.set_display_name("build dataset shard").set_cpu_request("4").set_memory_request("8G")
        # No retry: what makes a build fail is its input (a clip, a subtitle, a config), which a retry
        # cannot fix; a rerun after the fix reuses the per-clip cache on the data volume.
        pod_shape(part, timeout_h=24)
    built = build_dataset(parts=dsl.Collected(part.outputs["part"]), raw_dir=raw_dir, data_rev=data_rev,
                          config_path=build_config)
    built.set_display_name("build dataset").set_cpu_request("2").set_memory_request("16G")
    pod_shape(built, timeout_h=6)

    with dsl.ParallelFor(plan.output, name="extract-shards") as shard:
        extracted = extract_features_shard(dataset=built.outputs["dataset"], model_config=model_config, shard=shard,
                                           shards=shards, workers=workers)
        extracted.set_display_name("extract features shard").set_cpu_request("4").set_memory_request("16G")
        extracted.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        _retry(extracted, 1, "60s")  # node preemption
        pod_shape(extracted, loads_weights=True, timeout_h=24)
    features = merge_features(parts=dsl.Collected(extracted.outputs["part"]))
    features.set_display_name("merge features").set_cpu_request("2").set_memory_request("8G")
    pod_shape(features, timeout_h=6)
    return built, features


def _retrain_steps(train_backend: TrainBackend, *,
                   dvc_repo, raw_dir, data_rev, model_config, build_config, model_name, scorer_mode, promotion_config,
                   workers, shards, job_size: dict, unibench_dir, unibench_rev, decoding, extractor, judge,
                   submitted_by):
    """The steps of `retrain` (inside the exit handler for `k8s`); returns the registered version."""
    pulled = _pull_step(dvc_repo=dvc_repo, raw_dir=raw_dir, data_rev=data_rev)
    built, features = _data_steps(raw_dir=pulled.output, data_rev=data_rev, build_config=build_config,
                                  model_config=model_config, workers=workers, shards=shards)

    trained = train(dataset=built.outputs["dataset"], features=features.outputs["features"],
                    model_config=model_config, backend=train_backend, job_image=step_image("train"),
                    run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER, **job_size)
    trained.set_display_name("train").set_caching_options(True)
    _mlflow_client(trained)
    if train_backend == "step":
        # Trains in the workspace on the data volume: a retry resumes from its checkpoints.
        trained.set_cpu_request("8").set_memory_request("64G")
        trained.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(1)
        _retry(trained, 2, "120s")  # node preemption
        pod_shape(trained, loads_weights=True, timeout_h=24 * 7)
    else:
        # Stages data on the shared volume, submits the PyTorchJob and follows it; the job's pods
        # hold the GPUs. A retry re-attaches to the job already running (names derive from content).
        trained.set_cpu_request("1").set_memory_request("4G")
        _retry(trained, 3, "120s")
        for env_name, field_path in POD_FIELDS.items():
            kubernetes.use_field_path_as_env(trained, env_name, field_path)
        kubernetes.use_config_map_as_env(trained, PLATFORM_CONFIG_MAP, NODE_POOL_ENV)
        pod_shape(trained, timeout_h=24 * 7)  # the job's pods load the weights, not this one

    scored = evaluate_test_sets(trained.outputs["model"], built.outputs["dataset"], features.outputs["test_features"],
                                unibench_dir=unibench_dir, unibench_rev=unibench_rev, decoding=decoding,
                                scorer_mode=scorer_mode, extractor=extractor, judge=judge)

    registered = register(model=trained.outputs["model"], bench_report=scored.outputs["bench_report"],
                          model_name=model_name, data_rev=data_rev, scorer_mode=scorer_mode,
                          promotion_config=promotion_config, unibench_rev=unibench_rev, submitted_by=submitted_by)
    registered.set_display_name("register").set_cpu_request("500m").set_memory_request("1G")
    _retry(registered, 3, "30s")  # MLflow server restarts
    # Registering is a side effect: a cache hit would report a version without creating one.
    registered.set_caching_options(False)
    _mlflow_client(registered)
    pod_shape(registered, timeout_h=1)
    return registered.outputs["version"]


def make_retrain_pipeline(train_backend: TrainBackend = "step"):
    """The retrain pipeline whose `train` step trains in its own pod (`step`) or on the cluster
    (`k8s`); resources differ, so the choice is made when compiling. There is no other switch:
    a local run executes the same compiled graph as the cluster."""

    def retrain(
        raw_dir: str,
        data_rev: str,
        model_config: str = "affectgpt-7b.yaml",  # a packaged config's name, or a path in the pod
        build_config: str = "",
        model_name: str = "affectgpt",
        scorer_mode: str = "official",
        promotion_config: str = "",
        workers: int = 4,
        shards: int = 4,
        gpus_per_node: int = 8,
        nodes: int = 2,
        train_cpu: str = "32",
        train_memory: str = "256Gi",
        train_memory_limit: str = "512Gi",
        train_shm_size: str = "64Gi",
        unibench_dir: str = "",
        unibench_rev: str = "",
        decoding: str = "greedy",
        extractor: str = "lexicon",
        judge: str = "",
        submitted_by: str = "",
        dvc_repo: str = "",
    ) -> str | None:
        job_size = {"gpus_per_node": gpus_per_node, "nodes": nodes, "train_cpu": train_cpu,
                    "train_memory": train_memory, "train_memory_limit": train_memory_limit,
                    "train_shm_size": train_shm_size}
        if train_backend == "k8s":
            # However the run ends, its unfinished training jobs are deleted (their GPUs freed).
            release = release_training_jobs(run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER)
            release.set_display_name("release training jobs").set_cpu_request("100m").set_memory_request("256M")
            release.set_caching_options(False)
            kubernetes.use_field_path_as_env(release, "POD_NAMESPACE", POD_FIELDS["POD_NAMESPACE"])  # the jobs' namespace
            pod_shape(release, timeout_h=0.25)
            with dsl.ExitHandler(release, name="release-training-jobs"):
                _retrain_steps(train_backend, dvc_repo=dvc_repo, raw_dir=raw_dir,
                                      data_rev=data_rev, model_config=model_config, build_config=build_config,
                                      model_name=model_name, scorer_mode=scorer_mode,
                                      promotion_config=promotion_config, workers=workers, shards=shards, job_size=job_size,
                                      unibench_dir=unibench_dir, unibench_rev=unibench_rev, decoding=decoding,
                                      extractor=extractor, judge=judge, submitted_by=submitted_by)
            return None  # kfp takes no pipeline output from inside an exit handler
        return _retrain_steps(train_backend, dvc_repo=dvc_repo, raw_dir=raw_dir,
                              data_rev=data_rev, model_config=model_config, build_config=build_config,
                              model_name=model_name, scorer_mode=scorer_mode, promotion_config=promotion_config,
                              workers=workers, shards=shards, job_size=job_size, unibench_dir=unibench_dir,
                              unibench_rev=unibench_rev, decoding=decoding, extractor=extractor, judge=judge,
                              submitted_by=submitted_by)

    # The version registered is the pipeline's output where kfp allows one (no exit handler).
    retrain.__annotations__["return"] = str if train_backend == "step" else None
    return dsl.pipeline(
        name="affectgpt-retrain" if train_backend == "step" else "affectgpt-retrain-k8s",
        description="Rebuild the MER-Caption dataset at a DVC revision, extract features, train AffectGPT "
                    "with DeepSpeed, score on MER-UniBench and register a gated candidate in MLflow.",
    )(retrain)


_BACKEND_OF = {"retrain": "step", "retrain_k8s": "k8s"}


def __getattr__(name: str):
    """`retrain` and `retrain_k8s`, built on first use: building a pipeline runs its graph
    function through kfp (about a second each, more in a big process: kfp inspects the call
    stack for every task), which importing this module for its constants should not pay."""
    if name in _BACKEND_OF:
        pipeline = globals()[name] = make_retrain_pipeline(_BACKEND_OF[name])
        return pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
