"""Bring the revision a run names (`data_rev` = `dvc:<md5>`) of a DVC-tracked folder onto this
machine's disk, the data volume in a cluster, for the build step to read.

A DVC revision is content-addressed: the md5 of a folder names its listing (`<md5>.dir`) and,
through it, every file on the remote. So the pull needs the repository only for its remote
(URL and endpoint; the credentials come from the environment) and to check that the folder it
is asked for is tracked there; what it fetches is exactly the revision named, whatever the
repository's pointer says today. The layout, under `cache_root` (`<workspace>/dvc-revisions`):

    <md5>/<name>/        the folder at that revision: what the build reads
    <md5>/<name>.dvc     its pointer, so `content_revision` of the folder is the same `dvc:<md5>`
    .dvc-cache/          DVC's object cache, shared by every pull: a new revision fetches only
                         the files an earlier one did not have
    .locks/<md5>.lock    held while pulling, so two runs asking for one revision pull it once

Crash-consistent: the pull happens in a staging folder published with renames
(`affectgpt.publish.staged_output`), so a kill -9 at any point leaves no `<md5>` folder or a
complete one, never half of one; the next pull removes the dead staging folder and starts over.
A published revision is never touched again: asking for it once more returns it at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import yaml

from affectgpt.data import dvc as dvc_ops
from affectgpt.errors import BadInput, NotFound
from affectgpt.publish import fault_point, recover, staged_output

# The endpoint of an S3-compatible remote, where the step's environment gives one (in a cluster:
# the platform ConfigMap); it overrides what the repository's config.local says.
ENDPOINT_ENV = "AFFECTGPT_DVC_ENDPOINT_URL"
REVISION = re.compile(r"^dvc:([0-9a-f]{32})(\.dir)?$")
CACHE_FOLDER = "dvc-revisions"


def revision_md5(data_rev: str) -> str:
    """The md5 DVC records (`<32 hex>.dir` for a folder) in `dvc:<md5>`; BadInput otherwise."""
    match = REVISION.match(data_rev.strip())
    if not match:
        raise BadInput(f"data_rev {data_rev!r}: with dvc_repo the revision must be a DVC one, dvc:<md5> (the md5 "
                       "the folder's .dvc pointer records); a sha256: revision names no DVC content")
    return match.group(1) + (match.group(2) or "")


def default_cache_root() -> Path:
    from affectgpt.paths import workspace_dir

    return workspace_dir() / CACHE_FOLDER


def _tracked_name(tracked: str) -> str:
    """The folder's name from its path inside the repository (`raw`, `corpora/raw`)."""
    path = PurePosixPath(tracked.strip().rstrip("/"))
    if not tracked.strip() or path.is_absolute() or ".." in path.parts:
        raise BadInput(f"raw_dir {tracked!r}: with dvc_repo, name the tracked folder by its path inside the "
                       "repository (e.g. raw)")
    return path.name


@contextmanager
def _locked(cache_root: Path, key: str) -> Iterator[None]:
    """One puller per revision at a time (released by the kernel when its holder dies)."""
    locks = cache_root / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{key}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def pull_revision(repo: str, tracked: str, data_rev: str, cache_root: str | Path | None = None, *,
                  endpoint_url: str | None = None) -> Path:
    """The folder `tracked` (its path inside the DVC repository `repo`: a folder on this disk or
    a git URL) at revision `data_rev`, pulled into `cache_root/<md5>/<name>` unless it is there
    already; returns that folder. `endpoint_url` (default: `$AFFECTGPT_DVC_ENDPOINT_URL`) is the
    S3-compatible store's address when the repository's own config does not hold the right one."""
    md5 = revision_md5(data_rev)
    name = _tracked_name(tracked)
    cache_root = Path(cache_root) if cache_root else default_cache_root()
    target = cache_root / md5.removesuffix(".dir")
    folder = target / name
    endpoint_from_env = endpoint_url is None and bool(os.environ.get(ENDPOINT_ENV))
    endpoint_url = endpoint_url if endpoint_url is not None else os.environ.get(ENDPOINT_ENV) or None
    with _locked(cache_root, target.name):
        recover(target)
        if folder.is_dir() and (target / f"{name}.dvc").is_file():
            return folder
        with staged_output(target, owned=(name, f"{name}.dvc")) as stage:
            scratch = stage / ".pull"
            _scratch_repo(repo, tracked, scratch, cache_root / ".dvc-cache", endpoint_url)
            pointer = {"outs": [{"md5": md5, "hash": "md5", "path": name}]}
            (scratch / f"{name}.dvc").write_text(yaml.safe_dump(pointer, sort_keys=False))
            hint = f"check {ENDPOINT_ENV}" if endpoint_from_env else None
            dvc_ops.run_remote(scratch, "pull", f"{name}.dvc", endpoint_hint=hint)
            fault_point("dvc-pull:fetched")
            (scratch / name).rename(stage / name)
            (stage / f"{name}.dvc").write_text(yaml.safe_dump(pointer, sort_keys=False))
            shutil.rmtree(scratch)
    return folder


def _scratch_repo(repo: str, tracked: str, scratch: Path, cache_dir: Path, endpoint_url: str | None) -> None:
    """A throwaway DVC repository (no git) at `scratch` with `repo`'s remotes and the shared
    object cache; `repo` must track `tracked`."""
    source = Path(repo).expanduser()
    if not source.is_dir():
        source = scratch.with_name(".source")
        done = subprocess.run(["git", "clone", "--quiet", "--depth", "1", repo, str(source)], capture_output=True,
                              text=True, timeout=600, check=False)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            said = next((line for line in lines if line.startswith("fatal:")), lines[-1] if lines else "")
            raise NotFound(f"dvc_repo {repo}: not a folder here, and git could not clone it: {said}")
    if not (source / ".dvc" / "config").is_file():
        raise BadInput(f"dvc_repo {repo}: not a DVC repository (no .dvc/config); run `affectgpt build dvc-init` there")
    if not (source / f"{tracked.strip().rstrip('/')}.dvc").is_file():
        raise NotFound(f"dvc_repo {repo}: tracks no {tracked!r} (no {tracked.strip().rstrip('/')}.dvc); raw_dir "
                       "names the tracked folder by its path inside the repository")
    config = dvc_ops.read_config(source)
    remote = config.get("core", {}).get("remote")
    if not remote or f'remote "{remote}"' not in config:
        raise BadInput(f"dvc_repo {repo}: no default remote to pull from; run `affectgpt build dvc-init --remote URL`")
    (scratch / ".dvc").mkdir(parents=True)  # what `dvc init --no-scm` makes, less a second of start-up
    core = {**config.get("core", {}), "no_scm": "True", "analytics": "false"}
    sections = {"core": core, "cache": {"dir": str(cache_dir.resolve())}}
    sections.update({key: values for key, values in config.items() if key.startswith("remote ")})
    if endpoint_url:
        sections[f'remote "{remote}"'] = {**sections[f'remote "{remote}"'], "endpointurl": endpoint_url}
    dvc_ops.write_config(scratch / ".dvc" / "config", sections)
    if source.name == ".source":
        shutil.rmtree(source, ignore_errors=True)


def corpus_at_revision(dvc_repo: str, raw_dir: str, data_rev: str) -> str:
    """The folder a build reads, for a run's inputs: `raw_dir` as given when `dvc_repo` is empty
    (the corpus is on the disk already), else the revision `data_rev` of the folder `raw_dir`
    names inside `dvc_repo`, pulled (`pull_revision`)."""
    if not dvc_repo.strip():
        return raw_dir
    return str(pull_revision(dvc_repo.strip(), raw_dir, data_rev))
