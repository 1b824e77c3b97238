"""Operator tasks on a server database, outside the HTTP app (used by the CLI)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from server.auth import issue_token
from server.config import wall_clock_ms
from server.errors import InvalidRequestError
from server.sqlite_store import SqliteServerStore


async def mint_token(db: Path, *, agent: str, team: str, ttl_hours: float) -> str:
    """A bearer token for ``agent`` of ``team``, signed with the key of the server at ``db``.

    Creates the database and its signing key when they do not exist yet.
    """
    if ttl_hours <= 0:
        raise InvalidRequestError(f"ttl of {ttl_hours} hours; it must be positive", path="ttl")
    store = SqliteServerStore(db)
    await store.open()
    try:
        key = await store.signing_key()
    finally:
        await store.close()
    try:
        return issue_token(
            key, agent=agent, team=team, now_ms=wall_clock_ms(), ttl_ms=int(ttl_hours * 3.6e6)
        )
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"agent or team id refused: {exc}") from exc


async def retrain(
    db: Path,
    *,
    min_rows: int = 50,
    epochs: int = 80,
    rollout_percent: int = 100,
    base_corpus: bool = True,
    tolerance: float | None = None,
):
    """One retraining run on the server database at ``db`` (see :mod:`server.retrain`)."""
    from models.behaviour.retrain import TOLERANCE
    from models.behaviour.train import DEFAULT_WORLD
    from server.registry import ModelDistribution, registry_dir
    from server.retrain import retrain_once

    store = SqliteServerStore(db)
    await store.open()
    try:
        return await retrain_once(
            store, ModelDistribution(registry_dir(db)), now_ms=wall_clock_ms(),
            min_rows=min_rows, epochs=epochs, rollout_percent=rollout_percent,
            base_world=DEFAULT_WORLD if base_corpus else None,
            tolerance=TOLERANCE if tolerance is None else tolerance,
        )  # fmt: skip
    finally:
        await store.close()


def rollout(db: Path, name: str, percent: int):
    """Widen (or narrow) the rollout of ``name``'s latest version; 100 makes it stable."""
    from server.registry import ModelDistribution, registry_dir

    return ModelDistribution(registry_dir(db)).set_rollout(name, percent)


def rollback(db: Path, name: str):
    """Withdraw ``name``'s version in rollout (or its stable version)."""
    from server.registry import ModelDistribution, registry_dir

    return ModelDistribution(registry_dir(db)).rollback(name)
