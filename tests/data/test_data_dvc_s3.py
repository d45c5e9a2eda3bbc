"""DVC with an S3 remote, against an EMULATOR of S3 (moto's server on 127.0.0.1, the
`s3_emulator` fixture; no object store installs here): the build pushes to the bucket, a fresh
clone pulls the revision back byte for byte; a wrong key or a dead endpoint is one line naming
the remote; a pull killed with -9 leaves no half revision behind."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from data_testkit import fast_config
from typer.testing import CliRunner

from affectgpt.cli import app
from affectgpt.data import dvc as dvc_ops
from affectgpt.data.build import build_dataset
from affectgpt.data.dvc_pull import ENDPOINT_ENV, corpus_at_revision, pull_revision, revision_md5
from affectgpt.data.revision import content_revision
from affectgpt.errors import BadInput, NotFound, Refused
from affectgpt.manifest import hash_tree


def _git(repo, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def small_pushed_repo(tmp_path_factory, s3_emulator):
    """A git+DVC repo whose three-file `raw/` is pushed to its own bucket of the emulator; yields
    (repo, data_rev). The credentials are set only around the push (module scope)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", s3_emulator.access_key)
    mp.setenv("AWS_SECRET_ACCESS_KEY", s3_emulator.secret_key)
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    repo = tmp_path_factory.mktemp("small-repo")
    (repo / "raw").mkdir()
    for name, text in (("subtitles.csv", "name,english\nc1,I am so happy today\n"), ("a.txt", "a"), ("b.txt", "b")):
        (repo / "raw" / name).write_text(text)
    dvc_ops.init_repo(repo, s3_emulator.bucket("small") + "/dvc", endpoint_url=s3_emulator.endpoint)
    revision = dvc_ops.add_and_push(repo, "raw")
    mp.undo()
    return repo, f"dvc:{revision}"


@pytest.mark.integration
def test_build_pushes_to_s3_and_a_fresh_clone_pulls_the_same_revision(demo_corpus, shared_cache, s3_credentials,
                                                                      tmp_path, monkeypatch):
    remote = s3_credentials.bucket("round-trip") + "/affectgpt"
    repo = dvc_ops.init_repo(tmp_path / "repo", remote, endpoint_url=s3_credentials.endpoint)
    committed, local = (repo / ".dvc" / "config").read_text(), (repo / ".dvc" / "config.local").read_text()
    assert remote in committed and s3_credentials.endpoint not in committed  # the endpoint stays on this machine
    assert s3_credentials.endpoint in local and "/config.local" in (repo / ".dvc" / ".gitignore").read_text()
    assert s3_credentials.secret_key not in committed + local and s3_credentials.access_key not in committed + local

    result = build_dataset(demo_corpus / "raw", repo / "data" / "mer-caption",
                           config=fast_config(shared_cache, high_level=False), dvc_repo=repo)
    assert result.dvc_rev and any(key.startswith("affectgpt/files/md5/") for key in s3_credentials.keys("round-trip"))

    # What a cluster has: a clone of the committed repo (no config.local, no cache), the endpoint
    # and the keys from its environment.
    _git(repo, "add", "data.dvc", ".dvc/config", ".dvc/.gitignore", ".gitignore")
    _git(repo, "commit", "-q", "-m", "data")
    monkeypatch.setenv(ENDPOINT_ENV, s3_credentials.endpoint)
    folder = pull_revision(f"file://{repo}", "data", f"dvc:{result.dvc_rev}", tmp_path / "volume")
    assert folder == tmp_path / "volume" / result.dvc_rev.removesuffix(".dir") / "data"
    assert hash_tree(folder, ignore=()) == hash_tree(repo / "data", ignore=())
    assert content_revision(folder) == f"dvc:{result.dvc_rev}"  # the build's cache keys see the same revision
    assert sorted(p.name for p in (tmp_path / "volume").iterdir()) == [".dvc-cache", ".locks", folder.parent.name]


