"""Each HTML report, rendered by a real headless browser (Debian's `chromium`): the screenshot is
not blank and the text a person sees has no `nan`, `None`, `{}` or raw JSON in it.

Skipped with the reason where chromium is not installed, except under CI (CI=true), where a
missing browser is a failure: `scripts/bootstrap.sh` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_pages import bench_page_fixture, drift_page_fixture, review_page_fixture  # noqa: F401

pytestmark = pytest.mark.integration

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# Whole words, so "financial" or "None of the" style prose cannot hide a real `nan`/`None`.
FORBIDDEN = [re.compile(r"\bnan\b", re.IGNORECASE), re.compile(r"\bNone\b"), re.compile(r"\{\}"),
             re.compile(r"\{\s*\"")]


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI=true but no headless browser (chromium) is installed; scripts/bootstrap.sh installs it")
    pytest.skip("chromium is not installed (apt-get install -y chromium, or scripts/bootstrap.sh)")


def _run(browser: str, page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={profile}", "--window-size=1280,2000", "--virtual-time-budget=5000", *args,
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=90, check=False,
    )


class _VisibleText(HTMLParser):
    """The text of a DOM a person sees: everything but script, style and template contents."""

    HIDDEN = frozenset({"script", "style", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.parts.append(data.strip())


def visible_text(dom: str) -> str:
    parser = _VisibleText()
    parser.feed(dom)
    return "\n".join(parser.parts)


def render(page: Path, out: Path) -> tuple[Path, str]:
    """(screenshot PNG, visible text of the rendered DOM) of `page`."""
    browser = _browser()
    shot = out / f"{page.stem}.png"
    done = _run(browser, page, out / "profile-shot", f"--screenshot={shot}")
    assert shot.is_file(), f"no screenshot of {page}: {done.stderr[-2000:]}"
    dumped = _run(browser, page, out / "profile-dom", "--dump-dom")
    assert dumped.returncode == 0 and "<body" in dumped.stdout, dumped.stderr[-2000:]
    return shot, visible_text(dumped.stdout)


def assert_not_blank(shot: Path) -> None:
    from PIL import Image

    with Image.open(shot) as image:
        grey = image.convert("L")
        histogram = grey.histogram()
    assert grey.size == (1280, 2000)
    assert sum(1 for count in histogram if count) > 8, f"{shot} is a single colour"
    ink = sum(histogram[:200]) / (grey.size[0] * grey.size[1])
    assert ink > 0.005, f"{shot}: only {ink:.2%} of the page is drawn"


def assert_readable(text: str, where: str) -> None:
    for pattern in FORBIDDEN:
        found = pattern.search(text)
        assert found is None, f"{where}: {found.group(0)!r} in the rendered text: ...{text[max(0, found.start() - 80):found.end() + 80]}..."


def _keep(shot: Path) -> None:
    """Keep the screenshots where a person can look at them (AFFECTGPT_SCREENSHOTS=folder)."""
    folder = os.environ.get("AFFECTGPT_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(folder) / shot.name)


def test_bench_report_renders_readably(bench_page: Path, tmp_path: Path) -> None:
    shot, text = render(bench_page, tmp_path)
    _keep(shot)
    assert_not_blank(shot)
    assert_readable(text, "bench report")
    assert "Scorer\ncorrected mode (fixes the official scorer's quirks)" in text
    assert "Labels extracted by\nlexicon (word lists, no model), version 3" in text
    assert "paper mean over these 3 sets" in text and "43.21" in text
    # Intervals, n and the baseline difference are on the rendered page, not only in the HTML.
    assert "33.21 to 51.96 (too few clips to compare: n = 12 < 20)" in text
    assert "+23.21 (+8.21 to +38.21)" in text and "95 % interval 26.50 to 41.25" in text


def test_review_page_renders_readably(review_page: Path, tmp_path: Path) -> None:
    shot, text = render(review_page, tmp_path)
    _keep(shot)
    assert_not_blank(shot)
    assert_readable(text, "review page")
    assert "must not drop by more than 2.00 points vs the champion" in text
    assert "revoked by carol" in text
    assert "48.50 to 57.25" in text and "subtitle-only baseline %" in text and "78.54" in text
    assert "decoding (named by the prediction lines)\tgreedy" in text or "greedy" in text.split("decoding (named")[1][:40]


def test_drift_report_renders_readably(drift_page: Path, tmp_path: Path) -> None:
    shot, text = render(drift_page, tmp_path)
    _keep(shot)
    assert_not_blank(shot)
    assert_readable(text, "drift report")
    assert "Drift decision" in text
    assert "drifted when" in text and "< 0.05" in text and "values compared (reference / current)" in text
    assert "subtitle.garbled_share: garbled subtitle: 0 of 60 (0.00 %) reference texts, 1 of 60 (1.67 %)" in text
    assert "60 / 59" in text  # duration_s: the infinite value left out
