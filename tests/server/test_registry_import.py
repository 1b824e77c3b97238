"""A registry folder of an older version is imported into the store once, on first use.

The folder is written as the file-based registry wrote it (``state.json``, version folders
with blob, manifest and drift reference, a team's scope under ``teams/``, the run log, the
drift checks, the signing and pseudonym keys); the store-backed registry then serves all of
it, signs with the folder's key (the one devices pinned), and never reads the folder again.
"""

from __future__ import annotations

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from models.artifact import ARTIFACT_DIR, read_manifest, signing_bytes
from server.distribution import ModelDistribution, team_scope
from server.registry_import import MARKER
from server.retrain import drift_status, list_runs, pseudonym_key
from server.storage import open_store

BLOB = (ARTIFACT_DIR / "behaviour.tflite").read_bytes()


def old_registry(folder, key: Ed25519PrivateKey) -> None:
    import base64
    import hashlib

    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    signer = "ed25519:" + hashlib.sha256(public).hexdigest()[:16]

    def version(root, v: str, reference: bytes | None = None) -> None:
        manifest = msgspec.structs.replace(read_manifest(ARTIFACT_DIR, "behaviour"), version=v)
        signature = base64.b64encode(key.sign(signing_bytes(manifest))).decode()
        signed = msgspec.structs.replace(manifest, signature=signature, signer=signer)
        (root / "behaviour" / v).mkdir(parents=True)
        (root / "behaviour" / v / "model.tflite").write_bytes(BLOB)
        (root / "behaviour" / v / "manifest.json").write_bytes(msgspec.json.encode(signed))
        if reference is not None:
            (root / "behaviour" / v / "reference.json").write_bytes(reference)

    folder.mkdir()
    (folder / "signing_ed25519.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "pseudonym.key").write_bytes(b"p" * 32)
    version(folder, "1.0.0")
    version(folder, "1.1.0")
    (folder / "state.json").write_text(
        '{"families": {"behaviour": {"stable": "1.0.0", "latest": "1.1.0", "percent": 20,'
        ' "versions": ["1.0.0", "1.1.0"], "rolled_back": ["0.9.0"]}},'
        ' "devices": {"dev-1": {"behaviour": "1.0.0"}}}'
    )
    team = folder / "teams" / team_scope("team-a")
    team.mkdir(parents=True)
    version(team, "2.0.0", reference=b'{"edges": [0.5], "shares": [1.0]}')
    (team / "state.json").write_text(
        '{"families": {"behaviour": {"stable": "2.0.0", "versions": ["2.0.0"]}}}'
    )
    check = {
        "family": "behaviour",
        "scope": team_scope("team-a"),
        "version": "2.0.0",
        "psi": 0.4,
        "threshold": 0.25,
        "rows": 9,
        "status": "drifting",
        "checked_at": 7,
    }
    (team / "drift.json").write_bytes(msgspec.json.encode({"behaviour": check}))
    (folder / "retrain-runs.jsonl").write_text(
        '{"id": "run-1", "family": "behaviour", "started_at": 1, "finished_at": 2,'
        ' "decision": "promoted", "reason": "ok", "candidate": "2.0.0",'
        f' "scope": "{team_scope("team-a")}"}}\n'
    )


async def test_an_old_registry_folder_is_imported_once_and_served_from_the_store(tmp_path):
    key = Ed25519PrivateKey.generate()
    folder = tmp_path / "server.db.registry"
    old_registry(folder, key)
    async with open_store(tmp_path / "server.db") as store:
        registry = ModelDistribution(store, folder)
        family = await registry.family("behaviour")
        assert (family.stable, family.latest, family.percent) == ("1.0.0", "1.1.0", 20)
        assert family.versions == ["1.0.0", "1.1.0"] and family.rolled_back == ["0.9.0"]
        assert await registry.blob("behaviour", "1.1.0") == BLOB
        assert await registry.device_versions("dev-1") == {"behaviour": "1.0.0"}
        scope, version = await registry.serving("team-a", "behaviour") or (None, None)
        assert version == "2.0.0" and scope is not None
        assert await scope.reference("behaviour", "2.0.0") == b'{"edges": [0.5], "shares": [1.0]}'
        # The key devices pinned signs on; the pseudonyms of training exports do not change.
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        assert await registry.public_key() == public
        assert await pseudonym_key(registry) == b"p" * 32
        [run] = await list_runs(registry)
        assert (run.id, run.candidate) == ("run-1", "2.0.0")
        assert (await drift_status(registry, "team-a"))["behaviour"].status == "drifting"
        path = await registry.materialize("behaviour", "1.0.0")  # the old signature holds
        assert path.read_bytes() == BLOB
        assert (folder / MARKER).exists()
        await registry.rollback("behaviour")

    (folder / "state.json").write_text('{"families": {}}')  # no longer read
    async with open_store(tmp_path / "server.db") as store:
        again = ModelDistribution(store, folder)
        family = await again.family("behaviour")
        assert family.latest is None and "1.1.0" in family.rolled_back
        assert len(await list_runs(again)) == 1


async def test_a_family_the_store_has_already_is_kept(tmp_path):
    folder = tmp_path / "reg"
    old_registry(folder, Ed25519PrivateKey.generate())
    async with open_store(tmp_path / "server.db") as store:
        fresh = ModelDistribution(store, tmp_path / "elsewhere")
        await fresh.publish(BLOB, read_manifest(ARTIFACT_DIR, "behaviour"))
        mine = await fresh.public_key()
        registry = ModelDistribution(store, folder)
        assert (await registry.family("behaviour")).versions == [
            read_manifest(ARTIFACT_DIR, "behaviour").version
        ]
        assert await registry.public_key() == mine  # the store's key stays (a warning says so)
        assert (await registry.serving("team-a", "behaviour") or (None, ""))[1] == "2.0.0"
