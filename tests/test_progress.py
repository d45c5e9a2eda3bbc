"""`affectgpt.progress`: a bar on a terminal, plain count lines in logs, nothing when disabled."""

from __future__ import annotations

import io

import pytest

from affectgpt.progress import ENV, StepProgress, format_field, progress_mode, step_progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("KFP_POD_NAME", raising=False)


def test_mode_follows_the_stream_kubeflow_the_override_and_the_switch(monkeypatch):
    assert progress_mode(True, io.StringIO()) == "lines"
    assert progress_mode(True, _Terminal()) == "bar"
    assert progress_mode(False, _Terminal()) == "off"
    monkeypatch.setenv("KFP_POD_NAME", "train-abc")
    assert progress_mode(True, _Terminal()) == "lines"  # a pod's log is not a terminal to redraw
    monkeypatch.setenv(ENV, "off")
    assert progress_mode(True, _Terminal()) == "off"
    monkeypatch.setenv(ENV, "bars")
    with pytest.raises(ValueError, match="AFFECTGPT_PROGRESS='bars'"):
        progress_mode(True, io.StringIO())


def test_lines_mode_writes_about_ten_readable_lines_with_the_live_numbers():
    stream = io.StringIO()
    with step_progress("train", 20, unit="step", stream=stream) as bar:
        for step in range(20):
            bar.update(1, loss=2.31 - step / 100, **{"tokens/s": 512.4})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10, lines
    assert lines[0].startswith("train: step 2/20 loss 2.300 tokens/s 512 eta ")
    assert lines[-1] == "train: step 20/20 loss 2.120 tokens/s 512"  # done: no eta


def test_lines_mode_writes_the_last_count_on_close_and_every_interval():
    stream = io.StringIO()
    with step_progress("build dataset", 100, unit="clip", stream=stream) as bar:
        bar.update(3, quarantined=1)
    [line] = stream.getvalue().splitlines()
    assert line.startswith("build dataset: clip 3/100 quarantined 1 eta ")
    stream = io.StringIO()
    with step_progress("infer", None, unit="clip", every=1000, every_s=0.0, stream=stream) as bar:
        bar.update(1)
        bar.update(1)
    assert stream.getvalue().splitlines() == ["infer: clip 1", "infer: clip 2"]


def test_off_writes_nothing_and_counts_like_tqdm():
    stream = io.StringIO()
    with step_progress("infer", 10, unit="clip", enabled=False, stream=stream) as bar:
        bar.update(4 - bar.n)  # how model.generation advances it: to the number of outputs so far
        bar.update(8 - bar.n)
        assert bar.n == 8
    assert stream.getvalue() == ""


def test_bar_mode_draws_the_count_and_the_numbers_on_a_terminal():
    stream = _Terminal()
    with step_progress("train", 4, unit="step", stream=stream) as bar:
        bar.update(4, loss=1.5)
    drawn = stream.getvalue()
    assert "train" in drawn and "4/4" in drawn and "loss 1.500" in drawn


def test_resumed_count_starts_at_initial_and_fields_read_as_numbers():
    reporter = StepProgress("train", 10, unit="step", mode="lines", initial=6, stream=io.StringIO())
    reporter.update(1, loss=0.25)
    assert reporter.line().startswith("train: step 7/10 loss 0.250 eta ")
    assert [format_field(v) for v in (3, 2.0, 1234.56, "x", float("nan"))] == ["3", "2.000", "1235", "x", "nan"]
