"""Inputs shared by the pipeline runs: a small demo corpus with a held-out split, a fast build
config and the tiny model config."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_clip_manifest(tmp_path_factory) -> Path:
    """12 demo clips (synthetic speech, real LFW faces) as a clip manifest whose splits repeat
    train/val/train/test, so every run has a held-out test split to score."""
    import pandas as pd

    from affectgpt.data.demo_corpus import make_demo_corpus

    root = tmp_path_factory.mktemp("demo-corpus")
    manifest = make_demo_corpus(root / "corpus", n_clips=12, workers=2)
    table = pd.read_parquet(manifest)
    table["split"] = [("train", "val", "train", "test")[i % 4] for i in range(len(table))]
    for column in ("video_path", "audio_path"):
        table[column] = [str((manifest.parent / p).resolve()) for p in table[column]]
    out = root / "clip_manifest.parquet"
    table.to_parquet(out)
    return out


@pytest.fixture(scope="session")
def fast_configs(tmp_path_factory) -> dict[str, Path]:
    """The build without its MiniLM classifier (minutes), and the tiny model cut to 40 steps:
    the pipeline tests follow the run, not how well the toy learns (tests/train do)."""
    import yaml

    root = tmp_path_factory.mktemp("configs")
    build = root / "build.yaml"
    build.write_text("postfilter:\n  high_level:\n    enabled: false\n")
    tiny = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    tiny["train"].update(max_steps=40)
    model = root / "tiny-40.yaml"
    model.write_text(yaml.safe_dump(tiny))
    return {"build": build, "model": model}
