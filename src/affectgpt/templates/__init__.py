"""The Jinja2 templates of the HTML reports a person opens (bench report, registry review page,
drift decision banner), and the one place they are rendered.

Templates ship inside the package (package data), so an installed wheel renders the same pages
as a clone. Rendering is strict: a value the template names but the caller forgot is an error,
never an empty cell, and every number goes through `affectgpt.formatting` so a score reads
`74.77` (percent) and a missing one `–`, never `nan` or `None`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def environment():
    """One environment per process: templates are parsed once, HTML is escaped by default."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    from affectgpt.formatting import MISSING, percent, points

    env = Environment(
        loader=PackageLoader("affectgpt", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["percent"] = percent
    env.filters["points"] = points
    env.globals["MISSING"] = MISSING
    return env


def render(name: str, **context: Any) -> str:
    """Render template `name` (e.g. `bench_report.html.j2`) with `context`."""
    return environment().get_template(name).render(**context)
