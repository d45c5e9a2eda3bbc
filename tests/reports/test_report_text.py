"""The words and numbers of the reports, checked on the HTML and console text: how the numbers
were made in words (never raw JSON), percent with two decimals, `–` with a reason instead of
`nan`, the paper compared like for like, rules in words, who decided what and when."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from report_pages import bench_page_fixture, review_page_fixture  # noqa: F401
from testkit.svg import SVG_ELEMENT, chart_label_sizes_px

from affectgpt.bench.report import header_lines, paper_comparison, table_rows, title
from affectgpt.paths import packaged_config
from affectgpt.registry.gate import load_promotion_config
from affectgpt.registry.review import rules_in_words

RAW = [re.compile(r"\bnan\b", re.IGNORECASE), re.compile(r"\bNone\b"), re.compile(r"\{\}"), re.compile(r"\{\s*\"")]


def _no_raw_values(text: str) -> None:
    for pattern in RAW:
        assert pattern.search(text) is None, f"{pattern.pattern} in: {text[:3000]}"


def test_bench_html_names_how_the_numbers_were_made_in_words(bench_page: Path) -> None:
    page = bench_page.read_text(encoding="utf-8")
    body = page.split("<body>", 1)[1]
    _no_raw_values(body)
    assert "<dt>Scorer</dt><dd>corrected mode (fixes the official scorer&#39;s quirks)</dd>" in page
    assert "<dt>Labels extracted by</dt><dd>lexicon (word lists, no model), version 3</dd>" in page
    assert "<dt>Decoding</dt><dd>greedy (deterministic: the same answer on every run)</dd>" in page
    assert "prompt_hash" not in page and "Quarantined prediction lines by reason" not in page
    assert "<li>2 lines: the clip is not in the gold labels</li>" in page
    # Like for like: the paper's mean over the same three sets (78.54, 55.65, 62.52), not all nine.
    assert "paper mean over these 3 sets: <b>65.57 %</b>" in page
    assert "Mean of this model over 3 scored sets: <b>33.62 %</b>" in page
    assert "– no gold labels" in page and "– metric undefined" in page and "– not in the paper" in page


def test_bench_report_without_quarantined_lines_says_nothing_about_them(tmp_path: Path) -> None:
    from report_pages import bench_report

    from affectgpt.bench.report import write_report_files

    report = bench_report()
    report.skipped = []
    page = write_report_files(report, tmp_path)["report.html"].read_text(encoding="utf-8")
    assert "Quarantined" not in page and "{}" not in page


def test_console_title_and_rows_use_words_and_percent(bench_page: Path) -> None:
    report = json.loads((bench_page.parent / "report.json").read_text())
    heading = title(report)
    assert "Scorer: corrected mode (fixes the official scorer's quirks)" in heading
    assert "Labels extracted by: lexicon (word lists, no model), version 3" in heading
    assert "Decoding: greedy" in heading and "{" not in heading
    columns, rows = table_rows(report)
    by_name = {row[0]: dict(zip(columns, row)) for row in rows}
    assert by_name["MER2023"]["score %"] == "43.21" and by_name["MER2023"]["paper %"] == "78.54"
    assert by_name["mean"]["paper %"] == "65.57" and by_name["mean"]["notes"] == "paper mean over these 3 sets"
    assert by_name["SIMS"]["score %"] == "– metric undefined"
    for row in rows:
        _no_raw_values(" | ".join(row))


@pytest.mark.parametrize(("over", "expected", "label"), [
    (["mer2023"], "78.54", "paper value for this set"),
    (["mer2023", "local"], "78.54", "paper mean over 1 of these 2 sets (the paper has no score for local)"),
    ([], None, "no set scored, so no paper mean to compare with"),
])
def test_paper_mean_is_over_the_same_sets(over, expected, label) -> None:
    comparison = paper_comparison({"mean_over": over, "paper": {"mean": 0.7477}, "datasets": {}})
    assert comparison["label"] == label
    assert (None if comparison["mean"] is None else f"{100 * comparison['mean']:.2f}") == expected


def test_reports_scored_from_files_say_the_decoding_is_unknown() -> None:
    lines = dict(header_lines({"mode": "official", "extractor": {"name": "llm", "version": "2",
                                                                "model_id": "qwen@1234|greedy|64"}}))
    assert lines["Decoding"] == "not recorded (scored from given prediction files)"
    assert lines["Labels extracted by"] == "LLM judge qwen@1234 (a language model reads each answer), version 2"
    assert lines["Scorer"].startswith("official mode (reproduces the AffectGPT scorer exactly")


@pytest.mark.parametrize("name", ["promotion.yaml", "promotion-demo.yaml", "promotion-walkthrough.yaml"])
def test_every_promotion_rule_reads_as_a_sentence(name: str) -> None:
    rules = load_promotion_config(packaged_config(name))
    sentences = rules_in_words(rules)
    listed = len(rules.required_datasets)
    assert sentences[0].startswith(f"The candidate must score on all {listed} listed sets: MER2023")
    assert "Each listed set must not drop by more than 2.00 points vs the champion." in sentences
    assert "The mean must beat the champion's mean by at least 0.50 points." in sentences
    on_interval = [s for s in sentences if "95 % paired-bootstrap interval" in s]
    expected = ("Both are judged on the 95 % paired-bootstrap interval of candidate minus champion over the clips "
                "both answered: the mean's gain on its lower bound; a set's drop fails only when even its upper "
                "bound is below -2.00.")
    assert on_interval == ([expected] if rules.judge_on_interval else [])
    assert any(sentence.startswith("The mean must be at least") for sentence in sentences)
    assert any("same scorer mode" in sentence for sentence in sentences)
    assert any(("authenticated by an MLflow server" if rules.require_authenticated else "may promote") in s
               for s in sentences)


def test_review_page_shows_rules_decisions_and_points(review_page: Path) -> None:
    page = review_page.read_text(encoding="utf-8")
    _no_raw_values(page.split("<body>", 1)[1])  # the inline chart included
    assert "<li>Each listed set must not drop by more than 2.00 points vs the champion.</li>" in page
    assert "<li>MER2023 must score at least 30.00, with or without a champion.</li>" in page
    assert re.search(r"Decision: <b>revoked by carol at 20\d\d-\d\d-\d\d \d\d:\d\d UTC "
                     r"\(“MELD complaints from the support team”\); was approved by bob at 20", page)
    assert "approved it against champion v1: “better on all three”" in page
    assert "promoted it to production v2 (approved by bob)" in page
    assert '<td class="num pos">+1.25</td>' in page and "change (points)" in page
    assert "Rules fingerprint" in page  # the hash is kept, as a footnote


def test_bench_report_shows_each_interval_n_and_the_baseline_difference(bench_page: Path) -> None:
    """Every score is read with its 95 % interval, the set's n (12 here: too few clips to
    compare, under the default 20), the paired difference from the subtitle-only baseline, and
    the method named, in HTML and console rows alike."""
    page = bench_page.read_text(encoding="utf-8")
    assert "33.21 to 51.96 (too few clips to compare: n = 12 &lt; 20)" in page
    assert "+23.21 (+8.21 to +38.21)" in page  # MER2023 minus the baseline, paired
    assert "(95 % interval 26.50 to 41.25)" in page and "+13.62 (+1.25 to +25.00)" in page
    assert "percentile bootstrap over clips: each of 1000 seeded resamples (seed 0)" in page
    assert "per-set resamples combined" in page
    columns, rows = table_rows(json.loads((bench_page.parent / "report.json").read_text()))
    by_name = {row[0]: dict(zip(columns, row)) for row in rows}
    assert by_name["MER2023"]["95 % interval"].startswith("33.21 to 51.96 (too few clips to compare")
    assert by_name["mean"]["95 % interval"] == "26.50 to 41.25"
    assert by_name["mean"]["model − baseline, points (95 % interval)"] == "+13.62 (+1.25 to +25.00)"


def test_review_shows_baseline_paper_n_interval_and_true_lineage(review_page: Path) -> None:
    page = review_page.read_text(encoding="utf-8")
    body = re.sub(r"base64,[^\"]+", "", page.split("<body>", 1)[1])
    row = re.search(r"<tr><td>MER2023 <span class=\"muted\">\(mer2023\)</span></td>(.*?)</tr>", body).group(1)
    cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row)
    assert cells[:6] == ["53.00", "40", "48.50 to 57.25", "31.50", "78.54", "50.00"], cells
    names = re.findall(r"<tr><td>([^<]+) <span", body)
    assert names == ["MER2023", "MELD", "OV-MERD+"]  # Table 2's order, display names with their ids
    assert "<th>MER-UniBench test sets revision</th><td>sha256:" + "cd" * 32 in page
    assert "<th>decoding (named by the prediction lines)</th><td>greedy</td>" in page
    assert "data revision (DVC)" not in page and "<th>data revision</th><td>dvc-53.0</td>" in page


@pytest.mark.parametrize("which", ["bench", "review"])
def test_charts_are_inline_svg_with_labels_of_10_px_or_more(which, request) -> None:
    """No bitmap squeezed into a smaller box (a 900-px PNG shown at 180 px: 5-px labels): each
    chart is vector, its text is text, every label reads at 10 px or more."""
    page = request.getfixturevalue(f"{which}_page").read_text(encoding="utf-8")
    assert ".png" not in page and "data:image/png" not in page
    sizes = chart_label_sizes_px(page)
    expected_charts = 1 + 3 if which == "bench" else 1  # the overview and one per scored set; the review's
    assert len(sizes) >= expected_charts and all(chart for chart in sizes), sizes
    assert min(min(chart) for chart in sizes) >= 10, sizes
    assert "<style" not in "".join(SVG_ELEMENT.findall(page))  # no CSS leaking to the page
