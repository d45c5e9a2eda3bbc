"""Charts for the HTML reports, as inline SVG: crisp at any zoom and on any screen, text kept as
text (a person can search and copy it), and drawn at the size the page shows them, so a label of
`LABEL_PT` points reads at `LABEL_PT * 4/3` pixels (CSS: 1 pt = 4/3 px). A PNG squeezed into a
box a third of its width turned 9-point labels into 5-pixel ones.

    with chart_style() as plt:
        figure, axis = plt.subplots(figsize=(4.0, 1.6))
        ...
        markup = svg_markup(figure, key="mer2023")   # '<svg ...>...</svg>', ready for `| safe`
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from typing import Any

# The smallest label on a chart, in points: 8 pt is 10.7 px in the page.
LABEL_PT = 8.0
TITLE_PT = 10.0
PX_PER_PT = 4 / 3


@contextlib.contextmanager
def chart_style() -> Iterator[Any]:
    """Draw a chart inside this (it yields `matplotlib.pyplot`, Agg backend): every text the
    chart makes without a size of its own is `LABEL_PT` + 1, titles `TITLE_PT`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    body = LABEL_PT + 1
    with matplotlib.rc_context({"font.size": body, "axes.titlesize": TITLE_PT, "axes.labelsize": body,
                                "xtick.labelsize": body, "ytick.labelsize": body, "legend.fontsize": body,
                                "svg.fonttype": "none"}):
        yield plt


def svg_markup(figure: Any, key: str) -> str:
    """The figure as an `<svg>` element to put in a page (no XML prolog), closed afterwards.
    Text stays `<text>` (svg.fonttype none); `key` salts the element ids, so several charts on
    one page never share one, and the same chart gives the same bytes (no date in it)."""
    import matplotlib
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": key}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # matplotlib's <style> block (`*{stroke-linejoin: round; ...}`) would style the whole page
    # (CSS in inline SVG is not scoped): its two properties go on the <svg> element instead. The
    # RDF metadata names only the library.
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.DOTALL)
    text = re.sub(r"\s*<style[^>]*>[^<]*</style>", "", text, count=1)
    return text.replace("<svg ", '<svg style="stroke-linejoin: round; stroke-linecap: butt" ', 1)
