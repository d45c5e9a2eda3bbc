"""Write a bench report: report.json (what the registry gate reads), report.html and PNG bars
of each dataset beside the AffectGPT paper's number (Table 2), for a person to look at.

report.json keeps fractions and machine names; everything here that a person reads says how
the numbers were made in words (scorer mode, label extractor, decoding), shows scores as
percent with two decimals (`affectgpt.formatting`), a missing value as `–` with its reason,
and compares with the paper like for like: the paper's mean over the same sets this report
has scores for, not its nine-set mean beside a one-set mean.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from affectgpt.formatting import MISSING, is_missing, percent, percent_interval

if TYPE_CHECKING:
    from affectgpt.bench.report_model import BenchReport

SCORER_WORDS = {
    "official": "official mode (reproduces the AffectGPT scorer exactly, quirks included)",
    "corrected": "corrected mode (fixes the official scorer's quirks)",
}
DECODING_WORDS = {
    "greedy": "greedy (deterministic: the same answer on every run)",
    "official": "official (upstream's seeded sampling)",
}
STATUS_WORDS = {
    "scored": "scored",
    "missing_predictions": "not scored: no prediction file",
    "missing_labels": "not scored: no gold labels",
    "no_samples": "not scored: no usable prediction line",
    "no_test_set": "not scored: no test set",
    "undefined_metric": "not scored: metric undefined",
}
QUARANTINE_WORDS = {
    "malformed_json": "not valid JSON",
    "missing_field": "a required field is missing",
    "bad_field": "a field has the wrong type",
    "duplicate_id": "the clip appears twice",
    "wrong_dataset": "the line names another dataset",
    "unknown_clip": "the clip is not in the gold labels",
}
# Why a set's metric leaves a gold clip out (`affectgpt.bench.metrics.Unscored` reasons).
EXCLUDED_WORDS = {
    "neutral_valence": "valence 0, neither positive nor negative",
    "unmapped_label": "its label is on no emotion wheel (e.g. neutral)",
    "no_label": "no gold label",
    "bad_label": "its valence is not a number",
}
EXCLUDED_IDS_SHOWN = 5


def scorer_words(mode: str | None) -> str:
    """The scorer mode as a person reads it."""
    return SCORER_WORDS.get(mode or "", f"{mode} mode" if mode else "not recorded")


def extractor_words(extractor: dict[str, Any] | None) -> str:
    """Which extractor turned the answers into labels, in words (never its raw info dict)."""
    extractor = extractor or {}
    name, version = extractor.get("name"), extractor.get("version")
    if name == "lexicon":
        words = "lexicon (word lists, no model)"
    elif name == "llm":
        judge = str(extractor.get("model_id") or "").split("|", 1)[0]
        words = f"LLM judge {judge} (a language model reads each answer)" if judge else \
            "LLM judge (a language model reads each answer)"
    elif name:
        words = str(name)
    else:
        return "not recorded"
    return f"{words}, version {version}" if version else words


def decoding_words(decoding: str | None) -> str:
    """How the answers were generated; a report scored from given files does not know."""
    if not decoding:
        return "not recorded (scored from given prediction files)"
    return DECODING_WORDS.get(decoding, decoding)


def _scored(entry: dict) -> bool:
    return entry.get("status") == "scored" and not is_missing(entry.get("value"))


def _score_cell(entry: dict) -> str:
    """The score, or `–` with the reason it has none."""
    if _scored(entry):
        return percent(entry["value"])
    status = entry.get("status") or "missing"
    if status == "scored":
        return f"{MISSING} metric undefined"
    return f"{MISSING} {STATUS_WORDS.get(status, status).removeprefix('not scored: ')}"


def _status_cell(entry: dict) -> str:
    status = entry.get("status") or ""
    if status == "scored" and not _scored(entry):
        return "metric undefined"
    return STATUS_WORDS.get(status, status or MISSING)


def paper_comparison(report: dict) -> dict[str, Any]:
    """The paper's mean over the same sets this report averages, and how to label it."""
    from affectgpt.bench.datasets import DATASETS, PAPER_MEAN

    over = list(report.get("mean_over") or [])
    paper = report.get("paper") or {}
    datasets = report.get("datasets") or {}

    def paper_value(name: str) -> float | None:
        value = (datasets.get(name) or {}).get("paper_value", paper.get(name))
        if is_missing(value) and name in DATASETS:
            value = DATASETS[name].paper_value
        return None if is_missing(value) else float(value)

    with_paper = [name for name in over if paper_value(name) is not None]
    without = [name for name in over if name not in with_paper]
    mean = sum(paper_value(n) for n in with_paper) / len(with_paper) if with_paper else None
    if not over:
        label = "no set scored, so no paper mean to compare with"
    elif not with_paper:
        label = "the paper has no score for these sets"
    elif without:
        label = (f"paper mean over {len(with_paper)} of these {len(over)} sets "
                 f"(the paper has no score for {', '.join(without)})")
    else:
        label = f"paper mean over these {len(over)} sets" if len(over) > 1 else "paper value for this set"
    return {"mean": mean, "label": label, "sets": with_paper, "all_nine": paper.get("mean", PAPER_MEAN)}


