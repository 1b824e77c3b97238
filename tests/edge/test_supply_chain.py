"""Model supply chain: a bad artifact served by a real server is refused; the device keeps its own.

A real server on loopback distributes a new version of the behaviour model from its registry;
before the device checks for updates the version is spoiled one way (the blob tampered with or
cut short, the manifest re-signed by the server's own key but naming a wrong hash or a wrong
feature-spec hash, or signed by another key). The device pinned the server's key at enrollment.
Each spoiled version is refused with a reason naming what was wrong, nothing is installed, and
the device still scores leads with the model it had, also after a restart. The same version
unspoiled is installed (so each refusal is the check's doing, not a broken path).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec
import pytest

from edge.model_updates import UpdatePolicy, pin_key
from edge.runtime import EdgeRuntime
from models.artifact import ARTIFACT_DIR, read_manifest
from server.distribution import ModelDistribution
from server.storage import open_store
from sync.codec import Format, encode_batch
from sync.manifest import ModelManifest
from tests.factories import small_world
from tests.live_server import default_engine, engine_server, registry_of, spoil_version

SHIPPED = read_manifest(ARTIFACT_DIR, "behaviour").version
NEW = "9.9.0-supply"
LEAD = "lead-000001"

Spoil = Callable[[ModelDistribution, Path, ModelManifest], Awaitable[None]]
BLOB = (ARTIFACT_DIR / "behaviour.tflite").read_bytes()


async def tamper_blob(reg: ModelDistribution, tmp: Path, signed: ModelManifest) -> None:
    data = bytearray(BLOB)
    data[len(data) // 2] ^= 0xFF
    await spoil_version(reg, "behaviour", NEW, blob=bytes(data))


async def truncate_blob(reg: ModelDistribution, tmp: Path, signed: ModelManifest) -> None:
    await spoil_version(reg, "behaviour", NEW, blob=BLOB[: len(BLOB) // 2])


async def _resign(reg: ModelDistribution, signer: ModelDistribution, manifest: ModelManifest):
    resigned = msgspec.json.encode(await signer.sign(manifest))
    await spoil_version(reg, "behaviour", NEW, manifest=resigned)


async def wrong_hash(reg: ModelDistribution, tmp: Path, signed: ModelManifest) -> None:
    other = hashlib.sha256(b"another model").hexdigest()
    await _resign(reg, reg, msgspec.structs.replace(signed, sha256=other))


async def wrong_spec_hash(reg: ModelDistribution, tmp: Path, signed: ModelManifest) -> None:
    other = hashlib.sha256(b"another feature spec").hexdigest()
    await _resign(reg, reg, msgspec.structs.replace(signed, feature_spec_hash=other))


async def other_key(reg: ModelDistribution, tmp: Path, signed: ModelManifest) -> None:
    async with open_store(tmp / "intruder.db") as store:
        await _resign(reg, ModelDistribution(store, tmp / "intruder"), signed)


ATTACKS: dict[str, tuple[Spoil, str]] = {
    "tampered blob": (tamper_blob, "sha256"),
    "truncated blob": (truncate_blob, "size"),
    "wrong hash": (wrong_hash, "sha256"),
    "wrong feature-spec hash": (wrong_spec_hash, "feature-spec hash"),
    "signed by another key": (other_key, "the pinned key is"),
}


async def _score(device: EdgeRuntime) -> tuple[str, float, float]:
    p = await device.predict_behaviour(LEAD)
    return p.model_version, p.p_convert, p.p_respond


async def _offer_spoiled(request, tmp_path: Path, spoil: Spoil | None):
    """Enroll a device, publish NEW spoiled by ``spoil``, check for updates; the report and
    the device's scores before, right after, and after a restart."""
    with engine_server(request, tmp_path, default_engine()) as server:
        path = tmp_path / "device.db"
        device = await EdgeRuntime.open(path)
        try:
            async with registry_of(server) as reg:
                await device.ingest(encode_batch(small_world(3, 6), Format.MSGPACK))
                await pin_key(device._store, await reg.public_key())  # given at enrollment
                before = await _score(device)
                manifest = read_manifest(ARTIFACT_DIR, "behaviour")
                signed = await reg.publish(BLOB, msgspec.structs.replace(manifest, version=NEW))
                if spoil is not None:
                    await spoil(reg, tmp_path, signed)
            report = await device.check_model_updates(
                server.url, server.token(), UpdatePolicy(), families=("behaviour",)
            )
            after = await _score(device)
        finally:
            await device.close()
        async with await EdgeRuntime.open(path) as restarted:
            after_restart = await _score(restarted)
            installed = sorted(p.name for p in (Path(f"{path}.models")).rglob("*.tflite"))
    return report, before, after, after_restart, installed


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_a_spoiled_model_is_refused_and_the_device_keeps_running_its_own(
    request, tmp_path, attack
):
    spoil, reason = ATTACKS[attack]
    report, before, after, after_restart, installed = await _offer_spoiled(request, tmp_path, spoil)
    assert report.installed == {}, report
    assert reason in report.rejected["behaviour"], report
    assert before[0] == SHIPPED
    assert after == before and after_restart == before  # same model, same scores
    assert installed == []  # nothing of the refused version was kept on the device


async def test_the_same_version_unspoiled_is_installed(request, tmp_path):
    report, before, after, after_restart, installed = await _offer_spoiled(request, tmp_path, None)
    assert report.installed == {"behaviour": NEW} and report.rejected == {}, report
    assert before[0] == SHIPPED and after[0] == NEW and after_restart[0] == NEW
    assert installed == ["behaviour.tflite"]
