"""Where affectgpt finds things on disk.

One place resolves the workspace (`.affectgpt/` under the current directory unless
`AFFECTGPT_HOME` says otherwise), the MLflow store in it, configs (explicit flag > the current
project's `configs/` > packaged default) and the research reference data, which the project
reads from a folder beside the clone and never bundles.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from affectgpt.errors import NotFound

REFERENCE_DATA_ENV = "AFFECTGPT_REFERENCE_DATA"
HOME_ENV = "AFFECTGPT_HOME"
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"

PACKAGE_DIR = Path(__file__).resolve().parent
# src/affectgpt -> src -> repo root: only meaningful in a clone (see `is_source_checkout`);
# in an installed wheel this is e.g. /usr/local/lib/python3.11, so nothing may read files here.
REPO_ROOT = PACKAGE_DIR.parent.parent
BUILD_INFO_FILE = PACKAGE_DIR / "_build_info.json"
# The configs ship inside the package (the repo's `configs/` links here), so an installed
# wheel finds the same defaults as a clone.
PACKAGED_CONFIGS = PACKAGE_DIR / "configs"


def is_source_checkout() -> bool:
    """True when the package is imported from a git checkout of this project
    (`<checkout>/src/affectgpt`), False for an installed wheel."""
    return (REPO_ROOT / ".git").exists() and (REPO_ROOT / "pyproject.toml").is_file() \
        and (REPO_ROOT / "src" / "affectgpt").resolve() == PACKAGE_DIR


@cache
def build_info() -> dict:
    """What the wheel build recorded (version, commit, dirty, built_at); {} for a clone or an
    install built without the build hook."""
    try:
        return json.loads(BUILD_INFO_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class ConfigNotFound(NotFound):
    """A config named by a flag or an input is neither a file nor a packaged name."""


ConfigSource = Literal["flag", "project", "packaged"]
PROJECT_CONFIGS = Path("configs")  # relative: the current project folder's configs/


@dataclass(frozen=True)
class ResolvedConfig:
    """A config file and why it was chosen, so a command can say which file it used."""

    path: Path
    source: ConfigSource

    def describe(self) -> str:
        """`tiny.yaml (packaged: /…/affectgpt/configs/tiny.yaml)` or `tiny.yaml (project:
        ./configs/tiny.yaml)`: one line for stderr."""
        shown = f"./{self.path}" if self.source == "project" and not self.path.is_absolute() else str(self.path)
        return f"{self.path.name} ({self.source}: {shown})"


def _packaged_names() -> str:
    return ", ".join(sorted(p.name for p in PACKAGED_CONFIGS.glob("*.yaml")))


def _by_name(name: str) -> ResolvedConfig | None:
    """A bare config name: the current project's `configs/NAME`, else the packaged one. The
    project file wins unless it *is* the packaged file (a clone's `configs/` links there)."""
    packaged = PACKAGED_CONFIGS / name
    project = PROJECT_CONFIGS / name
    if project.is_file() and not (packaged.is_file() and project.resolve() == packaged.resolve()):
        return ResolvedConfig(project, "project")
    if packaged.is_file():
        return ResolvedConfig(packaged, "packaged")
    return None


def find_config(value: str | os.PathLike | None, default_name: str) -> ResolvedConfig:
    """The one resolution rule for configs: an explicit flag, else the current project
    folder's `configs/NAME`, else the packaged default.

    An explicit value that is an existing file is used as given; a bare name (`tiny.yaml`) is
    looked up in `./configs/` then in the package, so commands run the same from any folder.
    Anything else is `ConfigNotFound` (exit 4, as every missing input) listing the packaged names."""
    if value is None:
        found = _by_name(default_name)
        if found is None:
            raise ConfigNotFound(f"no config {default_name!r} in ./configs or the package; the package ships: "
                           f"{_packaged_names()}")
        return found
    path = Path(value).expanduser()
    if path.is_file():
        return ResolvedConfig(path, "flag")
    found = _by_name(path.name) if path.parent == Path(".") else None
    if found is not None:
        return found
    raise ConfigNotFound(f"config {str(value)!r} not found (neither a file nor a packaged name); "
                   f"the package ships: {_packaged_names()}")


def resolve_config(value: str | os.PathLike) -> Path:
    """A config argument as a file, by the rule of `find_config` (a file as given, else
    `./configs/NAME`, else the packaged NAME). Where none matches the path comes back as given,
    so the caller's loader reports "not found" in its own words."""
    try:
        return find_config(value, Path(value).name).path
    except ConfigNotFound:
        return Path(value).expanduser()


class ReferenceDataMissing(NotFound, FileNotFoundError):
    """Raised when the shared research reference data cannot be found."""


def packaged_config(name: str) -> Path:
    """A config shipped with the package (`tiny.yaml`, `promotion.yaml`, ...): the default
    when the user names none; it resolves the same in a clone and in an installed wheel."""
    path = PACKAGED_CONFIGS / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in PACKAGED_CONFIGS.glob("*.yaml")))
        raise FileNotFoundError(f"no packaged config {name!r}; the package ships: {known}")
    return path


def workspace_dir(create: bool = True) -> Path:
    """Folder for local state: MLflow store, caches, reports (`$AFFECTGPT_HOME`, else
    `./.affectgpt`). Created on first use; read-only callers pass `create=False` so that looking
    at a folder never leaves an empty workspace behind."""
    root = Path(os.environ.get(HOME_ENV) or Path.cwd() / ".affectgpt").expanduser()
    if create:
        root.mkdir(parents=True, exist_ok=True)
    return root


def default_tracking_uri(create: bool = True) -> str:
    """The embedded MLflow store every part of the platform shares: `<workspace>/mlflow.db`
    (artifacts beside it, see `artifact_root_for`)."""
    return f"sqlite:///{workspace_dir(create) / 'mlflow.db'}"


def tracking_uri(explicit: str | None = None, create: bool = True) -> str:
    """The MLflow store: an explicit URI, else `$MLFLOW_TRACKING_URI`, else the embedded default."""
    return explicit or os.environ.get(TRACKING_URI_ENV) or default_tracking_uri(create)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (None for a server or an in-memory store)."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if raw in ("", ":memory:") else Path(raw).expanduser()


def artifact_root_for(uri: str) -> str | None:
    """Where experiments created on a sqlite store keep artifacts: `mlartifacts/` beside the
    database file, so artifacts never land in a `./mlruns` of whatever folder a command ran
    from. None for a server (the server decides)."""
    db_path = sqlite_path(uri)
    if db_path is None:
        return None
    return (db_path.resolve().parent / "mlartifacts").as_uri()


def reference_data_dir(required: bool = True) -> Path | None:
    """The shared reference-data folder: `$AFFECTGPT_REFERENCE_DATA`, else `../shared/reference-data`
    beside the clone. Research-licensed material is read from there, never copied into the product."""
    candidates = []
    if os.environ.get(REFERENCE_DATA_ENV):
        candidates.append(Path(os.environ[REFERENCE_DATA_ENV]).expanduser())
    if is_source_checkout():
        candidates.append(REPO_ROOT.parent / "shared" / "reference-data")
    candidates.append(Path.cwd().parent / "shared" / "reference-data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    if required:
        raise ReferenceDataMissing(
            "reference data not found; set AFFECTGPT_REFERENCE_DATA to the folder that holds "
            "zeroQiaoba-MERTools/, zeroQiaoba-AffectGPT/ and ouyangjutian-AffectGPT/ "
            f"(looked in: {', '.join(str(c) for c in candidates)})"
        )
    return None
