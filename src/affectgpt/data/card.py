"""The data card of a build: counts per stage and reason, label and category distributions,
the description-length histogram and the describer versions, as Markdown and HTML.

The histogram is SVG (`affectgpt.charts`): inline in the HTML page, so its labels stay text at
the size the page shows them (a 100-dpi PNG blurred them), and as `length_histogram.svg` beside
the Markdown card, which links it."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

HISTOGRAM_FILE = "length_histogram.svg"


def write_data_card(out: Path, records: list[dict], caption: list[dict], plus: list[dict], quarantine: list[dict],
                    counts: dict[str, int], length_bounds: dict, describers: dict[str, str],
                    classifier_info: dict) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    chart = length_histogram_svg(records, length_bounds)
    histogram = out / HISTOGRAM_FILE
    histogram.write_text(chart, encoding="utf-8")
    sections = _sections(records, caption, plus, quarantine, counts, length_bounds, describers, classifier_info)
    markdown = out / "data_card.md"
    markdown.write_text(_markdown(sections, histogram.name))
    page = out / "data_card.html"
    page.write_text(_html(sections, chart), encoding="utf-8")
    return {"data_card_md": markdown, "data_card_html": page, "length_histogram": histogram}


def _sections(records, caption, plus, quarantine, counts, length_bounds, describers, classifier_info):
    by_stage_reason = Counter((row["stage"], row["reason"]) for row in quarantine)
    labels = Counter(label for r in plus for label in r["ov_labels"])
    sentiments = Counter(r["sentiment"] for r in plus)
    splits = Counter((r["split"], name) for name, rows in (("mer-caption", caption), ("mer-caption-plus", plus))
                     for r in rows)
    return [
        ("Counts", ["stage", "clips"], [[k, v] for k, v in counts.items()]),
        ("Quarantined (first stage that dropped the clip)", ["stage", "reason", "clips"],
         [[stage, reason, n] for (stage, reason), n in sorted(by_stage_reason.items())]),
        ("Splits", ["dataset", "split", "clips"], [[name, split, n] for (split, name), n in sorted(splits.items())]),
        ("Sentiment (mer-caption-plus)", ["sentiment", "clips"], [[k, v] for k, v in sentiments.most_common()]),
        ("Open-vocabulary labels (mer-caption-plus, top 25)", ["label", "clips"],
         [[k, v] for k, v in labels.most_common(25)]),
        ("Describers and versions", ["component", "version"], [[k, v] for k, v in sorted(describers.items())]),
        ("Filters", ["setting", "value"],
         [["length bounds (chars)", f"{length_bounds.get('low_chars', 0):.0f} .. {length_bounds.get('high_chars', 0):.0f}"
           if length_bounds else "n/a"],
          ["length bounds from", str(length_bounds.get("source", "n/a")) if length_bounds else "n/a"]] + [[f"high-level {k}", str(v)] for k, v in classifier_info.items()]),
    ]


def _markdown(sections, histogram_name: str) -> str:
    lines = ["# MER-Caption data card", "",
             "Descriptions are written by the configured describers and merger (see below); labels and "
             "sentiment are extracted from each description.", "",
             f"![description length histogram]({histogram_name})", ""]
    for title, header, rows in sections:
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
        lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows] or ["| (none) |"]
        lines.append("")
    return "\n".join(lines)


def _html(sections, histogram_svg: str) -> str:
    """The card as one page: the histogram inline (no file beside it to lose), then the tables."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>MER-Caption data card</title>",
             "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse;"
             "margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>",
             "<h1>MER-Caption data card</h1>",
             f"<figure class='chart' aria-label='description length histogram'>{histogram_svg}</figure>"]
    for title, header, rows in sections:
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)


def length_histogram_svg(records: list[dict], bounds: dict) -> str:
    """The description lengths of the described clips, the kept range dashed, as inline SVG."""
    from affectgpt.charts import chart_style, svg_markup

    lengths = [len(r["description"]) for r in records]
    with chart_style() as plt:
        figure, axis = plt.subplots(figsize=(7, 3.5))
        axis.hist(lengths, bins=max(5, min(40, len(lengths) // 2 or 1)), color="#4a7bb7")
        for key in ("low_chars", "high_chars"):
            if key in bounds:
                axis.axvline(bounds[key], color="#c44", linestyle="--")
        axis.set_xlabel("description length (characters); dashed: kept range")
        axis.set_ylabel("clips")
        axis.set_title(f"Description lengths ({len(lengths)} described clips)")
        for side in ("top", "right"):
            axis.spines[side].set_visible(False)
        figure.tight_layout()
        return svg_markup(figure, key="length-histogram")
