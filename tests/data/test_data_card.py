"""The data card a build writes: its histogram is vector, its labels read at the size the page
shows them, and the card stands alone (nothing but itself to open)."""

from __future__ import annotations

from pathlib import Path

from testkit.svg import SVG_ELEMENT, chart_label_sizes_px

from affectgpt.data.card import write_data_card


def _card(out: Path) -> dict[str, Path]:
    descriptions = [f"The speaker sounds {'very ' * n}calm and says little." for n in range(12)]
    records = [{"description": text} for text in descriptions]
    plus = [{"split": "train", "ov_labels": ["calm"], "sentiment": "neutral"} for _ in records]
    quarantine = [{"stage": "length", "reason": "too_short"}]
    return write_data_card(out, records, plus, plus, quarantine, {"ingested": 13, "kept": 12},
                           {"low_chars": 30, "high_chars": 80, "source": "config"}, {"merger": "template"}, {})


def test_the_histogram_is_inline_svg_with_labels_of_11_px_or_more(tmp_path: Path) -> None:
    paths = _card(tmp_path)
    page = paths["data_card_html"].read_text(encoding="utf-8")
    assert "<img" not in page and "data:image/png" not in page and ".png" not in page
    sizes = chart_label_sizes_px(page)
    assert len(sizes) == 1 and sizes[0], sizes
    assert min(sizes[0]) >= 11, sizes
    svg = SVG_ELEMENT.search(page).group(0)
    assert ">clips<" in svg and ">Description lengths (12 described clips)<" in svg  # text stays text
    assert "<style" not in svg  # no CSS of the chart leaking onto the page
    # The Markdown card links the same chart, written beside it; no bitmap anywhere.
    assert paths["length_histogram"].name == "length_histogram.svg"
    assert paths["length_histogram"].read_text(encoding="utf-8").strip() == svg
    assert "](length_histogram.svg)" in paths["data_card_md"].read_text()
    assert not list(tmp_path.glob("*.png"))
