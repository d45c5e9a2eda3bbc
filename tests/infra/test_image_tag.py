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
    for name in ("components", "pipelines"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "src" / "affectgpt").mkdir(parents=True)
    shutil.copy2(REPO / "src" / "affectgpt" / "__init__.py", root / "src" / "affectgpt" / "__init__.py")
    return root


def test_the_tag_moves_with_code_locks_and_dockerfiles_only(tmp_path):
    root = _tree(tmp_path)
    tag = source_tag(root)
    assert tag.startswith("src-") and len(tag) == 16 and source_tag(root) == tag
    (root / "pipelines" / "compiled" / "retrain.yaml").write_text("recompiled")
    (root / "src" / "affectgpt" / "__pycache__").mkdir()
    (root / "src" / "affectgpt" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    (root / "src" / "affectgpt" / "_build_info.json").write_text("{}")
    assert source_tag(root) == tag
    for changed in ("src/affectgpt/__init__.py", "requirements.lock", "components/base/Dockerfile"):
        before = (root / changed).read_bytes()
        (root / changed).write_bytes(before + b"\n")
        assert source_tag(root) != tag, changed
        (root / changed).write_bytes(before)
    assert source_tag(root) == tag
