"""The README's bash blocks, run as a newcomer would: in an empty folder, in order, each command
as written.

Every ```bash block in README.md is preceded by a marker comment that says whether it runs here:

    <!-- readme-test: run -->
    <!-- readme-test: skip (needs a Kubeflow cluster) -->

A block without a marker fails the test, so a new block is never silently left out. The runnable
blocks run with `bash -euo pipefail` in a temporary folder (its own AFFECTGPT_HOME, `affectgpt`
on PATH running this checkout's code). The README writes a few things a reader fills in; they are
replaced as listed in SUBSTITUTIONS, and nothing else is changed:

- `[...]` is an optional part (`[--dvc .]`, `[--check]`): left out;
- `"..."` is text the reader chooses: a sentence.

The last `bench run` must end in the score: the report it writes (the folder after its
`--out`/`--report`) must hold a real number for every dataset it scored, with no clip left
unanswered. Every `drift report` must leave drift.html and a drift.json with a verdict (the
command exits 0 only for one), and every `registry promote` must have moved the model's
`@champion` with `registry verify` finding nothing wrong afterwards.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MARKER = re.compile(r"<!--\s*readme-test:\s*(run|skip)\s*(?:\((.*?)\))?\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
SUBSTITUTIONS: list[tuple[str, str]] = [
    (r"\s+\[[^\]\n]*\]", ""),  # optional parts
    (r'"\.\.\."', '"I cannot believe we finally won, this is wonderful"'),  # free text
]
# The chain block builds 24 clips (the fewest with a held-out test clip left after the caption
# filters), extracts features and trains the tiny config for 150 steps: about 5.5 minutes on two
# idle cores, far longer on a shared, overloaded machine. The reviewer block (fixture, bench eval,
# register to verify) and the analyst block (a 12-clip batch, its features, two infers, the drift
# report) add about a minute each.
BLOCK_TIMEOUT_S = 3600


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    run: bool | None  # None: no marker
    reason: str = ""


def readme_blocks(text: str) -> list[Block]:
    """Fenced blocks with the marker comment that precedes each (blank lines between allowed)."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        start, language = index, fence.group(1)
        end = next(i for i in range(start + 1, len(lines)) if lines[i].strip() == "```")
        previous = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        marker = MARKER.search(previous)
        blocks.append(Block(start + 1, language, "\n".join(lines[start + 1:end]),
                            None if marker is None else marker.group(1) == "run",
                            (marker.group(2) or "") if marker else ""))
        index = end + 1
    return blocks


def substitute(block: str) -> str:
    for pattern, replacement in SUBSTITUTIONS:
        block = re.sub(pattern, replacement, block)
    return block


def command_lines(block: str, command: tuple[str, ...]) -> list[list[str]]:
    """The words of every `affectgpt ...` line of a block that starts with `command` (lines
    continued with a backslash joined first; comments dropped)."""
    lines = block.replace("\\\n", " ").splitlines()
    words = (shlex.split(line, comments=True) for line in lines)
    return [w for w in words if tuple(w[:len(command)]) == command]


def out_dirs(block: str, command: tuple[str, ...]) -> list[str]:
    """The output folder (`--out`, `-o` or `--report`) of every `command` line in a block."""
    found = []
    for words in command_lines(block, command):
        for flag, value in itertools.pairwise(words):
            if flag in ("--out", "-o", "--report"):
                found.append(value)
        for word in words:
            if word.startswith(("--out=", "--report=")):
                found.append(word.split("=", 1)[1])
    return found


def bench_report_dirs(block: str) -> list[str]:
    """The output folder of every `affectgpt bench run` in a block."""
    return out_dirs(block, ("affectgpt", "bench", "run"))


def promoted_models(block: str) -> list[str]:
    """The `--model` of every `affectgpt registry promote` in a block."""
    return [value for words in command_lines(block, ("affectgpt", "registry", "promote"))
            for flag, value in itertools.pairwise(words) if flag in ("--model", "-m")]


def test_every_bash_block_says_whether_it_runs():
    blocks = [b for b in readme_blocks(README.read_text()) if b.language == "bash"]
    assert blocks, "no bash block in README.md"
    unmarked = [b.line for b in blocks if b.run is None]
    assert not unmarked, f"README.md bash blocks at lines {unmarked} have no <!-- readme-test: run|skip (why) --> marker"
    assert all(b.reason for b in blocks if b.run is False), "a skipped block must say why"
    assert any(b.run for b in blocks)


