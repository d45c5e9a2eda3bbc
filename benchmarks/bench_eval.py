"""`bench eval` over the MER-UniBench fixture: where the time goes (features, inference, scoring
and report) and what batching buys, as ratios measured in one run.

    .venv/bin/python benchmarks/bench_eval.py [--per-dataset 4] [--batch-size 8]

The model is the tiny config built in-process (untrained: the work per clip is what matters).
Each side runs in a fresh workspace with the feature cache warmed first, so the batched and the
one-clip-at-a-time runs differ only in generation.
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from affectgpt.offline import apply_offline_defaults

apply_offline_defaults()
os.environ.setdefault("DS_ACCELERATOR", "cpu")


def tiny_model(out: Path) -> Path:
    from affectgpt.model.build import build_model, build_tokenizer
    from affectgpt.model.config import load_config
    from affectgpt.model.store import save_model_dir
    from affectgpt.paths import packaged_config

    config = load_config(packaged_config("tiny.yaml"))
    tokenizer = build_tokenizer(config, ["I feel happy, sad, angry, worried, surprised or calm today."])
    return save_model_dir(build_model(config, tokenizer), tokenizer, out)


def phase_times(out: Path) -> dict[str, float]:
    """Seconds per phase, from the manifests the run wrote."""
    infer = features = 0.0
    for folder in (out / "predictions").iterdir():
        for manifest in folder.glob("infer-*.manifest.json"):
            infer += json.loads(manifest.read_text())["timings_s"]["total"]
    for manifest in Path(os.environ["AFFECTGPT_HOME"]).glob("feature-cache/unibench/*/manifest.json"):
        features += json.loads(manifest.read_text())["timings_s"]["total"]
    report = json.loads((out / "report" / "manifest.json").read_text())["timings_s"]["total"]
    return {"features": features, "inference": infer, "report": report}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-dataset", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    import torch
    from rich.console import Console
    from rich.table import Table

    from affectgpt.bench.evaluation import evaluate_unibench
    from affectgpt.bench.fixture import make_fixture

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as scratch_name:
        scratch = Path(scratch_name)
        os.environ["AFFECTGPT_HOME"] = str(scratch / "home")
        unibench = scratch / "unibench"
        make_fixture(unibench, args.per_dataset)
        model = tiny_model(scratch / "model")
        evaluate_unibench(model, unibench, scratch / "warm", progress=False)  # fills the feature cache
        rows = {}
        for label, batch_size in (("batched", args.batch_size), ("one clip at a time", 1)):
            out = scratch / label.replace(" ", "-")
            started = time.perf_counter()
            evaluate_unibench(model, unibench, out, batch_size=batch_size, progress=False)
            rows[label] = {"wall": time.perf_counter() - started, **phase_times(out)}

    batched, single = rows["batched"], rows["one clip at a time"]
    table = Table(title=f"bench eval, fixture {args.per_dataset} clips/set, tiny config, CPU (feature cache warm)")
    for column in ("run", "wall s", "features s", "inference s", "report s", "report / inference"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for label, row in rows.items():
        table.add_row(label, f"{row['wall']:.1f}", f"{row['features']:.1f}", f"{row['inference']:.1f}",
                      f"{row['report']:.1f}", f"{row['report'] / row['inference']:.2f}")
    Console().print(table)
    print(f"batching (batch {args.batch_size}) vs one clip at a time: inference time ratio "
          f"{batched['inference'] / single['inference']:.2f}")


if __name__ == "__main__":
    main()
