"""Build hook: every wheel records the code revision it was built from.

`affectgpt.manifest.code_version()` stamps every step's manifest and every registered model;
in an installed wheel there is no git checkout to ask, so the build writes
`affectgpt/_build_info.json` (version, git commit, dirty flag) into the wheel. The commit comes
from `git` in the source tree, or from AFFECTGPT_BUILD_COMMIT (and AFFECTGPT_BUILD_DIRTY) when
the tree has no .git (a Docker build context, an sdist). Editable installs write nothing: a
clone reports its live git state. Everything else about the package is in pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
BUILD_INFO = "_build_info.json"


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def build_info() -> dict:
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "src" / "affectgpt" / "__init__.py").read_text()).group(1)
    commit = os.environ.get("AFFECTGPT_BUILD_COMMIT") or None
    dirty = os.environ.get("AFFECTGPT_BUILD_DIRTY", "").lower() in ("1", "true", "yes")
    source = "env"
    if commit is None and (ROOT / ".git").exists():
        commit = _git("rev-parse", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        source = "git"
    return {"version": version, "commit": commit, "dirty": dirty if commit else None,
            "commit_source": source if commit else None, "image_tag": image_tag(),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds")}


def image_tag() -> str:
    """The platform images' content tag (affectgpt/image_tag.py, loaded by path: the package is
    not importable while it is being built); AFFECTGPT_IMAGE_TAG when the build context lacks
    some of the inputs (the Docker wheel stage copies only the code)."""
    if os.environ.get("AFFECTGPT_IMAGE_TAG"):
        return os.environ["AFFECTGPT_IMAGE_TAG"]
    spec = importlib.util.spec_from_file_location("_image_tag", ROOT / "src" / "affectgpt" / "image_tag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_tag(ROOT)


class BuildPyWithInfo(build_py):
    """build_py that adds affectgpt/_build_info.json to the built package (not to the tree)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "affectgpt" / BUILD_INFO
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(build_info(), indent=2) + "\n")

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if not getattr(self, "editable_mode", False):
            outputs.append(str(Path(self.build_lib) / "affectgpt" / BUILD_INFO))
        return outputs


setup(cmdclass={"build_py": BuildPyWithInfo})
