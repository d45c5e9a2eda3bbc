"""DVC round trip in a temporary git+dvc repo: build -> push -> delete data/ -> pull -> same hashes."""

from __future__ import annotations

import json
import shutil

import pytest
from data_testkit import fast_config

from affectgpt.data import dvc as dvc_ops
from affectgpt.data.build import BuildError, build_dataset
from affectgpt.manifest import hash_tree


@pytest.mark.integration
def test_build_push_delete_pull_round_trip(demo_corpus, shared_cache, tmp_path):
    repo = dvc_ops.init_repo(tmp_path / "repo", remote_url=tmp_path / "remote")
    result = build_dataset(demo_corpus / "raw", repo / "data" / "mer-caption",
                           config=fast_config(shared_cache, high_level=False), dvc_repo=repo)
    assert result.dvc_rev and result.dvc_rev == dvc_ops.data_revision(repo)
    manifest = json.loads((repo / "data" / "mer-caption" / "manifest.json").read_text())
    assert manifest["extra"]["dvc"]["outputs_rev"].endswith(".dir") and manifest["extra"]["dvc"]["pushed"]
    assert "/data" in (repo / ".gitignore").read_text()
    before = hash_tree(repo / "data", ignore=())
    shutil.rmtree(repo / "data")
    shutil.rmtree(repo / ".dvc" / "cache")
    dvc_ops.pull(repo)
    assert hash_tree(repo / "data", ignore=()) == before
    # A second build into the same data/ moves the revision and records the previous one.
    again = build_dataset(demo_corpus / "raw", repo / "data" / "mer-caption-2",
                          config=fast_config(shared_cache, high_level=False), dvc_repo=repo)
    assert again.dvc_rev != result.dvc_rev
    manifest = json.loads((repo / "data" / "mer-caption-2" / "manifest.json").read_text())
    assert manifest["extra"]["dvc"]["parent_rev"] == result.dvc_rev


def test_dvc_output_must_sit_under_data(demo_corpus, tmp_path):
    (tmp_path / ".dvc").mkdir()
    with pytest.raises(BuildError, match="must be under"):
        build_dataset(demo_corpus / "raw", tmp_path / "elsewhere", dvc_repo=tmp_path)
