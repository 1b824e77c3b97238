"""A real server on a real loopback socket: uvicorn in a background thread on 127.0.0.1.

Used by the demo and by the tests; production runs `realty-edge serve`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import uvicorn

from server.app import create_app
from server.auth import Role, issue_token
from server.config import ServerConfig

HOUR_MS = 3_600_000


@dataclass
class LiveServer:
    url: str
    config: ServerConfig
    signing_key: bytes

    def token(
        self,
        agent: str = "agent-01",
        team: str = "team-a",
        ttl_ms: int = HOUR_MS,
        role: Role | str = Role.AGENT,
    ) -> str:
        return issue_token(
            self.signing_key,
            agent=agent,
            team=team,
            now_ms=self.config.clock(),
            ttl_ms=ttl_ms,
            role=role,
        )


@contextmanager
def run_server(database_url: str | Path, **options) -> Iterator[LiveServer]:
    """Serve ``create_app`` on a free loopback port until the block ends."""
    config = replace(ServerConfig(database_url=str(database_url)), **options)
    app = create_app(config)
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every keep-alive response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback server did not start")
            time.sleep(0.01)
        yield LiveServer(
            url=f"http://127.0.0.1:{port}", config=config, signing_key=app.state.signing_key
        )
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
