"""Step `register`: the trained model becomes a registry candidate with its bench report as
evidence, registered as the pipeline identity on behalf of `submitted_by` (the author, recorded
by `affectgpt pipeline submit`) (`affectgpt.registry.trained_model.register_trained_model` ->
`affectgpt.registry.register_candidate`)."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Input, Model

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("register"), install_kfp_package=False)
def register(model: Input[Model], bench_report: Input[HTML], model_name: str, data_rev: str,
             scorer_mode: str = "official", promotion_config: str = "",
             unibench_rev: str = "", submitted_by: str = "") -> NamedTuple("RegisterOutputs", [("version", str), ("verdict", str),
                                                                              ("reasons", str), ("run_id", str)]):
    from collections import namedtuple
    from pathlib import Path

    from affectgpt.registry.trained_model import register_trained_model

    candidate = register_trained_model(model.path, bench_report.path, model_name, data_rev=data_rev,
                                       scorer_mode=scorer_mode,
                                       promotion_config=Path(promotion_config) if promotion_config else None,
                                       unibench_rev=unibench_rev, submitted_by=submitted_by or None)
    return namedtuple("RegisterOutputs", ["version", "verdict", "reasons", "run_id"])(
        candidate.version, candidate.verdict, "; ".join(candidate.reasons), candidate.run_id)
