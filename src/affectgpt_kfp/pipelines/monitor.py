"""`monitor`: drift of an incoming batch against the reference; when drift crosses the
threshold (`affectgpt.monitor` decides), the same run goes on to `retrain`.

    affectgpt pipeline run monitor --local --param reference=REF --param current=CUR

Every input of the nested `retrain` is an input of `monitor` too (corpus, configs, test sets,
gate, decoding, resources), so a drift-launched retrain runs exactly as a direct one would.
"""


from kfp import dsl

from affectgpt_kfp.components.drift_report.component import drift_report
from affectgpt_kfp.pipelines.retrain import TrainBackend, make_retrain_pipeline, pod_shape


def make_monitor_pipeline(train_backend: TrainBackend = "step"):
    """The monitor pipeline; the retrain it launches trains as `train_backend` says: in its step
    on one GPU (`monitor`, also what runs on one machine) or as a PyTorchJob on N GPUs
    (`monitor-k8s`, what a GPU cluster schedules)."""
    retrain = make_retrain_pipeline(train_backend)

    @dsl.pipeline(
        name="affectgpt-monitor" if train_backend == "step" else "affectgpt-monitor-k8s",
        description="Evidently drift report on the newest batch; launches retrain when drift says so.",
    )
    def monitor(
        reference: str,
        current: str,
        raw_dir: str,
        data_rev: str,
        drift_config: str = "",
        model_config: str = "affectgpt-7b.yaml",
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
    ):
        drift = drift_report(reference=reference, current=current, config_path=drift_config)
        drift.set_display_name("drift report").set_cpu_request("2").set_memory_request("4G")
        # The inputs are paths whose contents change from night to night: never a cache hit.
        drift.set_caching_options(False)
        pod_shape(drift, timeout_h=2)
        with dsl.If(drift.outputs["Output"] == True, name="drift-crossed-threshold"):
            retrain(raw_dir=raw_dir, data_rev=data_rev, model_config=model_config, build_config=build_config,
                    model_name=model_name, scorer_mode=scorer_mode, promotion_config=promotion_config,
                    workers=workers, shards=shards, gpus_per_node=gpus_per_node, nodes=nodes, train_cpu=train_cpu,
                    train_memory=train_memory, train_memory_limit=train_memory_limit,
                    train_shm_size=train_shm_size, unibench_dir=unibench_dir,
                    unibench_rev=unibench_rev, decoding=decoding, extractor=extractor, judge=judge,
                    submitted_by=submitted_by, dvc_repo=dvc_repo)

    return monitor


_BACKEND_OF = {"monitor": "step", "monitor_k8s": "k8s"}


def __getattr__(name: str):
    """`monitor` and `monitor_k8s`, built on first use (see `affectgpt_kfp.pipelines.retrain`)."""
    if name in _BACKEND_OF:
        pipeline = globals()[name] = make_monitor_pipeline(_BACKEND_OF[name])
        return pipeline
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
