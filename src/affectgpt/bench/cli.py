"""`affectgpt bench ...`: score label files and whole prediction folders on MER-UniBench.

    affectgpt bench score --task ov --input samples.jsonl --mode official --output scores.json \
        [--samples details.parquet]
    affectgpt bench run --predictions preds/ --datasets mer2023,meld,ovmerdplus --report out/
"""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

bench_app = typer.Typer(help="MER-UniBench: score emotion labels and prediction folders.", no_args_is_help=True)
console = Console(stderr=True)


class Task(str, Enum):
    ov = "ov"
    hit = "hit"
    sentiment = "sentiment"


class ScoreMode(str, Enum):
    official = "official"
    corrected = "corrected"


class WheelTable(str, Enum):
    mer2025 = "mer2025"
    mer2026 = "mer2026"


class Extractor(str, Enum):
    lexicon = "lexicon"
    llm = "llm"


def _fail(message: str, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _fmt(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


@bench_app.command("score")
def score_command(
    task: Task = typer.Option(..., "--task", help="ov (fine-grained F), hit (basic emotions), sentiment"),
    input_path: Path = typer.Option(..., "--input", help='JSONL: {"name", "gt", "pred"} per line'),
    mode: ScoreMode = typer.Option(ScoreMode.official, "--mode", help="official (bit-exact) or corrected"),
    level: int = typer.Option(1, "--level", min=1, max=2, help="wheel level for ov/hit"),
    wheels: WheelTable | None = typer.Option(None, "--wheels", help="word-form table (default: mer2025 "
                                             "for official, mer2026 for corrected)"),
    output: Path | None = typer.Option(None, "--output", help="write the JSON here (default: stdout)"),
    samples_path: Path | None = typer.Option(
        None, "--samples", help="also write per-sample details (parsed labels, mapped ring words, "
        "per-wheel precision/recall or hit) to this .jsonl or .parquet file; off by default, as "
        "details of 100k samples are ten times the input"),
) -> None:
    """Score one JSONL file of (name, gt, pred) samples; the JSON holds the aggregate scores."""
    from affectgpt.bench.metrics import score_ov_columns, score_task
    from affectgpt.bench.sample_details import SampleDetailsError, SampleDetailsWriter
    from affectgpt.bench.score_input import ScoreInputError, read_ov_columns, read_score_input

    quarantined: list = []
    try:
        # Aggregate official OV scores of a clean file: columnar, no Python object per sample.
        columns = (read_ov_columns(input_path)
                   if task is Task.ov and mode is ScoreMode.official and samples_path is None else None)
        if columns is not None:
            result = score_ov_columns(*columns, level=level, wheels=wheels.value if wheels else None)
        elif samples_path is not None:
            samples = read_score_input(input_path, task.value, quarantined)
            with SampleDetailsWriter(samples_path, task.value) as sink:
                result = score_task(task.value, samples, mode=mode.value, level=level,
                                    wheels=wheels.value if wheels else None, sample_sink=sink)
        else:
            result = score_task(task.value, read_score_input(input_path, task.value, quarantined), mode=mode.value,
                                level=level, wheels=wheels.value if wheels else None, keep_samples=False)
    except (ScoreInputError, SampleDetailsError, ValueError) as exc:
        _fail(str(exc))
    for record in quarantined:
        console.print(f"[yellow]quarantined[/] ({record.reason}) {record.detail}", soft_wrap=True)
    payload = json.dumps({**result.to_json(include_samples=False),
                          "quarantined": [r.model_dump() for r in quarantined]}, indent=2)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(payload)
        tmp.replace(output)
        console.print(f"{task.value} score ({mode.value}): [bold]{_fmt(result.score)}[/] "
                      f"over {result.n_scored} scored samples -> {output}"
                      + (f"; per-sample details -> {samples_path}" if samples_path else ""))
    else:
        typer.echo(payload)


@bench_app.command("run")
def run_command(
    predictions: Path = typer.Option(..., "--predictions", help="folder of <dataset>.jsonl prediction files"),
    datasets: str = typer.Option(..., "--datasets", help="comma-separated: mer2023,mer2024,meld,iemocapfour,"
                                 "cmumosi,cmumosei,sims,simsv2,ovmerdplus or local=PATH.parquet; 'all' = the 9"),
    report: Path = typer.Option(..., "--report", help="output folder for report.json/html/png"),
    mode: ScoreMode = typer.Option(ScoreMode.official, "--mode"),
    level: int = typer.Option(1, "--level", min=1, max=2),
    wheels: WheelTable | None = typer.Option(None, "--wheels"),
    extractor: Extractor = typer.Option(Extractor.lexicon, "--extractor", help="for lines without extracted_labels"),
    llm_model: Path | None = typer.Option(None, "--llm-model", help="local transformers judge (with --extractor llm)"),
    llm_endpoint: str | None = typer.Option(None, "--llm-endpoint", help="OpenAI-compatible base URL, e.g. "
                                            "http://127.0.0.1:8000/v1"),
    llm_endpoint_model: str | None = typer.Option(None, "--llm-endpoint-model"),
    labels: Path | None = typer.Option(None, "--labels", help="labels root (default: AFFECTGPT_REFERENCE_DATA)"),
    re_extract: bool = typer.Option(False, "--re-extract", help="ignore extracted_labels in the files"),
) -> None:
    """Score prediction files through label extraction and metrics; write the report."""
    from affectgpt.bench.datasets import DATASETS, DatasetError, check_dataset_name
    from affectgpt.bench.extract import get_extractor
    from affectgpt.bench.extract.llm import ExtractionError
    from affectgpt.bench.runner import run_bench

    names = list(DATASETS) if datasets.strip() == "all" else [d.strip() for d in datasets.split(",") if d.strip()]
    try:
        for name in names:
            check_dataset_name(name)
        if extractor is Extractor.llm:
            judge = get_extractor("llm", model=llm_model, endpoint=llm_endpoint, endpoint_model=llm_endpoint_model)
        else:
            judge = get_extractor("lexicon")
        result = run_bench(predictions, names, report, mode=mode.value, extractor=judge, labels=labels,
                           level=level, wheels=wheels.value if wheels else None, re_extract=re_extract)
    except (DatasetError, ExtractionError, ValueError) as exc:
        _fail(str(exc))
    print_report_table(result)
    console.print(f"report: {report / 'report.html'}")
    empty = [name for name, entry in result.datasets.items() if entry.status == "no_samples"]
    if empty:  # schedulers must not read a report with an unscored dataset as a success
        _fail(f"no usable prediction in {', '.join(empty)} (status no_samples); see the report notes", code=3)


def print_report_table(result) -> None:
    table = Table(title=f"MER-UniBench ({result.mode} mode, {result.wheels} table)")
    for column in ("dataset", "metric", "score %", "paper %", "scored", "status"):
        table.add_column(column)
    for entry in result.datasets.values():
        table.add_row(entry.display_name, entry.metric or "", _pct(entry.value), _pct(entry.paper_value),
                      str(entry.n_scored), entry.status)
    table.add_row("mean", "", _pct(result.mean), "74.77", "", "complete" if result.complete else "partial")
    Console().print(table)


def _pct(value) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.2f}"


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
