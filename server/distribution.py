"""Model distribution: versions per family, Ed25519-signed manifests, staged rollout, rollback.

Everything lives in the server's store (:mod:`server.storage`), so every worker of every host
sees one registry: each published version (blob, signed manifest, drift reference) in
``model_versions``; per scope and family which version is ``stable`` (offered to every
device), which is ``latest`` (offered to ``percent`` % of devices, chosen by a hash of the
device id so a device's answer never flips between checks) and which were rolled back, in
``model_families``; what each device last said it runs, in ``device_models``. Every change
is one transaction that first takes the registry's lock (:meth:`ServerTx.lock_registry`), so
two promotions or rollbacks at once apply one after the other and lose nothing.

A worker keeps what it read of the families (per scope) until the registry's change counter
moves: one small read per question tells whether another worker changed anything. Blobs are
served from the store; when a process needs a file (the training subprocess), it materializes
the version in ``<directory>/cache/<sha256>.tflite``, checked against the signed manifest.

The signing key (Ed25519, from ``cryptography``) is created in the store on first use. The
signature covers :func:`models.artifact.signing_bytes` of the manifest: every field but
``signature`` and ``signer``, so sha256, size, feature-spec hash, metrics and golden cases
are all signed.

A registry folder of an older version (``state.json``, ``<name>/<version>/``, the key file)
found in ``directory`` is imported once, on first use (:mod:`server.registry_import`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from msgspec import Meta

from models.artifact import atomic_write, signing_bytes, verify_blob
from models.errors import ArtifactError
from server.errors import InvalidRequestError, NotFoundError
from server.storage import ModelFamilyRow, ModelVersionRow, ServerStore, ServerTx
from sync.clock import wall_clock_ms
from sync.manifest import ModelManifest

_manifest_dec = msgspec.json.Decoder(ModelManifest)

#: The scope of the server's own models, served to every team without a version of its own
#: (also the scope of retraining runs on every team's data).
POOLED = "pooled"
#: The store's name of the model-signing key (PEM, PKCS8).
MODEL_SIGNING_KEY = "model-signing-ed25519"
#: The store's name of the key that pseudonymizes training exports (:mod:`server.retrain`).
PSEUDONYM_KEY = "pseudonym"


class FamilyState(msgspec.Struct, kw_only=True):
    stable: str | None = None
    latest: str | None = None
    percent: int = 0
    versions: list[str] = []
    rolled_back: list[str] = []


class Offer(msgspec.Struct, frozen=True, kw_only=True):
    """What one device should run for one family (``version`` None: the shipped model)."""

    name: str
    version: str | None
    manifest: ModelManifest | None = None


class FamilyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One model family: what the registry offers devices, and what this server runs."""

    name: str
    stable: Annotated[
        str | None, Meta(description="Version offered to every device (None: the shipped one)")
    ]
    latest: Annotated[str | None, Meta(description="Version in staged rollout, if any")]
    percent: Annotated[int, Meta(description="Share of devices (0..100) offered latest")]
    versions: list[str]
    rolled_back: list[str]
    running: Annotated[
        str | None,
        Meta(description="Version this server computes with (as /health lists it)"),
    ] = None


class SigningKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    signer: str
    public_key: str  # raw Ed25519 public key, base64


def bucket(name: str, device_id: str) -> int:
    """The device's rollout bucket (0..99) for ``name``; stable across calls."""
    return int(hashlib.sha256(f"{name}:{device_id}".encode()).hexdigest()[:8], 16) % 100


def team_scope(team: str) -> str:
    """The scope of a team's models and run records (a digest of the team id)."""
    return "t-" + hashlib.sha256(team.encode()).hexdigest()[:20]


def _new_key_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _info(name: str, family: FamilyState) -> FamilyInfo:
    return FamilyInfo(
        name=name,
        stable=family.stable,
        latest=family.latest,
        percent=family.percent,
        versions=list(family.versions),
        rolled_back=list(family.rolled_back),
    )


class _Shared:
    """What every scope of one registry shares in this process: the key, the cached families
    (valid at change count ``seen``) and whether an older registry folder was imported."""

    def __init__(self) -> None:
        self.key: Ed25519PrivateKey | None = None
        self.seen = -1
        self.scopes: dict[str, dict[str, FamilyState]] = {}
        self.ready = False
        self.ready_lock: asyncio.Lock | None = None