def test_substitutions_only_fill_in_the_placeholders():
    line = 'affectgpt build dataset demo/raw --out data/mer-caption [--dvc .]    # MER-Caption\naffectgpt model prompt --subtitle "..."'
    assert substitute(line) == ('affectgpt build dataset demo/raw --out data/mer-caption    # MER-Caption\n'
                                'affectgpt model prompt --subtitle "I cannot believe we finally won, this is wonderful"')
    assert bench_report_dirs("affectgpt bench run --predictions p/ --datasets local --out reports/b  # x") == ["reports/b"]
    drift = "affectgpt drift report \\\n    --reference a+b \\\n    --current c+d --out reports/drift/today\n# --out x"
    assert out_dirs(drift, ("affectgpt", "drift", "report")) == ["reports/drift/today"]
    assert promoted_models("affectgpt registry promote --model demo --version 1   # m") == ["demo"]


def _shim(bin_dir: Path) -> None:
    """`affectgpt` on PATH running this checkout's code with the test's interpreter."""
    bin_dir.mkdir()
    shim = bin_dir / "affectgpt"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m affectgpt.cli "$@"\n')
    shim.chmod(0o755)


@pytest.mark.integration
def test_the_readme_runs_as_written(tmp_path):
    blocks = [b for b in readme_blocks(README.read_text()) if b.language == "bash"]
    runnable = [b for b in blocks if b.run]
    for block in blocks:
        if not block.run:
            print(f"README.md line {block.line}: skipped ({block.reason})")
    work = tmp_path / "newcomer"
    work.mkdir()
    _shim(tmp_path / "bin")
    env = dict(os.environ)
    env.update({
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), str(REPO), env.get("PYTHONPATH")])),
        "AFFECTGPT_HOME": str(tmp_path / "home"),
        "DS_ACCELERATOR": "cpu",
        "HOME": str(tmp_path),
    })
    env.pop("MLFLOW_TRACKING_URI", None)
    report_dirs: list[str] = []
    drift_dirs: list[str] = []
    promoted: list[str] = []
    for block in runnable:
        script = substitute(block.text)
        started = time.perf_counter()
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env, text=True,
                                capture_output=True, timeout=BLOCK_TIMEOUT_S, check=False)
        print(f"README.md line {block.line}: exit {result.returncode} in {time.perf_counter() - started:.0f} s")
        assert result.returncode == 0, (f"README.md block at line {block.line} failed:\n{script}\n"
                                        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}")
        assert "Traceback" not in result.stderr, result.stderr[-4000:]
        report_dirs += bench_report_dirs(script)
        drift_dirs += out_dirs(script, ("affectgpt", "drift", "report"))
        for model in promoted_models(script):
            assert f"{model}@champion: " in result.stdout, result.stdout[-4000:]
            verified = subprocess.run(["affectgpt", "registry", "verify", "--model", model], cwd=work, env=env,
                                      text=True, capture_output=True, timeout=300, check=False)
            assert verified.returncode == 0 and " 0 discrepancies" in verified.stdout, verified.stdout + verified.stderr
            promoted.append(model)
        last_output = result.stdout
    assert report_dirs, "the runnable README blocks never run `affectgpt bench run`"
    report = json.loads((work / report_dirs[-1] / "report.json").read_text())
    scored = {name: entry for name, entry in report["datasets"].items() if entry["status"] == "scored"}
    assert scored, f"bench scored nothing: {report['datasets']}"
    for name, entry in scored.items():
        assert isinstance(entry["value"], float) and math.isfinite(entry["value"]), (name, entry)
        assert entry["n_missing_predictions"] == 0, (name, entry)
    assert "nan" not in last_output.lower().split()
    assert drift_dirs, "the runnable README blocks never run `affectgpt drift report`"
    for folder in drift_dirs:
        assert (work / folder / "drift.html").is_file(), folder
        summary = json.loads((work / folder / "drift.json").read_text())
        assert summary["retrain"] in (True, False), (folder, summary.get("inconclusive"))
    assert promoted, "the runnable README blocks never promote a candidate"
