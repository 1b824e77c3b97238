"""``realty-edge bench server``: the advanced API on loopback under concurrent clients.

The server runs in its own process (the same launcher as ``bench sync``, rate limit lifted);
a phone seeds it with a small world through a real sync; this process then drives every
advanced REST route with ``clients`` concurrent clients (``requests`` per route, after a
warm-up) and reports p50/p95/p99 and requests per second per route, the WebSocket
transcription's latency from the last PCM chunk to the final transcript (a Korean clip, when
the clip and the Korean model are on this machine), and the server process's peak RSS
(``VmHWM``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from server.admin import mint_token
from tools.bench_sync import SERVER

ROOT = Path(__file__).resolve().parents[1]
A = "/api/v1/advanced"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _routes(leads: int) -> list[tuple[str, str, Callable[[int], Any]]]:
    lead = lambda i: f"lead-{i % leads + 1:06d}"  # noqa: E731  (the generated world's ids)
    return [
        ("POST", f"{A}/analyze/comprehensive", lambda i: {"lead_id": lead(i)}),
        (
            "POST",
            f"{A}/multi-language/detect",
            lambda i: {"text": "¿Todavía está disponible la casa de tres recámaras?"},
        ),
        (
            "POST",
            f"{A}/multi-language/cultural/adapt",
            lambda i: {"lead_id": lead(i), "intent": "follow_up_after_silence"},
        ),
        ("POST", f"{A}/intervention/predict", lambda i: {"lead_id": lead(i)}),
        ("POST", f"{A}/personalization/profile/create", lambda i: {"lead_id": lead(i)}),
        ("GET", f"{A}/personalization/recommendations/{{lead}}", lambda i: lead(i)),
        ("GET", f"{A}/health", lambda i: None),
    ]


class _Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: the lean load generator.

    httpx spends several milliseconds of CPU per request at 64 connections, more than most
    routes cost the server, and on a small machine that CPU is taken from the server under
    test; this sends the same requests (method, path, JSON body, bearer token,
    ``accept-encoding: gzip, deflate``) and reads each response whole (not decompressed).
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, target: str, token: str, body: bytes | None) -> int:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        head = (
            f"{method} {target} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
            f"accept-encoding: gzip, deflate\r\nauthorization: Bearer {token}\r\n"
        )
        if body is not None:
            head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        try:
            writer.write(head.encode() + b"\r\n" + (body or b""))
            lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            status = int(lines[0].split()[1])
            headers = dict(
                (k.strip().lower(), v.strip()) for k, _, v in (x.partition(b":") for x in lines[1:])
            )
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            else:
                await reader.readexactly(int(headers.get(b"content-length", b"0")))
            if headers.get(b"connection", b"").lower() == b"close":
                self.close()
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            self.close()
            raise ConnectionError(f"{method} {target}: the connection failed") from None
        return status

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


Send = Callable[[int, str, str, Any], Awaitable[int]]


async def _load(
    send: Send, clients: int, method: str, path: str, body: Callable[[int], Any], n: int
) -> tuple[list[float], int, float]:
    """``n`` requests from each of ``clients`` at once: latencies (ms), errors, wall seconds.

    ``send(client, method, target, body)`` returns the HTTP status, or raises
    ``ConnectionError`` when the transport failed (counted as an error, no latency).
    """
    latencies: list[float] = []
    errors = 0

    async def one(c: int) -> None:
        nonlocal errors
        for k in range(n):
            i = c * n + k
            get = method == "GET"
            target = path.replace("{lead}", body(i) or "") if get else path
            started = time.perf_counter()
            try:
                status = await send(c, method, target, None if get else body(i))
            except ConnectionError:  # e.g. a keep-alive connection closed under us
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            errors += status >= 400

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in range(clients)))
    return latencies, errors, time.perf_counter() - started


def _lean_sender(conns: list[_Connection], tokens: list[str]) -> Send:
    import msgspec

    async def send(c: int, method: str, target: str, body: Any) -> int:
        payload = None if body is None else msgspec.json.encode(body)
        return await conns[c].request(method, target, tokens[c], payload)

    return send


def _httpx_sender(http: Any, tokens: list[str]) -> Send:
    """httpx (``REALTY_EDGE_BENCH_HTTP=httpx``: the earlier figures' client)."""
    import httpx

    async def send(c: int, method: str, target: str, body: Any) -> int:
        auth = {"authorization": f"Bearer {tokens[c]}"}
        try:
            if body is None:
                response = await http.get(target, headers=auth)
            else:
                response = await http.post(target, json=body, headers=auth)
        except httpx.TransportError as exc:
            raise ConnectionError(str(exc)) from exc
        return response.status_code

    return send


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(
    url: str, tokens: list[str], requests: int, leads: int, server_pid: int
) -> dict[str, dict]:
    import httpx

    host, port = url.removeprefix("http://").split(":")
    conns = [_Connection(host, int(port)) for _ in tokens]
    limits = httpx.Limits(max_connections=len(tokens) + 4)
    http = httpx.AsyncClient(base_url=url, timeout=60, limits=limits)
    if os.environ.get("REALTY_EDGE_BENCH_HTTP") == "httpx":
        send = _httpx_sender(http, tokens)
    else:
        send = _lean_sender(conns, tokens)

    async def route(*args: Any) -> tuple[list[float], int, float]:
        return await _load(send, len(tokens), *args)

    results: dict[str, dict] = {}
    try:
        for method, path, body in _routes(leads):
            await route(method, path, body, 2)  # warm-up
            n = max(1, requests // len(tokens))
            mine, theirs = time.process_time(), _cpu_s(server_pid)
            latencies, errors, wall = await route(method, path, body, n)
            mine, theirs = time.process_time() - mine, _cpu_s(server_pid) - theirs
            done = max(1, len(latencies))
            results[path.replace("{lead}", "{lead_id}")] = {
                "p50_ms": round(_pct(latencies, 0.50), 2),
                "p95_ms": round(_pct(latencies, 0.95), 2),
                "p99_ms": round(_pct(latencies, 0.99), 2),
                "rps": round(len(latencies) / wall, 1),
                "errors": errors,
                "server_cpu_ms_per_request": round(1000 * theirs / done, 2),
                "client_cpu_ms_per_request": round(1000 * mine / done, 2),
            }
    finally:
        for conn in conns:
            conn.close()
        await http.aclose()
    return results


def _clip() -> Path | None:
    env = os.environ.get("REALTY_EDGE_DATA_DIR")
    base = Path(env) if env else ROOT.parent / "shared" / "data"
    for folder in (base / "korean-speech", base):
        if (folder / "etts_avb00003.wav").is_file():
            return folder / "etts_avb00003.wav"
    return None


async def _ws_final_ms(url: str, token: str, runs: int = 3) -> float | None:
    import websockets

    from edge.voice import VoskModels, read_wav

    clip = _clip()
    if clip is None or "ko" not in VoskModels().languages():
        return None
    pcm = read_wav(clip).to_bytes()
    chunk = 16_000 // 5 * 2
    ws_url = url.replace("http://", "ws://") + "/ws/advanced/realtime/multi-language/bench"
    times: list[float] = []
    for _ in range(runs):
        async with websockets.connect(f"{ws_url}?token={token}", max_size=None) as ws:
            await ws.send(json.dumps({"type": "start", "language": "ko"}))
            for i in range(0, len(pcm), chunk):
                await ws.send(pcm[i : i + chunk])
                await asyncio.sleep(0.2)  # real time: the server keeps up while audio arrives
            started = time.perf_counter()
            await ws.send(json.dumps({"type": "end"}))
            while json.loads(await ws.recv())["type"] != "final":
                pass
            times.append((time.perf_counter() - started) * 1000)
    return round(sorted(times)[len(times) // 2], 1)


async def _seed(url: str, token: str, directory: Path, leads: int) -> None:
    from edge.runtime import EdgeRuntime
    from models.synthetic import generate_world
    from sync.codec import Format, encode_batch

    world = generate_world(agents=1, leads=leads, listings=300, seed=5)
    async with await EdgeRuntime.open(directory / "phone.db") as phone:
        await phone.ingest(encode_batch(world.records(), Format.MSGPACK))
        report = await phone.sync(url, token)
        assert report.status == "ok", report


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def run(
    clients: int = 64,
    requests: int = 1280,
    leads: int = 40,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="realty-edge-bench-server-") as tmp:
        directory = Path(tmp)
        db = directory / "server.db"
        tokens = [
            asyncio.run(mint_token(db, agent=f"agent-{c:02d}", team="team-a", ttl_hours=2))
            for c in range(clients)
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(db)],
            stdout=subprocess.PIPE, cwd=str(ROOT), env=env, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            port = int(proc.stdout.readline())
            url = f"http://127.0.0.1:{port}"
            import httpx

            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}{A}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.1)
            progress(f"server on {url}; seeding {leads} leads through a phone's sync")
            asyncio.run(_seed(url, tokens[0], directory, leads))
            progress(f"driving {len(_routes(leads))} routes at {clients} concurrent clients")
            routes = asyncio.run(_drive(url, tokens, requests, leads, proc.pid))
            rss_rest = _rss_mb(proc.pid)
            progress("WebSocket transcription (Korean clip, streamed in real time)")
            ws_final = asyncio.run(_ws_final_ms(url, tokens[0]))
            rss = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "routes": routes,
        "ws_final_ms": ws_final,
        "rss_mb": rss,
        "rss_mb_before_voice": rss_rest,
        "clients": clients,
    }
