"""The server's settings, in one place, with defaults that need no set-up."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from server.errors import ServerError
from server.storage import sqlite_path

#: The embedded default: one SQLite file in the working directory, no set-up.
DEFAULT_DATABASE_URL = "realty-edge-server.db"


class ServerConfigError(ServerError):
    """Settings that do not fit together."""

    code = "config_error"


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How one server runs. ``clock`` is the only source of time (tests pass their own)."""

    #: A file path or ``sqlite:///path`` (SQLite, one process) or ``postgresql://...``.
    database_url: str = DEFAULT_DATABASE_URL
    #: Folder of the files beside the database (team replicas, model registry). Default for
    #: SQLite: ``<db>.replicas`` and ``<db>.registry`` beside the file; required for PostgreSQL.
    data_dir: Path | None = None
    #: Most connections one worker holds to PostgreSQL.
    database_pool_size: int = 8
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
    clock: Callable[[], int] = field(default=wall_clock_ms)

    def __post_init__(self) -> None:
        sqlite_path(self.database_url)  # an unsupported URL fails here, naming it

    def _beside_db(self, suffix: str) -> Path:
        if self.data_dir is not None:
            return self.data_dir / suffix
        path = sqlite_path(self.database_url)
        if path is None:
            raise ServerConfigError(
                "a PostgreSQL database_url needs a data_dir (--data-dir or REALTY_EDGE_DATA_DIR) "
                f"for the team replicas and the model registry; none was given for {suffix}"
            )
        return Path(f"{path}.{suffix}")

    @property
    def replica_dir(self) -> Path:
        """Where the per-team replica runtimes live."""
        return self._beside_db("replicas")

    @property
    def registry_dir(self) -> Path:
        """Where the model registry keeps its blobs, state and run records."""
        return self._beside_db("registry")
