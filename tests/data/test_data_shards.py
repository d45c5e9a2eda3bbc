"""A build in shards (per-clip work per shard, one reduce) writes the dataset an unsharded build
writes: the same table bytes, quarantine, card numbers and manifest counts."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from data_testkit import fast_config

from affectgpt.data.build import BuildError, build_dataset
from affectgpt.data.shards import build_shard, reduce_shards, shard_of, shard_plan
from affectgpt.errors import BadInput

TABLES = ("mer-caption.parquet", "mer-caption-plus.parquet", "clip_manifest.parquet", "quarantine.parquet")


@pytest.fixture()
def damaged_raw(raw_copy):
    """The demo corpus with a refusal of each kind a shard must place: a corrupt video, a
    repeated subtitle row, an empty subtitle, and a subtitle without a video."""
    (raw_copy / "demo_00003.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(4000))
    lines = (raw_copy / "subtitles.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    rows = [re.sub(r"^(demo_00001),.*$", r"\1,", row) for row in rows]  # empty subtitle
    rows += [rows[0], "ghost_clip,No video for this line."]
    (raw_copy / "subtitles.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return raw_copy


def test_shard_assignment_is_stable_and_covers_every_clip():
    ids = [f"clip_{i:05d}" for i in range(400)]
    owners = {clip_id: [k for k in shard_plan(4) if shard_of(clip_id, 4) == k] for clip_id in ids}
    assert all(len(found) == 1 for found in owners.values())
    assert shard_of("clip_00007", 4) == shard_of("clip_00007", 4)
    assert min(sum(1 for f in owners.values() if f == [k]) for k in range(4)) > 60  # roughly even
    with pytest.raises(BadInput, match="shard count"):
        shard_plan(0)


def test_sharded_build_writes_the_unsharded_dataset(damaged_raw, shared_cache, tmp_path):
    config = fast_config(shared_cache)
    whole = build_dataset(damaged_raw, tmp_path / "whole", config=config)
    parts = [build_shard(damaged_raw, tmp_path / "parts" / str(k), shard=k, shards=3, config=config)
             for k in shard_plan(3)]
    sharded = reduce_shards(parts, damaged_raw, tmp_path / "sharded", config=config)

    for name in TABLES:
        assert (sharded.out_dir / name).read_bytes() == (whole.out_dir / name).read_bytes(), name
    assert sharded.counts == whole.counts and sharded.skipped_by_reason == whole.skipped_by_reason
    assert {"corrupt_video", "duplicate_id", "empty_subtitle", "missing_file"} <= set(whole.skipped_by_reason)
    undated = re.compile(r"\(\d{4}-\d\d-\d\d \d\d:\d\d UTC\)")
    card = [undated.sub("", (out / "data_card.md").read_text()) for out in (sharded.out_dir, whole.out_dir)]
    assert card[0] == card[1]
    manifests = [json.loads((out / "manifest.json").read_text()) for out in (sharded.out_dir, whole.out_dir)]
    for manifest in manifests:
        manifest.pop("timings_s"), manifest.pop("parameters"), manifest.pop("outputs"), manifest.pop("created_at", None)
        manifest["extra"]["length_bounds"].pop("source")
        computed = manifest["extra"].pop("computed_clips") + manifest["extra"].pop("cached_clips")
        assert computed == sharded.counts["valid_clips"]  # the second build reads the first's cache
    assert manifests[0] == manifests[1]


def test_reduce_refuses_a_set_that_is_not_one_build(demo_corpus, shared_cache, tmp_path):
    config = fast_config(shared_cache, high_level=False)
    first = build_shard(demo_corpus / "raw", tmp_path / "a", shard=0, shards=2, config=config)
    with pytest.raises(BuildError, match=r"each shard 0\.\.1 must be given once"):
        reduce_shards([first], demo_corpus / "raw", tmp_path / "out", config=config)
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    with pytest.raises(BuildError, match="must be given once"):
        reduce_shards([first, copy], demo_corpus / "raw", tmp_path / "out", config=config)


def test_the_reduce_checks_a_sha256_revision_against_the_corpus_before_any_work(demo_corpus, shared_cache, tmp_path):
    """A revision taken by stat alone (a content index) cannot see an edit that kept size and
    mtime: the reduce reads every byte, so it refuses a corpus its revision does not name."""
    from affectgpt.data.revision import RevisionMismatch, content_revision

    raw = demo_corpus / "raw"
    config = fast_config(shared_cache)
    parts = [build_shard(raw, tmp_path / "parts" / str(k), shard=k, shards=2, config=config) for k in shard_plan(2)]
    with pytest.raises(RevisionMismatch, match=r"hashes to sha256:[0-9a-f]{16} but the run names "
                                               r"data_rev=sha256:0123456789abcdef: the corpus changed after"):
        reduce_shards(parts, raw, tmp_path / "refused", config=config, data_rev="sha256:0123456789abcdef")
    assert not (tmp_path / "refused").exists()
    built = reduce_shards(parts, raw, tmp_path / "out", config=config, data_rev=content_revision(raw))
    manifest = json.loads((built.out_dir / "manifest.json").read_text())
    assert manifest["inputs"]["raw"].startswith(content_revision(raw))
    # revisions that name the data by other means are not checked here
    reduce_shards(parts, raw, tmp_path / "dvc", config=config, data_rev="dvc:0123456789abcdef")
