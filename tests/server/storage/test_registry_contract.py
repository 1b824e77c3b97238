"""The model registry's storage contract, on SQLite and PostgreSQL alike.

The store's rows (versions, families, device reports, runs, drift checks, named keys) and
:class:`server.distribution.ModelDistribution` on top: two registries on one database (two
workers, each with its own store) promoting and rolling back at the same time lose nothing,
and one sees at once what the other changed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import msgspec
import pytest

from models.artifact import ARTIFACT_DIR, read_manifest
from server.distribution import ModelDistribution, team_scope
from server.errors import NotFoundError
from server.storage import (
    DriftCheckRow,
    ModelFamilyRow,
    ModelVersionRow,
    RetrainRunRow,
    ServerTx,
    open_store,
)

BLOB = (ARTIFACT_DIR / "behaviour.tflite").read_bytes()
MANIFEST = read_manifest(ARTIFACT_DIR, "behaviour")


def version_row(version: str, scope: str = "pooled", blob: bytes = b"\x00\x01") -> ModelVersionRow:
    return ModelVersionRow(
        scope=scope,
        family="behaviour",
        version=version,
        manifest=b'{"v": "%s"}' % version.encode(),
        sha256="ab" * 32,
        created_at=1,
        blob=blob,
    )


async def test_versions_keep_their_publish_order_and_a_republish_its_place(store):
    def publish(tx: ServerTx) -> int:
        count = tx.lock_registry()
        for v in ("1.0.0", "1.1.0", "0.9.0"):
            tx.add_model_version(version_row(v))
        tx.add_model_version(version_row("1.0.0", blob=b"new bytes"))  # replaced in place
        tx.add_model_version(version_row("2.0.0", scope="t-team"))
        tx.save_model_family(ModelFamilyRow(scope="pooled", family="behaviour", stable="1.1.0"))
        return count

    before = await store.registry_changes()
    assert await store.write(publish) == before + 1 == await store.registry_changes()
    [family] = await store.model_families("pooled")
    assert family.versions == ["1.0.0", "1.1.0", "0.9.0"] and family.stable == "1.1.0"
    assert (await store.model_families("t-team")) == []  # a version alone makes no family
    row = await store.model_version("pooled", "behaviour", "1.0.0", blob=True)
    assert row is not None and row.blob == b"new bytes" and row.manifest == b'{"v": "1.0.0"}'
    bare = await store.model_version("pooled", "behaviour", "1.0.0")
    assert bare is not None and bare.blob is None
    assert await store.model_version("pooled", "behaviour", "3.0.0") is None


async def test_family_state_round_trips_in_a_transaction(store):
    def save(tx: ServerTx) -> ModelFamilyRow | None:
        tx.lock_registry()
        tx.add_model_version(version_row("1.0.0"))
        tx.save_model_family(
            ModelFamilyRow(
                scope="pooled",
                family="behaviour",
                stable="1.0.0",
                latest="1.0.0",
                percent=30,
                rolled_back=["0.1", "0.2"],
            )
        )
        return tx.model_family("pooled", "behaviour")

    saved = await store.write(save)
    assert saved == ModelFamilyRow(
        scope="pooled",
        family="behaviour",
        stable="1.0.0",
        latest="1.0.0",
        percent=30,
        rolled_back=["0.1", "0.2"],
        versions=["1.0.0"],
    )
    assert await store.model_families("pooled") == [saved]


async def test_device_reports_runs_drift_checks_and_keys(store):
    def write(tx: ServerTx) -> tuple[bytes, bytes]:
        tx.report_model("dev-1", "behaviour", "1.1", 200)
        tx.report_model("dev-1", "behaviour", "1.0", 100)  # older: ignored
        tx.report_model("dev-1", "intervention", "2.0", 100)
        for i, scope in enumerate(("pooled", "t-a", "t-b")):
            tx.add_retrain_run(
                RetrainRunRow(
                    id=f"run-{i}",
                    scope=scope,
                    family="behaviour",
                    started_at=i,
                    finished_at=10 - i,
                    outcome="refused",
                    record=b"{}",
                )
            )
        tx.add_retrain_run(  # the same id again: the first record stays
            RetrainRunRow(
                id="run-0",
                scope="pooled",
                family="behaviour",
                started_at=0,
                finished_at=10,
                outcome="promoted",
                record=b"{}",
            )
        )
        for at, version in ((5, "new"), (3, "old")):
            tx.save_drift_check(
                DriftCheckRow(
                    scope="t-a", family="behaviour", version=version, checked_at=at, record=b"{}"
                )
            )
        return tx.named_key("k", b"first", 1), tx.named_key("k", b"second", 2)

    assert await store.write(write) == (b"first", b"first")
    assert await store.device_models("dev-1") == {"behaviour": "1.1", "intervention": "2.0"}
    assert await store.device_models("dev-2") == {}
    runs = await store.retrain_runs()
    assert [r.id for r in runs] == ["run-2", "run-1", "run-0"]  # the order they finished
    assert runs[-1].outcome == "refused"
    assert [r.id for r in await store.retrain_runs(["pooled", "t-a"])] == ["run-1", "run-0"]
    assert await store.retrain_runs([]) == []
    [check] = await store.drift_checks("t-a")
    assert (check.version, check.checked_at) == ("new", 5)
    assert await store.named_key("k", b"third") == b"first"
    assert await store.named_key("other", b"x") == b"x"


def manifest(version: str):
    return msgspec.structs.replace(MANIFEST, version=version)


@contextlib.asynccontextmanager
async def two_workers(database_url: str, tmp_path) -> AsyncIterator[tuple]:
    """(the first store, a registry on it, a registry on a second store of one database): two
    workers of one cluster."""
    async with (
        open_store(database_url, pool_size=2) as one,
        open_store(database_url, pool_size=2) as two,
    ):
        yield one, ModelDistribution(one, tmp_path / "a"), ModelDistribution(two, tmp_path / "b")


async def test_two_workers_promoting_and_rolling_back_at_once_lose_nothing(database_url, tmp_path):
    """Two stores (two workers) on one database, each with its own registry: 12 versions
    published by each, at the same time, then each rolling back its own; every version and
    every rollback is recorded, and the stable version is one neither rolled back."""
    async with two_workers(database_url, tmp_path) as (_, a, b):
        await a.publish(BLOB, manifest("0.0.1"))
        assert await a.public_key() == await b.public_key()  # one signing key for both

        async def publish(reg: ModelDistribution, prefix: str) -> None:
            for i in range(12):
                await reg.publish(BLOB, manifest(f"{prefix}.{i}"), percent=100 if i % 2 else 40)

        await asyncio.gather(publish(a, "1"), publish(b, "2"))
        family = await a.family("behaviour")
        assert len(family.versions) == 25
        assert set(family.versions) == {"0.0.1"} | {f"{p}.{i}" for p in "12" for i in range(12)}
        assert [v for v in family.versions if v.startswith("1.")] == [f"1.{i}" for i in range(12)]

        async def roll(reg: ModelDistribution) -> None:
            for _ in range(6):
                await reg.rollback("behaviour")

        await asyncio.gather(roll(a), roll(b))
        after = await b.family("behaviour")
        assert len(after.rolled_back) == len(set(after.rolled_back)) == 12
        assert after.stable not in after.rolled_back and after.latest is None
        good = [v for v in after.versions if v not in after.rolled_back]
        assert after.stable == good[-1]


async def test_a_change_by_one_worker_is_seen_by_the_other_at_once(database_url, tmp_path):
    async with two_workers(database_url, tmp_path) as (_, a, b):
        assert await b.serving("team-x", "behaviour") is None
        await a.publish(BLOB, manifest("9.1.0"))
        assert (await b.served("team-x", ("behaviour",)))["behaviour"][1] == "9.1.0"
        await a.for_team("team-x").publish(BLOB, manifest("9.2.0"))
        scope, version = await b.serving("team-x", "behaviour") or (None, None)
        assert version == "9.2.0" and scope is not None and scope.scope != "pooled"
        assert await b.serving("team-y", "behaviour") is not None  # the pooled one
        await a.for_team("team-x").rollback("behaviour")
        assert (await b.serving("team-x", "behaviour"))[1] == "9.1.0"
        offer = await b.offer_for("team-x", "behaviour", "dev-1", running="9.2.0")
        assert offer.version == "9.1.0" and offer.manifest is not None
        assert await a.device_versions("dev-1") == {"behaviour": "9.2.0"}
        path = await b.materialize("behaviour", "9.1.0")
        assert path.read_bytes() == BLOB and path.name == f"{MANIFEST.sha256}.tflite"
        with pytest.raises(NotFoundError, match="no version"):
            await b.blob("behaviour", "0.0.0")


async def test_served_versions_are_read_once_until_the_registry_changes(database_url, tmp_path):
    """What a team is served is cached per process: a question costs one read of the change
    counter, and the families are read again only after a change (by any worker)."""
    async with two_workers(database_url, tmp_path) as (one, reader, writer):
        await writer.publish(BLOB, manifest("9.1.0"))
        reads: list[str] = []
        real = one.model_families

        async def counted(scope: str):
            reads.append(scope)
            return await real(scope)

        one.model_families = counted
        for _ in range(5):
            served = await reader.served("team-x", ("behaviour", "intervention"))
            assert served["behaviour"] is not None and served["behaviour"][1] == "9.1.0"
            assert served["intervention"] is None
        assert sorted(reads) == ["pooled", team_scope("team-x")]  # once each, not per question
        await writer.for_team("team-x").publish(BLOB, manifest("9.2.0"))
        served = await reader.served("team-x", ("behaviour",))
        assert served["behaviour"] is not None and served["behaviour"][1] == "9.2.0"
        assert len(reads) == 4
