"""Orchestration overhead of the retrain pipeline: the same steps run under kfp.local
(one subprocess per step, artifacts passed by path) vs. the same library functions called
directly in one process. Each side gets a fresh workspace, so no cache is shared.

    .venv/bin/python benchmarks/bench_pipeline.py [--clips 12] [--per-dataset 2] [--full-build]

Prints a table: wall time per side and the overhead ratio (target <= 20%).
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
STEPS = 15  # build_dataset, extract_features, train, evaluate_dataset x 10 (9 sets + local), evaluate, register
FAST_BUILD = "postfilter:\n  high_level:\n    enabled: false\n"


def corpus_with_test_split(scratch: Path, n_clips: int) -> Path:
    """The demo corpus as a clip manifest whose splits repeat train/val/train/test."""
    import pandas as pd

    from affectgpt.data.demo_corpus import make_demo_corpus

    manifest = make_demo_corpus(scratch / "corpus", n_clips=n_clips)
    table = pd.read_parquet(manifest)
    table["split"] = [("train", "val", "train", "test")[i % 4] for i in range(len(table))]
    for column in ("video_path", "audio_path"):
        table[column] = [str((manifest.parent / p).resolve()) for p in table[column]]
    out = scratch / "clip_manifest.parquet"
    table.to_parquet(out)
    return out


def use_workspace(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    os.environ["AFFECTGPT_HOME"] = str(home)
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"


def run_direct(raw: Path, build_config: Path | None, data_rev: str, out: Path, unibench: Path) -> float:
    started = time.perf_counter()  # imports count: each kfp step pays its own
    from affectgpt.cluster import train_on_backend
    from affectgpt.data.build import build_dataset
    from affectgpt.evaluate import evaluate_unibench, register_trained_model
    from affectgpt.features.extract import extract_features
    from affectgpt.model.config import load_config

    build_dataset(raw, out / "dataset", build_config, workers=1)
    extract_features(out / "dataset" / "clip_manifest.parquet", out / "features", load_config(TINY).encoders,
                     workers=1, progress=False)
    train_on_backend(TINY, out / "dataset", out / "model", features_dir=out / "features")
    evaluate_unibench(out / "model", unibench, out / "eval", local_dataset_dir=out / "dataset",
                      local_features_dir=out / "features", progress=False)
    register_trained_model(out / "model", out / "eval" / "report", "affectgpt-bench", data_rev=data_rev)
    return time.perf_counter() - started


def run_kfp(raw: Path, build_config: Path | None, data_rev: str, root: Path, unibench: Path) -> float:
    from affectgpt.pipeline_cli import content_revision
    from pipelines.compile import pipelines_by_name
    from pipelines.local_run import run_local

    arguments = {"raw_dir": str(raw), "data_rev": data_rev, "model_config": str(TINY),
                 "build_config": str(build_config or ""), "model_name": "affectgpt-bench", "workers": 1,
                 "gpus_per_node": 0, "unibench_dir": str(unibench), "unibench_rev": content_revision(unibench)}
    started = time.perf_counter()
    run_local(pipelines_by_name(local=True)["retrain"], arguments, root)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--per-dataset", type=int, default=2, help="MER-UniBench fixture clips per set")
    parser.add_argument("--full-build", action="store_true", help="keep the high-level post-filter (slow)")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    from affectgpt.pipeline_cli import content_revision

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as scratch_name:
        scratch = Path(scratch_name)
        raw = corpus_with_test_split(scratch, args.clips)
        build_config = None
        if not args.full_build:
            build_config = scratch / "build.yaml"
            build_config.write_text(FAST_BUILD)
        data_rev = content_revision(raw)
        from affectgpt.bench.fixture import make_fixture

        unibench = scratch / "unibench"
        make_fixture(unibench, args.per_dataset)
        use_workspace(scratch / "home-direct")
        direct_s = run_direct(raw, build_config, data_rev, scratch / "direct", unibench)
        use_workspace(scratch / "home-kfp")
        kfp_s = run_kfp(raw, build_config, data_rev, scratch / "home-kfp" / "runs", unibench)

    table = Table(title=f"retrain pipeline, {args.clips} demo clips, tiny config, CPU")
    for column in ("path", "wall s", "ratio vs direct"):
        table.add_column(column, justify="left" if column == "path" else "right")
    table.add_row("library functions, one process", f"{direct_s:.1f}", "1.00")
    table.add_row("kfp.local SubprocessRunner", f"{kfp_s:.1f}", f"{kfp_s / direct_s:.2f}")
    Console().print(table)
    overhead = kfp_s / direct_s - 1
    per_step_s = (kfp_s - direct_s) / STEPS
    print(f"orchestration overhead: {overhead:+.1%} (target <= +20%); {per_step_s:.1f} s per step "
          f"({STEPS} steps: a fresh Python process with its own imports, artifacts by path)")


if __name__ == "__main__":
    main()
