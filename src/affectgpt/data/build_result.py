"""What `build_dataset` returns, in a module of its own: code that only reads a result (a
report, a test) does not import the build and its stack."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BuildResult:
    out_dir: Path
    paths: dict[str, Path]
    counts: dict[str, int]
    skipped_by_reason: dict[str, int]
    computed_clips: int
    cached_clips: int
    timings_s: dict[str, float]
    dvc_rev: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / "manifest.json"
