"""A real Feast repo (file offline store, sqlite online store): apply, ingest, materialize, read
back online and offline, point-in-time training sets, and the drift monitor reading Feast views."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.features.definitions import feature_refs
from affectgpt.features.repo import FeatureRepoError, init_repo
from affectgpt.features.store import (
    apply_definitions,
    materialize,
    online_features,
    read_feature_views,
    training_set,
    write_feature_rows,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 1, tzinfo=UTC)
CLIPS = ["clip_a", "clip_b", "clip_c"]


def _metadata(clip_id: str, day: int, duration_s: float) -> dict:
    return {"clip_id": clip_id, "event_timestamp": T0 + timedelta(days=day), "duration_s": duration_s,
            "fps": 25.0, "face_ratio": 0.75, "speech_ratio": 0.5, "subtitle_len": 40 + day,
            "language": "en", "source": f"batch-{day}"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two versions of each clip's metadata (day 0 and day 10) and one embedding row each."""
    repo_dir = init_repo(tmp_path_factory.mktemp("feature_repo"))
    assert sorted(apply_definitions(repo_dir)) == ["clip_embeddings", "clip_metadata", "model_outputs"]
    rows = [_metadata(clip, 0, 1.0 + i) for i, clip in enumerate(CLIPS)]
    rows += [_metadata(clip, 10, 100.0 + i) for i, clip in enumerate(CLIPS)]
    result = write_feature_rows("clip_metadata", pd.DataFrame(rows), repo_dir)
    assert result.kept == 6 and not result.skipped
    rng = np.random.default_rng(0)
    embeddings = pd.DataFrame({
        "clip_id": CLIPS, "event_timestamp": [T0] * 3,
        **{name: [rng.normal(size=16).astype(np.float32) for _ in CLIPS]
           for name in ("frame_emb", "face_emb", "audio_emb")},
        "text_emb": [rng.normal(size=384).astype(np.float32) for _ in CLIPS],
    })
    write_feature_rows("clip_embeddings", embeddings, repo_dir)
    materialize(repo_dir, end=T0 + timedelta(days=30), start=T0 - timedelta(days=1))
    return repo_dir


def test_online_read_equals_offline_read_for_same_clip_and_time(repo: Path) -> None:
    refs = feature_refs(["clip_metadata", "clip_embeddings"])
    online = online_features(CLIPS, refs, repo).set_index("clip_id").sort_index()
    entity = pd.DataFrame({"clip_id": CLIPS, "event_timestamp": [T0 + timedelta(days=30)] * 3})
    offline = training_set(entity, refs, repo).set_index("clip_id").sort_index()
    for ref in refs:
        name = ref.split(":")[1]
        for clip in CLIPS:
            online_value, offline_value = online.at[clip, name], offline.at[clip, name]
            if isinstance(online_value, (list, np.ndarray)):
                np.testing.assert_array_equal(np.asarray(online_value, np.float32),
                                              np.asarray(offline_value, np.float32))
            else:
                assert online_value == offline_value, (clip, name, online_value, offline_value)
    assert online.at["clip_b", "duration_s"] == 101.0  # the newest version


def test_training_set_never_sees_values_from_after_the_label(repo: Path) -> None:
    labels = pd.DataFrame({
        "clip_id": ["clip_a", "clip_a", "clip_b", "clip_c"],
        "event_timestamp": [T0 + timedelta(days=5), T0 + timedelta(days=10), T0 + timedelta(days=9, hours=23),
                            T0 - timedelta(days=1)],
        "emotion": ["happy", "happy", "sad", "angry"],
    })
    frame = training_set(labels, feature_refs(["clip_metadata"]), repo)
    assert frame["duration_s"].iloc[0] == 1.0      # day 5 label: the day-0 value, not day 10
    assert frame["duration_s"].iloc[1] == 100.0    # at day 10 the new value is known
    assert frame["duration_s"].iloc[2] == 2.0      # one hour before the update
    assert pd.isna(frame["duration_s"].iloc[3])    # before any feature existed: nothing, not the future
    assert frame["clip_id"].tolist() == labels["clip_id"].tolist()  # every label row back, in order


def test_bad_rows_are_quarantined_and_bad_tables_refused(repo: Path) -> None:
    rows = pd.DataFrame([_metadata("clip_d", 1, 3.0), _metadata(None, 1, 3.0), _metadata("clip_e", 1, 3.0)])
    rows["event_timestamp"] = rows["event_timestamp"].astype(object)
    rows.loc[2, "event_timestamp"] = "not a time"
    result = write_feature_rows("clip_metadata", rows, repo)
    assert result.kept == 1
    assert sorted(record.reason for record in result.skipped) == ["bad_event_timestamp", "missing_clip_id"]
    wrong_size = pd.DataFrame({"clip_id": ["clip_f"], "event_timestamp": [T0], "frame_emb": [np.zeros(3, np.float32)],
                               "face_emb": [None], "audio_emb": [None], "text_emb": [None]})
    assert write_feature_rows("clip_embeddings", wrong_size, repo).skipped[0].reason == "embedding_size_mismatch"
    with pytest.raises(FeatureRepoError, match="missing column"):
        write_feature_rows("clip_metadata", rows.drop(columns=["fps"]), repo)
    with pytest.raises(FeatureRepoError, match="features init"):
        training_set(rows, repo_dir=repo.parent / "no_repo_here")


def test_monitor_reads_a_batch_from_feast_views(repo: Path) -> None:
    batch = read_feature_views(["clip_metadata", "clip_embeddings"], repo, start=T0 + timedelta(days=9))
    assert sorted(batch["clip_id"]) == CLIPS
    assert batch["duration_s"].min() >= 100.0
    assert len(batch["text_emb"].iloc[0]) == 384


def test_cli_init_apply_materialize_online(tmp_path: Path) -> None:
    runner = CliRunner()
    repo_dir = tmp_path / "repo"
    assert runner.invoke(app, ["features", "init", "--repo", str(repo_dir)]).exit_code == 0
    assert runner.invoke(app, ["features", "apply", "--repo", str(repo_dir)]).exit_code == 0
    table = pd.DataFrame([_metadata("clip_x", 0, 2.5)]).assign(subtitle="hello there")
    table = table.drop(columns=["subtitle_len"])
    table.to_parquet(tmp_path / "clips.parquet")
    ingest = runner.invoke(app, ["features", "ingest", str(tmp_path / "clips.parquet"), "--repo", str(repo_dir),
                                 "--view", "clip_metadata", "--no-text-embedding"])
    assert ingest.exit_code == 0, ingest.output
    end = (T0 + timedelta(days=1)).isoformat()
    assert runner.invoke(app, ["features", "materialize", "--repo", str(repo_dir), "--end", end]).exit_code == 0
    online = runner.invoke(app, ["features", "online", "clip_x", "--repo", str(repo_dir),
                                 "--feature", "clip_metadata:duration_s", "--feature", "clip_metadata:subtitle_len"])
    assert online.exit_code == 0, online.output
    as_json = runner.invoke(app, ["features", "online", "clip_x", "--repo", str(repo_dir), "--json",
                                  "--feature", "clip_metadata:duration_s", "--feature", "clip_metadata:subtitle_len"])
    assert as_json.exit_code == 0, as_json.output
    served = json.loads(as_json.output)["clip_x"]
    assert served["clip_metadata:duration_s"] == 2.5
    assert served["clip_metadata:subtitle_len"] == len("hello there")
    missing = runner.invoke(app, ["features", "apply", "--repo", str(tmp_path / "absent")])
    assert missing.exit_code == 4 and "features init" in missing.output and "Traceback" not in missing.output
