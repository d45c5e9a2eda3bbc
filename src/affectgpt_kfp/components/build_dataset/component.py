"""Steps of the dataset build in shards (`affectgpt.data.shards`): `plan_shards` lists the shard
indices, `build_dataset_shard` does the per-clip work of one shard (a task each in a
`dsl.ParallelFor`), `build_dataset` joins them and does what needs every clip."""

from typing import List  # noqa: UP035 - kfp reads the annotation: Input[List[Dataset]] is its spelling

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("build_dataset"), install_kfp_package=False)
def plan_shards(shards: int) -> list:
    """The shard indices 0..shards-1 the build and the extraction fan out over."""
    from affectgpt.data.shard_key import shard_plan

    return shard_plan(shards)


@dsl.component(base_image=step_image("build_dataset"), install_kfp_package=False)
def build_dataset_shard(raw_dir: str, data_rev: str, shard: int, shards: int, part: Output[Dataset],
                        config_path: str = "", workers: int = 1):
    """`data_rev` (the DVC revision of the corpus) is an input so that the kfp cache keys on
    the data version: a cache hit can never reuse a shard built from other data."""
    from affectgpt.data.shards import build_shard

    build_shard(raw_dir, part.path, shard=shard, shards=shards, config_path=config_path or None, workers=workers)
    part.metadata.update({"data_rev": data_rev, "shard": shard, "shards": shards})


@dsl.component(base_image=step_image("build_dataset"), install_kfp_package=False)
def build_dataset(parts: Input[List[Dataset]], raw_dir: str, data_rev: str,  # noqa: UP006
                  dataset: Output[Dataset], config_path: str = ""):
    """The shards' parts -> the MER-Caption dataset folder (corpus-level filters, tables, data
    card, quarantine, manifest)."""
    from affectgpt.data.shards import reduce_shards

    # A `sha256:` data_rev (a content index's, read by stat alone at submit) is checked here
    # against every byte, before the corpus-level work.
    result = reduce_shards([p.path for p in parts], raw_dir, dataset.path, config_path or None, data_rev=data_rev)
    dataset.metadata.update({"data_rev": data_rev, "counts": result.counts, "skipped": result.skipped_by_reason,
                             "shards": len(parts)})
