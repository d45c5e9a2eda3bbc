"""Where affectgpt finds things on disk.

One place resolves the workspace (`.affectgpt/` under the current directory unless
`AFFECTGPT_HOME` says otherwise) and the research reference data, which the project reads
from a folder beside the clone and never bundles.
"""

from __future__ import annotations

import os
from pathlib import Path

REFERENCE_DATA_ENV = "AFFECTGPT_REFERENCE_DATA"
HOME_ENV = "AFFECTGPT_HOME"

PACKAGE_DIR = Path(__file__).resolve().parent
# src/affectgpt -> src -> repo root (only meaningful for an editable install / a clone).
REPO_ROOT = PACKAGE_DIR.parent.parent
# The configs ship inside the package (the repo's `configs/` links here), so an installed
# wheel finds the same defaults as a clone.
PACKAGED_CONFIGS = PACKAGE_DIR / "configs"


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
