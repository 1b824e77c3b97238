"""Model updates on the device: ask, download, verify everything, install or keep the old one.

When the policy allows (Wi-Fi and charging flags), the device asks the server which version of
each model it should run (the server's staged rollout decides; the request carries the version
the device runs now, which is how it reports it), downloads a new one, and checks before the
swap: the Ed25519 signature of the manifest against the server key pinned on the device (from
configuration, or trusted on the first check and never changed after), then
:meth:`edge.inference.ModelRegistry.install` checks sha256, size and feature-spec hash, runs the
canary on the golden cases in a sandbox and swaps atomically, keeping the previous version.
When the server offers the version the device ran before (a rollback), the device goes back to
it. A refused model changes nothing on the device.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

import httpx
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.errors import EdgeError
from edge.inference import ModelRefusedError, ModelRegistry
from edge.store import EdgeStore
from models.artifact import signing_bytes
from sync.manifest import ModelManifest

PINNED_KEY = "model_signing_key"  # device setting: base64 raw Ed25519 public key
#: The models a device asks about (the two personalization towers are retrained and promoted
#: together, under one version; each is verified on its own).
FAMILIES = (
    "behaviour",
    "intervention",
    "language",
    "personalization_lead",
    "personalization_listing",
)


class UpdatePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """When the device may download models, and the conditions it is in now."""

    wifi_only: bool = True
    charging_only: bool = False
    on_wifi: bool = True
    charging: bool = False

    def allows(self) -> tuple[bool, str]:
        if self.wifi_only and not self.on_wifi:
            return False, "not on Wi-Fi"
        if self.charging_only and not self.charging:
            return False, "not charging"
        return True, ""


class UpdateReport(msgspec.Struct, kw_only=True):
    checked: list[str] = []
    installed: dict[str, str] = {}
    rolled_back: dict[str, str] = {}
    rejected: dict[str, str] = {}
    skipped: str = ""
    running: dict[str, str] = {}


class _Offer(msgspec.Struct, kw_only=True):
    name: str
    version: str | None
    manifest: ModelManifest | None = None


class _KeyInfo(msgspec.Struct, kw_only=True):
    signer: str
    public_key: str


def verify_signature(manifest: ModelManifest, public_key: bytes) -> None:
    """Raise ModelRefusedError unless ``manifest`` is signed by ``public_key``."""
    signer = "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]
    if manifest.signer != signer:
        raise ModelRefusedError(
            f"model {manifest.name} {manifest.version}: signed by {manifest.signer!r}, "
            f"the pinned key is {signer!r}"
        )
    try:
        signature = base64.b64decode(manifest.signature, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signing_bytes(manifest))
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise ModelRefusedError(
            f"model {manifest.name} {manifest.version}: bad manifest signature"
        ) from exc


async def pinned_key(store: EdgeStore) -> bytes | None:
    row = await store.fetchone("SELECT value FROM settings WHERE key = ?", (PINNED_KEY,))
    return base64.b64decode(row[0]) if row else None


async def pin_key(store: EdgeStore, public_key: bytes) -> None:
    async with store.transaction():
        await store._db.execute(  # one settings row, in the store's write transaction
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
            (PINNED_KEY, base64.b64encode(public_key).decode()),
        )


def _running(models: ModelRegistry, name: str) -> str:
    return models.get(name).manifest.version


async def check_model_updates(
    store: EdgeStore,
    models: ModelRegistry,
    server_url: str,
    token: str,
    policy: UpdatePolicy | None = None,
    *,
    public_key: bytes | None = None,
    families: tuple[str, ...] = FAMILIES,
    client: httpx.AsyncClient | None = None,
) -> UpdateReport:
    """Check, download, verify and install new model versions (see the module docstring)."""
    policy = policy or UpdatePolicy()
    report = UpdateReport()
    allowed, why = policy.allows()
    if not allowed:
        report.skipped = why
        return report
    own = client is None
    http = client or httpx.AsyncClient(
        base_url=server_url, headers={"authorization": f"Bearer {token}"}, timeout=120
    )
    try:
        key = public_key or await pinned_key(store)
        if key is None:
            response = await http.get("/api/v1/advanced/models/signing-key")
            response.raise_for_status()
            key = base64.b64decode(msgspec.json.decode(response.content, type=_KeyInfo).public_key)
            await pin_key(store, key)
        for name in families:
            report.checked.append(name)
            running = _running(models, name)
            response = await http.get(
                f"/api/v1/advanced/models/{name}/offer",
                params={"device_id": store.device_id, "running": running},
            )
            response.raise_for_status()
            offer = msgspec.json.decode(response.content, type=_Offer)
            if offer.version is None:
                if name in models._state().active:  # withdrawn: back to what ran before
                    report.rolled_back[name] = models.rollback(name)
                continue
            if offer.version == running:
                continue
            if offer.version == models._state().previous.get(name):
                report.rolled_back[name] = models.rollback(name)
                continue
            if offer.manifest is None:
                report.rejected[name] = "the offer carries no manifest"
                continue
            try:
                verify_signature(offer.manifest, key)
                blob = await http.get(f"/api/v1/advanced/models/{name}/{offer.version}/blob")
                blob.raise_for_status()
                models.install(blob.content, offer.manifest)
                report.installed[name] = offer.version
            except (EdgeError, httpx.HTTPStatusError) as exc:
                report.rejected[name] = str(exc)
        report.running = {name: _running(models, name) for name in families}
        return report
    finally:
        if own:
            await http.aclose()
