"""kill -9 during `affectgpt build dataset`: at each point the output folder holds the old set
or the new set, never a mix, and a rerun finishes and leaves no staging folders behind."""

from __future__ import annotations

import json
import shutil

import yaml
from data_testkit import fast_config

from affectgpt.data.build import build_dataset
from affectgpt.manifest import hash_file
from affectgpt.publish import published


def _consistent(folder) -> dict:
    """The manifest's recorded output hashes match the files beside it; returns the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    names = {"clip_manifest": "clip_manifest.parquet", "mer_caption": "mer-caption.parquet",
             "mer_caption_plus": "mer-caption-plus.parquet", "quarantine": "quarantine.parquet",
             "data_card_md": "data_card.md", "data_card_html": "data_card.html",
             "length_histogram": "length_histogram.svg"}
    for key, name in names.items():
        assert manifest["outputs"][key] == f"sha256:{hash_file(folder / name)}", name
    return manifest


def test_kill_during_build_leaves_old_or_new_set_and_rerun_finishes(demo_corpus, shared_cache, tmp_path, killkit):
    raw = tmp_path / "raw"
    shutil.copytree(demo_corpus / "raw", raw)
    config = fast_config(shared_cache, high_level=False)
    config_path = tmp_path / "build.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    out = tmp_path / "data" / "mer-caption"
    build_dataset(raw, out, config=config)
    (out / "features").mkdir()
    (out / "features" / "kept.txt").write_text("a neighbour's file")  # not the build's: must survive
    old = killkit.snapshot(out)
    assert _consistent(out)["extra"]["counts"]["valid_clips"] == 6

    shutil.copy(raw / "demo_00000.mp4", raw / "extra_clip.mp4")
    shutil.copy(raw / "demo_00000.wav", raw / "extra_clip.wav")
    with open(raw / "subtitles.csv", "a", encoding="utf-8") as handle:
        handle.write("extra_clip,A brand new line for the same face.\n")
    command = ["build", "dataset", raw, "--out", out, "--config", config_path]

    for event in ("build:wrote:mer-caption.parquet", "build:wrote:manifest.json"):
        killed = killkit.run(command, kill_at=event)
        assert killed.returncode == -9, killed.stderr[-2000:]
        assert killkit.snapshot(out) == old, event  # the old set, byte for byte

    # Killed between the two renames: the target is briefly absent; readers get the complete new set.
    killed = killkit.run(command, kill_at="publish:mer-caption:old-moved")
    assert killed.returncode == -9
    assert not out.exists() and published(out) != out
    assert _consistent(published(out))["extra"]["counts"]["valid_clips"] == 7

    rerun = killkit.run(command)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _consistent(out)["extra"]["counts"]["valid_clips"] == 7
    assert (out / "features" / "kept.txt").read_text() == "a neighbour's file"
    assert killkit.leftovers(out) == []
