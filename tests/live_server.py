"""The loopback server for tests lives in the library (the demo uses it too)."""

from server.local import HOUR_MS, LiveServer, run_server

__all__ = ["HOUR_MS", "LiveServer", "run_server"]
