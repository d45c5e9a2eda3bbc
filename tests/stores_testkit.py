"""The production stores, real, for the tests that need them: a PostgreSQL server (MLflow's
backend store, the registry gate's tables, Feast's SQL registry) and a Redis server (Feast's
online store), each started once per test session on a free 127.0.0.1 port in a folder of its
own and stopped at the end. Debian's packages (`postgresql`, `redis-server`; scripts/bootstrap.sh
installs them) start system services of their own; these tests never use those.

A conftest imports the fixtures it needs (`from stores_testkit import postgres_server, ...`).
Without the binaries a test skips naming the package to install; in CI
(AFFECTGPT_REQUIRE_REFERENCE_DATA=1) it fails instead.
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from testkit.processes import free_port
from testkit.required import missing

POSTGRES_PACKAGE = "postgresql"
REDIS_PACKAGE = "redis-server"
# PostgreSQL refuses to run as root: as root, the server runs as this account (the Debian package
# creates it), else as `nobody`.
POSTGRES_ACCOUNTS = ("postgres", "nobody")
_database_numbers = itertools.count(1)


def postgres_bin_dir() -> Path | None:
    """The folder of `initdb` and `postgres`: Debian keeps them off PATH, in
    /usr/lib/postgresql/<major>/bin (the newest major wins); elsewhere they are on PATH."""
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"),
                    key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("postgres")
    return Path(found).parent if found and (Path(found).parent / "initdb").exists() else None


def _wait(what: str, ready, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Poll `ready()` until it is true; the server's log in the error if it exits or never answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer within {timeout_s} s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen, first_signal: int) -> None:
    """`first_signal` to the server's own process group, SIGKILL after 15 s."""
    if process.poll() is None:
        os.killpg(process.pid, first_signal)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


class PostgresServer:
    """`initdb` + `postgres` on 127.0.0.1:`port`, password login for `user`; one database per
    test via `create_database`. Durability is switched off (fsync, full pages): a test server."""

    user = "affectgpt"
    password = "postgres-password-for-tests"

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not pytest's tmp_path: its folders are private to root, which the server account cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="affectgpt-postgres-"))
        self.log = self.root / "postgres.log"
        self.process: subprocess.Popen | None = None
        self._as_account: dict = {}
        if os.geteuid() == 0:
            account = next(pwd.getpwnam(name) for name in POSTGRES_ACCOUNTS if _has_account(name))
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def start(self, timeout_s: float = 60.0) -> None:
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self._as_account:
            os.chown(password_file, self._as_account["user"], self._as_account["group"])
        data = self.root / "data"
        initdb = subprocess.run(
            [str(self.bin_dir / "initdb"), "-D", str(data), "-U", self.user, "--pwfile", str(password_file),
             "--auth=scram-sha-256", "--no-sync", "--encoding=UTF8", "--locale=C"],
            capture_output=True, text=True, cwd=self.root, timeout=120, check=False, **self._as_account)
        password_file.unlink()
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stderr[-3000:]}")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True, **self._as_account)
        _wait("postgres", self._answers, self.process, self.log, timeout_s)

    def _connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                                dbname=database, connect_timeout=5)

    def _answers(self) -> bool:
        import psycopg2

        try:
            self._connect().close()
        except psycopg2.OperationalError:
            return False
        return True

    def uri(self, database: str) -> str:
        """The SQLAlchemy URI of `database`, with the driver named as the cluster's URIs name it
        (docs/deploy.md): a bare `postgresql://` means psycopg 3 to SQLAlchemy 2.1, which the
        platform does not install; psycopg2 it does."""
        return f"postgresql+psycopg2://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, hint: str) -> str:
        """A new, empty database named after `hint` (made unique); returns its name."""
        name = f"{re.sub(r'[^a-z0-9]+', '_', hint.lower()).strip('_')[:40]}_{next(_database_numbers)}"
        connection = self._connect()
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return name

    def stop(self) -> None:
        """Fast shutdown (SIGINT: clients still connected are cut off), then the folder is removed."""
        if self.process is not None:
            _stop(self.process, signal.SIGINT)
        shutil.rmtree(self.root, ignore_errors=True)


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class RedisServer:
    """`redis-server` on 127.0.0.1:`port` with a password, no persistence (`--save ''`,
    `--appendonly no`): what a test writes lives as long as the server."""

    password = "redis-password-for-tests"

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="affectgpt-redis-"))
        self.log = self.root / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def connection_string(self) -> str:
        """As Feast's Redis online store takes it (`host:port,password=...`)."""
        return f"127.0.0.1:{self.port},password={self.password}"

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def start(self, timeout_s: float = 30.0) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(self.root), "--requirepass", self.password],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True)
        _wait("redis-server", self._answers, self.process, self.log, timeout_s)

    def _answers(self) -> bool:
        import redis

        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def flush(self) -> None:
        """Empty every key: the next test starts from an empty online store."""
        self.client().flushall()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)


# -- fixtures (imported by the conftests of the folders that use them) ------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        missing(f"PostgreSQL's initdb and postgres are not installed: apt-get install {POSTGRES_PACKAGE} "
                "(scripts/bootstrap.sh does)")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture()
def postgres_database(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh database for this test on the session's server; its SQLAlchemy URI."""
    return postgres_server.uri(postgres_server.create_database(request.node.name))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    found = shutil.which("redis-server")
    if found is None:
        missing(f"redis-server is not installed: apt-get install {REDIS_PACKAGE} (scripts/bootstrap.sh does)")
    server = RedisServer(Path(found))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture()
def redis_store(redis_server: RedisServer) -> RedisServer:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server
