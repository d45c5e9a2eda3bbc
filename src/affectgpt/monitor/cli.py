"""`affectgpt drift report`: compare a batch with the reference set, write drift.html/json.

    affectgpt drift report --reference train_features.parquet --current batch.parquet --out reports/drift/today
    affectgpt drift report --reference train_features.parquet \
        --current 'feast:clip_metadata,clip_embeddings,model_outputs?start=2025-06-01T00:00:00+00:00' --out out/

Exit codes (for schedulers): 0 when the checks reached a verdict, whether or not retraining is
due (read `retrain` in drift.json); 2 for bad input; 3 when the report is written but
inconclusive (`retrain: null`: nothing could be tested, too few rows).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
drift_app = typer.Typer(help="Evidently drift reports and the retrain decision.", no_args_is_help=True)


@drift_app.command("report")
def report_command(
    reference: str = typer.Option(..., "--reference", help="Parquet/CSV or feast:VIEW[,VIEW][@REPO][?start=&end=]"),
    current: str = typer.Option(..., "--current", help="Parquet/CSV or feast:VIEW[,VIEW][@REPO][?start=&end=]"),
    out: Path = typer.Option(..., "--out", help="folder for drift.html, drift.json, manifest.json"),
    config: Path | None = typer.Option(None, "--config", help="monitoring YAML (default: configs/monitoring.yaml)"),
) -> None:
    """Write the drift report and print the decision."""
    from affectgpt.features.repo import FeatureRepoError
    from affectgpt.monitor.config import MonitoringConfigError
    from affectgpt.monitor.inputs import DriftInputError
    from affectgpt.monitor.report import drift_report

    try:
        with console.status("computing drift"):
            summary = drift_report(reference, current, out, config_path=config)
    except (DriftInputError, MonitoringConfigError, FeatureRepoError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(code=2) from None

    table = Table("check", "group", "test", "statistic", "verdict", title="drifted checks")
    for check in summary.drifted_columns:
        table.add_row(check.column, check.group, check.test, f"{check.statistic:.4g}", "[red]drifted[/red]")
    if summary.drifted_columns:
        console.print(table)
    for skipped in summary.skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(skipped.column)}: {skipped.reason} {escape(skipped.detail)}")
    verdict = {"retrain": "[red]RETRAIN[/red]", "no_retrain": "[green]no retraining[/green]",
               "inconclusive": "[yellow]INCONCLUSIVE (nothing tested; not a 'no drift' result)[/yellow]"}[summary.verdict]
    console.print(f"decision: {verdict}; drifted share {summary.drifted_share:.0%} "
                  f"({summary.n_reference} reference rows, {summary.n_current} current rows)")
    for line in summary.inconclusive + summary.reasons + summary.notes:
        console.print(f"  - {escape(line)}", soft_wrap=True)
    console.print(f"report: {out / 'drift.html'}")
    if summary.retrain is None:
        raise typer.Exit(code=3)


def register(app: typer.Typer) -> None:
    app.add_typer(drift_app, name="drift")
