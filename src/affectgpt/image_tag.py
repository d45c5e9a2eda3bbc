"""The immutable tag of the platform images: a hash of everything an image is built from.

A tag like `0.1.0` can be pushed again with other code, and the kfp cache key and every pod
spec would never notice; a tag derived from the image's inputs (the library, the components,
the pipelines' code, the dependency locks and the Dockerfiles) names exactly one build, and the
compiled pipelines carry it. `make images` builds under this tag; a wheel records it in its
build info, so code running from an installed wheel names the image it came from.

Standard library only: setup.py loads this file by path while building the wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from functools import cache
from pathlib import Path

TAG_PREFIX = "src-"
# Where the images are pushed (`make images`, the compiled pipelines); another registry: set it.
REPOSITORY_ENV = "AFFECTGPT_IMAGE_REPOSITORY"
DEFAULT_REPOSITORY = "ghcr.io/affectgpt/affectgpt"
# What the images are built from, relative to the repository root (src/affectgpt_kfp/components/base/Dockerfile).
IMAGE_INPUTS = ("pyproject.toml", "setup.py", "constraints.txt", "requirements.lock", "requirements-torch.lock",
                "src")
# Generated or local files that do not change what an image runs.
EXCLUDED_PARTS = {"__pycache__", "compiled"}
EXCLUDED_SUFFIXES = (".pyc", ".egg-info")
EXCLUDED_NAMES = {"_build_info.json"}


def _included(relative: Path) -> bool:
    return not (set(relative.parts) & EXCLUDED_PARTS or relative.name in EXCLUDED_NAMES
                or any(part.endswith(EXCLUDED_SUFFIXES) for part in relative.parts))


def _listed_files(root: Path) -> list[Path]:
    """The input files: those git tracks or would track (a clone), else every file (a build context)."""
    if (root / ".git").exists():
        try:
            out = subprocess.run(["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "--", *IMAGE_INPUTS],
                                 capture_output=True, text=True, timeout=30, check=True).stdout
            return [Path(line) for line in out.splitlines() if line and (root / line).is_file()]
        except (OSError, subprocess.SubprocessError):
            pass
    files: list[Path] = []
    for name in IMAGE_INPUTS:
        path = root / name
        if path.is_file():
            files.append(Path(name))
        elif path.is_dir():
            files.extend(p.relative_to(root) for p in path.rglob("*") if p.is_file())
    return files


def source_tag(root: str | Path) -> str:
    """`src-<12 hex>`: sha256 over the sorted (path, content) of the image inputs under `root`."""
    root = Path(root)
    digest = hashlib.sha256()
    for relative in sorted({f for f in _listed_files(root) if _included(f)}, key=lambda p: p.as_posix()):
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256((root / relative).read_bytes()).digest())
    return TAG_PREFIX + digest.hexdigest()[:12]


@cache
def image_tag() -> str:
    """This code's image tag: computed from the checkout it runs from, else the one its wheel
    recorded; raises when neither is known (a wheel built without the build hook)."""
    package = Path(__file__).resolve().parent
    root = package.parent.parent
    if (root / "pyproject.toml").is_file() and (root / "src" / "affectgpt").resolve() == package:
        return source_tag(root)
    try:
        recorded = json.loads((package / "_build_info.json").read_text(encoding="utf-8")).get("image_tag")
    except (OSError, ValueError):
        recorded = None
    if not recorded:
        raise RuntimeError("this installed affectgpt does not know its image tag (built without setup.py's hook); "
                           "compile pipelines from a checkout")
    return recorded


def image_repository() -> str:
    return os.environ.get(REPOSITORY_ENV, DEFAULT_REPOSITORY)


def platform_image() -> str:
    """The platform image of this code (the training job's pods run it)."""
    return f"{image_repository()}:{image_tag()}"
