"""Database services for the tests: the one named by the environment, or a throwaway one.

``REALTY_EDGE_TEST_DATABASE_URL`` (default: the local PostgreSQL) is used when it answers;
otherwise :func:`throwaway_postgres` runs ``initdb`` and ``pg_ctl`` from the Debian package in
a temporary folder, on a free loopback port (as the ``postgres`` user when the tests run as
root, which PostgreSQL refuses), and removes it afterwards. Suites never skip for want of a
server: no server and no binaries is an error that says what to install.

Each test then gets its own schema (:func:`fresh_schema`), dropped after it. The same shape
(``service_url`` → reachable one or throwaway one) fits Redis later.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

DATABASE_ENV = "REALTY_EDGE_TEST_DATABASE_URL"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


class ServiceError(RuntimeError):
    """A test service that is neither reachable nor startable here."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_answers(url: str, timeout_s: int = 2) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``url``."""
    try:
        with psycopg.connect(url, connect_timeout=timeout_s) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


def _postgres_bin(tool: str) -> Path:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), key=_version)
    if not found:
        raise ServiceError(
            f"no PostgreSQL server at ${DATABASE_ENV} or {DEFAULT_DATABASE_URL}, and no "
            f"{tool} to start one: install the Debian package postgresql"
        )
    return Path(found[-1])


def _version(path: str) -> int:
    part = Path(path).parts[-3]
    return int(part) if part.isdigit() else 0


def _as_user(args: list[str]) -> list[str]:
    """``args`` as the ``postgres`` user when we are root (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return args
    return ["runuser", "-u", "postgres", "--", *args]


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server in a temporary folder on a free port, for this block only."""
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    folder = Path(tempfile.mkdtemp(prefix="realty-edge-pg-"))
    data, port = folder / "data", free_port()
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    try:
        subprocess.run(
            _as_user(
                [str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            ),
            **run,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        # The server's output goes to a log file: a pipe would stay open as long as it runs.
        start = [str(pg_ctl), "-D", str(data), "-o", options, "-l", str(folder / "log")]
        subprocess.run(
            _as_user([*start, "-w", "-t", "60", "start"]),
            stdin=subprocess.DEVNULL,
            **run,
        )
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ServiceError(f"could not start a throwaway PostgreSQL: {exc.stderr}") from exc
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_user([str(pg_ctl), "-D", str(data), "-m", "immediate", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test session (see the module's docstring)."""
    url = os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE_URL
    if postgres_answers(url):
        yield url
        return
    with throwaway_postgres() as started:
        yield started


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` first and are named after it in the server."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("options", "application_name")]
    query += [("options", f"-csearch_path={schema}"), ("application_name", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def execute(database_url: str, sql: str) -> None:
    """Run one statement on a server database behind its store's back (to stage odd states)."""
    from server.storage import sqlite_path

    path = sqlite_path(database_url)
    if path is None:
        with psycopg.connect(database_url) as conn:
            conn.execute(sql)
        return
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute(sql)


@contextlib.contextmanager
def fresh_schema(server_url: str) -> Iterator[str]:
    """A database URL whose tables land in a new, empty schema, dropped after the block."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(server_url, schema)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


REDIS_ENV = "REALTY_EDGE_TEST_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers(url: str) -> bool:
    """Whether a Redis server answers PING at ``url``."""
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2).ping())
    except (redis.RedisError, OSError):
        return False


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    """A Redis server on a free loopback port, keeping nothing on disk, for this block only."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise ServiceError(
            f"no Redis at ${REDIS_ENV} or {DEFAULT_REDIS_URL}, and no redis-server to start "
            "one: install the Debian package redis-server"
        )
    folder, port = Path(tempfile.mkdtemp(prefix="realty-edge-redis-")), free_port()
    args = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(folder),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(200):
            if redis_answers(url):
                break
            if proc.poll() is not None:
                raise ServiceError(f"redis-server exited with {proc.returncode}")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """The URL of a Redis server for this test session: the environment's, or a throwaway."""
    url = os.environ.get(REDIS_ENV) or DEFAULT_REDIS_URL
    if redis_answers(url):
        yield url
        return
    with throwaway_redis() as started:
        yield started
