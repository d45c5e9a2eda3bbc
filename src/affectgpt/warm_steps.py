"""Warm step processes for pipelines run on one machine.

Under kfp.local every step is a fresh Python process, and the steps that need torch,
transformers, DeepSpeed or MLflow each pay for importing them (about 2 s for torch and 4 s
more for transformers' model code on a laptop core), while the same functions called in one
process pay once. A step server removes that tax without sharing any state between steps:

- `serve()` (started by `pipelines.local_run.run_local` beside the kfp.local run) imports the
  heavy libraries once, then waits. For each request it forks a child: a copy of the
  preloaded, never-used interpreter, so no step sees another step's models, globals or
  threads, exactly as with fresh processes.
- `call(target, ...)` (what the thin kfp components use) sends the function's dotted name, its
  arguments, the step's environment and working directory, and its stdin/stdout/stderr file
  descriptors to the server. The child runs the function with the step's own output streams,
  so the step log reads as before, and sends the return value or the exception back; `call`
  returns it or raises it.
- Without a server (on the cluster, in tests, when `AFFECTGPT_WARM_STEPS` is unset or the server
  is still importing) `call` imports and runs the function in its own process, as before.

The step process stays the owner of the work: if it is killed (kill -9 included) the child
notices the closed connection and kills itself, so a step's outputs stay as crash-consistent
as the library functions make them. Forking is safe here because the server only imports:
no thread pool, model or file is opened before the fork.

The socket lives in a folder only its user can open (mode 0700), and requests are pickles:
a server runs only what processes of the same user ask of it, as they could run it themselves.

This module imports only the standard library, so a step that delegates its work pays nothing
for it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOCKET_ENV = "AFFECTGPT_WARM_STEPS"
_LENGTH = struct.Struct("!Q")
_STREAMS = (0, 1, 2)


class WarmStepDied(RuntimeError):
    """The forked child ended without sending a result (killed, out of memory, a crash in C)."""


class WarmStepError(RuntimeError):
    """The step's exception, where the exception itself could not cross back (its class needs
    arguments that pickling does not keep): the message keeps its type and text."""


@dataclass
class _Request:
    target: str
    args: tuple
    kwargs: dict
    env: dict[str, str]
    cwd: str


def resolve(target: str):
    """`package.module:function` -> the function."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{target!r}: expected 'package.module:function'")
    found: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        found = getattr(found, part)
    return found


def call(target: str, *args: Any, **kwargs: Any) -> Any:
    """Run `target(*args, **kwargs)`: in a warm child of the step server when one is ready
    (`AFFECTGPT_WARM_STEPS` names its socket), else here."""
    socket_path = os.environ.get(SOCKET_ENV, "")
    connection = _connect(socket_path)
    if connection is None:
        if socket_path:  # a server was offered: say why this step pays its own imports
            print(f"warm steps: {target} runs in this step's own process (the step server is not ready)",
                  file=sys.stderr, flush=True)
        return resolve(target)(*args, **kwargs)
    with connection:
        return _call_remote(connection, _Request(target, args, kwargs, dict(os.environ), os.getcwd()))


def _connect(socket_path: str) -> socket.socket | None:
    """A connection to a ready server, or None (no server, or it is still importing: the
    socket only appears under its name once preloading is done)."""
    if not socket_path or not os.path.exists(socket_path):
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(socket_path)
    except OSError:  # a server that has just exited: run here instead
        connection.close()
        return None
    return connection


def _call_remote(connection: socket.socket, request: _Request) -> Any:
    payload = pickle.dumps(request)
    for stream in (sys.stdout, sys.stderr):  # what this process printed comes before the child's lines
        stream.flush()
    socket.send_fds(connection, [_LENGTH.pack(len(payload))], list(_STREAMS))
    connection.sendall(payload)
    reply = _receive(connection)
    if reply is None:
        raise WarmStepDied(f"the warm step process running {request.target} ended without a result "
                           "(killed or crashed); its own output above says why")
    kind, value, text = pickle.loads(reply)
    if kind == "return":
        return value
    try:
        error = pickle.loads(value)
    except Exception:  # noqa: BLE001 - any failure to rebuild it: the text below still says what it was
        error = None
    if isinstance(error, BaseException):
        raise error
    raise WarmStepError(text)


def _receive(connection: socket.socket) -> bytes | None:
    header = _receive_exactly(connection, _LENGTH.size)
    if header is None:
        return None
    return _receive_exactly(connection, _LENGTH.unpack(header)[0])


