"""Crash-consistent step outputs: a step's files appear all at once or not at all.

Each file a step writes is atomic on its own (temp file + rename), but a step writes a *set*
(tables, a data card, a manifest); a kill between two files would leave new tables beside an
old manifest. So every step writes into a fresh sibling folder and publishes it with renames:

    <parent>/.<name>.staging-<pid>   1. the step writes everything here
    <parent>/.<name>.ready           2. renamed from staging once complete (the completion mark)
    <parent>/.<name>.old             3. the previous <name> is renamed out of the way
    <parent>/<name>                  4. .ready is renamed to <name>; .old is removed

The target stays a real folder (a kfp output artifact path cannot be a link). Between steps 3
and 4 the target is briefly absent; the recovery rule, applied by every rerun (and by readers
through `published`), is: a `.ready` folder is a complete new set, so it rolls forward; a
`staging-*` folder is an unfinished one and is removed (unless its writer is still running); `.old` is removed once the target
exists. A reader therefore sees the old set or the new set, never a mix.

Entries of the old folder that the step does not own (e.g. `features/` inside a dataset
folder) are carried into the new one as hard links, so publishing never deletes a neighbour's
files. `fault_point` lets the fault tests stop a process with SIGKILL right after a named file
event (set `AFFECTGPT_KILL_AT=<event>`); it does nothing otherwise.

    with staged_output(out, owned=["*.parquet", "manifest.json"]) as stage:
        write_tables(stage)
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

KILL_ENV = "AFFECTGPT_KILL_AT"
KILL_SIGNAL_ENV = "AFFECTGPT_KILL_SIGNAL"


def fault_point(event: str) -> None:
    """Kill this process when `AFFECTGPT_KILL_AT` names `event`: the fault tests use it to
    interrupt a step at an exact event instead of after a sleep. SIGKILL (no cleanup at all)
    unless `AFFECTGPT_KILL_SIGNAL` names another (TERM: a scheduler's stop, which the process
    may clean up after, `affectgpt.signals`)."""
    if os.environ.get(KILL_ENV) == event:
        name = os.environ.get(KILL_SIGNAL_ENV, "KILL").upper().removeprefix("SIG")
        os.kill(os.getpid(), signal.Signals[f"SIG{name}"])


def _ready(target: Path) -> Path:
    return target.with_name(f".{target.name}.ready")


def _old(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def _staging_dirs(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.staging-*")) if target.parent.is_dir() else []


def _writer_alive(stage: Path) -> bool:
    """True when the process that owns `stage` (pid in its name) is still running, and not us."""
    try:
        pid = int(stage.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(target: str | Path) -> Path:
    """Apply the recovery rule to `target` (see the module docstring) and return it."""
    target = Path(target)
    ready, old = _ready(target), _old(target)
    if ready.is_dir():  # a complete new set whose publication was interrupted: roll forward
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        ready.rename(target)
    for leftover in _staging_dirs(target):
        if not _writer_alive(leftover):  # another live run may be writing its own stage
            shutil.rmtree(leftover, ignore_errors=True)
    if old.exists() and target.exists():
        shutil.rmtree(old, ignore_errors=True)
    elif old.exists():  # killed after moving the old set away and before .ready existed: restore it
        old.rename(target)
    return target


def published(target: str | Path) -> Path:
    """The folder a reader should read for `target`: the target itself, or a complete `.ready`
    set when a publication was interrupted between its two renames (reads never mutate)."""
    target = Path(target)
    if not target.exists():
        for candidate in (_ready(target), _old(target)):
            if candidate.is_dir():
                return candidate
    return target


def _link_tree(source: Path, destination: Path) -> None:
    """Hard-link `source` (file or folder) to `destination`; copy where links are refused."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    if source.is_dir():
        shutil.copytree(source, destination, copy_function=link, symlinks=True)
    else:
        link(str(source), str(destination))


def _owned(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


@contextmanager
def staged_output(target: str | Path, *, owned: Iterable[str] = ("*",), seed: Iterable[str] = ()) -> Iterator[Path]:
    """Yield a fresh staging folder for `target`; on a clean exit publish it (see module doc).

    `owned`: name patterns of the step's own entries; old entries matching them are replaced
    (or dropped when the new set lacks them), the others are carried over. `seed`: old entries
    hard-linked into the stage before the step runs (a cache the step extends).
    On an exception the stage is removed and the old set stays as it was."""
    target = Path(target)
    owned = tuple(owned)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target)
    stage = target.with_name(f".{target.name}.staging-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        for name in seed:
            if (target / name).exists():
                _link_tree(target / name, stage / name)
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if target.is_dir():
        for entry in target.iterdir():
            if not (stage / entry.name).exists() and not _owned(entry.name, owned):
                _link_tree(entry, stage / entry.name)
    elif target.exists():
        raise FileExistsError(f"{target}: exists and is not a folder; move it away or choose another output path")
    _publish(stage, target)


def _publish(stage: Path, target: Path) -> None:
    ready, old = _ready(target), _old(target)
    fault_point(f"publish:{target.name}:staged")
    shutil.rmtree(ready, ignore_errors=True)
    stage.rename(ready)  # the new set is complete from here on
    fault_point(f"publish:{target.name}:ready")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        fault_point(f"publish:{target.name}:old-moved")
    ready.rename(target)
    shutil.rmtree(old, ignore_errors=True)
