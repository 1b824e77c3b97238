"""The device installs only models signed by the key pinned at enrollment, whatever a server
offers: a server with another signing key is refused and the device keeps its model."""

from __future__ import annotations

import base64
import json

import msgspec
import pytest

from edge.model_updates import NOT_ENROLLED, KeyPinnedError, UpdatePolicy
from edge.runtime import EdgeRuntime
from models.artifact import ARTIFACT_DIR, read_manifest
from server.distribution import ModelDistribution
from server.storage import open_store
from tests.live_server import registry_of, run_server

SHIPPED = read_manifest(ARTIFACT_DIR, "behaviour").version


async def publish(reg: ModelDistribution, version: str):
    """The shipped behaviour model republished (and signed by ``reg``) under ``version``."""
    blob = (ARTIFACT_DIR / "behaviour.tflite").read_bytes()
    manifest = msgspec.structs.replace(read_manifest(ARTIFACT_DIR, "behaviour"), version=version)
    return await reg.publish(blob, manifest)


async def test_a_server_with_another_signing_key_is_refused_and_the_model_kept(tmp_path):
    with (
        run_server(tmp_path / "ours.db") as ours,
        run_server(tmp_path / "impostor.db") as impostor,
    ):
        async with registry_of(ours) as our_reg, registry_of(impostor) as their_reg:
            await _refused_then_installed(tmp_path, ours, impostor, our_reg, their_reg)


async def _refused_then_installed(tmp_path, ours, impostor, our_reg, their_reg) -> None:
    """Refused from the impostor, installed from ours, whatever key the phone is handed."""
    our_key, their_key = await our_reg.public_key(), await their_reg.public_key()
    assert our_key != their_key
    await publish(their_reg, "9.5.0-impostor")
    device = await EdgeRuntime.open(tmp_path / "phone.db")
    try:
        # Not enrolled: nothing is downloaded, and the key the server offers is not pinned.
        report = await device.check_model_updates(impostor.url, impostor.token())
        assert report.skipped == NOT_ENROLLED and not report.installed
        assert await device.pinned_model_key() is None

        signer = await device.enroll_model_key(base64.b64encode(our_key).decode())
        assert signer == await our_reg.signer()
        report = await device.check_model_updates(impostor.url, impostor.token(), UpdatePolicy())
        assert "the pinned key is" in report.rejected["behaviour"], report
        assert not report.installed
        assert device.model_manifest("behaviour").version == SHIPPED
        # Handing the other key at a later check is refused too: the pin stays.
        with pytest.raises(KeyPinnedError, match="re-enroll"):
            await device.check_model_updates(impostor.url, impostor.token(), public_key=their_key)
        assert await device.pinned_model_key() == our_key

        await publish(our_reg, "9.5.1-ours")  # the enrolled server's model installs
        report = await device.check_model_updates(ours.url, ours.token(), UpdatePolicy())
        assert report.installed == {"behaviour": "9.5.1-ours"}, report
        # A deliberate re-enrollment may change the key.
        await device.enroll_model_key(their_key, replace=True)
        assert await device.pinned_model_key() == their_key
    finally:
        await device.close()


async def test_the_cli_prints_the_key_and_enrolls_a_device_with_it(tmp_path):
    from tests.server.test_cli import run

    db = str(tmp_path / "s.db")
    info = json.loads(run("server", "model-key", "--db", db).stdout)
    phone = str(tmp_path / "phone.db")
    run("device", "init", phone)
    out = run("device", "enroll", phone, "--model-key", info["public_key"]).stdout
    assert info["signer"] in out
    async with open_store(tmp_path / "other.db") as store:
        other = (await ModelDistribution(store, tmp_path / "o").signing_key_info()).public_key
    refused = run("device", "enroll", phone, "--model-key", other, ok=False)
    assert refused.returncode == 1 and "re-enroll" in refused.stderr
    bad = run("device", "enroll", phone, "--model-key", "not-a-key", ok=False)
    assert bad.returncode == 1 and "not an Ed25519 public key" in bad.stderr
