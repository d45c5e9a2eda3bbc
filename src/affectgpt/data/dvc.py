"""DVC versioning of `data/`: init a repo with a remote (a local folder, or an S3 bucket that a
cluster can reach too), `dvc add` + `dvc push` after a build, `dvc pull` in a fresh clone, and the
revision (the md5 DVC records in `data.dvc`).

Uses the `dvc` command line (same as a person would) so behaviour matches the docs exactly. An
S3 remote keeps only its URL in the committed `.dvc/config`; the endpoint of an S3-compatible
store goes to the git-ignored `.dvc/config.local`, and the credentials stay in the environment
(`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never in a file. A push or pull that cannot reach
the remote, or is refused by it, ends in one line naming the remote and what to check
(`remote_failure`) instead of DVC's "unexpected error".
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from affectgpt.errors import AffectgptError, BadInput, NotFound, Unavailable
from affectgpt.service_errors import error_kind

DEFAULT_REMOTE = "localremote"
CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
# What DVC (through s3fs and botocore) prints for each way a remote can fail; the last lines of
# its stderr are matched, since `dvc` reports them all as "unexpected error".
UNREACHABLE_TEXT = ("Could not connect to the endpoint URL", "Connection refused", "Connect timeout",
                    "Name or service not known", "Temporary failure in name resolution", "timed out")
NO_CREDENTIALS_TEXT = ("Unable to locate credentials", "NoCredentialsError", "Partial credentials found")
REFUSED_TEXT = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Access Denied", "Forbidden",
                "(403)", "ExpiredToken", "InvalidToken")
NO_BUCKET_TEXT = ("NoSuchBucket", "The specified bucket does not exist")
SUPPORT_FOOTER = "Having any troubles?"  # dvc's line after every error


class DVCError(BadInput, RuntimeError):
    """A dvc/git command failed; the message holds the command and its stderr (`output`: all of it)."""

    output: str = ""


class RemoteUnreachable(Unavailable):
    """The remote's endpoint did not answer (refused, unknown host, timeout)."""


@dataclass(frozen=True)
class Remote:
    """A DVC remote as the repository's config files name it."""

    name: str
    url: str | None = None
    endpoint_url: str | None = None

    def describe(self) -> str:
        """`'s3remote' (s3://bucket/path at http://host:9000)`: what an error names."""
        where = " at ".join(part for part in (self.url, self.endpoint_url) if part)
        return f"{self.name!r}" + (f" ({where})" if where else "")


def _dvc_binary() -> str:
    import sys

    beside_python = Path(sys.executable).with_name("dvc")
    return str(beside_python) if beside_python.is_file() else (shutil.which("dvc") or "dvc")


def run_dvc(repo: str | Path, *args: str, timeout_s: float = 600) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([_dvc_binary(), *args], cwd=repo, capture_output=True, text=True, timeout=timeout_s, env=env)
    if done.returncode != 0:
        output = "\n".join(line for line in (done.stderr or done.stdout).strip().splitlines()
                           if line.strip() and not line.startswith(SUPPORT_FOOTER))
        error = DVCError(f"dvc {' '.join(args)} (in {repo}) failed: {output[-600:]}")
        error.output = output
        raise error
    return done.stdout


def run_remote(repo: str | Path, *args: str, timeout_s: float = 3600, endpoint_hint: str | None = None) -> str:
    """`dvc ARGS` that talks to the default remote (push, pull, fetch): a failure to reach it, or
    a refusal by it, is the one-line error `remote_failure` gives; any other failure a DVCError.
    Never quiet (`-q` is dropped): a quiet dvc prints no error line to tell the failures apart.
    `endpoint_hint`: where the endpoint came from, when not from `dvc remote modify`."""
    try:
        return run_dvc(repo, *(arg for arg in args if arg != "-q"), timeout_s=timeout_s)
    except DVCError as error:
        raise (remote_failure(repo, error.output, endpoint_hint) or error) from None


def remote_name_for(url: str | Path) -> str:
    """The name `init_repo` gives a remote: `localremote` for a folder, `<scheme>remote` for a
    URL (`s3remote`, `gsremote`)."""
    text = str(url)
    return f"{text.split('://', 1)[0]}remote" if "://" in text else DEFAULT_REMOTE


