"""Steps of feature extraction in shards: `extract_features_shard` encodes one shard's clips
into packs (`affectgpt.features.extract`, a task each in a `dsl.ParallelFor`), `merge_features`
joins them into the training features and the test split's features
(`affectgpt.features.merge`)."""

from typing import List  # noqa: UP035 - kfp reads the annotation: Input[List[Dataset]] is its spelling

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("extract_features"), install_kfp_package=False)
def extract_features_shard(dataset: Input[Dataset], model_config: str, shard: int, shards: int,
                           part: Output[Dataset], workers: int = 1):
    """Encoders are the ones the model config names, so features always match the model."""
    from pathlib import Path

    from affectgpt.features.extract import extract_features as extract
    from affectgpt.model.config import load_config

    manifest = extract(Path(dataset.path) / "clip_manifest.parquet", Path(part.path),
                       load_config(model_config).encoders, workers=workers, shard=shard,
                       shards=shards)  # progress: count lines in the step log
    part.metadata.update({"kept": manifest.kept, "skipped": len(manifest.skipped), "shard": shard})


@dsl.component(base_image=step_image("extract_features"), install_kfp_package=False)
def merge_features(parts: Input[List[Dataset]], features: Output[Dataset],  # noqa: UP006
                   test_features: Output[Dataset]):
    """`features`: the train/val packs (training reads them); `test_features`: the test
    split's packs alone (evaluation reads them), so neither step downloads the other's."""
    from affectgpt.features.merge import EVALUATION_SPLITS, TRAINING_SPLITS, merge_feature_shards

    paths = [p.path for p in parts]
    training = merge_feature_shards(paths, features.path, splits=TRAINING_SPLITS)
    evaluation = merge_feature_shards(paths, test_features.path, splits=EVALUATION_SPLITS)
    features.metadata.update({"kept": training.kept, "skipped": len(training.skipped), "packs": training.extra["packs"]})
    test_features.metadata.update({"kept": evaluation.kept, "packs": evaluation.extra["packs"]})
