"""Roles, revocation, expiry and the scoring limits, on a real server on a real socket.

The admin routes are not listed by hand: they are read from the app's routes (each handler
declares the least role it needs), so a route added later is covered by these tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute, WebSocketRoute

from server.admin import DEFAULT_TTL_HOURS, mint_token, revoke_token
from server.app import PUBLIC, create_app
from server.auth import RANK, ROLE_OPT, Role, route_role, verify_token
from server.config import ServerConfig
from server.scores import SCORE_FIELDS, round_scores
from sync.codec import Format, encode_batch
from tests.factories import small_world
from tests.live_server import run_server

A = "/api/v1/advanced"
#: The admin routes as they stand today (more may come: every one the app declares is tested).
KNOWN_ADMIN = {
    ("GET", f"{A}/privacy/leads/{{lead_id}}/export"): Role.TEAM_ADMIN,
    ("DELETE", f"{A}/privacy/leads/{{lead_id}}"): Role.TEAM_ADMIN,
    ("POST", f"{A}/models/{{name}}/rollout"): Role.OPERATOR,
    ("POST", f"{A}/models/{{name}}/rollback"): Role.OPERATOR,
    ("POST", f"{A}/models/retrain"): Role.OPERATOR,
}
#: Real ids of the world a refused call would change (so a guard that let it through shows).
REAL = {"lead_id": "lead-000001", "name": "behaviour"}
#: A real body for each route that takes one: a refused call must not be refused for its body.
REAL_BODY: dict[str, Any] = {"rollout": {"percent": 0}, "retrain": {}}


def _app(tmp_path: Path) -> Litestar:
    return create_app(ServerConfig(database_url=str(tmp_path / "routes.db")))


def _public(path: str, handler: Any) -> bool:
    return bool(handler.opt.get("exclude_from_auth")) or any(re.match(p, path) for p in PUBLIC)


def handlers(app: Litestar) -> list[tuple[str, str, Any]]:
    """(method, path, handler) of every route that needs a token (WebSockets: ``WS``)."""
    found = []
    for route in app.routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in sorted(set(handler.http_methods) - {"OPTIONS", "HEAD"}):
                    if not _public(path, handler):
                        found.append((method, path, handler))
        elif isinstance(route, WebSocketRoute) and not _public(path, route.route_handler):
            found.append(("WS", path, route.route_handler))
    return found


def admin_routes(app: Litestar) -> dict[tuple[str, str], Role]:
    """Every route that needs more than an agent, with the role it needs."""
    return {
        (method, path): route_role(handler)
        for method, path, handler in handlers(app)
        if route_role(handler) is not Role.AGENT
    }


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), "no-such-id"), path)


def test_every_route_declares_the_role_it_needs(tmp_path):
    """An undeclared route would need an operator (fail closed); none is left undeclared."""
    routes = handlers(_app(tmp_path))
    assert len(routes) > 20
    undeclared = [(m, p) for m, p, h in routes if ROLE_OPT not in h.opt]
    assert undeclared == []
    admin = admin_routes(_app(tmp_path))
    assert KNOWN_ADMIN.items() <= admin.items()
    assert not [key for key in admin if key[0] == "WS"], "test WebSocket admin routes too"


def rejected(answer: httpx.Response, need: Role, have: Role) -> None:
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["code"] == "forbidden" and body["path"] == "token.role"
    assert f"role {need.value}" in body["detail"] and have.value in body["detail"]


async def test_each_admin_route_refuses_the_roles_below_it_and_changes_nothing(tmp_path, server):
    admin = admin_routes(_app(tmp_path))
    tokens = {role: server.token(role=role) for role in Role}
    phone = await synced(tmp_path, server, tokens[Role.AGENT])
    try:
        async with client(server, tokens[Role.OPERATOR]) as op:
            families_before = (await op.get(f"{A}/models/")).json()
            export_before = (await op.get(f"{A}/privacy/leads/lead-000001/export")).json()
            for (method, path), need in admin.items():
                body = REAL_BODY.get(path.rsplit("/", 1)[-1])
                for have in Role:
                    async with client(server, tokens[have]) as http:
                        if RANK[have] < RANK[need]:
                            answer = await http.request(method, fill(path, REAL), json=body)
                            rejected(answer, need, have)
                        else:  # let through: a bad body or an unknown id, never 401 or 403
                            answer = await http.request(
                                method, fill(path, {}), json={"no_such_field": 1}
                            )
                            assert answer.status_code in (400, 404, 422), (path, answer.text)
            assert (await op.get(f"{A}/models/")).json() == families_before
            export_after = (await op.get(f"{A}/privacy/leads/lead-000001/export")).json()
            assert export_after == export_before  # the refused erasures erased nothing
    finally:
        await phone.close()


async def test_a_token_without_a_role_is_an_agents(tmp_path, server):
    claims = {"agent": "agent-01", "team": "team-a", "iat": 0, "exp": 2**52, "jti": "0123abcd"}
    old = sign(server.signing_key, claims)
    assert verify_token(server.signing_key, old, 1).role is Role.AGENT
    async with client(server, old) as http:
        assert (await http.get("/api/v1/sync/pull")).status_code == 200
        rejected(
            await http.get(f"{A}/privacy/leads/lead-000001/export"), Role.TEAM_ADMIN, Role.AGENT
        )
    forged_role = sign(server.signing_key, {**claims, "role": "root"})
    async with client(server, forged_role) as http:
        answer = await http.get("/api/v1/sync/pull")
    assert answer.status_code == 401 and answer.json()["path"] == "header.authorization"


async def test_a_revoked_token_is_refused_and_the_others_still_work(tmp_path, server):
    lost, kept = server.token(), server.token()
    async with client(server, lost) as http:
        assert (await http.get("/api/v1/sync/pull")).status_code == 200
    first = await revoke_token(server.config.database_url, lost, reason="phone lost")
    again = await revoke_token(server.config.database_url, lost, reason="twice")
    assert again == first and first.agent_id == "agent-01" and first.expires_at
    async with client(server, lost) as http:
        answer = await http.get("/api/v1/sync/pull")
    assert answer.status_code == 401
    assert "revoked" in answer.json()["detail"] and "phone lost" in answer.json()["detail"]
    assert answer.json()["path"] == "header.authorization"
    async with client(server, kept) as http:
        assert (await http.get("/api/v1/sync/pull")).status_code == 200


async def test_a_revocation_reaches_every_worker_on_one_postgresql(tmp_path, postgres_url):
    from tests.server.test_cli import run

    with (
        run_server(postgres_url, data_dir=tmp_path / "one", database_pool_size=2) as one,
        run_server(postgres_url, data_dir=tmp_path / "two", database_pool_size=2) as two,
    ):
        assert one.signing_key == two.signing_key
        token = one.token()
        for live in (one, two):
            async with client(live, token) as http:
                assert (await http.get("/api/v1/sync/pull")).status_code == 200
        printed = run("server", "revoke-token", token, "--database-url", postgres_url).stdout
        assert json.loads(printed)["jti"] == verify_token(one.signing_key, token, 0).jti
        for live in (one, two):
            async with client(live, token) as http:
                answer = await http.get("/api/v1/sync/pull")
            assert answer.status_code == 401 and "revoked" in answer.json()["detail"]


async def test_tokens_expire_by_default(tmp_path):
    db = tmp_path / "s.db"
    token = await mint_token(db, agent="a", team="t", role="team_admin")
    with run_server(db) as live:
        claims = verify_token(live.signing_key, token, 0)
        assert claims.exp - claims.iat == int(DEFAULT_TTL_HOURS * 3_600_000) > 0
        assert claims.role is Role.TEAM_ADMIN
        async with client(live, live.token(ttl_ms=-1)) as http:
            answer = await http.get("/api/v1/sync/pull")
        assert answer.status_code == 401 and "expired" in answer.json()["detail"]


def test_the_cli_mints_a_role_and_refuses_an_unknown_one(tmp_path):
    from tests.server.test_cli import run

    db = str(tmp_path / "s.db")
    args = ("server", "token", "--agent", "a", "--team", "t", "--db", db, "--create")
    token = run(*args, "--role", "operator").stdout.strip().splitlines()[-1]
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["role"] == "operator" and claims["exp"] > claims["iat"]
    bad = run(*args, "--role", "root", ok=False)
    assert bad.returncode == 1 and "unknown role 'root'" in bad.stderr
    missing = run("server", "revoke-token", "abc", "--db", str(tmp_path / "no.db"), ok=False)
    assert missing.returncode == 1 and "no server database" in missing.stderr


# --- scores: two decimals, a bucket of their own ---------------------------------------


def score_values(doc: Any) -> list[float]:
    """Every number under a score field of a JSON answer."""
    found: list[float] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key in SCORE_FIELDS:
                found += [v for v in _numbers(value)]
            else:
                found += score_values(value)
    elif isinstance(doc, list):
        for item in doc:
            found += score_values(item)
    return found


def _numbers(value: Any) -> list[float]:
    if isinstance(value, float | int) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return []


def test_rounding_touches_scores_and_nothing_else():
    class Rec(msgspec.Struct, frozen=True):
        score: float
        price: float
        scores: dict[str, float]

    rounded = round_scores([Rec(score=0.123456, price=450_123.456, scores={"luxury": 0.98765})])
    assert rounded == [Rec(score=0.12, price=450_123.456, scores={"luxury": 0.99})]


async def test_scores_in_the_answers_have_two_decimals(tmp_path, server):
    token = server.token()
    phone = await synced(tmp_path, server, token)
    lead = {"lead_id": "lead-000001"}
    try:
        async with client(server, token) as http:
            answers = [
                await http.post(f"{A}/analyze/comprehensive", json=lead),
                await http.post(f"{A}/intervention/predict", json=lead),
                await http.post(f"{A}/intervention/plans", json=lead),
                await http.get(f"{A}/personalization/recommendations/lead-000001"),
            ]
        for answer in answers:
            assert answer.status_code in (200, 201), answer.text
            scores = score_values(answer.json())
            assert scores, answer.request.url  # the search can find scores
            assert all(round(s, 2) == s for s in scores), (answer.request.url, scores)
        behaviour = answers[1].json()["behaviour"]
        assert {"p_convert", "p_respond"} <= set(behaviour)
    finally:
        await phone.close()


async def test_scoring_routes_have_a_bucket_per_token(tmp_path):
    with run_server(tmp_path / "s.db", scoring_rate_per_s=0.01, scoring_burst=2) as live:
        token, other = live.token(), live.token()
        async with client(live, token) as http:
            for _ in range(2):  # an unknown lead: 404, but the score was asked for
                answer = await http.post(f"{A}/intervention/predict", json={"lead_id": "nope"})
                assert answer.status_code == 404
            limited = await http.post(f"{A}/intervention/predict", json={"lead_id": "nope"})
            assert limited.status_code == 429
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.json()["code"] == "rate_limited"
            assert "scoring rate limit" in limited.json()["detail"]
            for scoring in (
                http.post(f"{A}/analyze/comprehensive", json={"lead_id": "nope"}),
                http.get(f"{A}/personalization/recommendations/nope"),
                http.post(f"{A}/intervention/plans", json={"lead_id": "nope"}),
            ):
                assert (await scoring).status_code == 429
            assert (await http.get(f"{A}/models/")).status_code == 200  # not a scoring route
        async with client(live, other) as http:
            answer = await http.post(f"{A}/intervention/predict", json={"lead_id": "nope"})
            assert answer.status_code == 404  # its own bucket


# --- helpers ----------------------------------------------------------------------------


def client(server, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url, headers={"authorization": f"Bearer {token}"}, timeout=60
    )


async def synced(tmp_path: Path, server, token: str):
    from edge.runtime import EdgeRuntime

    phone = await EdgeRuntime.open(tmp_path / "phone.db")
    await phone.ingest(encode_batch(small_world(2, 5), Format.MSGPACK))
    assert (await phone.sync(server.url, token)).status == "ok"
    return phone


def sign(key: bytes, claims: dict[str, Any]) -> str:
    """A token with exactly ``claims``, signed with the server's key (as an old server did)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = f"re1.{b64(json.dumps(claims).encode())}"
    return f"{body}.{b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


@pytest.fixture
def server(tmp_path):
    with run_server(tmp_path / "server.db") as live:
        yield live