class ModelDistribution:
    """The model registry of one scope (``pooled``, or a team's) on the server's store.

    ``directory`` is this host's folder for materialized blobs (``cache/``), the training's
    base-corpus cache, and where an older version's registry folder is looked for.
    """

    def __init__(
        self,
        store: ServerStore,
        directory: Path,
        *,
        scope: str = POOLED,
        _shared: _Shared | None = None,
    ):
        self.store = store
        self.directory = directory
        self.scope = scope
        self._shared = _shared or _Shared()

    @property
    def cache_dir(self) -> Path:
        return self.directory / "cache"

    # --- scopes: one registry per team inside the server's ---------------------------

    def for_team(self, team: str) -> ModelDistribution:
        """The team's own versions (same store, signing key and cache)."""
        return ModelDistribution(
            self.store, self.directory, scope=team_scope(team), _shared=self._shared
        )

    @property
    def root(self) -> ModelDistribution:
        """The pooled scope of this registry."""
        if self.scope == POOLED:
            return self
        return ModelDistribution(self.store, self.directory, _shared=self._shared)

    async def scope_of(self, team: str, name: str) -> ModelDistribution:
        """Where ``team``'s devices get ``name`` from: the team's scope once it has a version
        there (per-team training), else this one (pooled training or nothing published)."""
        scoped = self.for_team(team)
        family = (await scoped._families()).get(name)
        in_scope = family is not None and (family.stable is not None or family.latest is not None)
        return scoped if in_scope else self

    async def offer_for(self, team: str, name: str, device_id: str, running: str | None) -> Offer:
        """:meth:`offer` from the scope that serves ``team``."""
        return await (await self.scope_of(team, name)).offer(name, device_id, running)

    async def holding(self, team: str, name: str, version: str) -> ModelDistribution:
        """The scope that holds ``version`` of ``name`` for ``team`` (the team's first)."""
        scoped = self.for_team(team)
        return scoped if await scoped.has_version(name, version) else self

    async def serving(self, team: str, name: str) -> tuple[ModelDistribution, str] | None:
        """The stable version the server computes with for ``team`` and its scope (``None``:
        the shipped model); devices in a staged rollout may run the latest meanwhile."""
        return (await self.served(team, (name,)))[name]

    async def served(
        self, team: str | None, names: tuple[str, ...]
    ) -> dict[str, tuple[ModelDistribution, str] | None]:
        """:meth:`serving` of each of ``names`` for ``team`` (``None``: the pooled scope's
        stable versions), from one look at the registry's change counter."""
        await self._fresh()
        scopes = [self.root] if team is None else [self.for_team(team), self.root]
        out: dict[str, tuple[ModelDistribution, str] | None] = dict.fromkeys(names)
        for scope in reversed(scopes):  # the team's stable version wins over the pooled one
            families = await scope._families(check=False)
            for name in names:
                family = families.get(name)
                if family is not None and family.stable is not None:
                    out[name] = (scope, family.stable)
        return out

    # --- the cache of the families -------------------------------------------------------

    async def ready(self) -> None:
        """Import an older version's registry folder, once per process (idempotent)."""
        shared = self._shared
        if shared.ready:
            return
        shared.ready_lock = shared.ready_lock or asyncio.Lock()
        async with shared.ready_lock:
            if not shared.ready:
                from server.registry_import import import_folder

                await import_folder(self.store, self.directory)
                shared.ready = True

    async def _fresh(self) -> None:
        """Forget the cached families when another worker (or this one) changed the registry."""
        await self.ready()
        changes = await self.store.registry_changes()
        if changes != self._shared.seen:
            self._shared.scopes = {}
            self._shared.seen = changes

    async def _families(self, *, check: bool = True) -> dict[str, FamilyState]:
        """name -> state of every family of this scope (cached until the registry changes)."""
        if check:
            await self._fresh()
        shared = self._shared
        cached = shared.scopes.get(self.scope)
        if cached is not None:
            return cached
        seen, scopes = shared.seen, shared.scopes
        rows = await self.store.model_families(self.scope)
        families = {
            r.family: FamilyState(
                stable=r.stable,
                latest=r.latest,
                percent=r.percent,
                versions=r.versions,
                rolled_back=r.rolled_back,
            )
            for r in rows
        }
        if shared.seen == seen and shared.scopes is scopes:  # no change noticed meanwhile
            scopes[self.scope] = families
        return families

    def _changed(self) -> None:
        """This process changed the registry: its cache is read again at the next question."""
        self._shared.seen = -1
        self._shared.scopes = {}

    # --- keys ----------------------------------------------------------------------

    async def _key(self) -> Ed25519PrivateKey:
        shared = self._shared
        if shared.key is None:
            await self.ready()  # an older folder's key is the key devices pinned
            pem = await self.store.named_key(MODEL_SIGNING_KEY, _new_key_pem())
            key = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(key, Ed25519PrivateKey)
            shared.key = key
        return shared.key

    async def public_key(self) -> bytes:
        return (
            (await self._key())
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    async def signer(self) -> str:
        return "ed25519:" + hashlib.sha256(await self.public_key()).hexdigest()[:16]

    async def signing_key_info(self) -> SigningKeyInfo:
        public = await self.public_key()
        return SigningKeyInfo(
            signer=await self.signer(), public_key=base64.b64encode(public).decode()
        )

    async def sign(self, manifest: ModelManifest) -> ModelManifest:
        key = await self._key()
        signature = key.sign(signing_bytes(manifest))
        return msgspec.structs.replace(
            manifest, signature=base64.b64encode(signature).decode(), signer=await self.signer()
        )

    # --- publishing ------------------------------------------------------------------

    async def publish(
        self,
        blob: bytes,
        manifest: ModelManifest,
        percent: int = 100,
        *,
        reference: bytes | None = None,
    ) -> ModelManifest:
        """Sign and store a version (with its drift ``reference``, if any); offer it to
        ``percent`` % of devices (100: everyone)."""
        if not 0 <= percent <= 100:
            raise InvalidRequestError(f"rollout percent {percent} is not in 0..100", path="percent")
        try:
            verify_blob(blob, manifest, manifest.feature_spec_hash)
        except ArtifactError as exc:
            raise InvalidRequestError(str(exc), path="blob") from exc
        signed = await self.sign(manifest)
        row = ModelVersionRow(
            scope=self.scope,
            family=manifest.name,
            version=manifest.version,
            manifest=msgspec.json.encode(signed),
            sha256=manifest.sha256,
            created_at=wall_clock_ms(),
            blob=blob,
            reference=reference,
        )

        def publish(tx: ServerTx) -> None:
            tx.lock_registry()
            tx.add_model_version(row)
            family = tx.model_family(self.scope, manifest.name) or ModelFamilyRow(
                scope=self.scope, family=manifest.name
            )
            if percent >= 100:
                family.stable, family.latest, family.percent = manifest.version, None, 0
            else:
                family.latest, family.percent = manifest.version, percent
            tx.save_model_family(family)

        await self._write(publish)
        return signed

    async def _write(self, fn: Callable[[ServerTx], None]) -> None:
        """Run a registry change in one transaction; this process's cache is read again."""
        await self.ready()
        try:
            await self.store.write(fn)
        finally:
            self._changed()

    def _family_in(self, tx: ServerTx, name: str) -> ModelFamilyRow:
        family = tx.model_family(self.scope, name)
        if family is None:
            raise NotFoundError(f"no model family {name!r} in the registry", path="path.name")
        return family

    async def set_rollout(self, name: str, percent: int) -> FamilyInfo:
        """Widen or narrow the latest version's rollout; 100 makes it the stable version."""
        if not 0 <= percent <= 100:
            raise InvalidRequestError(f"rollout percent {percent} is not in 0..100", path="percent")

        def rollout(tx: ServerTx) -> None:
            tx.lock_registry()
            family = self._family_in(tx, name)
            if family.latest is None:
                raise InvalidRequestError(f"{name} has no version in rollout", path="name")
            if percent >= 100:
                family.stable, family.latest, family.percent = family.latest, None, 0
            else:
                family.percent = percent
            tx.save_model_family(family)

        await self._write(rollout)
        return await self.family(name)

    async def rollback(self, name: str) -> FamilyInfo:
        """Withdraw the version in rollout (or, with none, the stable one for the one before)."""

        def rollback(tx: ServerTx) -> None:
            tx.lock_registry()
            family = self._family_in(tx, name)
            if family.latest is not None:
                family.rolled_back.append(family.latest)
                family.latest, family.percent = None, 0
            elif family.stable is not None:
                family.rolled_back.append(family.stable)
                good = [v for v in family.versions if v not in family.rolled_back]
                family.stable = good[-1] if good else None
            else:
                raise InvalidRequestError(f"{name} has nothing to roll back", path="name")
            tx.save_model_family(family)

        await self._write(rollback)
        return await self.family(name)

    async def withdraw(self, name: str, versions: list[str] | None = None) -> None:
        """Mark ``versions`` of ``name`` (``None``: every one published so far) as never to
        be offered again (a rollback skips them)."""

        def withdraw(tx: ServerTx) -> None:
            tx.lock_registry()
            family = tx.model_family(self.scope, name)
            if family is None:
                return
            gone = family.versions if versions is None else versions
            family.rolled_back.extend(v for v in gone if v not in family.rolled_back)
            tx.save_model_family(family)

        await self._write(withdraw)

    # --- reading ---------------------------------------------------------------------

    async def family(self, name: str) -> FamilyInfo:
        family = (await self._families()).get(name)
        if family is None:
            raise NotFoundError(f"no model family {name!r} in the registry", path="path.name")
        return _info(name, family)

    async def families(self) -> list[FamilyInfo]:
        families = await self._families()
        return [_info(name, families[name]) for name in sorted(families)]

    async def stable(self, name: str) -> str | None:
        """The stable version of ``name`` in this scope (``None``: the shipped model)."""
        family = (await self._families()).get(name)
        return None if family is None else family.stable

    async def offer(self, name: str, device_id: str, running: str | None = None) -> Offer:
        """The version ``device_id`` should run; records what it says it runs."""
        if running:
            now = wall_clock_ms()
            await self.ready()
            await self.store.write(lambda tx: tx.report_model(device_id, name, running, now))
        family = (await self._families()).get(name)
        if family is None:
            return Offer(name=name, version=None)
        version = family.stable
        if family.latest is not None and bucket(name, device_id) < family.percent:
            version = family.latest
        if version is None:
            return Offer(name=name, version=None)
        return Offer(name=name, version=version, manifest=await self.manifest(name, version))

    async def device_versions(self, device_id: str) -> dict[str, str]:
        await self.ready()
        return await self.store.device_models(device_id)

    async def _version(self, name: str, version: str, *, blob: bool = False) -> ModelVersionRow:
        await self.ready()
        row = await self.store.model_version(self.scope, name, version, blob=blob)
        if row is None:
            raise NotFoundError(f"no version {version!r} of model {name!r}", path="path.version")
        return row

    async def manifest(self, name: str, version: str) -> ModelManifest:
        return _manifest_dec.decode((await self._version(name, version)).manifest)

    async def blob(self, name: str, version: str) -> bytes:
        blob = (await self._version(name, version, blob=True)).blob
        assert blob is not None
        return blob

    async def reference(self, name: str, version: str) -> bytes | None:
        """The training score distribution of ``version`` (``None``: it has none)."""
        return (await self._version(name, version)).reference

    async def has_version(self, name: str, version: str) -> bool:
        family = (await self._families()).get(name)
        return family is not None and version in family.versions

    async def materialize(self, name: str, version: str) -> Path:
        """A local file of ``version``'s blob (``cache/<sha256>.tflite``), checked against
        its signed manifest (signature, size, sha256) before it is handed out; raises
        :class:`~models.errors.ArtifactError` naming what does not match."""
        manifest = await self.manifest(name, version)
        public = await self.public_key()
        path = self.cache_dir / f"{manifest.sha256}.tflite"

        def check(blob: bytes) -> None:
            from edge.inference import ModelRefusedError
            from edge.model_updates import verify_signature

            try:
                verify_signature(manifest, public)
            except ModelRefusedError as exc:
                raise ArtifactError(str(exc)) from exc
            verify_blob(blob, manifest, manifest.feature_spec_hash)

        def cached() -> bool:
            if not path.exists():
                return False
            try:
                check(path.read_bytes())
            except ArtifactError:  # a damaged cache file is fetched again
                return False
            return True

        if await asyncio.to_thread(cached):
            return path
        blob = await self.blob(name, version)

        def store() -> None:
            check(blob)
            atomic_write(path, blob)

        await asyncio.to_thread(store)
        return path


__all__ = ["POOLED", "FamilyInfo", "ModelDistribution", "Offer", "bucket", "team_scope"]
