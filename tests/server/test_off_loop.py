"""No CPU work on the server's event loop: replicas compute on lanes, speech in a process.

The bad case is built first in each test: a computation that would hold the loop for a
second (or a transcription of several seconds), with requests that must answer meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from edge.runtime import EdgeRuntime
from server.admin import mint_token
from server.config import ServerConfig
from server.lanes import Lanes
from server.service import SyncService
from server.storage import open_store
from server.team_replicas import TeamReplicas

TEAM = "team-a"
A = "/api/v1/advanced"


def _busy(seconds: float) -> int:
    """Pure-Python CPU work (holds the GIL between switch intervals)."""
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
    return n


async def _heartbeat_gaps(stop: asyncio.Event, every_s: float = 0.01) -> list[float]:
    """Gaps (ms) between wake-ups of a 10 ms ticker on this loop until ``stop``."""
    gaps, last = [], time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(every_s)
        now = time.perf_counter()
        gaps.append((now - last) * 1000)
        last = now
    return gaps


async def test_a_replica_computation_does_not_hold_the_servers_loop(tmp_path: Path):
    async with open_store(tmp_path / "server.db") as store:
        service = SyncService(store, ServerConfig(database_url=str(tmp_path / "server.db")))
        replicas = TeamReplicas(tmp_path / "replicas", service, lanes=Lanes(2))
        ran_on: list[str] = []

        async def analysis(rt: EdgeRuntime) -> int:
            ran_on.append(threading.current_thread().name)
            return _busy(1.0)

        try:
            stop = asyncio.Event()
            ticker = asyncio.ensure_future(_heartbeat_gaps(stop))
            assert await replicas.run(TEAM, analysis) > 0
            stop.set()
            gaps = await ticker
        finally:
            await replicas.close()
    assert ran_on and ran_on[0].startswith("realty-edge-lane-")
    assert len(gaps) > 20, gaps  # the loop kept ticking during the second of work
    assert max(gaps) < 150, f"the loop stalled {max(gaps):.0f} ms"


async def test_a_team_always_runs_on_the_same_lane(tmp_path: Path):
    lanes = Lanes(4)
    try:
        seen = {
            team: {await lanes.run(team, _thread_name) for _ in range(5)}
            for team in ("team-a", "team-b", "team-c")
        }
    finally:
        lanes.stop()
    assert all(len(names) == 1 for names in seen.values()), seen


async def _thread_name() -> str:
    return threading.current_thread().name


def _mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


async def test_health_and_pull_answer_while_a_transcription_runs(tmp_path: Path, korean_clip: Path):
    """A real server process: a Korean voice note is transcribed (seconds of Vosk work) while
    health and sync pulls answer within 250 ms; Vosk's memory is in the speech process, not
    in the API worker."""
    from tools.bench_server import _descendants, server

    wav = base64.b64encode(korean_clip.read_bytes()).decode()
    db = tmp_path / "server.db"
    token = await mint_token(db, agent="agent-1", team=TEAM, ttl_hours=1)
    auth = {"authorization": f"Bearer {token}"}
    with server(str(db), tmp_path / "data", 1, None) as (url, proc):
        async with httpx.AsyncClient(base_url=url, timeout=120, headers=auth) as http:
            for target in (f"{A}/health", "/api/v1/sync/pull?after=0&limit=100"):  # warm paths
                assert (await http.get(target)).status_code == 200
            before = _mb(proc.pid, "VmRSS")
            body = {"audio_wav_base64": wav, "language": "ko"}
            started = time.perf_counter()
            voice = asyncio.ensure_future(http.post(f"{A}/multi-language/voice/process", json=body))
            await asyncio.sleep(0.5)  # the speech process is starting and transcribing
            probes: list[tuple[str, float]] = []
            while not voice.done() and len(probes) < 40:
                for target in (f"{A}/health", "/api/v1/sync/pull?after=0&limit=100"):
                    t0 = time.perf_counter()
                    answer = await http.get(target)
                    assert answer.status_code == 200, answer.text
                    probes.append((target, (time.perf_counter() - t0) * 1000))
                await asyncio.sleep(0.05)
            in_flight = not voice.done()
            response = await voice
            voice_s = time.perf_counter() - started
            assert response.status_code == 200, response.text
            assert response.json()["text"].strip()
        speech = [p for p in _descendants(proc.pid)[1:]]
        worker_peak = _mb(proc.pid, "VmHWM")
        speech_rss = max((_mb(p, "VmRSS") for p in speech), default=0.0)
    print(
        f"voice {voice_s:.1f} s; probes {len(probes)}, slowest {max(ms for _, ms in probes):.0f} "
        f"ms; worker RSS before speech {before:.0f} MB, peak {worker_peak:.0f} MB; speech "
        f"process {speech_rss:.0f} MB"
    )
    assert probes and in_flight, "the transcription ended before the probes: nothing measured"
    assert max(ms for _, ms in probes) < 250, probes
    assert speech_rss > 100, "the Vosk model is loaded in the speech process"
    assert worker_peak - before < 60, "the API worker did not load Vosk"
    if not _measured_by_coverage():  # coverage's tracer in the worker adds its own memory
        assert worker_peak <= 150, f"API worker peak RSS {worker_peak:.0f} MB"


def _measured_by_coverage() -> bool:
    """Whether `make test`'s coverage also runs in the server's processes (patch=subprocess)."""
    import sys

    return sys.gettrace() is not None or any(k.startswith("COVERAGE_") for k in os.environ)


def test_lanes_run_numpy_on_one_blas_thread():
    """OpenBLAS's helper threads spun between the lanes' small matrix products (over half the
    worker's CPU): once the lanes start, BLAS runs on the calling thread only."""
    script = (
        "import asyncio, json, numpy, threadpoolctl\n"
        "from server.lanes import Lanes\n"
        "def blas():\n"
        "    return [i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['internal_api'] == 'openblas']\n"
        "before = blas()\n"
        "lanes = Lanes(2)\n"
        "async def product():\n"
        "    m = numpy.ones((64, 64))\n"
        "    return float((m @ m).sum())\n"
        "assert asyncio.run(lanes.run('team-a', product)) == 64.0 ** 3\n"
        "lanes.stop()\n"
        "print(json.dumps([before, blas()]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("OPENBLAS_NUM_THREADS", None)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    before, after = json.loads(out.stdout)
    assert before, "numpy runs on OpenBLAS here"
    assert after == [1] * len(before), (before, after)
