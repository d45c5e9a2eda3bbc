"""`monitor`: drift of an incoming batch against the reference; when drift crosses the
threshold (`affectgpt.monitor` decides), the same run goes on to `retrain`.

    affectgpt pipeline run monitor --local --param reference=REF --param current=CUR
"""


from kfp import dsl

from components.drift_report.component import drift_report
from pipelines.retrain import make_retrain_pipeline, non_root


def make_monitor_pipeline(retries: bool = True):
    """The monitor pipeline; `retries` as in `make_retrain_pipeline` (off for one machine)."""
    retrain = make_retrain_pipeline("local", retries=retries)

    @dsl.pipeline(
        name="affectgpt-monitor",
        description="Evidently drift report on the newest batch; launches retrain when drift says so.",
    )
    def monitor(
        reference: str,
        current: str,
        raw_dir: str,
        data_rev: str,
        drift_config: str = "",
        model_config: str = "affectgpt-7b.yaml",
        model_name: str = "affectgpt",
        workers: int = 4,
    ):
        drift = drift_report(reference=reference, current=current, config_path=drift_config)
        drift.set_display_name("drift report").set_cpu_request("2").set_memory_request("4G")
        non_root(drift)
        with dsl.If(drift.outputs["Output"] == True, name="drift-crossed-threshold"):
            retrain(raw_dir=raw_dir, data_rev=data_rev, model_config=model_config, model_name=model_name,
                    workers=workers)

    return monitor


monitor = make_monitor_pipeline()