def init_repo(repo: str | Path, remote_url: str | Path | None = None, remote_name: str | None = None,
              endpoint_url: str | None = None) -> Path:
    """`git init` (when needed), `dvc init`, analytics off, and a default remote (a local folder
    unless `remote_url` says s3://… or gs://…). `endpoint_url` (an S3-compatible store: MinIO,
    Ceph, a cloud's S3 API) goes to `.dvc/config.local`, which git ignores: the committed config
    holds the bucket alone, and every clone, pod or laptop, says where its store answers."""
    if endpoint_url and not str(remote_url or "").startswith("s3://"):
        raise BadInput(f"--endpoint-url {endpoint_url}: only an s3:// remote has an endpoint (remote: {remote_url})")
    repo = Path(repo).resolve()
    repo.mkdir(parents=True, exist_ok=True)
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True, capture_output=True)
    if not (repo / ".dvc").exists():
        run_dvc(repo, "init", "-q")
    run_dvc(repo, "config", "core.analytics", "false")
    if remote_url is not None:
        name = remote_name or remote_name_for(remote_url)
        run_dvc(repo, "remote", "add", "-f", "-d", name, str(remote_url))
        if endpoint_url:
            run_dvc(repo, "remote", "modify", "--local", name, "endpointurl", endpoint_url)
    return repo


def add_and_push(repo: str | Path, tracked: str = "data", push: bool = True) -> str:
    """`dvc add <tracked>` (+ `dvc push`); returns the new revision of `<tracked>`."""
    run_dvc(repo, "add", "-q", tracked)
    if push:
        run_remote(repo, "push", "-q")
    return data_revision(repo, tracked)


def pull(repo: str | Path) -> None:
    run_remote(repo, "pull", "-q")


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


def read_config(repo: str | Path) -> dict[str, dict[str, str]]:
    """The repository's DVC settings, `.dvc/config` overlaid by `.dvc/config.local`, by section
    (`core`, `remote "s3remote"`, ...). Read as DVC writes them; global and system configs are
    not read (`default_remote` asks DVC itself where that matters)."""
    merged: dict[str, dict[str, str]] = {}
    for name in ("config", "config.local"):
        path = Path(repo) / ".dvc" / name
        if not path.is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str  # keys as written
        parser.read(path, encoding="utf-8")
        for section in parser.sections():
            key = section.strip().strip("'")  # DVC writes ['remote "name"']
            merged.setdefault(key, {}).update(parser[section])
    return merged


def write_config(path: Path, sections: dict[str, dict[str, str]]) -> None:
    """Write DVC settings in the format DVC reads (`[remote "name"]`, `key = value`)."""
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"    {key} = {value}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def configured_remote(repo: str | Path, name: str | None = None) -> Remote | None:
    """The remote `name` (default: the repository's default remote) as its config files say,
    or None when there is none."""
    config = read_config(repo)
    name = name or config.get("core", {}).get("remote")
    if not name:
        return None
    settings = config.get(f'remote "{name}"', {})
    return Remote(name, settings.get("url"), settings.get("endpointurl"))


def remote_failure(repo: str | Path, stderr: str, endpoint_hint: str | None = None) -> AffectgptError | None:
    """The one-line error for a push/pull/fetch that failed with `stderr`, naming the remote and
    what to check, or None when the failure is not about reaching the remote. `endpoint_hint`
    says what to check for the endpoint when it came from elsewhere than `.dvc/config.local`."""
    text = stderr[-2000:]
    remote = configured_remote(repo) or Remote("(default)")
    named = f"DVC remote {remote.describe()}"
    if any(marker in text for marker in NO_CREDENTIALS_TEXT):
        return BadInput(f"{named}: no credentials; set {' and '.join(CREDENTIAL_ENV)} in the environment")
    if any(marker in text for marker in REFUSED_TEXT):  # S3 answers 403 to a wrong key as to a denied one
        return error_kind(403)(f"{named} refused the credentials (403 Forbidden): check "
                               f"{' and '.join(CREDENTIAL_ENV)}")
    if any(marker in text for marker in NO_BUCKET_TEXT):
        bucket = (remote.url or "").removeprefix("s3://").split("/", 1)[0] or "?"
        return NotFound(f"{named}: no bucket {bucket!r} there; create it or fix the remote's url")
    if any(marker in text for marker in UNREACHABLE_TEXT):
        check = endpoint_hint or (f"check its endpoint: dvc remote modify --local {remote.name} endpointurl URL"
                                  if (remote.url or "").startswith("s3://") else "check the remote's url")
        return RemoteUnreachable(f"{named} did not answer (could not connect): is it running and reachable "
                                 f"from here? ({check})")
    return None