def header_lines(report: dict) -> list[tuple[str, str]]:
    """(what, how) pairs naming how the numbers were made, for the HTML and console headers."""
    lines = [
        ("Scorer", scorer_words(report.get("mode"))),
        ("Labels extracted by", extractor_words(report.get("extractor"))),
        ("Decoding", decoding_words(report.get("decoding"))),
    ]
    if report.get("level") is not None:
        lines.append(("Emotion wheel", f"level {report['level']}, word-form table {report.get('wheels') or MISSING}"))
    baseline = report.get("baseline") or {}
    if baseline.get("name"):
        lines.append(("Baseline", f"{baseline['name']}: {baseline.get('description') or 'no model'}"))
    uncertainty = report.get("uncertainty") or {}
    if uncertainty.get("method"):
        lines.append(("Intervals", f"{uncertainty['method']}; a set with fewer than {uncertainty.get('min_clips')} "
                                   "scored clips is marked too few clips to compare"))
        lines.append(("Interval of the mean", str(uncertainty.get("mean_method") or MISSING)))
        if baseline.get("model_minus_baseline"):
            lines.append(("Model minus baseline", str(uncertainty.get("paired_method") or MISSING)))
    lineage = report.get("lineage") or {}
    if lineage.get("unibench_rev"):
        lines.append(("Test sets revision", str(lineage["unibench_rev"])))
    if lineage.get("unibench_dir"):
        lines.append(("Test-set folder", str(lineage["unibench_dir"])))
    return lines


def title(report: dict) -> str:
    """The console title: how the numbers were made, in words, and the report-wide notes."""
    heading = "MER-UniBench\n" + "\n".join(f"{what}: {how}" for what, how in header_lines(report)[:3])
    for note in report.get("notes") or []:
        heading += f"\n{note}"
    return heading


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """The report as table rows (console and HTML share them): each dataset beside the paper's
    Table 2 value and, when `bench eval` made one, the subtitle-only baseline; then the mean,
    beside the paper's mean over the same sets."""
    has_baseline = bool(report.get("baseline"))
    has_intervals = bool(report.get("uncertainty"))
    min_clips = (report.get("uncertainty") or {}).get("min_clips")
    columns = ["dataset", "metric", "score %"] + (["95 % interval"] if has_intervals else []) + (
        ["baseline %"] + (["model − baseline, points (95 % interval)"] if has_intervals else [])
        if has_baseline else []) + ["paper %", "scored", "status", "notes"]
    rows = []
    paper = report.get("paper") or {}
    for name, entry in _in_paper_order(report.get("datasets") or {}):
        row = [entry.get("display_name") or name, str(entry.get("metric") or MISSING).replace("_", " "),
               _score_cell(entry)]
        if has_intervals:
            row.append(_interval_cell(entry, min_clips))
        if has_baseline:
            baseline = entry.get("baseline_value")
            row.append(percent(baseline) if not is_missing(baseline) else f"{MISSING} not scored")
            if has_intervals:
                row.append(_difference_cell(entry.get("vs_baseline")))
        paper_value = entry.get("paper_value", paper.get(name))
        row += [percent(paper_value) if not is_missing(paper_value) else f"{MISSING} not in the paper",
                str(entry.get("n_scored", 0)), _status_cell(entry),
                "; ".join(entry.get("notes") or []) or "-"]
        rows.append(row)
    over = report.get("mean_over") or []
    comparison = paper_comparison(report)
    mean = report.get("mean")
    mean_row = ["mean", f"over {len(over)} set{'s' if len(over) != 1 else ''}",
                percent(mean) if not is_missing(mean) else f"{MISSING} no set scored"]
    if has_intervals:
        mean_row.append(percent_interval(report.get("mean_interval")))
    if has_baseline:
        baseline_mean = (report.get("baseline") or {}).get("mean")
        mean_row.append(percent(baseline_mean) if not is_missing(baseline_mean) else f"{MISSING} not scored")
        if has_intervals:
            mean_row.append(_difference_cell((report.get("baseline") or {}).get("model_minus_baseline")))
    mean_row += [percent(comparison["mean"]), "", "complete" if report.get("complete") else "partial",
                 comparison["label"]]
    rows.append(mean_row)
    return columns, rows


TOO_FEW = "too few clips to compare"


