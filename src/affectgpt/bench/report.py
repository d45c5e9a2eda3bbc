"""Write a bench report: report.json (what the registry gate reads), report.html and PNG bars
of each dataset beside the AffectGPT paper's number (Table 2), for a person to look at."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affectgpt.bench.report_model import BenchReport


def _percent(value: float | None) -> str:
    return "–" if value is None or math.isnan(value) else f"{100 * value:.2f}"


def title(report: dict) -> str:
    """One line naming how the numbers were made: scorer mode, extractor, decoding, fixture."""
    extractor = report.get("extractor") or {}
    parts = [f"{report.get('mode', '?')} mode", f"extractor {extractor.get('name', '?')} {extractor.get('version', '')}".strip()]
    if report.get("decoding"):
        parts.append(f"decoding {report['decoding']}")
    heading = f"MER-UniBench ({', '.join(parts)})"
    for note in report.get("notes") or []:
        heading += f"\n{note}"
    return heading


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """The report as table rows (console and HTML share them): each dataset beside the paper's
    Table 2 value and, when `bench eval` made one, the subtitle-only baseline; then the mean."""
    has_baseline = bool(report.get("baseline"))
    columns = ["dataset", "metric", "score %"] + (["baseline %"] if has_baseline else []) + [
        "paper %", "scored", "status", "notes"]
    rows = []
    paper = report.get("paper") or {}
    for name, entry in _in_paper_order(report.get("datasets") or {}):
        value = entry.get("value")
        shown = _percent(value) if entry.get("status") == "scored" and value is not None else (
            "undefined" if entry.get("status") == "scored" else "–")
        row = [entry.get("display_name") or name, entry.get("metric") or "-", shown]
        if has_baseline:
            row.append(_percent(entry.get("baseline_value")))
        row += [_percent(entry.get("paper_value", paper.get(name))), str(entry.get("n_scored", 0)),
                entry.get("status", "-"), "; ".join(entry.get("notes") or []) or "-"]
        rows.append(row)
    mean_row = ["mean", f"over {len(report.get('mean_over') or [])}", _percent(report.get("mean"))]
    if has_baseline:
        mean_row.append(_percent((report.get("baseline") or {}).get("mean")))
    mean_row += [_percent(paper.get("mean")), "", "complete" if report.get("complete") else "partial",
                 "paper mean is over all nine sets"]
    rows.append(mean_row)
    return columns, rows


def _in_paper_order(datasets: dict) -> list[tuple[str, dict]]:
    """Table 2's order (report.json is written with sorted keys), then `local` and the rest."""
    from affectgpt.bench.datasets import DATASETS

    order = {name: index for index, name in enumerate(DATASETS)}
    return sorted(datasets.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def print_report_json(path: Path, console) -> None:
    """Print report.json as a rich table (the `bench eval` and `pipeline run` summaries)."""
    from rich.table import Table

    report = json.loads(Path(path).read_text())
    table = Table(title=title(report))
    columns, rows = table_rows(report)
    for column in columns[:-1]:  # notes go below the table, numbered, so the numbers stay readable
        table.add_column(column, justify="right" if column.endswith("%") else "left")
    footnotes = []
    for row in rows:
        if row[-1] not in ("", "-"):
            footnotes.append(f"[{len(footnotes) + 1}] {row[0]}: {row[-1]}")
            row = [f"{row[0]} [{len(footnotes)}]", *row[1:]]
        table.add_row(*row[:-1])
    console.print(table)
    for footnote in footnotes:
        console.print(footnote, highlight=False)


def _bar_png(path: Path, title: str, ours: float | None, paper: float | None, mode: str,
             baseline: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, raws, colors = ["this model"], [ours], ["#3b7dd8"]
    if baseline is not None:
        labels, raws, colors = labels + ["subtitle only"], raws + [baseline], colors + ["#e0a030"]
    labels, raws, colors = labels + ["AffectGPT (paper)"], raws + [paper], colors + ["#b0b0b0"]
    values = [0.0 if raw is None or math.isnan(raw) else 100 * raw for raw in raws]
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 1.2, 3.0), dpi=100)
    bars = ax.bar(labels, values, color=colors)
    for bar, value, raw in zip(bars, values, raws):
        ax.text(bar.get_x() + bar.get_width() / 2, value + 1, "n/a" if raw is None else f"{value:.1f}",
                ha="center", fontsize=9)
    ax.set_ylim(0, 105)
    ax.set_title(f"{title} ({mode})", fontsize=10)
    ax.set_ylabel("score (%)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _overview_png(path: Path, report: BenchReport) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report.datasets)
    ours = [100 * (report.datasets[n].value or 0.0) for n in names]
    paper = [100 * (report.datasets[n].paper_value or 0.0) for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.4), dpi=100)
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], ours, width=0.4, label="this model", color="#3b7dd8")
    ax.bar([x + 0.2 for x in xs], paper, width=0.4, label="AffectGPT (paper)", color="#b0b0b0")
    ax.set_xticks(list(xs), [report.datasets[n].display_name for n in names], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("score (%)")
    ax.set_title(f"MER-UniBench ({report.mode} mode)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report_files(report: BenchReport, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: dict[str, Path] = {}
    payload = report.to_json()
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(payload, indent=2, sort_keys=True))
    outputs["report.json"] = json_path
    columns, cells = table_rows(payload)
    rows = []
    ordered = [name for name, _ in _in_paper_order(payload.get("datasets") or {})]
    for name, row in zip(ordered, cells):
        entry = report.datasets[name]
        png = out_dir / f"{name}.png"
        if entry.status == "scored":
            _bar_png(png, entry.display_name, entry.value, entry.paper_value, report.mode, entry.baseline_value)
            outputs[png.name] = png
            image = f'<img src="{html.escape(png.name)}" alt="{html.escape(entry.display_name)}">'
        else:
            image = ""
        rows.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + f"<td>{image}</td></tr>")
    rows.append("<tr>" + "".join(f"<td><b>{html.escape(cell)}</b></td>" for cell in cells[-1]) + "<td></td></tr>")
    overview = out_dir / "overview.png"
    _overview_png(overview, report)
    outputs[overview.name] = overview
    skipped_reasons: dict[str, int] = {}
    for record in report.skipped:
        skipped_reasons[record.reason] = skipped_reasons.get(record.reason, 0) + 1
    document = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>MER-UniBench report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}} img{{height:160px}}</style></head>