@pytest.mark.integration
def test_a_wrong_key_or_a_dead_endpoint_is_one_line_naming_the_remote(small_pushed_repo, s3_credentials, tmp_path,
                                                                      monkeypatch):
    repo, revision = small_pushed_repo
    named = f"DVC remote 's3remote' (s3://small/dvc at {s3_credentials.endpoint})"
    changed = shutil.copytree(repo, tmp_path / "changed")  # the shared repo stays as pushed
    (changed / "raw" / "c.txt").write_text("c")  # something left to push
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(Refused) as refused:
        dvc_ops.add_and_push(changed, "raw")
    assert str(refused.value) == (f"{named} refused the credentials (403 Forbidden): check AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY")
    result = CliRunner().invoke(app, ["build", "dvc-pull", "--repo", str(repo), "--path", "raw", "--rev", revision,
                                      "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 3 and "refused the credentials" in result.output, result.output

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_credentials.secret_key)
    monkeypatch.setenv(ENDPOINT_ENV, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # one try, not botocore's retries: the test stays short
    result = CliRunner().invoke(app, ["build", "dvc-pull", "--repo", str(repo), "--path", "raw", "--rev", revision,
                                      "--cache", str(tmp_path / "cache")])
    assert result.exit_code == 5, result.output
    line = " ".join(result.output.split())  # the console wraps long lines
    assert line == ("error: DVC remote 's3remote' (s3://small/dvc at http://127.0.0.1:9) did not answer (could not "
                    f"connect): is it running and reachable from here? (check {ENDPOINT_ENV})"), result.output
    assert not list((tmp_path / "cache").glob("[0-9a-f]*")), "a failed pull left a revision folder"


@pytest.mark.integration
def test_a_pull_killed_with_minus_9_leaves_no_half_revision(small_pushed_repo, s3_credentials, tmp_path, killkit):
    repo, revision = small_pushed_repo
    cache = tmp_path / "volume"
    target = cache / revision_md5(revision).removesuffix(".dir")
    command = ["build", "dvc-pull", "--repo", repo, "--path", "raw", "--rev", revision, "--cache", cache]
    killed = killkit.run(command, kill_at="dvc-pull:fetched")  # fetched and checked out, not yet published
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not target.exists() and killkit.leftovers(target), "no revision folder, only the dead staging one"

    rerun = killkit.run(command)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert hash_tree(target / "raw", ignore=()) == hash_tree(repo / "raw", ignore=())
    assert yaml.safe_load((target / "raw.dvc").read_text())["outs"][0]["md5"] == revision_md5(revision)
    assert killkit.leftovers(target) == []


@pytest.mark.integration
def test_the_pull_step_pulls_into_the_workspace_with_the_endpoint_of_its_environment(small_pushed_repo, s3_credentials,
                                                                                      tmp_path, monkeypatch):
    """What the pipeline's pull step calls: no repository, raw_dir handed on; a repository whose
    own endpoint is wrong for this place, the environment's endpoint (the platform ConfigMap's)."""
    repo, revision = small_pushed_repo
    assert corpus_at_revision("", "/data/raw", revision) == "/data/raw"
    moved = shutil.copytree(repo, tmp_path / "repo")
    dvc_ops.run_dvc(moved, "remote", "modify", "--local", "s3remote", "endpointurl", "http://127.0.0.1:9")
    monkeypatch.setenv("AFFECTGPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(ENDPOINT_ENV, s3_credentials.endpoint)
    folder = corpus_at_revision(str(moved), "raw/", revision)
    assert folder == str(tmp_path / "home" / "dvc-revisions" / revision_md5(revision).removesuffix(".dir") / "raw")
    assert content_revision(Path(folder)) == revision


def test_a_pull_names_a_dvc_revision_and_a_tracked_folder(small_pushed_repo, tmp_path):
    repo, revision = small_pushed_repo
    with pytest.raises(BadInput, match="must be a DVC one, dvc:<md5>"):
        pull_revision(str(repo), "raw", "sha256:0123456789abcdef", tmp_path)
    with pytest.raises(BadInput, match="path inside the repository"):
        pull_revision(str(repo), "/data/raw", revision, tmp_path)
    with pytest.raises(NotFound, match="tracks no 'corpus'"):
        pull_revision(str(repo), "corpus", revision, tmp_path)
    with pytest.raises(NotFound, match=r"^dvc_repo file:///nowhere/repo: not a folder here, and git could not clone "
                                       r"it: fatal: '/nowhere/repo' does not appear to be a git repository$"):
        pull_revision("file:///nowhere/repo", "raw", revision, tmp_path)
    with pytest.raises(BadInput, match="only an s3:// remote has an endpoint"):
        dvc_ops.init_repo(tmp_path / "r", tmp_path / "remote", endpoint_url="http://127.0.0.1:9000")
