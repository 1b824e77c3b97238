"""The server's settings, in one place, with defaults that need no set-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from server.outreach.config import OutreachConfig


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How one server runs. ``clock`` is the only source of time (tests pass their own)."""

    db_path: Path = Path("realty-edge-server.db")
    #: Largest request body accepted on the wire (compressed), in bytes.
    max_body_bytes: int = 8 * 1024 * 1024
    #: Largest body after decompression, in bytes (a gzip bomb stops here).
    max_decoded_bytes: int = 32 * 1024 * 1024
    #: A change stamped further ahead of the server's clock than this is refused.
    max_clock_ahead_ms: int = 60 * 60 * 1000
    #: Token bucket per token: sustained requests per second and burst size.
    rate_per_s: float = 50.0
    rate_burst: int = 200
    default_page: int = 500
    max_page: int = 5000
    token_ttl_hours: float = 24 * 30
    #: Retraining job: seconds between runs (None: no scheduled runs; the CLI still works).
    retrain_interval_s: float | None = None
    #: A run with fewer labelled rows than this is refused without training.
    retrain_min_rows: int = 50
    retrain_epochs: int = 30
    #: Percentage of devices a promoted model is offered to at first (100: everyone).
    rollout_percent: int = 100
    #: SMTP and SMS/WhatsApp provider settings (nothing configured: nothing sent by the server).
    outreach: OutreachConfig = field(default_factory=OutreachConfig)
    clock: Callable[[], int] = field(default=wall_clock_ms)
