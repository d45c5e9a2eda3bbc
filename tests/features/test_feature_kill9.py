"""kill -9 during `affectgpt features extract` right after a new pack is written: the feature
folder keeps the old packs, index, table and manifest as they were; a rerun finishes the new set."""

from __future__ import annotations

import shutil

import pandas as pd

from affectgpt.features.extract import FEATURE_TABLE, extract_features
from affectgpt.manifest import read_manifest
from affectgpt.model.encoders import EncoderConfig


def test_kill_after_a_pack_keeps_the_old_set_and_rerun_finishes(tmp_path, demo_clip, killkit):
    media = tmp_path / "media"
    media.mkdir()
    shutil.copy(demo_clip["video"], media / "demo.mp4")
    shutil.copy(demo_clip["audio"], media / "demo.wav")
    clips = tmp_path / "clips.parquet"
    rows = [{"clip_id": "demo", "video_path": "media/demo.mp4", "audio_path": "media/demo.wav", "split": "train"}]
    pd.DataFrame(rows).to_parquet(clips)
    out = tmp_path / "features"
    extract_features(clips, out, EncoderConfig(), progress=False)
    old = killkit.snapshot(out)

    pd.DataFrame(rows + [{**rows[0], "clip_id": "demo2", "split": "test"}]).to_parquet(clips)
    killed = killkit.run(["features", "extract", clips, "--out", out], kill_at="features:wrote:test-s000-p000.safetensors")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert killkit.snapshot(out) == old

    rerun = killkit.run(["features", "extract", clips, "--out", out])
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert pd.read_parquet(out / FEATURE_TABLE)["clip_id"].tolist() == ["demo", "demo2"]
    manifest = read_manifest(out)
    assert manifest.kept == 2 and manifest.extra["cache_hits"] == 1  # the old clip was reused, not recomputed
    assert killkit.leftovers(out) == []


def test_empty_clip_manifest_is_an_error(tmp_path):
    from typer.testing import CliRunner

    from affectgpt.cli import app

    clips = tmp_path / "clips.parquet"
    pd.DataFrame({"clip_id": pd.Series([], dtype=str), "video_path": pd.Series([], dtype=str)}).to_parquet(clips)
    result = CliRunner().invoke(app, ["features", "extract", str(clips), "--out", str(tmp_path / "features")])
    assert result.exit_code == 2 and "no rows" in result.output
    assert not (tmp_path / "features").exists()
