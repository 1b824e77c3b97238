"""Kivy's environment, set before Kivy is imported: no argv parsing, quiet logs, phone window."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: A 720x1280 portrait phone at xhdpi (density 2): 360x640 dp of layout.
PHONE = (720, 1280, 2.0)
#: The same layout at density 1.5, for a desktop screen.
DESKTOP = (540, 960, 1.5)


def configure(width: int, height: int, density: float, *, hidden: bool = False) -> None:
    """Set Kivy's environment and window size. Call before anything imports ``kivy``."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")  # not xclip/xsel, which may be missing
    os.environ.setdefault("KIVY_HOME", str(Path(tempfile.gettempdir()) / "realty-edge-kivy"))
    os.environ.setdefault("KIVY_METRICS_DENSITY", str(density))
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "1")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "1")
