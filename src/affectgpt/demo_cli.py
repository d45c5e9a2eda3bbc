"""`affectgpt demo`: a MER-UniBench run on real files, end to end, in a few seconds.

It always scores the bundled demo descriptions (a clip manifest + predictions written on the
fly, scored through the lexicon extractor and the `local` dataset: what a fresh machine can
do). Where the research reference data is present it also reproduces the published MER2024
OV result (accuracy 0.5818 / recall 0.4978), scores the baseline predictions with the
emotion-wheel metric in both modes, and scores the EMER descriptions (through the lexicon
extractor) against their gold labels, writing a full HTML/PNG report.

    affectgpt demo [--out DIR]
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import typer
from rich.table import Table

from affectgpt.cli_common import console, friendly_errors, say_path
from affectgpt.paths import REFERENCE_DATA_ENV, reference_data_dir, workspace_dir

DEMO_DESCRIPTIONS = Path(__file__).resolve().parent / "bench" / "resources" / "demo_descriptions.json"


def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _prediction(clip_id: str, dataset: str, output: str) -> dict:
    return {"clip_id": clip_id, "dataset": dataset, "prompt_type": "description", "output": output,
            "extracted_labels": None, "extractor": None}


def bundled_demo(out_dir: Path, mode: str = "official"):
    """Score the bundled descriptions as a `local` dataset; returns the BenchReport."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from affectgpt.bench.runner import run_bench

    records = json.loads(DEMO_DESCRIPTIONS.read_text(encoding="utf-8"))
    manifest_path = out_dir / "bundled" / "clip_manifest.parquet"
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "clip_id": [r["clip_id"] for r in records],
        "subtitle": [r["description"] for r in records],
        "split": ["test"] * len(records),
        "ov_labels": pa.array([r["ov_labels"] for r in records], type=pa.list_(pa.string())),
        "valence": [float(r["valence"]) for r in records],
    })
    pq.write_table(table, manifest_path)
    predictions = out_dir / "bundled" / "predictions"
    _write_jsonl(predictions / "local.jsonl", [_prediction(r["clip_id"], "local", r["description"]) for r in records])
    return run_bench(predictions, [f"local={manifest_path}"], out_dir / "bundled" / "report", mode=mode)


def reference_demo(reference: Path, out_dir: Path) -> dict[str, dict]:
    """Regression target, wheel metric on the baseline, and EMER descriptions via the lexicon."""
    import numpy as np

    from affectgpt.bench.extract import get_extractor
    from affectgpt.bench.metrics import score_hit, score_ov, score_ov_clusters
    from affectgpt.bench.runner import run_bench

    ov_store = reference / "zeroQiaoba-MERTools" / "MER2024" / "ov_store"
    gold = {r["name"]: r["openset"] for r in _read_csv(ov_store / "check-openset.csv")}
    baseline = {r["name"]: r["openset"] for r in _read_csv(ov_store / "predict-openset.csv")}
    clusters = {}
    with zipfile.ZipFile(ov_store / "openset-synonym.zip") as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                clusters[Path(member).stem] = str(np.load(io.BytesIO(archive.read(member))).tolist())
    results: dict[str, dict] = {"mer2024_clusters": score_ov_clusters(gold, baseline, clusters)}
    samples = [{"name": n, "gt": gold[n], "pred": baseline.get(n, "")} for n in gold]
    for mode in ("official", "corrected"):
        result = score_ov(samples, mode=mode, keep_samples=False)
        results[f"baseline_ew_{mode}"] = {"fscore": result.score, **result.secondary}

    extractor = get_extractor("lexicon")
    emer_v2 = reference / "zeroQiaoba-AffectGPT" / "EMER" / "dataset-v2" / "final-EMER-reason.csv"
    rows = _read_csv(emer_v2)
    predictions = out_dir / "reference" / "predictions"
    _write_jsonl(predictions / "ovmerdplus.jsonl", [_prediction(r["name"], "ovmerdplus", r["english"]) for r in rows])
    for mode in ("official", "corrected"):
        report = run_bench(predictions, ["ovmerdplus"], out_dir / "reference" / f"report-{mode}", mode=mode,
                           extractor=extractor)
        entry = report.datasets["ovmerdplus"]
        results[f"emer_v2_lexicon_ew_{mode}"] = {"fscore": entry.value, **entry.secondary}

    emer_v1 = reference / "zeroQiaoba-AffectGPT" / "EMER" / "dataset-v1" / "gt-eng.csv"
    v1 = _read_csv(emer_v1)
    hit_samples = [{"name": r["names"], "gt": r["emotions"], "pred": extractor.extract_labels(r["reasons"])} for r in v1]
    for mode in ("official", "corrected"):
        result = score_hit(hit_samples, mode=mode, keep_samples=False)
        results[f"emer_v1_lexicon_hit_{mode}"] = {"hit_rate": result.score, **result.secondary}
    return results


@friendly_errors()
def demo(
    out: Path = typer.Option(None, "--out", "-o", help="output folder (default: .affectgpt/demo)"),
) -> None:
    """Run a MER-UniBench demo on real files and write HTML/PNG reports."""
    from affectgpt.bench.cli import print_report_table

    out_dir = out or workspace_dir() / "demo"
    console.rule("MER-UniBench on the bundled demo descriptions (lexicon extractor, local dataset)")
    report = bundled_demo(out_dir)
    print_report_table(report)
    say_path("report", out_dir / "bundled" / "report" / "report.html")

    reference = reference_data_dir(required=False)
    if reference is None:
        console.print(
            f"[yellow]Reference data not found[/]: set {REFERENCE_DATA_ENV} to the folder holding "
            "zeroQiaoba-MERTools/ and zeroQiaoba-AffectGPT/ to also reproduce the published MER2024 "
            "result and score the EMER descriptions."
        )
        return
    console.rule(f"MER-UniBench on the reference data ({reference})")
    results = reference_demo(reference, out_dir)
    table = Table(title="Real benchmark files")
    table.add_column("what")
    table.add_column("result")
    for name, values in results.items():
        table.add_row(name, ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in values.items()))
    console.print(table)
    console.print("published MER2024 target: accuracy 0.5818, recall 0.4978, avg 0.5398")
    (out_dir / "reference" / "results.json").write_text(json.dumps(results, indent=2))
    say_path("reports", out_dir / "reference")


def register(app: typer.Typer) -> None:
    app.command(name="demo")(demo)
