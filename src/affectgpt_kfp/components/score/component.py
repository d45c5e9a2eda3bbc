"""Step `score`: collect the per-set predictions of `predict` (one folder per set in
each of its outputs) and score them on MER-UniBench in one report
(`affectgpt.bench.evaluation.score_prediction_folders`)."""

from typing import List  # noqa: UP035 - kfp reads the annotation: Input[List[Dataset]] is its spelling

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Metrics, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("score"), install_kfp_package=False)
def score(predictions: Input[List[Dataset]],  # noqa: UP006
             bench_report: Output[HTML], metrics: Output[Metrics],
             unibench_dir: str = "", unibench_rev: str = "", mode: str = "official", extractor: str = "lexicon",
             judge: str = "", decoding: str = "greedy"):
    """`extractor` is `lexicon` (offline) or `llm`; `judge` names the llm extractor's model
    folder or OpenAI-compatible endpoint URL."""
    from affectgpt.bench.evaluation import score_prediction_folders

    result = score_prediction_folders([p.path for p in predictions], bench_report.path,
                                      unibench_dir=unibench_dir or None, mode=mode, extractor=extractor, judge=judge,
                                      decoding=decoding, unibench_rev=unibench_rev)
    for name, value in result.scores.items():
        metrics.log_metric(name, value)
    if result.mean is not None:
        metrics.log_metric("mean", result.mean)
    bench_report.metadata.update({"mode": result.mode, "undefined": result.undefined, "decoding": result.decoding,
                                  "unibench_rev": unibench_rev})
