"""Every family retrained from synced outcomes, per team, in one version everywhere.

Real server on a real socket, real phones (edge runtimes), the training in its own process.
The worlds and epochs are small so that a run takes seconds of training, not minutes.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import httpx
import msgspec
import numpy as np
import pytest

from edge.model_updates import UpdatePolicy
from edge.runtime import EdgeRuntime
from models.artifact import ARTIFACT_DIR, read_manifest
from models.drift import PSI_THRESHOLD, psi, reference
from server.config import ServerConfigError, config_from_env
from server.distribution import team_scope
from server.jobs import RetrainJob
from server.retrain import (
    drift_once,
    erasure_count,
    list_runs,
    pseudonym,
    pseudonym_key,
    retrain_once,
)
from sync.codec import Format, encode_batch
from sync.records import Channel, Event, EventType
from tests.factories import lead, small_world
from tests.live_server import registry_of

A = "/api/v1/advanced"
SHIPPED = {
    n: read_manifest(ARTIFACT_DIR, n).version
    for n in ("behaviour", "intervention", "personalization_lead", "personalization_listing")
}
SMALL_BASE = {"agents": 1, "leads": 120, "listings": 200, "seed": 5}
#: Loose decision settings: these tests are about the plumbing, not about a small model's AUC.
LOOSE = {"epochs": 2, "tolerance": 0.5, "confidence": 1.01}


def of_team(records: list, team: str) -> list:
    """The records with ``team_id`` (where they have one) moved to ``team``."""
    return [
        msgspec.structs.replace(r, team_id=team) if hasattr(r, "team_id") else r for r in records
    ]


async def synced_phone(tmp_path: Path, server, name: str, team: str, records: list):
    device = await EdgeRuntime.open(tmp_path / f"{name}.db")
    # enrollment pins the server's model-signing key (a device trusts no key it is offered)
    async with registry_of(server) as registry:
        await device.enroll_model_key(await registry.public_key())
    await device.ingest(encode_batch(records, Format.MSGPACK))
    assert (await device.sync(server.url, server.token(team=team))).status == "ok"
    return device


def client(server, team: str | None, role: str = "agent") -> httpx.Client:
    headers = {"authorization": f"Bearer {server.token(team=team, role=role)}"} if team else {}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def health(server, team: str | None) -> dict:
    with client(server, team) as h:
        return h.get(f"{A}/health").json()


def analysis(server, team: str, lead_id: str) -> dict:
    with client(server, team) as h:
        r = h.post(f"{A}/analyze/comprehensive", json={"lead_id": lead_id})
        assert r.status_code == 200, r.text
        return r.json()


# --- pseudonymized training data (issue 15 item 3) ---------------------------------------


async def test_the_training_export_on_disk_holds_no_name_email_phone_text_or_raw_id(
    tmp_path, server
):
    """Leads with all of them; every byte the run writes is searched, and the search can hit."""
    secret = "Please call me at home, my wife Ana prefers evenings"
    records = small_world(4, 3)
    records = [
        msgspec.structs.replace(
            r, text=f"{secret} #{r.id}", type=EventType.MESSAGE_IN, channel=Channel.SMS
        )
        if isinstance(r, Event)
        else r
        for r in records
    ]
    records = [
        msgspec.structs.replace(r, source="referral from Dr. Quint Zebulon")
        if hasattr(r, "email")
        else r
        for r in records
    ]
    leads = [r for r in records if hasattr(r, "email")]
    device = await synced_phone(tmp_path, server, "a", "team-a", records)
    await device.close()
    work = tmp_path / "work"
    async with registry_of(server) as registry:
        run = await retrain_once(
            registry.store,
            registry,
            now_ms=server.config.clock(),
            family="intervention",
            team="team-a",
            work_dir=work,
            min_rows=10**6,
        )
        salt = await pseudonym_key(registry)
    assert run.decision == "refused" and "need at least" in run.reason
    written = b"".join(p.read_bytes() for p in work.rglob("*") if p.is_file())
    assert len(written) > 1000
    forbidden = [secret, "Zebulon", "agent-01", "team-a"]
    for le in leads:
        forbidden += [le.name, le.email, le.phone, le.id]
    for e in records:
        if isinstance(e, Event):
            forbidden.append(e.id)
    found = [f for f in forbidden if f.encode() in written]
    assert found == [], f"identifiers on disk: {found}"
    # The search can fail: what must be there is there (the keyed pseudonym, a listing id).
    assert pseudonym(salt, "lead", "team-a", leads[0].id).encode() in written
    assert b"lst-000001" in written
    # The same search over an export that kept the e-mail would have found it.
    assert leads[0].email.encode() in msgspec.msgpack.encode(leads[0])


# --- behaviour, per team, one version everywhere, drift, erasure ---------------------------


@pytest.mark.timeout(1500)  # two trainings in their own processes, on a shared machine
async def test_a_team_promotion_reaches_its_phones_and_the_api_not_the_other_team(tmp_path, server):
    from models.synthetic import generate_world

    world = generate_world(agents=1, leads=150, listings=200, seed=3)
    phone_a = await synced_phone(
        tmp_path, server, "a", "team-a", of_team(world.records(), "team-a")
    )
    phone_b = await synced_phone(
        tmp_path, server, "b", "team-b", of_team(small_world(3, 4), "team-b")
    )
    erased = world.leads[-1].id
    sample = [le.id for le in world.leads[:8]]

    def scores() -> list[tuple[str, float, float]]:
        out = [analysis(server, "team-a", lid)["behaviour"] for lid in sample]
        return [(b["model_version"], b["p_convert"], b["p_respond"]) for b in out]

    try:
        shipped_scores = scores()
        assert {v for v, _, _ in shipped_scores} == {SHIPPED["behaviour"]}
        async with registry_of(server) as registry:
            store = registry.store
            run1 = await retrain_once(
                store, registry, now_ms=world.now_ms, team="team-a", base_world=SMALL_BASE, **LOOSE
            )
        assert run1.decision == "promoted", run1.reason
        assert run1.scope == team_scope("team-a") and run1.erased_since == 0
        assert 0 <= run1.metrics["candidate.ece"] <= 1 and "current.ece" in run1.metrics
        assert "tensorflow" not in sys.modules
        # One version everywhere: the team's health and analysis, and its phones.
        assert health(server, "team-a")["models"]["behaviour"] == run1.candidate
        assert health(server, "team-b")["models"]["behaviour"] == SHIPPED["behaviour"]
        assert health(server, None)["models"]["behaviour"] == SHIPPED["behaviour"]
        promoted_scores = scores()
        assert {v for v, _, _ in promoted_scores} == {run1.candidate}
        assert [s[1:] for s in promoted_scores] != [s[1:] for s in shipped_scores]
        report = await phone_a.check_model_updates(
            server.url, server.token(team="team-a"), UpdatePolicy()
        )
        assert report.installed == {"behaviour": run1.candidate}, report
        other = await phone_b.check_model_updates(
            server.url, server.token(team="team-b"), UpdatePolicy()
        )
        assert other.installed == {}
        with client(server, "team-b") as h:
            assert h.get(f"{A}/models/retrain-runs").json()["runs"] == []
            r = h.get(f"{A}/models/behaviour/{run1.candidate}/blob")
            assert r.status_code == 404  # another team's model is not served to it
        with client(server, "team-a") as h:
            runs = h.get(f"{A}/models/retrain-runs").json()["runs"]
            assert [r["candidate"] for r in runs] == [run1.candidate]

        # Drift: unchanged data is stable; 150 new leads without any activity are not.
        async with registry_of(server) as registry:
            store = registry.store
            calm = await drift_once(
                store, registry, now_ms=world.now_ms, family="behaviour", team="team-a"
            )
        assert calm is not None and calm.status == "ok" and calm.psi < 0.1, calm
        assert health(server, "team-a")["features"]["behaviour"]["status"] == "ok"
        quiet = [lead(5000 + i, agent_id=world.leads[0].agent_id) for i in range(150)]
        await phone_a.ingest(encode_batch(quiet, Format.MSGPACK))
        assert (await phone_a.sync(server.url, server.token(team="team-a"))).status == "ok"
        async with registry_of(server) as registry:
            store = registry.store
            moved = await drift_once(
                store, registry, now_ms=world.now_ms, family="behaviour", team="team-a"
            )
        assert moved is not None and moved.status == "drifting", moved
        assert moved.psi >= PSI_THRESHOLD
        feature = health(server, "team-a")["features"]["behaviour"]
        assert feature["status"] == "drifting" and run1.candidate in feature["detail"]
        assert health(server, "team-b")["features"]["behaviour"]["status"] == "ok"

        # An erased lead: the next scheduled run replaces the model that learned from it.
        with client(server, "team-a", role="team_admin") as h:  # erasure needs a team admin
            assert h.delete(f"{A}/privacy/leads/{erased}").status_code == 200
        async with registry_of(server) as registry:
            store = registry.store
            assert await erasure_count(store, "team-a") == 1
            config = dataclasses.replace(server.config, retrain_families=("behaviour",))
            job = RetrainJob(store, registry, config, base_world=SMALL_BASE, **LOOSE)
            runs = await job.run()
        by_scope = {r.scope: r for r in runs}
        run2 = by_scope[team_scope("team-a")]
        assert run2.decision == "promoted" and run2.erased_since == 1, run2
        assert "learned from 1 lead(s) erased since" in run2.reason
        assert by_scope[team_scope("team-b")].decision == "refused"  # 3 leads: too few rows
        assert health(server, "team-a")["models"]["behaviour"] == run2.candidate
        assert {v for v, _, _ in scores()} == {run2.candidate}

        # Rollback reaches both, and never back to the model that learned from the erased lead.
        async with registry_of(server) as registry:
            family = await registry.for_team("team-a").rollback("behaviour")
        assert family.stable is None and run1.candidate in family.rolled_back
        assert health(server, "team-a")["models"]["behaviour"] == SHIPPED["behaviour"]
        back = scores()
        assert {v for v, _, _ in back} == {SHIPPED["behaviour"]}
        for (_, c0, r0), (_, c1, r1) in zip(shipped_scores, back, strict=True):
            assert math.isclose(c0, c1, abs_tol=0.02) and math.isclose(r0, r1, abs_tol=0.02)
        undo = await phone_a.check_model_updates(
            server.url, server.token(team="team-a"), UpdatePolicy()
        )
        assert phone_a.model_manifest("behaviour").version == SHIPPED["behaviour"], undo
    finally:
        await phone_a.close()
        await phone_b.close()


# --- intervention and personalization ------------------------------------------------------


@pytest.mark.timeout(1500)
async def test_intervention_and_personalization_are_retrained_promoted_and_served(tmp_path, server):
    from models.synthetic import generate_world

    world = generate_world(agents=1, leads=150, listings=200, seed=3)
    phone = await synced_phone(tmp_path, server, "a", "team-a", of_team(world.records(), "team-a"))
    try:
        async with registry_of(server) as registry:
            store = registry.store
            inter = await retrain_once(
                store, registry, now_ms=world.now_ms, team="team-a", family="intervention", **LOOSE
            )
            person = await retrain_once(
                store,
                registry,
                now_ms=world.now_ms,
                team="team-a",
                family="personalization",
                **LOOSE,
            )
        assert inter.decision == "promoted", inter.reason
        assert person.decision == "promoted", person.reason
        m = inter.metrics
        assert m["rows_holdout"] > 50 and 0 <= m["candidate.ece"] <= 1
        assert {"candidate.synced.auc", "current.synced.auc", "synced_worse_share"} <= set(m)
        assert 0 <= person.metrics["candidate.synced.ranking_auc"] <= 1
        async with registry_of(server) as registry:
            scoped = registry.for_team("team-a")
            for name in ("personalization_lead", "personalization_listing"):
                assert (await scoped.family(name)).stable == person.candidate
                assert await scoped.reference(name, person.candidate)
            runs = await list_runs(registry)
        assert [r.family for r in runs] == ["intervention", "personalization"]
        models = health(server, "team-a")["models"]
        assert models["intervention"] == inter.candidate
        assert models["personalization_lead"] == person.candidate
        assert models["personalization_listing"] == person.candidate
        plan = analysis(server, "team-a", world.leads[0].id)["plan"]
        assert plan["model_version"] == inter.candidate
        report = await phone.check_model_updates(
            server.url, server.token(team="team-a"), UpdatePolicy()
        )
        assert report.installed == {
            "intervention": inter.candidate,
            "personalization_lead": person.candidate,
            "personalization_listing": person.candidate,
        }, report
        async with registry_of(server) as registry:
            store = registry.store
            check = await drift_once(
                store, registry, now_ms=world.now_ms, family="personalization", team="team-a"
            )
        assert check is not None and check.psi == pytest.approx(0.0, abs=1e-9)
    finally:
        await phone.close()


# --- the pieces on their own --------------------------------------------------------------


def test_psi_is_zero_on_the_training_scores_and_large_on_shifted_ones():
    rng = np.random.default_rng(0)
    train = rng.beta(2, 5, 5000)
    ref = reference(train)
    assert len(ref.shares) == 10 and math.isclose(sum(ref.shares), 1.0)
    assert psi(ref, train) == pytest.approx(0.0, abs=1e-12)
    assert psi(ref, rng.beta(2, 5, 5000)) < 0.05  # a fresh sample of the same distribution
    assert psi(ref, rng.beta(5, 2, 5000)) > PSI_THRESHOLD
    assert psi(ref, np.full(100, 0.3)) > PSI_THRESHOLD  # everyone scored alike
    assert math.isnan(psi(ref, np.array([])))


def test_pooling_across_teams_is_an_explicit_setting():
    assert config_from_env({}).retrain_pooled is False
    assert config_from_env({"REALTY_EDGE_RETRAIN_POOLED": "true"}).retrain_pooled is True
    assert config_from_env({"REALTY_EDGE_DRIFT_THRESHOLD": "0.1"}).drift_threshold == 0.1
    with pytest.raises(ServerConfigError, match="REALTY_EDGE_RETRAIN_POOLED"):
        config_from_env({"REALTY_EDGE_RETRAIN_POOLED": "sometimes"})


async def test_the_job_trains_each_team_apart_unless_pooled(monkeypatch, tmp_path, server):
    import server.jobs as jobs

    calls = []

    async def fake(store, registry, **kwargs):
        calls.append((kwargs["team"], kwargs["family"]))
        from server.retrain import RetrainRun

        return RetrainRun(
            id="r",
            family=kwargs["family"],
            started_at=0,
            finished_at=0,
            decision="refused",
            reason="test",
        )

    for team in ("team-a", "team-b"):
        device = await synced_phone(tmp_path, server, team, team, of_team(small_world(1, 1), team))
        await device.close()
    monkeypatch.setattr(jobs, "retrain_once", fake)
    async with registry_of(server) as registry:
        store = registry.store
        await RetrainJob(store, registry, server.config).run()
        per_team = list(calls)
        calls.clear()
        pooled = dataclasses.replace(server.config, retrain_pooled=True)
        await RetrainJob(store, registry, pooled).run()
    families = ("behaviour", "intervention", "personalization")
    assert per_team == [(t, f) for t in ("team-a", "team-b") for f in families]
    assert calls == [(None, f) for f in families]
