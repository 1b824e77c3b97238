"""`realty-edge serve`, `server token` and `device sync` through the installed entry point."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg

from sync.codec import Format, encode_batch
from tests.factories import small_world

CLI = str(Path(sys.executable).with_name("realty-edge"))


def run(
    *args: str, ok: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    environ = {**os.environ, **(env or {})}
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, env=environ)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_no_configuration_and_two_devices_converge(tmp_path):
    db = tmp_path / "server.db"
    token = run(
        "server", "token", "--agent", "agent-01", "--team", "team-a", "--db", str(db), "--create"
    )
    token = token.stdout.strip().splitlines()[-1]
    assert token.startswith("re1.")
    port = free_port()
    with subprocess.Popen(
        [CLI, "serve", "--port", str(port), "--db", str(db), "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    assert httpx.get(url + "/api/v1/advanced/health").json()["status"] == "ok"
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.1)
            batch = tmp_path / "world.msgpack"
            batch.write_bytes(encode_batch(small_world(2, 3), Format.MSGPACK))
            a, b = tmp_path / "a.db", tmp_path / "b.db"
            run("device", "init", str(a))
            run("device", "init", str(b))
            run("device", "ingest", str(a), str(batch))
            first = json.loads(
                run("device", "sync", str(a), "--server", url, "--token", token, "--json").stdout
            )
            assert (first["pushed"], first["status"]) == (11, "ok")
            second = run("device", "sync", str(b), "--server", url, "--token", token).stdout
            assert "pulled 11" in second and "checkpoint 11" in second
            shown = json.loads(run("device", "show", str(b), "--json").stdout)
            assert (shown["leads"], shown["events"], shown["outbox_pending"]) == (2, 6, 0)
            refused = run("device", "sync", str(b), "--server", url, "--token", "x", ok=False)
            assert refused.returncode == 1 and "unauthorized" in refused.stderr
        finally:
            server.terminate()
            server.wait(timeout=30)
            assert server.stderr is not None
            log = server.stderr.read()
    assert "Traceback" not in log


def test_token_refuses_a_bad_ttl(tmp_path):
    proc = run(
        "server",
        "token",
        "--agent",
        "a",
        "--team",
        "t",
        "--db",
        str(tmp_path / "s.db"),
        "--ttl-hours",
        "0",
        "--create",
        ok=False,
    )
    assert proc.returncode == 1 and "ttl" in proc.stderr


def test_server_retrain_refuses_an_empty_database_and_records_it(tmp_path):
    db = str(tmp_path / "s.db")
    run("server", "token", "--agent", "a", "--team", "t", "--db", db, "--create")
    first = json.loads(run("server", "retrain", "--db", db).stdout)
    assert first["decision"] == "refused" and "need at least 50" in first["reason"]
    with sqlite3.connect(db) as conn:  # recorded in the database, as every worker sees it
        runs = conn.execute("SELECT id, outcome FROM retrain_runs").fetchall()
    assert runs == [(first["id"], "refused")]
    proc = run("server", "rollback", "behaviour", "--db", db, ok=False)
    assert proc.returncode == 1 and "no model family 'behaviour'" in proc.stderr


def test_server_commands_take_the_database_url_and_data_dir_from_the_environment(
    tmp_path, postgres_url
):
    env = {"REALTY_EDGE_DATABASE_URL": postgres_url, "REALTY_EDGE_DATA_DIR": str(tmp_path)}
    token = run("server", "token", "--agent", "a", "--team", "t", env=env).stdout
    assert token.strip().splitlines()[-1].startswith("re1.")
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM signing_keys").fetchone() == (1,)
    proc = run("server", "rollback", "behaviour", env=env, ok=False)
    assert proc.returncode == 1 and "no model family 'behaviour'" in proc.stderr


def test_token_refuses_a_missing_database_unless_told_to_create_it(tmp_path):
    db = tmp_path / "typo.db"
    proc = run("server", "token", "--agent", "a", "--team", "t", "--db", str(db), ok=False)
    assert (
        proc.returncode == 1
        and "no server database at" in proc.stderr
        and "--create" in proc.stderr
    )
    assert not db.exists()
