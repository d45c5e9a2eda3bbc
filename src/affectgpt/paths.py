"""Where affectgpt finds things on disk.

One place resolves the workspace (`.affectgpt/` under the current directory unless
`AFFECTGPT_HOME` says otherwise) and the research reference data, which the project reads
from a folder beside the clone and never bundles.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

REFERENCE_DATA_ENV = "AFFECTGPT_REFERENCE_DATA"
HOME_ENV = "AFFECTGPT_HOME"

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


def resolve_config(value: str | os.PathLike) -> Path:
    """A config argument as a file: an existing path as given, else the packaged config of that
    name (`affectgpt-7b.yaml`, `promotion.yaml`, ...), so steps and pipeline defaults can name
    a shipped config without knowing where the package is installed."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if path.parent == Path(".") and (PACKAGED_CONFIGS / path.name).is_file():
        return PACKAGED_CONFIGS / path.name
    return path  # the caller's loader reports "not found" with the path as given


class ReferenceDataMissing(FileNotFoundError):
    """Raised when the shared research reference data cannot be found."""


def packaged_config(name: str) -> Path:
    """A config shipped with the package (`tiny.yaml`, `promotion.yaml`, ...): the default
    when the user names none; it resolves the same in a clone and in an installed wheel."""
    path = PACKAGED_CONFIGS / name
    if not path.is_file():
        known = ", ".join(sorted(p.name for p in PACKAGED_CONFIGS.glob("*.yaml")))
        raise FileNotFoundError(f"no packaged config {name!r}; the package ships: {known}")
    return path


def workspace_dir() -> Path:
    """Folder for local state: MLflow store, caches, reports. Created on first use."""
    root = Path(os.environ.get(HOME_ENV, Path.cwd() / ".affectgpt")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


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