<body>
<h1>MER-UniBench report</h1>
{''.join(f'<p style="color:#b00"><b>{html.escape(note)}</b></p>' for note in report.notes)}
<p>Decoding: <b>{html.escape(report.decoding or 'not recorded')}</b> &middot;
baseline: {html.escape(json.dumps(report.baseline) if report.baseline else 'none')} &middot;
lineage: {html.escape(json.dumps(report.lineage) if report.lineage else 'none')}</p>
<p>Mode: <b>{html.escape(report.mode)}</b> &middot; wheel level {report.level} &middot; word-form table
{html.escape(report.wheels)} &middot; extractor {html.escape(json.dumps(report.extractor))}</p>
<p>Mean of {len(report.mean_over)} primary metrics: <b>{_percent(report.mean)}</b>
(paper, all 9: {_percent(payload['paper']['mean'])}){'' if report.complete else ' &middot; <b>incomplete</b>: not all 9 datasets scored'}</p>
<img src="overview.png" alt="overview" style="height:300px">
<table><tr>{''.join(f"<th>{html.escape(c)}</th>" for c in columns)}<th>chart</th></tr>
{''.join(rows)}
</table>
<p>Quarantined prediction lines by reason: {html.escape(json.dumps(skipped_reasons)) or 'none'}</p>
</body></html>
"""
    html_path = out_dir / "report.html"
    html_path.write_text(document, encoding="utf-8")
    outputs["report.html"] = html_path
    return outputs
