"""The Android entry point: phone configuration first, then the app on the private device DB."""

from __future__ import annotations

import sys
import types

import pytest

import mobile_client.config as config
from mobile_client.main import main


@pytest.fixture
def calls(monkeypatch):
    """What ``main`` asks of Kivy's configuration and the app, in order.

    The app module is replaced outright: importing the real one loads Kivy's window and GL
    libraries, which this test does not need (and which must not share a process with
    TensorFlow's tests in some orders).
    """
    seen: list[tuple] = []
    fake_app = types.ModuleType("mobile_client.app")
    fake_app.run_app = lambda device, **kw: seen.append(("run_app", device, kw))
    monkeypatch.setitem(sys.modules, "mobile_client.app", fake_app)
    monkeypatch.setattr(config, "configure", lambda *a, **kw: seen.append(("configure", a, kw)))
    return seen


def test_main_runs_on_the_android_private_folder_against_the_configured_server(
    tmp_path, monkeypatch, calls
):
    private = tmp_path / "data" / "app"
    monkeypatch.setenv("ANDROID_PRIVATE", str(private))
    monkeypatch.setenv("REALTY_EDGE_SERVER", "https://broker.example")
    main()
    assert calls == [
        ("configure", config.PHONE, {}),
        ("run_app", private / "device.db", {"server": "https://broker.example", "create": True}),
    ]
    assert private.is_dir()  # created on first start


def test_main_off_android_keeps_its_database_in_the_home_folder(tmp_path, monkeypatch, calls):
    monkeypatch.delenv("ANDROID_PRIVATE", raising=False)
    monkeypatch.delenv("REALTY_EDGE_SERVER", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    main()
    assert calls[-1] == (
        "run_app",
        tmp_path / ".realty-edge" / "device.db",
        {"server": None, "create": True},
    )
    assert (tmp_path / ".realty-edge").is_dir()
