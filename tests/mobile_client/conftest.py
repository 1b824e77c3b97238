"""Fixtures for the Kivy client: an Xvfb display, a generated device, one running app.

Kivy keeps one window per process, so the app is started once per session and the tests drive
it in turn (each puts back what it changes). Kivy's environment is set before Kivy is imported.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mobile_client.config import PHONE, configure

configure(*PHONE)

LEADS = 12


def start_xvfb() -> subprocess.Popen | None:
    """An Xvfb server on a free display (its number read from -displayfd); None without Xvfb."""
    if shutil.which("Xvfb") is None:
        return None
    read, write = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "720x1280x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        proc.kill()
        return None
    os.environ["DISPLAY"] = f":{number}"
    return proc


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """``DISPLAY`` of an Xvfb server for the whole session (skips where Xvfb is missing)."""
    proc = start_xvfb()
    if proc is None:
        pytest.skip("Xvfb is not installed (make test installs it)")
    yield os.environ["DISPLAY"]
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="session")
def device(tmp_path_factory) -> Path:
    """A device database holding one agent's generated world (seed 7), outreach planned."""
    from tools.client_device import generate_device

    path = tmp_path_factory.mktemp("client") / "device.db"
    asyncio.run(generate_device(path, leads=LEADS, listings=LEADS * 10, seed=7, plan=True))
    return path


@pytest.fixture(scope="session")
def voice_clip(tmp_path_factory) -> Path:
    """A short Korean WAV made with espeak-ng."""
    out = tmp_path_factory.mktemp("voice") / "note.wav"
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (make test installs it)")
    subprocess.run(
        ["espeak-ng", "-v", "ko", "-w", str(out), "안녕하세요 아파트"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return out


def pump(until: Callable[[], object], timeout: float = 60) -> None:
    """Run Kivy's event loop (clock, input, drawing) until ``until()`` is true."""
    from kivy.base import EventLoop

    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {until}")
        EventLoop.idle()
        time.sleep(0.01)
    for _ in range(3):  # let the last answers be laid out and drawn
        EventLoop.idle()


@pytest.fixture(scope="session")
def client(display, device):
    """The running app on the generated device, its leads loaded."""
    from kivy.base import EventLoop

    from mobile_client.app import RealtyEdgeApp

    EventLoop.ensure_window()
    app = RealtyEdgeApp(device)
    app._run_prepare()  # what App.run does before handing over to Kivy's main loop
    pump(lambda: app.bridge.idle and app.screens["leads"].rows)
    yield app
    app.stop()
    pump(lambda: True)
