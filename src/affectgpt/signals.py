"""A stopped command unwinds like an error: SIGTERM (a scheduler, `kill`, a cancelled pipeline)
raises `Stopped` in the main thread, as Ctrl-C raises KeyboardInterrupt, so `finally` blocks and
`with` statements run: MLflow runs end as KILLED (`run_status`), scratch folders are removed
(`scratch_dir`). Python's default for SIGTERM ends the process on the spot, leaving the run
RUNNING in MLflow forever and `/tmp/affectgpt-*` folders behind.

A process that waits on step processes (`pipeline run --local`) passes the signal on to them
(and their children) first and waits for them, so each step cleans up too.

    with stop_on_signals():
        ...                                     # SIGTERM here raises Stopped
    with scratch_dir("affectgpt-eval-") as scratch:
        ...                                     # removed on success, error, Ctrl-C or SIGTERM
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path


class Stopped(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM). A KeyboardInterrupt, so code that treats
    Ctrl-C as "stop, clean up, do not retry" treats it the same."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


# How long a stopped process waits for the processes it passed the signal on to (their cleanup:
# ending an MLflow run, removing a scratch folder) before it goes on unwinding itself.
DESCENDANTS_WAIT_S = 60.0


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process (Linux /proc; empty where it cannot be read)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
            state, ppid = entry.read_text().rsplit(")", 1)[1].split()[:2]
            table[int(entry.parent.name)] = (int(ppid), state)
        except (OSError, IndexError, ValueError):
            continue
    return table


def _descendants() -> list[int]:
    """This process's children, their children, ...: kfp.local runs a step as `sh -c` that starts
    the step's python, so the process to stop is a grandchild."""
    table, found, frontier = _processes(), [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in table.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; its parent has not read its status yet


def _raise_stopped(signum: int, _frame) -> None:
    # Once: a second SIGTERM while cleaning up must not cut the cleanup short (SIGKILL still can).
    signal.signal(signum, signal.SIG_IGN)
    signalled = []
    for pid in _descendants():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)
            signalled.append(pid)
    deadline = time.monotonic() + DESCENDANTS_WAIT_S
    while any(_alive(pid) for pid in signalled) and time.monotonic() < deadline:
        time.sleep(0.05)
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """For the body, SIGTERM raises `Stopped` (after passing the signal on to child processes).
    Nested uses keep the outer handler; outside the main thread (where Python cannot handle
    signals) nothing changes."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) in (_raise_stopped, signal.SIG_IGN):
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A temporary folder (`/tmp/<prefix>...`) removed however the body ends, SIGTERM included."""
    with stop_on_signals(), tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        yield Path(scratch)


def run_status(error: BaseException | None) -> str:
    """The MLflow status a run ends with: FINISHED, KILLED when it was stopped (SIGTERM, Ctrl-C),
    FAILED on an error."""
    if error is None:
        return "FINISHED"
    return "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"


@contextlib.contextmanager
def mlflow_run(mlflow, **start_kwargs) -> Iterator:
    """`mlflow.start_run(**start_kwargs)` that ends FINISHED, FAILED on an error and KILLED when
    the process is stopped (SIGTERM raises `Stopped` for its duration). MLflow's own context
    manager says FAILED for a stop, and a SIGTERM left unhandled leaves the run RUNNING."""
    with stop_on_signals():
        run = mlflow.start_run(**start_kwargs)
        try:
            yield run
        except BaseException as error:
            mlflow.end_run(status=run_status(error))
            raise
        mlflow.end_run(status="FINISHED")
