"""`affectgpt drift report`: compare a batch with the reference set, write drift.html/json.

    affectgpt drift report \\
        --reference data/mer-caption/features/clip_features.parquet+preds/reference.jsonl \\
        --current batch/features/clip_features.parquet+preds/batch.jsonl --out reports/drift/today
    affectgpt drift report --reference ... \\
        --current 'feast:clip_metadata,clip_embeddings,model_outputs?start=2026-12-02T04:50:00+00:00' --out out/

Exit codes (for schedulers, affectgpt.errors): 0 when the checks reached a verdict, whether or
not retraining is due (read `retrain` in drift.json); 2 for bad input, or missing or refused
MLflow credentials (asked before any work when MLFLOW_TRACKING_URI is set); 3 when the report is
written but inconclusive (`retrain: null`: nothing could be tested, too few rows), or the MLflow
server denies the experiment; 4 when a batch file or the feature repo does not exist; 5 when the
MLflow server does not answer.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from affectgpt.cli_common import (
    Out,
    Verbose,
    command_verbose,
    console,
    err_console,
    friendly_errors,
    new_app,
    say_path,
)
from affectgpt.errors import ExitCode
from affectgpt.formatting import percent

drift_app = new_app(help="Evidently drift reports and the retrain decision.")

SOURCE_HELP = ("batch: Parquet/CSV, an `affectgpt infer` JSONL or feast:VIEW[,VIEW][@REPO][?start=ISO&end=ISO]; "
               "several joined on clip_id with '+' (features+predictions)")


@drift_app.command("report")
@friendly_errors()
def report_command(
    reference: Annotated[str, typer.Option("--reference", help="the reference " + SOURCE_HELP)],
    current: Annotated[str, typer.Option("--current", help="the current " + SOURCE_HELP)],
    out: Out,
    config: Annotated[str | None, typer.Option("--config", help="monitoring YAML: a path or a packaged config's "
                                               "name (default: monitoring.yaml)")] = None,
    verbose: Verbose = False,
) -> None:
    """Write drift.html, drift.json and manifest.json into the --out folder and print the decision."""
    command_verbose(verbose)
    from affectgpt.monitor.report import drift_report

    with err_console.status("computing drift"):
        summary = drift_report(reference, current, out, config_path=config)

    table = Table("check", "group", "test", "statistic", "drifted when", "verdict", title="drifted checks")
    for check in summary.drifted_columns:
        limit = "–" if check.threshold is None else f"{'<' if check.drifts_when == 'below' else '>'} {check.threshold:.4g}"
        table.add_row(check.column, check.group, check.test, f"{check.statistic:.4g}", limit, "[red]drifted[/red]")
    if summary.drifted_columns:
        console.print(table)
    for skipped in summary.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(skipped.column)}: {skipped.reason} ({escape(skipped.detail)})")
    verdict = {"retrain": "[red]RETRAIN[/red]", "no_retrain": "[green]no retraining[/green]",
               "inconclusive": "[yellow]INCONCLUSIVE (nothing tested; not a 'no drift' result)[/yellow]"}[summary.verdict]
    console.print(f"decision: {verdict}; drifted share {percent(summary.drifted_share)} % of the checks "
                  f"({summary.n_reference} reference rows, {summary.n_current} current rows)")
    for line in summary.inconclusive + summary.reasons + summary.notes:
        console.print(f"  - {escape(line)}")
    say_path("report", out / "drift.html")
    if summary.retrain is None:
        raise typer.Exit(code=int(ExitCode.REFUSED))


def register(app: typer.Typer) -> None:
    app.add_typer(drift_app, name="drift")
