"""Two server processes on one PostgreSQL serve one model registry.

Two `realty-edge serve` processes (two "hosts": their own data folders) share one database.
A version published by a third party (as the CLI or the retraining job would) is offered by
both; a rollback through one server's API is seen by the other at its next answer: its
health, its model list and its offer to a device. Before, each host had its own registry
folder and would have answered from it.
"""

from __future__ import annotations

import os
import subprocess

import httpx
import msgspec

from models.artifact import ARTIFACT_DIR, read_manifest
from server.admin import mint_token, registry
from tests.integration.test_two_servers import wait_healthy
from tests.server.test_cli import CLI
from tests.services import free_port

A = "/api/v1/advanced"
SHIPPED = read_manifest(ARTIFACT_DIR, "behaviour")


async def test_two_servers_on_one_database_see_one_promotion_and_one_rollback(
    tmp_path, postgres_url
):
    agent = await mint_token(postgres_url, agent="agent-01", team="team-a", ttl_hours=1)
    operator = await mint_token(
        postgres_url, agent="ops", team="team-a", ttl_hours=1, role="operator"
    )
    ports = [free_port(), free_port()]
    procs: list[subprocess.Popen] = []
    logs: list = []
    try:
        for i, port in enumerate(ports):
            host = tmp_path / f"host-{i}"
            host.mkdir()
            env = {
                **os.environ,
                "REALTY_EDGE_DATABASE_URL": postgres_url,
                "REALTY_EDGE_DATA_DIR": str(host),
            }
            log = (host / "serve.log").open("wb")
            logs.append(log)
            args = [CLI, "serve", "--port", str(port), "--log-level", "warning"]
            procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=log))
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for i, proc in enumerate(procs):
            wait_healthy(urls[i], proc, tmp_path / f"host-{i}" / "serve.log")

        def ask(i: int, path: str, token: str = agent, **params) -> httpx.Response:
            headers = {"authorization": f"Bearer {token}"}
            return httpx.get(f"{urls[i]}{A}{path}", headers=headers, params=params, timeout=30)

        for i in (0, 1):  # both answer before anything is published: the shipped model
            assert ask(i, "/health").json()["models"]["behaviour"] == SHIPPED.version

        async with registry(postgres_url, data_dir=tmp_path / "cli") as pooled:
            manifest = msgspec.structs.replace(SHIPPED, version="9.3.0-shared")
            blob = (ARTIFACT_DIR / "behaviour.tflite").read_bytes()
            await pooled.publish(blob, manifest)
            key = (await pooled.signing_key_info()).public_key

        for i in (0, 1):
            assert ask(i, "/health").json()["models"]["behaviour"] == "9.3.0-shared"
            [behaviour] = [f for f in ask(i, "/models/").json() if f["name"] == "behaviour"]
            assert behaviour["stable"] == behaviour["running"] == "9.3.0-shared"
            offer = ask(i, "/models/behaviour/offer", device_id="dev-1").json()
            assert offer["version"] == "9.3.0-shared" and offer["manifest"]["signature"]
            assert ask(i, "/models/signing-key").json()["public_key"] == key  # one key
            assert ask(i, "/models/behaviour/9.3.0-shared/blob").content == blob

        headers = {"authorization": f"Bearer {operator}"}
        back = httpx.post(f"{urls[1]}{A}/models/behaviour/rollback", headers=headers, timeout=30)
        assert back.status_code == 200, back.text
        assert back.json()["rolled_back"] == ["9.3.0-shared"]
        assert ask(0, "/health").json()["models"]["behaviour"] == SHIPPED.version
        [behaviour] = [f for f in ask(0, "/models/").json() if f["name"] == "behaviour"]
        assert behaviour["stable"] is None and behaviour["rolled_back"] == ["9.3.0-shared"]
        assert ask(0, "/models/behaviour/offer", device_id="dev-1").json()["version"] is None
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        for log in logs:
            log.close()
