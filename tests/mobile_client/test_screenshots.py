"""``realty-edge app --screenshots DIR``: one PNG per screen, each with content, then it exits."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mobile_client.app import SCREENS
from tests.mobile_client.test_client import png_variance

pytestmark = pytest.mark.timeout(240)


def test_the_screenshot_command_writes_one_non_blank_png_per_screen(display, tmp_path):
    out = tmp_path / "shots"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tools.cli import app; app()",
            "app",
            "--screenshots",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            "--leads",
            "12",
        ],
        capture_output=True,
        text=True,
        timeout=220,
        env={**os.environ, "DISPLAY": display},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(png for _n, _l, png in SCREENS)
    for _name, _label, png in SCREENS:
        assert png_variance(out / png) > 100, png
    assert "generated a device with 12 leads" in proc.stdout
    assert "the client reported" not in proc.stderr, proc.stderr[-2000:]


def test_a_missing_device_is_one_line_error_before_any_window_opens(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tools.cli import app; app()",
            "app",
            "--device",
            str(tmp_path / "missing.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DISPLAY": ""},
    )
    assert proc.returncode == 1
    assert f"no such file: {tmp_path / 'missing.db'}" in proc.stderr.replace("\n", "")
    assert "Traceback" not in proc.stderr
