"""Kubeflow pipelines of the platform: `retrain` and `monitor`. Compiled IR lives in
`src/affectgpt_kfp/pipelines/compiled/` (regenerate with `affectgpt pipeline compile`)."""

from pathlib import Path

COMPILED_DIR = Path(__file__).resolve().parent / "compiled"
