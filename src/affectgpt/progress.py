"""Progress of a long step (dataset build, feature extraction, training, inference), shown in
the form the place it runs in can read.

- On a terminal (stderr is a TTY): a rich bar with the count, the step's live numbers (e.g. the
  training loss and tokens/s) and the time left.
- Anywhere else (a log file, CI, a Kubeflow pod): one plain line every `every` items, every
  `every_s` seconds and at the end, e.g. `train: step 40/120 loss 2.310 tokens/s 512 eta 0:00:31`,
  because a redrawn bar written to a log is one unreadable line of carriage returns.
- Nothing when the caller disables it (a component, a test) or `AFFECTGPT_PROGRESS=off`.

`AFFECTGPT_PROGRESS=bar|lines|off` overrides the choice. The reporter is tqdm-compatible where
the generation loop needs it (`n`, `update(k)`), so `model.generation` takes it unchanged.

    with step_progress("train", total=120, unit="step") as bar:
        bar.update(1, loss=2.31, **{"tokens/s": 512})
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import IO, Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

ENV = "AFFECTGPT_PROGRESS"
Mode = Literal["bar", "lines", "off"]
MODES: tuple[Mode, ...] = ("bar", "lines", "off")
# Lines mode: about this many lines per step, whatever its length, and never a silence longer than EVERY_S.
LINES_PER_STEP = 10
EVERY_S = 60.0
Field = int | float | str


def progress_mode(enabled: bool = True, stream: IO[str] | None = None) -> Mode:
    """`off` when disabled, else `AFFECTGPT_PROGRESS` if set, else `bar` on a terminal outside
    Kubeflow (KFP sets `KFP_POD_NAME` in a step's pod) and `lines` everywhere else."""
    if not enabled:
        return "off"
    chosen = os.environ.get(ENV, "").strip().lower()
    if chosen:
        if chosen not in MODES:
            raise ValueError(f"{ENV}={chosen!r}: use one of {', '.join(MODES)}")
        return chosen  # type: ignore[return-value]
    stream = stream or sys.stderr
    on_terminal = bool(getattr(stream, "isatty", lambda: False)())
    return "bar" if on_terminal and not os.environ.get("KFP_POD_NAME") else "lines"


def format_field(value: Field) -> str:
    """Numbers as a person reads them in a log: 2.310, 512 (rates above 100 need no decimals)."""
    if isinstance(value, int | str) or not math.isfinite(value):
        return str(value)
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"


class StepProgress:
    """Counts the items of one step and shows them in the chosen mode (see the module doc)."""

    def __init__(self, label: str, total: int | None, *, unit: str = "item", mode: Mode = "lines",
                 initial: int = 0, every: int | None = None, every_s: float = EVERY_S,
                 stream: IO[str] | None = None) -> None:
        self.label, self.total, self.unit, self.mode = label, total, unit, mode
        self.n = initial
        self._initial = initial
        self._fields: dict[str, Field] = {}
        self._stream = stream or sys.stderr
        self._every = every or (max(1, math.ceil(total / LINES_PER_STEP)) if total else 1)
        self._every_s = every_s
        self._started = self._last_line_at = time.monotonic()
        self._last_line_n = initial
        self._bar: Progress | None = None
        if mode == "bar":
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(),
                                 console=Console(file=self._stream, soft_wrap=True))
            self._task = self._bar.add_task(label, total=total, completed=initial, info="")
            self._bar.start()

    def update(self, advance: int = 1, **fields: Field) -> None:
        """Count `advance` more items and set the live numbers shown beside the count."""
        self.n += advance
        self._fields.update(fields)
        if self._bar is not None:
            self._bar.update(self._task, advance=advance, info=self.info())
        elif self.mode == "lines" and self._line_due():
            self._write_line()

    def set_fields(self, **fields: Field) -> None:
        """Change the live numbers without counting an item."""
        self.update(0, **fields)

    def info(self) -> str:
        """The live numbers as `name value` pairs: `loss 2.310 tokens/s 512`."""
        return " ".join(f"{name} {format_field(value)}" for name, value in self._fields.items())

    def line(self) -> str:
        """The plain line lines mode writes: `train: step 40/120 loss 2.310 tokens/s 512 eta 0:00:31`."""
        count = f"{self.n}/{self.total}" if self.total is not None else str(self.n)
        parts = [f"{self.label}: {self.unit} {count}", self.info()]
        eta = self._eta_s()
        if eta is not None:
            parts.append(f"eta {timedelta(seconds=round(eta))}")
        return " ".join(part for part in parts if part)

    def close(self) -> None:
        """Stop the bar, or write the last line if the final count was not written yet."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.mode == "lines" and self.n != self._last_line_n:
            self._write_line()

    def _line_due(self) -> bool:
        done = self.total is not None and self.n >= self.total
        return (done or self.n - self._last_line_n >= self._every
                or time.monotonic() - self._last_line_at >= self._every_s)

    def _write_line(self) -> None:
        self._stream.write(self.line() + "\n")
        self._stream.flush()
        self._last_line_n, self._last_line_at = self.n, time.monotonic()

    def _eta_s(self) -> float | None:
        done = self.n - self._initial
        if self.total is None or done <= 0 or self.n >= self.total:
            return None
        return (time.monotonic() - self._started) / done * (self.total - self.n)


@contextmanager
def step_progress(label: str, total: int | None, *, unit: str = "item", enabled: bool = True, initial: int = 0,
                  every: int | None = None, every_s: float = EVERY_S,
                  stream: IO[str] | None = None) -> Iterator[StepProgress]:
    """A `StepProgress` in the mode `progress_mode` picks, closed on exit (also on an error, so a
    bar never stays drawn over the traceback)."""
    reporter = StepProgress(label, total, unit=unit, mode=progress_mode(enabled, stream), initial=initial,
                            every=every, every_s=every_s, stream=stream)
    try:
        yield reporter
    finally:
        reporter.close()
