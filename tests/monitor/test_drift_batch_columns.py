"""The monitoring config describes the batches the pipeline really writes: run the real
`features extract` on a small corpus and the real `infer` (both prompts) with a tiny model, load
them as the docs say (`clip_features.parquet+predictions.jsonl`), and check that every configured
column is there and every column there is configured or ignored with a reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from affectgpt.data.schema import write_caption_records, write_clip_manifest
from affectgpt.features.extract import FEATURE_TABLE, extract_features
from affectgpt.monitor.config import DEFAULT_IGNORE, ColumnGroups, load_monitoring_config
from affectgpt.monitor.inputs import load_batch
from affectgpt.monitor.prepare import prepare_batches

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SUBTITLES = ["I can't believe you did that!", "Fine, whatever you say.", "Last night I forgot to thank you."]
GROUPS = ("metadata", "embeddings", "text", "predictions")


@pytest.fixture(scope="module")
def pipeline_batch(demo_clip: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A three-clip corpus -> `extract_features` -> a tiny model -> `predict` (ov and description)."""
    import torch

    from affectgpt.model.build import build_model, build_tokenizer
    from affectgpt.model.config import load_config
    from affectgpt.model.store import save_model_dir
    from affectgpt.train.infer import predict

    folder = tmp_path_factory.mktemp("batch")
    media = folder / "media"
    media.mkdir()
    shutil.copy(demo_clip["video"], media / "demo.mp4")
    shutil.copy(demo_clip["audio"], media / "demo.wav")
    clips = [f"clip_{i}" for i in range(len(SUBTITLES))]
    write_clip_manifest([
        {"clip_id": clip, "video_path": str(media / "demo.mp4"), "audio_path": str(media / "demo.wav"),
         "subtitle": subtitle, "language": "en", "source": "demo", "split": "test", "emotion": "happy",
         "ov_labels": ["happy"]}
        for clip, subtitle in zip(clips, SUBTITLES)
    ], folder / "clip_manifest.parquet")
    config = load_config(REPO / "configs" / "tiny.yaml")
    data = folder / "data"
    extract_features(folder / "clip_manifest.parquet", data / "features", config.encoders, progress=False)
    write_caption_records([{"clip_id": clip, "subtitle": subtitle, "split": "test", "description": "calm.",
                            "ov_labels": ["happy"]} for clip, subtitle in zip(clips, SUBTITLES)],
                          data / "mer-caption.parquet")
    torch.manual_seed(0)
    tokenizer = build_tokenizer(config, SUBTITLES * 4)
    model_dir = save_model_dir(build_model(config, tokenizer).eval(), tokenizer, folder / "model")
    outputs = {"features": data / "features" / FEATURE_TABLE}
    for prompt in ("ov", "description"):
        outputs[prompt] = predict(model_dir, data, folder / f"{prompt}.jsonl", prompt=prompt, max_new_tokens=6,
                                  dataset="mer2023", progress=False)
    return outputs


def test_every_configured_column_is_written_and_every_written_column_is_configured(pipeline_batch) -> None:
    config, source = load_monitoring_config()
    assert source is not None and source.name == "monitoring.yaml"
    spec = f"{pipeline_batch['features']}+{pipeline_batch['ov']}+{pipeline_batch['description']}"
    batch = load_batch(spec)
    assert len(batch) == 3

    configured = {column for group in GROUPS for column in getattr(config.columns, group)}
    assert configured - set(batch.columns) == set(), "configured but written by neither extract nor infer"
    unexplained = set(batch.columns) - configured - {column for column, why in config.columns.ignore.items() if why}
    assert unexplained == set(), "written but neither checked nor ignored with a reason"

    # Every numeric column the extractor writes (its own names, before the monitor's renaming).
    raw = pd.read_parquet(pipeline_batch["features"])
    renamed = {"frames_mean": "frame_emb", "faces_mean": "face_emb", "audio_mean": "audio_emb"}
    for column in raw.columns:
        values = raw[column].dropna()
        numeric = pd.api.types.is_numeric_dtype(raw[column]) or (
            len(values) and isinstance(values.iloc[0], (list, np.ndarray)))
        if numeric:
            name = renamed.get(column, column)
            assert name in configured or config.columns.ignore.get(name), column

    # The monitor uses them all: nothing is skipped for being absent or unconfigured.
    prepared = prepare_batches(batch, batch, config)
    reasons = {item.column: item.reason for item in prepared.skipped}
    assert not {c: r for c, r in reasons.items() if r in ("not_configured", "absent_in_both")
                or r.startswith("missing_from")}, reasons
    assert {"frame_emb", "face_emb", "audio_emb", "text_emb"} <= set(prepared.embeddings)
    assert prepared.embeddings["text_emb"][0].shape == (3, 384)  # MiniLM of the subtitle, as Feast ingest
    # Model outputs are what the model said (the ov run's first extracted label), never gold labels.
    said = pd.read_json(pipeline_batch["ov"], lines=True).set_index("clip_id")["extracted_labels"]
    for row in batch.itertuples():
        labels = list(said[row.clip_id])
        assert (row.predicted_label if isinstance(row.predicted_label, str) else None) == (labels[0] if labels else None)
        assert list(row.ov_labels) == labels
    assert "emotion" not in batch.columns


def test_packaged_yaml_and_built_in_defaults_agree() -> None:
    config, _ = load_monitoring_config()
    defaults = ColumnGroups()
    for group in GROUPS:
        assert getattr(config.columns, group) == getattr(defaults, group), group
    assert config.columns.ignore == DEFAULT_IGNORE


def test_cli_reads_features_plus_predictions_as_the_readme_writes_them(pipeline_batch, tmp_path) -> None:
    from typer.testing import CliRunner

    from affectgpt.cli import app

    spec = f"{pipeline_batch['features']}+{pipeline_batch['ov']}"
    result = CliRunner().invoke(app, ["drift", "report", "--reference", spec, "--current", spec,
                                      "--out", str(tmp_path / "report")])
    # Three clips are too few for a test: inconclusive (exit 3), yet every column was found.
    assert result.exit_code == 3, result.output
    assert "INCONCLUSIVE" in result.output and "drifted share 0.00 %" in result.output
    assert "not_configured" not in result.output
    absent = {line.split()[1].rstrip(":") for line in result.output.splitlines() if "absent_in_both" in line}
    assert absent == {"description", "description_len"}  # only a --prompt description run writes them
    assert f"report: {tmp_path / 'report' / 'drift.html'}" in result.output
