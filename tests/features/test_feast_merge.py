"""The analyst's Feast path as the docs write it, on a real repo (file offline store, sqlite
online store): ingest the extractor's features, then the clip manifest, then predictions; the
later ingests must not null what the earlier ones wrote, gold labels must never become model
outputs, `features online` must be readable, and the documented ISO times must work."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.features.definitions import table_path
from affectgpt.monitor.inputs import DriftInputError, load_batch

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)  # after the docs' 2026-12-02T04:50:00+00:00
CLIPS = ["clip_a", "clip_b"]


def _features() -> pd.DataFrame:
    """What `features extract` writes (its own column names)."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "clip_id": CLIPS, "event_timestamp": [T0, T0], "duration_s": [3.5, 4.0], "fps": [25.0, 30.0],
        "n_video_frames": [88, 120], "audio_duration_s": [3.4, 3.9], "face_ratio": [1.0, 0.5],
        "speech_ratio": [0.7, 0.4],
        **{name: [rng.normal(size=8).tolist() for _ in CLIPS] for name in ("frames_mean", "faces_mean", "audio_mean")},
        "cache_key": ["k1", "k2"], "split": ["test", "test"], "source": ["demo", "demo"], "language": ["en", "en"],
    })


def _manifest() -> pd.DataFrame:
    """A clip manifest: subtitles and the GOLD labels (emotion, ov_labels)."""
    return pd.DataFrame({
        "clip_id": CLIPS, "video_path": ["a.mp4", "b.mp4"], "audio_path": [None, None],
        "subtitle": ["I can't believe it!", "Fine."], "language": ["en", "en"], "duration_s": [None, None],
        "source": ["demo", "demo"], "split": ["test", "test"], "emotion": ["surprise", "neutral"],
        "valence": [0.5, 0.0], "ov_labels": [["surprise", "joy"], ["neutral"]],
    })


def _predictions(path: Path) -> Path:
    """Lines as `affectgpt infer` writes them."""
    lines = [{"clip_id": clip, "dataset": "local", "prompt_type": "ov", "decoding": "greedy", "output": text,
              "extracted_labels": labels, "extractor": {"name": "lexicon", "version": "1", "prompt_hash": "x"}}
             for clip, text, labels in (("clip_a", "angry, tense", ["angry", "tense"]), ("clip_b", "sad", ["sad"]))]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """features -> manifest -> predictions, ingested with the CLI; returns the repo and the outputs."""
    folder = tmp_path_factory.mktemp("merge")
    runner = CliRunner()
    repo_dir = folder / "feature_repo"
    assert runner.invoke(app, ["features", "init", "--repo", str(repo_dir)]).exit_code == 0
    assert runner.invoke(app, ["features", "apply", "--repo", str(repo_dir)]).exit_code == 0
    _features().to_parquet(folder / "clip_features.parquet")
    _manifest().to_parquet(folder / "clip_manifest.parquet")
    outputs = []
    for table in (folder / "clip_features.parquet", folder / "clip_manifest.parquet",
                  _predictions(folder / "preds.jsonl")):
        result = runner.invoke(app, ["features", "ingest", str(table), "--repo", str(repo_dir),
                                     "--no-text-embedding"])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    return repo_dir, outputs


def test_later_ingests_keep_what_earlier_ones_wrote(repo: tuple[Path, list[str]]) -> None:
    repo_dir, _ = repo
    metadata = pd.read_parquet(repo_dir / table_path("clip_metadata")).set_index("clip_id").sort_index()
    assert len(metadata) == 2  # the manifest's rows merged into the extractor's, not added beside them
    assert metadata["fps"].tolist() == [25.0, 30.0]
    assert metadata["face_ratio"].tolist() == [1.0, 0.5]
    assert metadata["duration_s"].tolist() == [3.5, 4.0]  # the manifest's null duration does not erase it
    assert metadata["subtitle_len"].tolist() == [19, 5]  # from the manifest's subtitle
    embeddings = pd.read_parquet(repo_dir / table_path("clip_embeddings"))
    assert len(embeddings) == 2 and all(len(vector) == 8 for vector in embeddings["frame_emb"])


def test_gold_labels_never_become_model_outputs(repo: tuple[Path, list[str]]) -> None:
    repo_dir, outputs = repo
    assert "model_outputs" in outputs[1] and "not written" in outputs[1]
    outputs_table = pd.read_parquet(repo_dir / table_path("model_outputs")).set_index("clip_id").sort_index()
    assert outputs_table["predicted_label"].tolist() == ["angry", "sad"]  # from predictions, not 'surprise'
    assert [list(labels) for labels in outputs_table["ov_labels"]] == [["angry", "tense"], ["sad"]]


def test_online_read_after_materialize_is_whole_and_readable(repo: tuple[Path, list[str]]) -> None:
    repo_dir, outputs = repo
    runner = CliRunner()
    hint = next(line for line in outputs[-1].splitlines() if "features materialize" in line)
    start = hint.split("--start ", 1)[1].strip()
    assert runner.invoke(app, ["features", "materialize", "--repo", str(repo_dir), "--start",
                               (T0 - timedelta(minutes=1)).isoformat()]).exit_code == 0, start
    as_json = runner.invoke(app, ["features", "online", "clip_a", "clip_b", "--repo", str(repo_dir), "--json"])
    assert as_json.exit_code == 0, as_json.output
    values = json.loads(as_json.output)
    assert values["clip_a"]["clip_metadata:fps"] == 25.0 and values["clip_b"]["clip_metadata:face_ratio"] == 0.5
    assert len(values["clip_a"]["clip_embeddings:frame_emb"]) == 8
    assert values["clip_a"]["model_outputs:predicted_label"] == "angry"

    table = runner.invoke(app, ["features", "online", "clip_a", "--repo", str(repo_dir)], terminal_width=80)
    assert table.exit_code == 0, table.output
    for name in ("duration_s", "face_ratio", "speech_ratio", "subtitle_len", "frame_emb", "predicted_label",
                 "description_len", "model_version"):
        assert f" {name} " in table.output, (name, table.output)  # full names, one row each
    assert "(8 values)" in table.output and "100.00 %" in table.output  # vectors by size, ratios in percent


@pytest.mark.parametrize("start", ["2026-12-02T04:50:00+00:00", "2026-12-02T04:50:00Z", "2026-12-02T04:50:00"])
def test_documented_iso_times_select_the_batch(repo: tuple[Path, list[str]], start: str) -> None:
    repo_dir, _ = repo
    batch = load_batch(f"feast:clip_metadata,model_outputs@{repo_dir}?start={start}")
    assert sorted(batch["clip_id"]) == CLIPS and batch["fps"].notna().all()
    later = load_batch(f"feast:clip_metadata@{repo_dir}?start=2026-12-02T05:10:00+00:00")
    assert later.empty  # the time is applied, not dropped


def test_bad_time_and_unknown_parameter_are_clear_errors(repo: tuple[Path, list[str]]) -> None:
    repo_dir, _ = repo
    with pytest.raises(DriftInputError, match="not an ISO time"):
        load_batch(f"feast:clip_metadata@{repo_dir}?start=yesterday")
    with pytest.raises(DriftInputError, match="unknown parameter"):
        load_batch(f"feast:clip_metadata@{repo_dir}?begin=2026-12-02T04:50:00+00:00")
