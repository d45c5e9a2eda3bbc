"""Step `extract_features`: frozen encoders -> per-clip features (`affectgpt.features.extract`)."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Output

from affectgpt_kfp.components import step_image


@dsl.component(base_image=step_image("extract_features"), install_kfp_package=False)
def extract_features(dataset: Input[Dataset], model_config: str, features: Output[Dataset], workers: int = 1):
    """Encoders are the ones the model config names, so features always match the model."""
    from pathlib import Path

    from affectgpt.features.extract import extract_features as extract
    from affectgpt.model.config import load_config

    manifest = extract(Path(dataset.path) / "clip_manifest.parquet", Path(features.path),
                       load_config(model_config).encoders, workers=workers)  # progress: count lines in the step log
    features.metadata.update({"kept": manifest.kept, "skipped": len(manifest.skipped)})
