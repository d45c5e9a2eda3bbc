"""The image tag is a hash of what the images are built from: it moves with the code, the
locks and the Dockerfiles, and not with what never enters an image (compiled IR, caches)."""

from __future__ import annotations

import shutil
from pathlib import Path

from affectgpt.image_tag import source_tag

REPO = Path(__file__).resolve().parents[2]


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"  # a Docker build context: no .git, so every file under the inputs counts
    root.mkdir()
    for name in ("pyproject.toml", "setup.py", "constraints.txt", "requirements.lock", "requirements-torch.lock"):
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "src" / "affectgpt_kfp", root / "src" / "affectgpt_kfp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "src" / "affectgpt").mkdir(parents=True)
    shutil.copy2(REPO / "src" / "affectgpt" / "__init__.py", root / "src" / "affectgpt" / "__init__.py")
    return root


def test_the_tag_moves_with_code_locks_and_dockerfiles_only(tmp_path):
    root = _tree(tmp_path)
    tag = source_tag(root)
    assert tag.startswith("src-") and len(tag) == 16 and source_tag(root) == tag
    (root / "src" / "affectgpt_kfp" / "pipelines" / "compiled" / "retrain.yaml").write_text("recompiled")
    (root / "src" / "affectgpt" / "__pycache__").mkdir()
    (root / "src" / "affectgpt" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / "src" / "affectgpt" / "_build_info.json").write_text("{}")
    assert source_tag(root) == tag
    for changed in ("src/affectgpt/__init__.py", "requirements.lock", "src/affectgpt_kfp/components/base/Dockerfile"):
        before = (root / changed).read_bytes()
        (root / changed).write_bytes(before + b"\n")
        assert source_tag(root) != tag, changed
        (root / changed).write_bytes(before)
    assert source_tag(root) == tag


def test_make_images_builds_every_image_the_pipelines_name(tmp_path):
    """`make images` (scripts/images.sh, DRY_RUN=1 prints what it would run) builds the platform
    image and one image per step under the tag the compiled pipelines carry, and says how to
    push each; no image a compiled pipeline names is left out."""
    import os
    import subprocess
    import sys

    import yaml

    from affectgpt.image_tag import image_tag

    env = {**os.environ, "DRY_RUN": "1", "PY": sys.executable, "PATH": f"{tmp_path}:/usr/bin:/bin"}
    (tmp_path / "podman").write_text("#!/bin/sh\nexit 0\n")  # an engine on PATH: its name is all that is used
    (tmp_path / "podman").chmod(0o755)
    out = subprocess.run(["bash", str(REPO / "scripts" / "images.sh")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    tag = image_tag()
    built = {line.split(" -t ")[1].split()[0] for line in out.splitlines() if line.startswith("+ podman build")}
    named = {executor["container"]["image"] for path in (REPO / "src" / "affectgpt_kfp" / "pipelines" / "compiled").glob("*.yaml")
             for executor in next(yaml.safe_load_all(path.read_text()))["deploymentSpec"]["executors"].values()}
    assert named <= built and f"ghcr.io/affectgpt/affectgpt:{tag}" in built
    assert all(f"  podman push {image}" in out for image in built)
