"""`affectgpt bench ...`: score label files and whole prediction folders on MER-UniBench.

    affectgpt bench score --task ov --input samples.jsonl --mode official --out scores.json \
        [--samples details.parquet]
    affectgpt bench run --predictions preds/ --datasets mer2023,meld,ovmerdplus --out out/
    affectgpt bench check-sets unibench/                       # what the test-set folder holds
    affectgpt bench eval --model runs/tiny/model --unibench unibench/ --out reports/unibench
    affectgpt bench make-fixture --out fixture/ --per-dataset 20  # real labels, synthetic media
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from affectgpt.bench.mode import ScorerModeName
from affectgpt.bench.testsets import FIXTURE_CLIPS_PER_SET
from affectgpt.cli_common import err_console as console
from affectgpt.cli_common import existing, fail, friendly_errors, new_app, say_path
from affectgpt.errors import BadInput, NotFound, Refused
from affectgpt.formatting import percent
from affectgpt.model.decoding import Decoding

bench_app = new_app(help="MER-UniBench: score emotion labels and prediction folders.")


class Task(str, Enum):
    ov = "ov"
    hit = "hit"
    sentiment = "sentiment"


# Literal choice enums (typer needs one per option): listing them here keeps `--help` from
# loading the word-form tables.
class WheelTable(str, Enum):
    mer2025 = "mer2025"
    mer2026 = "mer2026"


class Extractor(str, Enum):
    lexicon = "lexicon"
    llm = "llm"


def _out_or_alias(out: Path | None, alias: Path | None, old: str, required: bool) -> Path | None:
    """`--out`, or the value of its deprecated spelling `old` (hidden; still accepted)."""
    if alias is not None:
        if out is not None:
            raise BadInput(f"give the output once: --out (the old spelling {old} is deprecated)")
        console.print(f"[yellow]{old} is deprecated; use --out[/]", highlight=False)
        out = alias
    if out is None and required:
        raise BadInput("missing option --out")
    return out


@bench_app.command("score")
@friendly_errors(ValueError)
def score_command(
    task: Task = typer.Option(..., "--task", help="ov (fine-grained F), hit (basic emotions), sentiment"),
    input_path: Path = typer.Option(..., "--input", help='JSONL: {"name", "gt", "pred"} per line'),
    mode: ScorerModeName = typer.Option(ScorerModeName.OFFICIAL, "--mode", help="official (bit-exact) or corrected"),
    level: int = typer.Option(1, "--level", min=1, max=2, help="wheel level for ov/hit"),
    wheels: WheelTable | None = typer.Option(None, "--wheels", help="word-form table (default: mer2025 "
                                             "for official, mer2026 for corrected)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the JSON to this file (default: stdout)"),
    output: Path | None = typer.Option(None, "--output", hidden=True, help="deprecated spelling of --out"),
    samples_path: Path | None = typer.Option(
        None, "--samples", help="also write per-sample details (parsed labels, mapped ring words, "
        "per-wheel precision/recall or hit) to this .jsonl or .parquet file; off by default, as "
        "details of 100k samples are ten times the input"),
) -> None:
    """Score one JSONL file of (name, gt, pred) samples; the JSON holds the aggregate scores."""
    from affectgpt.bench.metrics import score_ov_columns, score_task
    from affectgpt.bench.sample_details import SampleDetailsWriter
    from affectgpt.bench.score_input import locate_rows, read_ov_columns, read_score_input, unscored_records

    output = _out_or_alias(out, output, "--output", required=False)
    quarantined: list = []
    wheel_table = wheels.value if wheels else None
    # Aggregate official OV scores of a clean file: columnar, no Python object per sample.
    columns = (read_ov_columns(input_path)
               if task is Task.ov and mode is ScorerModeName.OFFICIAL and samples_path is None else None)
    if columns is not None:
        result = score_ov_columns(*columns, level=level, wheels=wheel_table)
        located = locate_rows(input_path, [entry.position for entry in result.unscored]) if result.unscored else {}
    else:
        line_numbers: list[int] = []
        samples = read_score_input(input_path, task.value, quarantined, line_numbers)
        if samples_path is not None:
            with SampleDetailsWriter(samples_path, task.value) as sink:
                result = score_task(task.value, samples, mode=mode, level=level, wheels=wheel_table,
                                    sample_sink=sink)
        else:
            result = score_task(task.value, samples, mode=mode, level=level, wheels=wheel_table, keep_samples=False)
        located = {entry.position: (line_numbers[entry.position], samples[entry.position].name)
                   for entry in result.unscored}
    # A sample the metric leaves out is listed with its reason, never just missing from n_scored.
    quarantined.extend(unscored_records(input_path, result.unscored, located))
    for record in quarantined:
        console.print(f"[yellow]quarantined[/] ({record.reason}) {record.detail}", soft_wrap=True)
    payload = json.dumps({**result.to_json(include_samples=False),
                          "quarantined": [r.model_dump() for r in quarantined]}, indent=2)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(payload)
        tmp.replace(output)
        console.print(f"{task.value} score ({mode.value}): [bold]{percent(result.score)} %[/] "
                      f"over {result.n_scored} scored samples -> {output}"
                      + (f"; per-sample details -> {samples_path}" if samples_path else ""))
    else:
        typer.echo(payload)


@bench_app.command("run")
@friendly_errors(ValueError)
def run_command(
    predictions: Path = typer.Option(..., "--predictions", help="folder of <dataset>.jsonl prediction files"),
    datasets: str = typer.Option(..., "--datasets", help="comma-separated: mer2023,mer2024,meld,iemocapfour,"
                                 "cmumosi,cmumosei,sims,simsv2,ovmerdplus or local=PATH.parquet; 'all' = the 9"),
    out: Path | None = typer.Option(None, "--out", "-o", help="output folder for report.json/html/png (required)"),
    report: Path | None = typer.Option(None, "--report", hidden=True, help="deprecated spelling of --out"),
    mode: ScorerModeName = typer.Option(ScorerModeName.OFFICIAL, "--mode"),
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
    from affectgpt.bench.datasets import DATASETS, check_dataset_name
    from affectgpt.bench.extract import get_extractor
    from affectgpt.bench.runner import run_bench

    report_dir = _out_or_alias(out, report, "--report", required=True)
    existing(predictions, "--predictions", "folder")
    existing(labels, "--labels", "folder")
    existing(llm_model, "--llm-model", "folder")
    names = list(DATASETS) if datasets.strip() == "all" else [d.strip() for d in datasets.split(",") if d.strip()]
    for name in names:
        check_dataset_name(name)
        if name.startswith("local=") and not Path(name.split("=", 1)[1]).exists():
            raise NotFound(f"--datasets {name}: not found")
    if extractor is Extractor.llm:
        judge = get_extractor("llm", model=llm_model, endpoint=llm_endpoint, endpoint_model=llm_endpoint_model)
    else:
        judge = get_extractor("lexicon")
    result = run_bench(predictions, names, report_dir, mode=mode, extractor=judge, labels=labels,
                       level=level, wheels=wheels.value if wheels else None, re_extract=re_extract)
    print_report_table(result)
    say_path("report", report_dir / "report.html")
    empty = [name for name, entry in result.datasets.items() if entry.status == "no_samples"]
    if empty:  # schedulers must not read a report with an unscored dataset as a success
        fail(Refused(f"no usable prediction in {', '.join(empty)} (status no_samples); see the report notes"))


def print_report_table(result) -> None:
    from affectgpt.bench.report import table_rows, title

    table = Table(title=title(result.to_json()))
    columns, rows = table_rows(result.to_json())
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)


@bench_app.command("check-sets")
@friendly_errors()
def check_sets_command(
    unibench: Path = typer.Argument(..., help="the test-set folder: <unibench>/<dataset>/{labels.csv,"
                                    "transcripts.csv,clips/<name>.mp4[.wav]} (see docs/bench.md)"),
    datasets: str = typer.Option("all", "--datasets", help="comma-separated ids, or 'all' = the nine"),
    as_json: bool = typer.Option(False, "--json", help="print the status as JSON"),
) -> None:
    """Say per dataset how many test clips have media, labels and subtitles, and what is missing."""
    from affectgpt.bench.testsets import check_sets

    names = None if datasets.strip() == "all" else [d.strip() for d in datasets.split(",") if d.strip()]
    statuses = check_sets(unibench, names)
    if as_json:
        typer.echo(json.dumps([s.to_json() for s in statuses], indent=2, ensure_ascii=False))
        return
    table = Table(title=f"MER-UniBench test sets in {unibench}")
    for column in ("dataset", "test clips (labels)", "with media", "with subtitle", "missing", "notes"):
        table.add_column(column, overflow="fold")
    for status in statuses:
        table.add_row(status.display_name, str(status.n_test), str(status.n_media), str(status.n_subtitles),
                      "\n".join(status.missing) or "-", "\n".join(status.notes) or "-")
    Console(width=200).print(table)
    ready = sum(status.ready for status in statuses)
    console.print(f"{ready} of {len(statuses)} sets complete (every labelled test clip has media)")


@bench_app.command("eval")
@friendly_errors(ValueError)
def eval_command(
    model: Path = typer.Option(..., "--model", help="trained model folder (affectgpt train --out X: X/model)"),
    unibench: Path | None = typer.Option(None, "--unibench", help="test-set folder (see check-sets); "
                                         "omit to score only --corpus"),
    out: Path = typer.Option(..., "--out", "-o", help="output folder: predictions/<dataset>/ and report/"),
    datasets: str = typer.Option("all", "--datasets", help="comma-separated ids, or 'all' = the nine"),
    mode: ScorerModeName = typer.Option(ScorerModeName.OFFICIAL, "--mode"),
    extractor: Extractor = typer.Option(Extractor.lexicon, "--extractor", help="label extraction from the answers"),
    llm_model: Path | None = typer.Option(None, "--llm-model", help="local transformers judge (with --extractor llm)"),
    llm_endpoint: str | None = typer.Option(None, "--llm-endpoint", help="OpenAI-compatible base URL"),
    llm_endpoint_model: str | None = typer.Option(None, "--llm-endpoint-model"),
    decoding: Decoding = typer.Option(Decoding.GREEDY, "--decoding", help="decoding preset: greedy (platform default, "
                                      "stable gates) or official (upstream's seeded sampling)"),
    batch_size: int = typer.Option(8, "--batch-size", min=1),
    features_cache: Path | None = typer.Option(None, "--features-cache", help="feature shards of the test clips "
                                               "(default: <workspace>/feature-cache/unibench)"),
    corpus: Path | None = typer.Option(None, "--corpus", help="a built corpus folder: adds its test split as "
                                       "the extra row `local` (features from <corpus>/features)"),
) -> None:
    """Generate answers for every test clip (OV question), extract labels, score on MER-UniBench
    and write one report beside the paper's Table 2 and a subtitle-only baseline."""
    from affectgpt.bench.datasets import DATASETS, check_dataset_name
    from affectgpt.bench.evaluation import evaluate_unibench
    from affectgpt.bench.extract import get_extractor

    names = list(DATASETS) if datasets.strip() == "all" else [d.strip() for d in datasets.split(",") if d.strip()]
    for name in names:
        check_dataset_name(name)
    existing(model, "--model", "folder")
    existing(corpus, "--corpus", "folder")
    existing(llm_model, "--llm-model", "folder")
    if unibench is not None and not unibench.is_dir():
        raise NotFound(f"{unibench}: test-set folder not found (see `affectgpt bench check-sets --help`)")
    judge = (get_extractor("llm", model=llm_model, endpoint=llm_endpoint, endpoint_model=llm_endpoint_model)
             if extractor is Extractor.llm else get_extractor("lexicon"))
    features = corpus / "features" if corpus and (corpus / "features").is_dir() else None
    try:
        result = evaluate_unibench(model, unibench, out, datasets=names, mode=mode, extractor=judge,
                                   decoding=decoding, batch_size=batch_size, features_cache=features_cache,
                                   local_dataset_dir=corpus, local_features_dir=features)
    except FileNotFoundError as exc:
        raise NotFound(str(exc)) from None
    from affectgpt.bench.report import print_report_json

    print_report_json(result.report_dir / "report.json", Console(width=200))
    say_path("report", result.report_dir / "report.html")


@bench_app.command("make-fixture")
@friendly_errors(RuntimeError, ValueError)
def make_fixture_command(
    out: Path = typer.Option(..., "--out", "-o", help="output folder (the test-set layout)"),
    per_dataset: int = typer.Option(FIXTURE_CLIPS_PER_SET, "--per-dataset", min=1,
                                    help="test clips per dataset, among those its metric scores"),
    seed: int = typer.Option(0, "--seed"),
    workers: int = typer.Option(2, "--workers", min=1),
) -> None:
    """A miniature of the nine sets from the reference data: real test labels and subtitles,
    SYNTHETIC media (espeak-ng speaking the subtitle in its language over a real LFW face)."""
    from affectgpt.bench.datasets import DATASETS
    from affectgpt.bench.fixture import make_fixture

    made = make_fixture(out, per_dataset, seed=seed, workers=workers)
    for entry in made:
        console.print(f"{DATASETS[entry.dataset].display_name}: {entry.n_clips} clips"
                      + (f" ({entry.note})" if entry.note else ""))
    console.print(f"fixture (synthetic media): {out}; check it with `affectgpt bench check-sets {out}`")


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
