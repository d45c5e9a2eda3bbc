"""What a person sees of an inline SVG chart: the size of its texts in screen pixels."""

from __future__ import annotations

import re

SVG_ELEMENT = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def chart_label_sizes_px(page: str) -> list[list[float]]:
    """Per inline SVG chart, the size in screen pixels of each of its texts: the font size in the
    SVG's own units, times the pixels one unit takes (its `width` in pt, 4/3 px each, over its
    viewBox width). The page shows the SVG at that width (no CSS scales it)."""
    sizes = []
    for svg in SVG_ELEMENT.findall(page):
        width_pt = float(re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', svg).group(1))
        viewbox_width = float(re.search(r'<svg[^>]*\sviewBox="[\d.]+ [\d.]+ ([\d.]+) [\d.]+"', svg).group(1))
        scale = width_pt * 4 / 3 / viewbox_width
        sizes.append([float(size) * scale for size in re.findall(r"font-size: ([\d.]+)px", svg)])
    return sizes