def _interval_cell(entry: dict, min_clips: int | None) -> str:
    """The score's 95 % interval, or why there is none; a set under `min_clips` says it has too
    few clips to compare, whatever its interval."""
    if not _scored(entry):
        return MISSING
    if entry.get("too_few_clips"):
        return f"{percent_interval(entry.get('interval'))} ({TOO_FEW}: n = {entry.get('n_scored', 0)} < {min_clips})"
    return percent_interval(entry.get("interval"))


def _difference_cell(difference: dict | None) -> str:
    """A paired difference with its interval, `+9.70 (-2.10 to +20.40)`, or `–`."""
    if not difference or is_missing(difference.get("delta", difference.get("delta_mean"))):
        return MISSING
    delta = difference.get("delta", difference.get("delta_mean"))
    return f"{percent(delta, sign=True)} ({percent_interval(difference.get('interval'), sign=True)})"


def _in_paper_order(datasets: dict) -> list[tuple[str, dict]]:
    """Table 2's order (report.json is written with sorted keys), then `local` and the rest."""
    from affectgpt.bench.datasets import DATASETS

    order = {name: index for index, name in enumerate(DATASETS)}
    return sorted(datasets.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def print_report_json(path: Path, console) -> None:
    """Print report.json as a rich table (the `bench eval` and `pipeline run` summaries)."""
    from rich.table import Table

    report = json.loads(Path(path).read_text())
    from rich import box

    # No vertical rules: on an 80-column terminal the room goes to the cells.
    table = Table(title=title(report), box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    columns, rows = table_rows(report)
    for column in columns[:-1]:  # notes go below the table, numbered, so the numbers stay readable
        # Numbers and set names are never cut or broken mid-name (CH-SIMS v2 stays one line);
        # the status words wrap instead when the terminal is narrow.
        numeric = column.endswith("%") or column == "scored"
        table.add_column(column, justify="right" if numeric or "interval" in column else "left",
                         no_wrap=numeric or column == "metric",
                         min_width=6 if numeric else (14 if column == "dataset" else None))
    numeric_columns = [column.endswith("%") or column == "scored" or "interval" in column
                       for column in columns[:-1]]
    footnotes = []
    for row in rows:
        if row[-1] not in ("", "-"):
            footnotes.append(f"[{len(footnotes) + 1}] {row[0]}: {row[-1]}")
            row = [f"{row[0]} [{len(footnotes)}]", *row[1:]]
        # A missing number is a bare dash here: the status column (or the row's note) says why.
        cells = [MISSING if numeric_column and cell.startswith(MISSING) else cell
                 for cell, numeric_column in zip(row[:-1], numeric_columns, strict=True)]
        table.add_row(*cells)
    console.print(table)
    for footnote in footnotes:
        console.print(footnote, highlight=False)


def _bar_label(raw: float | None) -> str:
    return percent(raw) if not is_missing(raw) else MISSING


def _bar_svg(key: str, title: str, ours: float | None, paper: float | None, baseline: float | None = None) -> str:
    """One set's chart (below the table, one per scored set): horizontal bars (the names read left to right at any
    width), this model, the subtitle-only baseline and the paper, each labelled in percent."""
    from affectgpt.charts import LABEL_PT, TITLE_PT, chart_style, svg_markup

    labels, raws, colors = ["this model"], [ours], ["#3b7dd8"]
    if baseline is not None:
        labels, raws, colors = labels + ["subtitle only"], raws + [baseline], colors + ["#e0a030"]
    labels, raws, colors = labels + ["AffectGPT (paper)"], raws + [paper], colors + ["#b0b0b0"]
    values = [0.0 if is_missing(raw) else 100 * raw for raw in raws]
    with chart_style() as plt:
        fig, ax = plt.subplots(figsize=(3.4, 0.3 * len(labels) + 0.7))
        positions = list(range(len(labels)))[::-1]  # this model on top
        bars = ax.barh(positions, values, color=colors, height=0.75)
        for bar, value, raw in zip(bars, values, raws):
            ax.text(value + 1.5, bar.get_y() + bar.get_height() / 2, _bar_label(raw), va="center",
                    fontsize=LABEL_PT + 1)
        ax.set_yticks(positions, labels)
        ax.set_xlim(0, 118)
        ax.set_xticks([0, 50, 100])
        fig.suptitle(f"{title}, score (%)", x=0.02, ha="left", fontsize=TITLE_PT)  # the mode: in the page header
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        fig.tight_layout()
        return svg_markup(fig, key=key)


def _overview_svg(report: BenchReport) -> str:
    """Every set: this model beside the paper, labelled in percent."""
    from affectgpt.charts import LABEL_PT, chart_style, svg_markup

    names = [name for name, _ in _in_paper_order(report.datasets)]
    ours_raw = [report.datasets[n].value if report.datasets[n].status == "scored" else None for n in names]
    paper_raw = [report.datasets[n].paper_value for n in names]
    with chart_style() as plt:
        fig, ax = plt.subplots(figsize=(max(5.0, 0.95 * len(names) + 1.5), 3.8))
        xs = range(len(names))
        for offset, raws, label, color in ((-0.2, ours_raw, "this model", "#3b7dd8"),
                                           (0.2, paper_raw, "AffectGPT (paper)", "#b0b0b0")):
            values = [0.0 if is_missing(raw) else 100 * raw for raw in raws]
            bars = ax.bar([x + offset for x in xs], values, width=0.4, label=label, color=color)
            for bar, value, raw in zip(bars, values, raws):
                ax.text(bar.get_x() + bar.get_width() / 2, value + 1, _bar_label(raw), ha="center",
                        fontsize=LABEL_PT, rotation=90 if len(names) > 4 else 0, va="bottom")
        ax.set_xticks(list(xs), [report.datasets[n].display_name for n in names], rotation=30, ha="right")
        ax.set_ylim(0, 125)
        ax.set_ylabel("score (%)")
        ax.set_title(f"MER-UniBench ({report.mode} mode)")
        ax.legend(loc="upper right", ncols=2)
        fig.tight_layout()
        return svg_markup(fig, key="overview")


def quarantine_summary(skipped) -> list[str]:
    """Quarantined prediction lines grouped by reason, as readable lines (empty when none)."""
    counts: dict[str, int] = {}
    for record in skipped:
        counts[record.reason] = counts.get(record.reason, 0) + 1
    return [f"{count} line{'s' if count != 1 else ''}: {QUARANTINE_WORDS.get(reason, reason.replace('_', ' '))}"
            for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _excluded_by_reason(excluded: list[dict[str, str]]) -> dict[str, list[str]]:
    by_reason: dict[str, list[str]] = {}
    for clip in excluded:
        by_reason.setdefault(clip["reason"], []).append(clip["clip_id"])
    return dict(sorted(by_reason.items(), key=lambda item: (-len(item[1]), item[0])))


def excluded_note(excluded: list[dict[str, str]]) -> str:
    """A set's note for the gold clips its metric skipped: how many, why, the first ids."""
    parts = []
    for reason, ids in _excluded_by_reason(excluded).items():
        shown = ", ".join(ids[:EXCLUDED_IDS_SHOWN]) + (", ..." if len(ids) > EXCLUDED_IDS_SHOWN else "")
        parts.append(f"{len(ids)} {EXCLUDED_WORDS.get(reason, reason.replace('_', ' '))} ({shown})")
    return (f"{len(excluded)} gold clip{'s' if len(excluded) != 1 else ''} skipped by the metric, not scored: "
            + "; ".join(parts))


def excluded_sections(report: BenchReport) -> list[dict[str, Any]]:
    """Per set, the gold clips its metric skipped, grouped by reason with every clip id (HTML)."""
    return [{"set": entry.display_name, "n": entry.n_excluded, "n_gold": entry.n_gold,
             "reasons": [{"words": EXCLUDED_WORDS.get(reason, reason.replace("_", " ")), "ids": ids}
                         for reason, ids in _excluded_by_reason(entry.excluded).items()]}
            for _, entry in _in_paper_order(report.datasets) if entry.excluded]


def write_report_files(report: BenchReport, out_dir: Path) -> dict[str, Path]:
    from affectgpt.templates import render

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
        chart = None
        if entry.status == "scored" and not is_missing(entry.value):
            chart = _bar_svg(name, entry.display_name, entry.value, entry.paper_value, entry.baseline_value)
        rows.append({"cells": row, "chart": chart, "alt": entry.display_name,
                     "scored": entry.status == "scored" and not is_missing(entry.value)})
    comparison = paper_comparison(payload)
    document = render(
        "bench_report.html.j2",
        notes=list(report.notes),
        header=header_lines(payload),
        mean=percent(payload.get("mean")),
        mean_interval=percent_interval(payload.get("mean_interval")),
        uncertainty=payload.get("uncertainty") or {},
        n_mean=len(payload.get("mean_over") or []),
        complete=bool(payload.get("complete")),
        not_scored=[row["alt"] for row in rows if not row["scored"]],
        comparison={**comparison, "mean": percent(comparison["mean"]), "all_nine": percent(comparison["all_nine"])},
        columns=columns,
        rows=rows,
        overview=_overview_svg(report),
        mean_row=cells[-1],
        quarantined=quarantine_summary(report.skipped),
        excluded=excluded_sections(report),
    )
    html_path = out_dir / "report.html"
    html_path.write_text(document, encoding="utf-8")
    outputs["report.html"] = html_path
    return outputs
