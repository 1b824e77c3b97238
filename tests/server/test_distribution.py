"""Retraining, signed model distribution with staged rollout and rollback, and erasure in training.

Real server on a real socket, real device runtimes, the training in its own process.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import httpx
import msgspec
import numpy as np
import pytest

from edge.model_updates import UpdatePolicy, verify_signature
from edge.runtime import EdgeRuntime
from models.artifact import ARTIFACT_DIR, read_manifest
from models.behaviour.retrain import base_corpus, decide, worse_share
from models.errors import ArtifactError
from server.distribution import ModelDistribution, bucket
from server.retrain import pseudonym, retrain_once, training_set
from server.storage import open_store
from sync.codec import Format, encode_batch
from tests.factories import small_world
from tests.live_server import registry_of, spoil_version

A = "/api/v1/advanced"
SHIPPED = read_manifest(ARTIFACT_DIR, "behaviour").version
#: A small base corpus, so the tests train in seconds (the server's default is the shipped world).
SMALL_BASE = {"agents": 1, "leads": 120, "listings": 200, "seed": 5}


async def phone(tmp_path: Path, name: str) -> EdgeRuntime:
    return await EdgeRuntime.open(tmp_path / f"{name}.db")


async def publish_shipped(reg: ModelDistribution, version: str, percent: int = 100):
    """The shipped behaviour model republished under a new version (no training needed)."""
    blob = (ARTIFACT_DIR / "behaviour.tflite").read_bytes()
    manifest = msgspec.structs.replace(read_manifest(ARTIFACT_DIR, "behaviour"), version=version)
    return await reg.publish(blob, manifest, percent=percent)


async def test_retraining_promotes_then_a_device_installs_it_and_rolls_back(tmp_path, server):
    from models.synthetic import generate_world

    world = generate_world(agents=1, leads=150, listings=200, seed=3)
    token = server.token()
    device = await phone(tmp_path, "a")
    store = open_store(server.config.database_url)
    await store.open()
    registry = ModelDistribution(store, server.config.registry_dir)
    await device.enroll_model_key(await registry.public_key())
    try:
        await device.ingest(encode_batch(world.records(), Format.MSGPACK))
        assert (await device.sync(server.url, token)).status == "ok"
        run = await retrain_once(
            store,
            registry,
            now_ms=world.now_ms,
            epochs=2,
            tolerance=0.5,
            confidence=1.01,
            base_world=SMALL_BASE,
        )
        assert run.decision == "promoted", run.reason
        m = run.metrics
        assert m["rows"] > 200 and m["rows_holdout"] > 20 and m["rows_base"] > 100
        # The candidate learned from the synced rows outside the holdout plus the base corpus
        # outside the shipped model's holdout; it is scored on both holdouts and pooled.
        assert (
            m["rows_train"]
            == m["rows"] - m["rows_holdout"] + m["rows_base"] - m["rows_base_holdout"]
        )
        for who in ("candidate", "current"):
            assert {f"{who}.{part}p_convert.auc" for part in ("", "synced.", "base.")} <= set(m)
        assert 0 <= m["synced_worse_share"] <= 1
        assert (registry.directory / "base-corpus").is_dir()  # cached for the next run
        assert "tensorflow" not in sys.modules  # training ran in its own process
        with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as h:
            runs = h.get(f"{A}/models/retrain-runs").json()["runs"]
            assert [(r["decision"], r["candidate"]) for r in runs] == [("promoted", run.candidate)]
            families = h.get(f"{A}/models/").json()
            assert families[0]["name"] == "behaviour" and families[0]["stable"] == run.candidate

        off_wifi = await device.check_model_updates(
            server.url, token, UpdatePolicy(wifi_only=True, on_wifi=False)
        )
        assert off_wifi.skipped == "not on Wi-Fi" and not off_wifi.installed
        report = await device.check_model_updates(server.url, token, UpdatePolicy())
        assert report.installed == {"behaviour": run.candidate}, report
        assert device.model_manifest("behaviour").version == run.candidate
        assert (await device.predict_behaviour(world.leads[0].id)).p_convert >= 0
        # The device reports what it runs at its next check.
        await device.check_model_updates(server.url, token, UpdatePolicy())
        assert (await registry.device_versions(device.device_id))["behaviour"] == run.candidate

        await registry.rollback("behaviour")
        back = await device.check_model_updates(server.url, token, UpdatePolicy())
        assert back.rolled_back == {"behaviour": SHIPPED}
        assert device.model_manifest("behaviour").version == SHIPPED
    finally:
        await device.close()
        await store.close()


async def test_a_run_without_enough_outcomes_is_refused_and_recorded(tmp_path, server):
    token = server.token()
    device = await phone(tmp_path, "a")
    try:
        await device.ingest(encode_batch(small_world(2, 3), Format.MSGPACK))
        assert (await device.sync(server.url, token)).status == "ok"
    finally:
        await device.close()
    async with registry_of(server) as registry:
        run = await retrain_once(registry.store, registry, now_ms=server.config.clock())
        with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as h:
            assert h.get(f"{A}/models/retrain-runs").json()["runs"][0]["decision"] == "refused"
        assert await registry.families() == []  # nothing was published
    assert run.decision == "refused" and "need at least 50" in run.reason


def test_the_decision_promotes_only_a_candidate_not_worse():
    current = {"p_convert.auc": 0.70, "p_respond.auc": 0.60}
    assert decide({"p_convert.auc": 0.71, "p_respond.auc": 0.60}, current, 0.0)[0]
    assert decide(dict(current), current, 0.0)[0]
    worse, reason = decide({"p_convert.auc": 0.69, "p_respond.auc": 0.60}, current, 0.0)
    assert not worse and "0.6450 < current 0.6500" in reason
    assert decide({"p_convert.auc": 0.69, "p_respond.auc": 0.60}, current, 0.01)[0]
    nan = {"p_convert.auc": math.nan, "p_respond.auc": math.nan}
    assert not decide(nan, current, 0.0)[0]


def test_the_field_guard_refuses_only_a_candidate_worse_with_confidence():
    pooled = {"p_convert.auc": 0.71, "p_respond.auc": 0.60}
    cand = {**pooled, "synced.p_convert.auc": 0.60, "synced.p_respond.auc": 0.55}
    curr = {
        "p_convert.auc": 0.70,
        "p_respond.auc": 0.60,
        "synced.p_convert.auc": 0.70,
        "synced.p_respond.auc": 0.60,
    }
    ok, reason = decide(cand, curr, 0.0, synced_worse_share=0.80)
    assert ok and "worse in 80% of bootstrap resamples" in reason
    refused, reason = decide(cand, curr, 0.0, synced_worse_share=0.97)
    assert not refused and "on the synced holdout 0.5750 vs 0.6500" in reason
    assert not decide(cand, curr, 0.0, synced_worse_share=0.5, confidence=0.5)[0]


def test_worse_share_is_a_paired_bootstrap_over_leads():
    rng = np.random.default_rng(1)
    n = 400
    y = np.stack([rng.random(n) < 0.3, rng.random(n) < 0.5], axis=1).astype(np.float32)
    y[::7, 1] = np.nan  # unknown labels are skipped
    good = np.clip(y + rng.normal(0, 0.6, y.shape), 0, 1)
    good = np.nan_to_num(good, nan=0.5)
    noise = rng.random(y.shape)
    leads = [f"l{i // 3}" for i in range(n)]  # three rows per lead, resampled together
    assert worse_share(y, good, good, leads) == 0.0  # equal is not worse
    assert worse_share(y, noise, good, leads) > 0.99
    assert worse_share(y, good, noise, leads) < 0.01
    assert worse_share(y, good, noise, leads, seed=3) == worse_share(y, good, noise, leads, seed=3)


def test_the_base_corpus_is_cached_and_reloads_identically(tmp_path):
    first = base_corpus(SMALL_BASE, tmp_path)
    (cached,) = tmp_path.glob("base-*.npz")
    again = base_corpus(SMALL_BASE, tmp_path)
    assert np.array_equal(first.x, again.x) and first.lead_ids == again.lead_ids
    assert np.array_equal(first.y, again.y, equal_nan=True)
    assert base_corpus({**SMALL_BASE, "seed": 6}, tmp_path).lead_ids  # another key, another file
    assert len(list(tmp_path.glob("base-*.npz"))) == 2 and cached.exists()


async def test_tampered_blob_and_bad_signature_are_refused_and_the_device_keeps_its_model(
    tmp_path, server
):
    token = server.token()
    device = await phone(tmp_path, "a")
    async with registry_of(server) as reg, open_store(tmp_path / "other.db") as other_store:
        await device.enroll_model_key(await reg.public_key())
        try:
            signed = await publish_shipped(reg, "9.0.0-tampered")
            data = bytearray((ARTIFACT_DIR / "behaviour.tflite").read_bytes())
            data[len(data) // 2] ^= 0xFF
            await spoil_version(reg, "behaviour", signed.version, blob=bytes(data))
            report = await device.check_model_updates(server.url, token, UpdatePolicy())
            assert "sha256" in report.rejected["behaviour"], report
            assert device.model_manifest("behaviour").version == SHIPPED
            with pytest.raises(ArtifactError, match="sha256"):  # nor used on the server
                await reg.materialize("behaviour", signed.version)

            signed = await publish_shipped(reg, "9.0.1-forged")
            forged = msgspec.structs.replace(signed, metrics={"p_convert.auc": 0.99})
            await spoil_version(
                reg, "behaviour", signed.version, manifest=msgspec.json.encode(forged)
            )
            report = await device.check_model_updates(server.url, token, UpdatePolicy())
            assert "bad manifest signature" in report.rejected["behaviour"], report
            assert device.model_manifest("behaviour").version == SHIPPED
            with pytest.raises(ArtifactError, match="bad manifest signature"):
                await reg.materialize("behaviour", signed.version)

            # A manifest validly signed, but by another key than the one pinned at enrollment.
            other = ModelDistribution(other_store, tmp_path / "other-registry")
            signed = await publish_shipped(reg, "9.0.2-other-key")
            resigned = msgspec.json.encode(await other.sign(signed))
            await spoil_version(reg, "behaviour", signed.version, manifest=resigned)
            report = await device.check_model_updates(server.url, token, UpdatePolicy())
            assert "the pinned key is" in report.rejected["behaviour"], report
            assert device.model_manifest("behaviour").version == SHIPPED

            signed = await publish_shipped(reg, "9.0.3-good")
            report = await device.check_model_updates(server.url, token, UpdatePolicy())
            assert report.installed == {"behaviour": "9.0.3-good"}
            verify_signature(signed, await reg.public_key())
        finally:
            await device.close()


async def test_staged_rollout_offers_the_new_version_to_a_stable_share_of_devices(tmp_path, server):
    async with registry_of(server) as reg:
        await publish_shipped(reg, "9.1.0")
        await publish_shipped(reg, "9.2.0", percent=30)
        ids = [f"dev-{i:04d}" for i in range(400)]
        offered = [(await reg.offer("behaviour", d)).version for d in ids]
        share = offered.count("9.2.0") / len(ids)
        assert 0.2 < share < 0.4 and set(offered) == {"9.1.0", "9.2.0"}
        assert offered == [(await reg.offer("behaviour", d)).version for d in ids]  # stable
        assert all(
            (v == "9.2.0") == (bucket("behaviour", d) < 30)
            for d, v in zip(ids, offered, strict=True)
        )
        await reg.set_rollout("behaviour", 100)
        assert {(await reg.offer("behaviour", d)).version for d in ids} == {"9.2.0"}
    token = server.token()
    with httpx.Client(base_url=server.url, headers={"authorization": f"Bearer {token}"}) as h:
        offer = h.get(f"{A}/models/behaviour/offer", params={"device_id": "dev-1"}).json()
        assert offer["version"] == "9.2.0" and offer["manifest"]["signature"]
        assert h.get(f"{A}/models/behaviour/nope/blob").status_code == 404
        missing = h.get(f"{A}/models/behaviour/offer")  # the refusal names the parameter
        assert missing.status_code == 400 and missing.json()["path"] == "query.device_id"
        blob = h.get(f"{A}/models/behaviour/9.2.0/blob")
        assert blob.content == (ARTIFACT_DIR / "behaviour.tflite").read_bytes()
        assert httpx.get(f"{server.url}{A}/models/").status_code == 401


async def test_an_erased_lead_reaches_the_device_and_leaves_the_training_set(tmp_path, server):
    token = server.token()
    device = await phone(tmp_path, "a")
    try:
        await device.ingest(encode_batch(small_world(3, 4), Format.MSGPACK))
        assert (await device.sync(server.url, token)).status == "ok"
        store = open_store(server.config.database_url)
        await store.open()
        try:
            before = await training_set(store, b"k" * 32, server.config.clock())
            admin = server.token(role="team_admin")  # erasure is a team admin's
            with httpx.Client(
                base_url=server.url, headers={"authorization": f"Bearer {admin}"}
            ) as h:
                assert h.delete(f"{A}/privacy/leads/lead-000002").status_code == 200
            after = await training_set(store, b"k" * 32, server.config.clock())
        finally:
            await store.close()
        gone = pseudonym(b"k" * 32, "lead", "team-a", "lead-000002")
        assert gone in {lead.id for lead in before.leads}
        assert gone not in {lead.id for lead in after.leads}
        assert gone not in {e.lead_id for e in after.events}
        assert (len(before.leads), len(after.leads)) == (3, 2)
        assert len(after.events) == len(before.events) - 4
        assert all(lead.name == "lead" and lead.id.startswith("l-") for lead in after.leads)
        assert all(e.text is None for e in after.events)  # free text never leaves
        assert (await device.sync(server.url, token)).status == "ok"
        assert "lead-000002" not in await device.record_ids("lead")
    finally:
        await device.close()


def test_the_api_process_runs_with_tensorflow_unimportable():
    import subprocess

    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'tensorflow', 'keras'}:\n"
        "            raise ImportError(name + ' is blocked in the API process')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from server.app import create_app\n"
        "import server.retrain, server.jobs, server.distribution, edge.model_updates\n"
        "create_app()\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


async def test_two_registries_on_one_database_lose_no_device_report(tmp_path):
    """Two workers (two stores on one database) record devices at once."""
    import asyncio

    db = tmp_path / "server.db"
    async with open_store(db) as one, open_store(db) as two:
        first = ModelDistribution(one, tmp_path / "a")
        second = ModelDistribution(two, tmp_path / "b")

        async def report(registry: ModelDistribution, prefix: str) -> None:
            for i in range(150):
                await registry.offer("behaviour", f"{prefix}-{i}", running="1.0.0")

        await asyncio.gather(report(first, "a"), report(second, "b"))
        devices = {f"{p}-{i}" for p in "ab" for i in range(150)}
        assert {d for d in devices if await first.device_versions(d)} == devices
        assert await first.public_key() == await second.public_key()  # one signing key
