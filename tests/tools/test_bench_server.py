"""``bench server``: the open-loop generator measures from intended send times, and the
command reports every config's capacity factor, per-route percentiles and RSS."""

from __future__ import annotations

import asyncio
import json
import time

from typer.testing import CliRunner

from tools.bench_server import LOAD, Generator, passes, search
from tools.cli import app


async def _stand_in(delay_s: float) -> tuple[asyncio.Server, int]:
    """A loopback HTTP/1.1 peer that answers one request at a time, ``delay_s`` each."""
    lock = asyncio.Lock()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                async with lock:
                    await asyncio.sleep(delay_s)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


def _generator(port: int, rate: float) -> Generator:
    return Generator(
        {
            "url": f"http://127.0.0.1:{port}",
            "rates": {"slow": rate},
            "leads": 1,
            "tokens": {"team-x": ["t"]},
            "heads": {},
            "seed": 3,
            "extra_routes": {"slow": ["GET", "/slow"]},
        }
    )


async def test_a_server_slower_than_the_arrivals_shows_its_queue():
    """20 arrivals/s against a peer serving 10/s: waiting in line counts, so p95 grows far
    past the 100 ms a request takes once it is served (a closed loop would show ~100 ms)."""
    srv, port = await _stand_in(0.1)
    async with srv:
        gen = _generator(port, 20.0)
        step = await gen.step(1.0, 1.5, drain_s=10.0)
        gen.close()
    slow = step["routes"]["slow"]
    assert slow["requests"] >= 20 and slow["errors"] == 0
    assert slow["p50_ms"] < slow["p95_ms"]
    assert slow["p95_ms"] > 600, slow
    assert not passes(step)


async def test_a_stalled_generator_counts_its_stall_as_latency():
    """The generator's own loop blocked for 300 ms: requests due meanwhile are late, and
    their latency counts from when they were due (and the lag is reported)."""
    srv, port = await _stand_in(0.0)
    async with srv:
        gen = _generator(port, 100.0)
        asyncio.get_running_loop().call_later(0.4, time.sleep, 0.3)
        step = await gen.step(1.0, 1.0, drain_s=5.0)
        gen.close()
    slow = step["routes"]["slow"]
    assert slow["errors"] == 0
    assert slow["max_ms"] >= 250, slow
    assert slow["p50_ms"] < 50
    assert step["generator"]["lag_max_ms"] >= 250


def test_search_doubles_then_bisects():
    seen: list[float] = []

    def measure(f: float) -> dict:
        seen.append(f)
        p95 = 30.0 * f  # passes up to 100/30 = 3.33
        return {
            "factor": f,
            "unfinished": 0,
            "routes": {"r": {"requests": 10, "p95_ms": p95, "errors": 0}},
        }

    capacity, steps = search(measure, max_factor=64, bisections=3)
    assert seen == [1.0, 2.0, 4.0, 3.0, 3.5, 3.25]
    assert capacity == 3.25
    assert [s["passed"] for s in steps] == [True, True, False, True, False, True]


def test_bench_server_json_on_a_tiny_world(tmp_path, monkeypatch):
    monkeypatch.setenv("REALTY_EDGE_BENCH_CACHE", str(tmp_path / "cache"))
    args = [
        "bench",
        "server",
        "--configs",
        "sqlite-1",
        "--teams",
        "2",
        "--leads",
        "20",
        "--events-per-lead",
        "2",
        "--duration",
        "1",
        "--max-factor",
        "1",
        "--no-voice",
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out["configs"]) == {"sqlite-1"}
    one = out["configs"]["sqlite-1"]
    assert isinstance(one["capacity_factor"], float)
    assert set(one["routes"]) == set(LOAD)
    for route, r in one["routes"].items():
        assert r["requests"] > 0, route
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"], (route, r)
    assert one["rss_mb"]["worker-1"] > 50
    assert one["generator"]["lag_p99_ms"] is not None
    step = one["steps"][0]
    assert step["server_cpu_s"] > 0, "the server worked during the step"
    assert step["database_cpu_s"] == 0, "sqlite-1 has no database processes"
    assert step["cpu_ms_per_request"] > 0
    assert list((tmp_path / "cache").glob("world-*.db")), "the seeded world is cached"


def test_bench_server_refuses_an_unknown_config():
    result = CliRunner().invoke(app, ["bench", "server", "--configs", "mysql-9"])
    assert result.exit_code == 2
    assert "mysql-9" in result.output
