"""Model updates on the device: ask, download, verify everything, install or keep the old one.

When the policy allows (Wi-Fi and charging flags), the device asks the server which version of
each model it should run (the server's staged rollout decides; the request carries the version
the device runs now, which is how it reports it), downloads a new one, and checks before the
swap: the Ed25519 signature of the manifest against the model-signing key pinned on the device
at enrollment (configuration: :func:`pin_key`, or ``public_key`` on the first check; the key
the server offers is never trusted, and a device with no key pinned downloads nothing), then
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

from edge import queries
from edge.errors import EdgeError
from edge.inference import ModelRefusedError, ModelRegistry
from edge.store import EdgeStore
from models.artifact import signing_bytes
from sync.manifest import ModelManifest

PINNED_KEY = "model_signing_key"  # device setting: base64 raw Ed25519 public key
#: Why a device with no pinned key downloads nothing.
NOT_ENROLLED = (
    "no model-signing key pinned: enroll the device with the server's public key "
    "(realty-edge device enroll --model-key, from realty-edge server model-key)"
)


class KeyPinnedError(EdgeError):
    """A model-signing key other than the one pinned at enrollment."""


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


def signer_of(public_key: bytes) -> str:
    """The name a manifest signed by ``public_key`` carries (``ed25519:<16 hex>``)."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def parse_key(text: str | bytes) -> bytes:
    """A raw 32-byte Ed25519 public key from its base64 text (or the raw bytes themselves)."""
    try:
        raw = text if isinstance(text, bytes) else base64.b64decode(text.strip(), validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise KeyPinnedError(f"not an Ed25519 public key (base64 of 32 bytes): {exc}") from exc
    return raw


def verify_signature(manifest: ModelManifest, public_key: bytes) -> None:
    """Raise ModelRefusedError unless ``manifest`` is signed by ``public_key``."""
    signer = signer_of(public_key)
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
    row = await store.fetchone(queries.SETTING, (PINNED_KEY,))
    return base64.b64decode(row[0]) if row else None


async def pin_key(store: EdgeStore, public_key: bytes, *, replace: bool = False) -> bytes:
    """Pin the model-signing key given at enrollment; the pinned key, once set, stays.

    Pinning the key already pinned changes nothing; another key is refused
    (:class:`KeyPinnedError`) unless ``replace`` (a deliberate re-enrollment).
    """
    public_key = parse_key(public_key)
    pinned = await pinned_key(store)
    if pinned is not None and pinned != public_key and not replace:
        raise KeyPinnedError(
            f"the device has pinned the model-signing key {signer_of(pinned)}; "
            f"{signer_of(public_key)} is another (re-enroll the device to change it)"
        )
    async with store.transaction() as tx:
        tx.set_setting(PINNED_KEY, base64.b64encode(public_key).decode())
    return public_key


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
        if public_key is not None:  # enrollment: pins it, or must be the key pinned already
            await pin_key(store, public_key)
        key = await pinned_key(store)
        if key is None:  # never the key the server offers: a forged server would offer its own
            report.skipped = NOT_ENROLLED
            return report
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
