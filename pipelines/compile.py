"""Compile every pipeline to IR YAML in `pipelines/compiled/` (checked in; a test fails when stale)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from pipelines import COMPILED_DIR


def pipelines_by_name(local: bool = False) -> dict:
    """Name -> pipeline. `local=True`: the same pipelines without retries, for kfp.local."""
    from pipelines.monitor import make_monitor_pipeline, monitor
    from pipelines.retrain import make_retrain_pipeline, retrain, retrain_k8s

    if local:
        # One machine: no retries, and one evaluation task for every test set (ten tasks would run
        # one after the other anyway, each paying a fresh process and its imports).
        options = {"retries": False, "eval_parallelism": 1, "eval_fanout": False}
        return {"retrain": make_retrain_pipeline("local", **options),
                "retrain-k8s": make_retrain_pipeline("k8s", **options),
                "monitor": make_monitor_pipeline("local", **options)}
    return {"retrain": retrain, "retrain-k8s": retrain_k8s, "monitor": monitor}


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