def _receive_exactly(connection: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def serve(socket_path: str | Path, preload: Iterable[str] = (), *, parent_pid: int | None = None) -> None:
    """Import `preload`, then fork one child per request until the parent process exits or
    SIGTERM arrives. The socket takes its name only when the imports are done, so steps that
    start earlier run cold instead of waiting."""
    socket_path = Path(socket_path)
    parent_pid = parent_pid if parent_pid is not None else os.getppid()
    staging = socket_path.with_name(socket_path.name + ".starting")
    staging.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(staging))
    listener.listen(16)

    def stop(*_) -> None:  # at once: tearing down torch & co. at interpreter exit takes seconds
        for path in (staging, socket_path):
            path.unlink(missing_ok=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        if _preload(preload):
            os.rename(staging, socket_path)
            _accept_until_orphaned(listener, parent_pid)
    finally:
        listener.close()
        staging.unlink(missing_ok=True)
        socket_path.unlink(missing_ok=True)


def _preload(modules: Iterable[str]) -> bool:
    started = time.perf_counter()
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - a step that needs it imports it itself and fails there, with its own error
            _say(f"could not preload {module}: {type(exc).__name__}: {exc}")
    if threading.active_count() > 1:  # a fork would copy a thread's held locks: refuse to serve
        _say(f"preloading started threads ({[t.name for t in threading.enumerate()]}); steps run cold")
        return False
    _say(f"ready after {time.perf_counter() - started:.1f} s of imports")
    return True


def _accept_until_orphaned(listener: socket.socket, parent_pid: int) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener.settimeout(1.0)
    while os.getppid() == parent_pid:
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        if os.fork() == 0:
            listener.close()
            _child(connection)  # never returns
        connection.close()


def _child(connection: socket.socket) -> None:
    """Become the step: take its streams, environment and directory, run, reply, exit."""
    for name in ("SIGCHLD", "SIGTERM", "SIGINT"):  # subprocess.wait and Ctrl-C behave as in a fresh process
        signal.signal(getattr(signal, name), signal.SIG_DFL if name != "SIGINT" else signal.default_int_handler)
    code = 1
    try:
        connection.settimeout(None)
        header, fds, _, _ = socket.recv_fds(connection, _LENGTH.size, len(_STREAMS))
        payload = _receive_exactly(connection, _LENGTH.unpack(header)[0])
        request: _Request = pickle.loads(payload)
        _say(f"process {os.getpid()} runs {request.target}")  # to the server's log, before taking the step's streams
        sys.stdout.flush()
        for target_fd, fd in zip(_STREAMS, fds, strict=True):
            os.dup2(fd, target_fd)
            os.close(fd)
        threading.Thread(target=_die_with_caller, args=(connection,), daemon=True, name="warm-step-watch").start()
        try:
            function = resolve(request.target)  # from the server's folder, as the preloads were
            os.chdir(request.cwd)
            os.environ.clear()
            os.environ.update(request.env)
            os.environ.pop(SOCKET_ENV, None)  # what the step starts runs cold, as it would have
            reply = ("return", function(*request.args, **request.kwargs), "")
        except BaseException as exc:  # noqa: BLE001 - the step's own error, sent back to be raised in the step
            traceback.print_exc()
            reply = ("raise", _pickled_or_none(exc), f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            data = pickle.dumps(reply)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result: say what it was
            text = f"{request.target} returned something that cannot be sent back to the step: {type(exc).__name__}: {exc}"
            data = pickle.dumps(("raise", None, text))
        connection.sendall(_LENGTH.pack(len(data)) + data)
        code = 0
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} warm steps: {message}", file=sys.stderr, flush=True)


def _pickled_or_none(error: BaseException) -> bytes | None:
    try:
        return pickle.dumps(error)
    except Exception:  # noqa: BLE001 - whatever stops it, the caller falls back to the text
        return None


def _die_with_caller(connection: socket.socket) -> None:
    """The caller sends nothing after its request, so a read returns only when it is gone."""
    with contextlib.suppress(OSError):
        connection.recv(1)
    os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def warm_step_server(preload: Iterable[str], log_path: str | Path | None = None):
    """Run a step server for the duration of the block and point `call` (in this process and
    in every process started from it) at it. Its own messages go to `log_path`."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="affectgpt-warm-") as folder:  # short: a socket path has ~100 bytes
        socket_path = Path(folder) / "steps.sock"
        log = open(log_path, "ab") if log_path else None  # noqa: SIM115 (closed below, after the server)
        command = [sys.executable, "-c", "from affectgpt.warm_steps import main; main()", str(socket_path), *preload]
        server = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log or subprocess.DEVNULL,
                                  stderr=log or subprocess.DEVNULL)
        previous = os.environ.get(SOCKET_ENV)
        os.environ[SOCKET_ENV] = str(socket_path)
        try:
            yield socket_path
        finally:
            if previous is None:
                os.environ.pop(SOCKET_ENV, None)
            else:
                os.environ[SOCKET_ENV] = previous
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            if log:
                log.close()


def main(argv: list[str] | None = None) -> None:
    """`python -m affectgpt.warm_steps SOCKET [MODULE ...]`: serve until the parent exits."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        raise SystemExit("usage: python -m affectgpt.warm_steps SOCKET [MODULE ...]")
    serve(arguments[0], arguments[1:])


if __name__ == "__main__":
    main()
