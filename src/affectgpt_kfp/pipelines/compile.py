"""Compile every pipeline to IR YAML in `src/affectgpt_kfp/pipelines/compiled/` (checked in; a test fails when stale)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from affectgpt_kfp.pipelines import COMPILED_DIR


def pipelines_by_name() -> dict:
    """Name -> pipeline. The same compiled files serve the cluster and `pipeline run --local`
    (which runs `retrain` and `monitor`, the variants that train in a step)."""
    from affectgpt_kfp.pipelines.monitor import monitor, monitor_k8s
    from affectgpt_kfp.pipelines.retrain import retrain, retrain_k8s

    return {"retrain": retrain, "retrain-k8s": retrain_k8s, "monitor": monitor, "monitor-k8s": monitor_k8s}


def compile_pipeline(name: str, out_path: Path) -> Path:
    available = pipelines_by_name()
    if name not in available:
        raise KeyError(f"unknown pipeline {name!r}; choose one of {', '.join(available)}")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(available[name], str(out_path))
    return out_path


def compile_all(out_dir: Path = COMPILED_DIR) -> list[Path]:
    return [compile_pipeline(name, Path(out_dir) / f"{name}.yaml") for name in pipelines_by_name()]


if __name__ == "__main__":
    for path in compile_all():
        print(path)
