"""The server's settings, in one place, with defaults that need no set-up."""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.errors import ServerError
from server.integrations.config import HighLevelConfig
from server.outreach.config import OutreachConfig
from server.storage import sqlite_path
from sync.clock import wall_clock_ms

#: The embedded default: one SQLite file in the working directory, no set-up.
DEFAULT_DATABASE_URL = "realty-edge-server.db"


class ServerConfigError(ServerError):
    """Settings that do not fit together."""

    code = "config_error"


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """How one server runs. ``clock`` is the only source of time (tests pass their own)."""

    #: A file path or ``sqlite:///path`` (SQLite, one process) or ``postgresql://...``.
    database_url: str = DEFAULT_DATABASE_URL
    #: Folder of the files beside the database (team replicas, model caches). Default for
    #: SQLite: ``<db>.replicas`` and ``<db>.registry`` beside the file; required for PostgreSQL.
    data_dir: Path | None = None
    #: Most connections one worker holds to PostgreSQL.
    database_pool_size: int = 8
    #: Server processes on one port (``serve --workers``); with more than one, each keeps its
    #: team replicas (a cache) in a folder of its own.
    workers: int = 1
    #: Largest request body accepted on the wire (compressed), in bytes.
    max_body_bytes: int = 8 * 1024 * 1024
    #: Largest body after decompression, in bytes (a gzip bomb stops here).
    max_decoded_bytes: int = 32 * 1024 * 1024
    #: A change stamped further ahead of the server's clock than this is refused.
    max_clock_ahead_ms: int = 60 * 60 * 1000
    #: Redis for what every worker shares but may lose (rate-limit buckets, WebSocket
    #: notifications); ``None``: each process keeps its own (one worker).
    redis_url: str | None = None
    #: Token bucket per token: sustained requests per second and burst size.
    rate_per_s: float = 50.0
    rate_burst: int = 200
    #: A second bucket per token for the scoring routes (analyze, predict, plans,
    #: recommendations): each score answered is a probe of the models, so fewer are allowed.
    scoring_rate_per_s: float = 5.0
    scoring_burst: int = 60
    default_page: int = 500
    max_page: int = 5000
    #: Lifetime of a token minted without an explicit one (``server token``): 30 days.
    token_ttl_hours: float = 24 * 30
    #: Retraining job: seconds between runs (None: no scheduled runs; the CLI still works).
    retrain_interval_s: float | None = None
    #: A run with fewer labelled rows than this is refused without training.
    retrain_min_rows: int = 50
    retrain_epochs: int = 30
    #: Percentage of devices a promoted model is offered to at first (100: everyone).
    rollout_percent: int = 100
    #: The model families the scheduled job retrains (each in its own process).
    retrain_families: tuple[str, ...] = ("behaviour", "intervention", "personalization")
    #: False (default): each team's models are trained on that team's data only and served
    #: to that team's devices and replicas. True: one model per family trained on every
    #: team's data, served to every team that has no version of its own.
    retrain_pooled: bool = False
    #: Drift check: seconds between checks (None: none scheduled) and the population
    #: stability index at or above which a family is reported ``drifting`` in health.
    drift_interval_s: float | None = None
    drift_threshold: float = 0.25
    #: SMTP and SMS/WhatsApp provider settings (nothing configured: nothing sent by the server).
    outreach: OutreachConfig = field(default_factory=OutreachConfig)
    #: HighLevel: the webhook's public key, its locations (to teams and agents), the API.
    highlevel: HighLevelConfig = field(default_factory=HighLevelConfig)
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
        """Where the per-team replica runtimes live (a cache: deleting it loses nothing).

        One process: ``replicas`` itself. Several workers, or several hosts on one
        PostgreSQL: ``replicas/<host>-<pid>``, so no two processes write one replica file.
        """
        base = self._beside_db("replicas")
        if self.workers > 1 or sqlite_path(self.database_url) is None:
            return base / process_folder()
        return base

    @property
    def registry_dir(self) -> Path:
        """This host's folder of the model registry: blobs materialized from the store for the
        training process (a cache) and the base-corpus cache. The registry itself (versions,
        rollouts, run records, keys) is in the database; a registry folder written here by an
        older version is imported into it once."""
        return self._beside_db("registry")


def process_folder() -> str:
    """This process's name among the workers of every host: ``<host>-<pid>``."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _flag(raw: str) -> bool:
    """``1``/``true``/``yes``/``on`` or ``0``/``false``/``no``/``off`` (any case)."""
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


#: Settings read from the environment (``REALTY_EDGE_<NAME>``), with the type of each.
ENV_SETTINGS: dict[str, Callable[[str], object]] = {
    "database_url": str,
    "data_dir": Path,
    "database_pool_size": int,
    "workers": int,
    "redis_url": str,
    "rate_per_s": float,
    "rate_burst": int,
    "scoring_rate_per_s": float,
    "scoring_burst": int,
    "token_ttl_hours": float,
    "retrain_interval_s": float,
    "retrain_min_rows": int,
    "rollout_percent": int,
    "max_body_bytes": int,
    "retrain_pooled": _flag,
    "drift_interval_s": float,
    "drift_threshold": float,
}
ENV_PREFIX = "REALTY_EDGE_"
#: Upper bounds of the settings that have one.
MAXIMA: dict[str, float] = {"rollout_percent": 100, "workers": 64, "database_pool_size": 256}


def env_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def config_from_env(environ: Mapping[str, str] | None = None, **overrides: object) -> ServerConfig:
    """A :class:`ServerConfig` from ``REALTY_EDGE_*`` variables (then ``overrides``).

    A value that does not parse is refused naming the variable; an empty one is unset.
    """
    environ = os.environ if environ is None else environ
    # Each setting by its field name, of that field's type: the constructor checks the names.
    values: dict[str, Any] = {}
    for name, kind in ENV_SETTINGS.items():
        raw = environ.get(env_name(name), "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise ServerConfigError(
                f"{env_name(name)}={raw!r} is not a valid "
                f"{'boolean' if kind is _flag else getattr(kind, '__name__', kind)}"
            ) from None
        if isinstance(value, bool):
            pass
        elif isinstance(value, int | float) and not (
            math.isfinite(value) and 0 <= value <= MAXIMA.get(name, value)
        ):
            raise ServerConfigError(f"{env_name(name)}={raw!r} is out of range")
        elif isinstance(value, int | float) and value == 0 and name != "rollout_percent":
            raise ServerConfigError(f"{env_name(name)}={raw!r} must be greater than 0")
        values[name] = value
    try:
        values["outreach"] = OutreachConfig.from_env(environ)
        values["highlevel"] = HighLevelConfig.from_env(environ)
    except ValueError as exc:
        raise ServerConfigError(str(exc)) from None
    known = {f.name for f in fields(ServerConfig)}
    values.update({k: v for k, v in overrides.items() if k in known and v is not None})
    return ServerConfig(**values)
