"""Write a bench report: report.json (what the registry gate reads), report.html and PNG bars
of each dataset beside the AffectGPT paper's number (Table 2), for a person to look at."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affectgpt.bench.runner import BenchReport


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _bar_png(path: Path, title: str, ours: float | None, paper: float | None, mode: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["this model", "AffectGPT (paper)"]
    values = [100 * (ours or 0.0), 100 * (paper or 0.0)]
    fig, ax = plt.subplots(figsize=(3.6, 3.0), dpi=100)
    bars = ax.bar(labels, values, color=["#3b7dd8", "#b0b0b0"])
    for bar, value, raw in zip(bars, values, (ours, paper)):
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
    rows = []
    for name, entry in report.datasets.items():
        png = out_dir / f"{name}.png"
        if entry.status == "scored":
            _bar_png(png, entry.display_name, entry.value, entry.paper_value, report.mode)
            outputs[png.name] = png
            image = f'<img src="{html.escape(png.name)}" alt="{html.escape(entry.display_name)}">'
        else:
            image = ""
        rows.append(
            "<tr>" + "".join(f"<td>{cell}</td>" for cell in [
                html.escape(entry.display_name), html.escape(entry.task), html.escape(entry.metric or ""),
                _percent(entry.value), _percent(entry.paper_value), str(entry.n_scored),
                f"{entry.n_missing_predictions}", str(entry.n_skipped), html.escape(entry.status),
                "<br>".join(html.escape(note) for note in entry.notes), image,
            ]) + "</tr>"
        )
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
<p>Mode: <b>{html.escape(report.mode)}</b> &middot; wheel level {report.level} &middot; word-form table
{html.escape(report.wheels)} &middot; extractor {html.escape(json.dumps(report.extractor))}</p>
<p>Mean of {len(report.mean_over)} primary metrics: <b>{_percent(report.mean)}</b>
(paper, all 9: 74.77){'' if report.complete else ' &middot; <b>incomplete</b>: not all 9 datasets scored'}</p>
<img src="overview.png" alt="overview" style="height:300px">
<table><tr><th>dataset</th><th>task</th><th>metric</th><th>score (%)</th><th>paper (%)</th><th>scored</th>
<th>no prediction</th><th>bad lines</th><th>status</th><th>notes</th><th>chart</th></tr>
{''.join(rows)}
</table>
<p>Quarantined prediction lines by reason: {html.escape(json.dumps(skipped_reasons)) or 'none'}</p>
</body></html>
"""
    html_path = out_dir / "report.html"
    html_path.write_text(document, encoding="utf-8")
    outputs["report.html"] = html_path
    return outputs
