"""Step `build_dataset`: raw clips -> the MER-Caption dataset folder (`affectgpt.data.build`)."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("build_dataset"), install_kfp_package=False)
def build_dataset(raw_dir: str, data_rev: str, dataset: Output[Dataset], config_path: str = "",
                  workers: int = 1):
    """`data_rev` (the DVC revision of the corpus) is an input so that the kfp cache keys on
    the data version: a cache hit can never reuse a dataset built from other data."""
    from affectgpt.data.build import build_dataset as build

    result = build(raw_dir, dataset.path, config_path or None, workers=workers)
    dataset.metadata.update({"data_rev": data_rev, "counts": result.counts, "skipped": result.skipped_by_reason})
