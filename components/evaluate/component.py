"""Step `evaluate`: generate on the test split and score on MER-UniBench (`affectgpt.evaluate`)."""

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Model, Output

from components import step_image


@dsl.component(base_image=step_image("evaluate"), install_kfp_package=False)
def evaluate(model: Input[Model], dataset: Input[Dataset], features: Input[Dataset],
             predictions: Output[Dataset], bench_report: Output[HTML], metrics: Output[Metrics],
             mode: str = "official"):
    from affectgpt.evaluate import evaluate_model

    result = evaluate_model(model.path, dataset.path, predictions.path, bench_report.path,
                            features_dir=features.path, mode=mode)
    for name, value in result.scores.items():
        metrics.log_metric(name, value)
    if result.mean is not None:
        metrics.log_metric("mean", result.mean)
    bench_report.metadata.update({"mode": result.mode, "undefined": result.undefined})
