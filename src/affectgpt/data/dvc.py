"""DVC versioning of `data/`: init a repo with a local-directory remote, `dvc add` + `dvc push`
after a build, `dvc pull` in a fresh clone, and the revision (the md5 DVC records in `data.dvc`).

Uses the `dvc` command line (same as a person would) so behaviour matches the docs exactly.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import yaml

from affectgpt.errors import BadInput

DEFAULT_REMOTE = "localremote"


class DVCError(BadInput, RuntimeError):
    """A dvc/git command failed; the message holds the command and its stderr."""


def _dvc_binary() -> str:
    import sys

    beside_python = Path(sys.executable).with_name("dvc")
    return str(beside_python) if beside_python.is_file() else (shutil.which("dvc") or "dvc")


def run_dvc(repo: str | Path, *args: str, timeout_s: float = 600) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([_dvc_binary(), *args], cwd=repo, capture_output=True, text=True, timeout=timeout_s, env=env)
    if done.returncode != 0:
        raise DVCError(f"dvc {' '.join(args)} (in {repo}) failed: {(done.stderr or done.stdout).strip()[-600:]}")
    return done.stdout


def init_repo(repo: str | Path, remote_url: str | Path | None = None, remote_name: str = DEFAULT_REMOTE) -> Path:
    """`git init` (when needed), `dvc init`, analytics off, and a default remote (a local folder
    unless `remote_url` says s3://… or gs://…)."""
    repo = Path(repo).resolve()
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True, capture_output=True)
    if not (repo / ".dvc").exists():
        run_dvc(repo, "init", "-q")
    run_dvc(repo, "config", "core.analytics", "false")
    if remote_url is not None:
        run_dvc(repo, "remote", "add", "-f", "-d", remote_name, str(remote_url))
    return repo


def add_and_push(repo: str | Path, tracked: str = "data", push: bool = True) -> str:
    """`dvc add <tracked>` (+ `dvc push`); returns the new revision of `<tracked>`."""
    run_dvc(repo, "add", "-q", tracked)
    if push:
        run_dvc(repo, "push", "-q")
    return data_revision(repo, tracked)


def pull(repo: str | Path) -> None:
    run_dvc(repo, "pull", "-q")


def data_revision(repo: str | Path, tracked: str = "data") -> str | None:
    """The md5 of `<tracked>` recorded in `<tracked>.dvc` (None when not tracked yet)."""
    pointer = Path(repo) / f"{tracked}.dvc"
    if not pointer.is_file():
        return None
    payload = yaml.safe_load(pointer.read_text()) or {}
    outs = payload.get("outs") or [{}]
    return outs[0].get("md5")


def default_remote(repo: str | Path) -> str | None:
    try:
        return run_dvc(repo, "remote", "default").strip() or None
    except DVCError:
        return None
