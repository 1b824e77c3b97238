"""Operator tasks on a server database, outside the HTTP app (used by the CLI)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from server.auth import Role, issue_token, verify_token
from server.config import DEFAULT_DATABASE_URL, ServerConfig
from server.distribution import FamilyInfo, ModelDistribution, SigningKeyInfo
from server.errors import InvalidRequestError, UnauthorizedError
from server.storage import RevokedToken, ServerTx, open_store
from sync.clock import wall_clock_ms

#: Lifetime of a token minted without an explicit one (30 days).
DEFAULT_TTL_HOURS = ServerConfig().token_ttl_hours


def _config(database_url: str | Path, data_dir: Path | None) -> ServerConfig:
    return ServerConfig(database_url=str(database_url), data_dir=data_dir)


async def mint_token(
    database_url: str | Path = DEFAULT_DATABASE_URL,
    *,
    agent: str,
    team: str,
    ttl_hours: float = DEFAULT_TTL_HOURS,
    role: Role | str = Role.AGENT,
) -> str:
    """A bearer token for ``agent`` of ``team`` with ``role``, signed with the key of the
    server's database; it expires after ``ttl_hours`` (default 30 days).

    Creates the database and its signing key when they do not exist yet.
    """
    if not ttl_hours > 0:
        raise InvalidRequestError(f"ttl of {ttl_hours} hours; it must be positive", path="ttl")
    if role not in {r.value for r in Role}:
        choices = ", ".join(r.value for r in Role)
        raise InvalidRequestError(f"unknown role {role!r} (one of {choices})", path="role")
    async with open_store(str(database_url), pool_size=1) as store:
        key = await store.signing_key()
    try:
        return issue_token(
            key,
            agent=agent,
            team=team,
            now_ms=wall_clock_ms(),
            ttl_ms=int(ttl_hours * 3.6e6),
            role=Role(role),
        )
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(f"agent or team id refused: {exc}") from exc


async def revoke_token(
    database_url: str | Path = DEFAULT_DATABASE_URL,
    token: str = "",
    *,
    reason: str = "",
    now_ms: int | None = None,
) -> RevokedToken:
    """Put a token on the server's revocation list: every worker refuses it from then on.

    ``token`` is the token itself (its signature is checked; its id, owner and expiry are
    recorded, so the entry can be pruned once it has expired) or only its id (``jti``).
    Revoking twice keeps the first entry. Expired entries are pruned on the way.
    """
    token = token.strip()
    if not token:
        raise InvalidRequestError("no token or token id given", path="token")
    now = wall_clock_ms() if now_ms is None else now_ms
    async with open_store(str(database_url), pool_size=1) as store:
        if token.count(".") == 2:
            key = await store.signing_key()
            try:  # an expired token is still worth listing: only the signature must hold
                claims = verify_token(key, token, now_ms=0)
            except UnauthorizedError as exc:
                raise InvalidRequestError(
                    f"not a token of this server: {exc.detail}", path="token"
                ) from exc
            entry = RevokedToken(
                jti=claims.jti,
                revoked_at=now,
                expires_at=claims.exp,
                agent_id=claims.agent,
                team_id=claims.team,
                reason=reason,
            )
        elif token.isalnum() and len(token) <= 64:
            entry = RevokedToken(jti=token, revoked_at=now, reason=reason)
        else:
            raise InvalidRequestError(
                "expected a token (re1.<claims>.<signature>) or a token id (jti)", path="token"
            )

        def revoke(tx: ServerTx) -> RevokedToken:
            tx.prune_revocations(now)
            return tx.revoke_token(entry)

        return await store.write(revoke)


async def retrain(
    database_url: str | Path = DEFAULT_DATABASE_URL,
    *,
    data_dir: Path | None = None,
    min_rows: int = 50,
    epochs: int = 80,
    rollout_percent: int = 100,
    base_corpus: bool = True,
    tolerance: float | None = None,
    now_ms: int | None = None,
    pseudonym_key: bytes | None = None,
    family: str = "behaviour",
    team: str | None = None,
):
    """One retraining run on the server database (see :mod:`server.retrain`).

    ``now_ms``: the present the labels are cut at (default: the wall clock);
    ``pseudonym_key``: the key a server without one yet starts with (default: random);
    ``team``: train that team's own model on its data only (``None``: every team pooled).
    """
    from models.behaviour.train import DEFAULT_WORLD
    from models.retrain_job import TOLERANCE
    from server.retrain import pseudonym_key as ensure_key
    from server.retrain import retrain_once

    config = _config(database_url, data_dir)
    async with open_store(config.database_url, pool_size=2) as store:
        registry = ModelDistribution(store, config.registry_dir)
        await ensure_key(registry, pseudonym_key)
        return await retrain_once(
            store,
            registry,
            now_ms=wall_clock_ms() if now_ms is None else now_ms,
            min_rows=min_rows,
            epochs=epochs,
            rollout_percent=rollout_percent,
            base_world=DEFAULT_WORLD if base_corpus else None,
            tolerance=TOLERANCE if tolerance is None else tolerance,
            family=family,
            team=team,
        )


@contextlib.asynccontextmanager
async def registry(
    database_url: str | Path = DEFAULT_DATABASE_URL,
    *,
    data_dir: Path | None = None,
    team: str | None = None,
) -> AsyncIterator[ModelDistribution]:
    """The model registry of the server's database (``team``'s own scope, or the pooled
    one), open for the block."""
    config = _config(database_url, data_dir)
    async with open_store(config.database_url, pool_size=2) as store:
        pooled = ModelDistribution(store, config.registry_dir)
        yield pooled if team is None else pooled.for_team(team)


async def rollout(
    database_url: str | Path,
    name: str,
    percent: int,
    *,
    data_dir: Path | None = None,
    team: str | None = None,
) -> FamilyInfo:
    """Widen (or narrow) the rollout of ``name``'s latest version (of ``team``'s own models;
    ``None``: the pooled ones); 100 makes it stable."""
    async with registry(database_url, data_dir=data_dir, team=team) as scope:
        return await scope.set_rollout(name, percent)


async def rollback(
    database_url: str | Path, name: str, *, data_dir: Path | None = None, team: str | None = None
) -> FamilyInfo:
    """Withdraw ``name``'s version in rollout (or its stable version), of ``team``'s own
    models (``None``: the pooled ones); every worker's replicas follow at their next answer."""
    async with registry(database_url, data_dir=data_dir, team=team) as scope:
        return await scope.rollback(name)


async def model_key(database_url: str | Path, *, data_dir: Path | None = None) -> SigningKeyInfo:
    """The model-signing public key (created when missing) that devices pin at enrollment."""
    async with registry(database_url, data_dir=data_dir) as pooled:
        return await pooled.signing_key_info()
