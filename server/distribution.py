"""Model distribution: versions per family, Ed25519-signed manifests, staged rollout, rollback.

Everything lives in one folder (``<db>.registry/``): ``<name>/<version>/`` holds the blob and
its signed manifest, ``state.json`` says per family which version is ``stable`` (offered to
every device), which is ``latest`` (offered to ``percent`` % of devices, chosen by a hash of
the device id so a device's answer never flips between checks), and what each device last
said it runs. The signing key (Ed25519, from ``cryptography``) is created on first use.

The signature covers :func:`models.artifact.signing_bytes` of the manifest: every field but
``signature`` and ``signer``, so sha256, size, feature-spec hash, metrics and golden cases are
all signed.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from msgspec import Meta

from models.artifact import atomic_write, signing_bytes, verify_blob
from models.errors import ArtifactError
from server.errors import InvalidRequestError, NotFoundError
from sync.manifest import ModelManifest

_manifest_dec = msgspec.json.Decoder(ModelManifest)


class FamilyState(msgspec.Struct, kw_only=True):
    stable: str | None = None
    latest: str | None = None
    percent: int = 0
    versions: list[str] = []
    rolled_back: list[str] = []


class RegistryState(msgspec.Struct, kw_only=True):
    families: dict[str, FamilyState] = {}
    #: device id -> model name -> the version the device last reported running.
    devices: dict[str, dict[str, str]] = {}


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
    """The folder name of a team's models and run records (a digest of the team id)."""
    return "t-" + hashlib.sha256(team.encode()).hexdigest()[:20]


class ModelDistribution:
    """The registry folder: atomic files, and each read-modify-write of its state under a file
    lock, so the API's workers and the CLI can use one folder at once without losing updates."""

    def __init__(self, directory: Path, key_dir: Path | None = None):
        self.directory = directory
        #: Where the signing key lives: a team's scope signs with the server's one key.
        self.key_dir = key_dir or directory
        self._thread_lock = threading.Lock()

    # --- scopes: one registry per team inside the server's ---------------------------

    def for_team(self, team: str) -> ModelDistribution:
        """The team's own versions (``teams/<scope>/`` below this folder), same signing key."""
        return ModelDistribution(self.directory / "teams" / team_scope(team), self.key_dir)

    def _in_scope(self, name: str) -> bool:
        family = self._state().families.get(name)
        return family is not None and (family.stable is not None or family.latest is not None)

    def scope_of(self, team: str, name: str) -> ModelDistribution:
        """Where ``team``'s devices get ``name`` from: the team's scope once it has a version
        there (per-team training), else this one (pooled training or nothing published)."""
        scoped = self.for_team(team)
        return scoped if scoped._in_scope(name) else self

    def offer_for(self, team: str, name: str, device_id: str, running: str | None) -> Offer:
        """:meth:`offer` from the scope that serves ``team``."""
        return self.scope_of(team, name).offer(name, device_id, running)

    def holding(self, team: str, name: str, version: str) -> ModelDistribution:
        """The scope that holds ``version`` of ``name`` for ``team`` (the team's first)."""
        scoped = self.for_team(team)
        return scoped if scoped.has_version(name, version) else self

    def serving(self, team: str, name: str) -> tuple[ModelDistribution, str] | None:
        """The stable version the server computes with for ``team`` and its scope (``None``:
        the shipped model); devices in a staged rollout may run the latest meanwhile."""
        for scope in (self.for_team(team), self):
            family = scope._state().families.get(name)
            if family is not None and family.stable is not None:
                return scope, family.stable
        return None

    @contextlib.contextmanager
    def _file_lock(self, name: str, folder: Path | None = None) -> Iterator[None]:
        """``name`` in the folder, held exclusively (by any process or instance) for the block."""
        folder = folder or self.directory
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / name).open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        """One state change at a time: this process's threads and every other process."""
        with self._thread_lock, self._file_lock(".state.lock"):
            yield

    # --- keys ----------------------------------------------------------------------

    def _key(self) -> Ed25519PrivateKey:
        path = self.key_dir / "signing_ed25519.pem"
        if not path.exists():
            with self._file_lock(
                ".key.lock", self.key_dir
            ):  # two workers signing first make one key
                if not path.exists():
                    pem = Ed25519PrivateKey.generate().private_bytes(
                        serialization.Encoding.PEM,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    )
                    atomic_write(path, pem, mode=0o600)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        return key

    def public_key(self) -> bytes:
        return (
            self._key()
            .public_key()
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )

    def signer(self) -> str:
        return "ed25519:" + hashlib.sha256(self.public_key()).hexdigest()[:16]

    def signing_key_info(self) -> SigningKeyInfo:
        return SigningKeyInfo(
            signer=self.signer(), public_key=base64.b64encode(self.public_key()).decode()
        )

    def sign(self, manifest: ModelManifest) -> ModelManifest:
        signature = self._key().sign(signing_bytes(manifest))
        return msgspec.structs.replace(
            manifest, signature=base64.b64encode(signature).decode(), signer=self.signer()
        )

    # --- state -----------------------------------------------------------------------

    def _state(self) -> RegistryState:
        path = self.directory / "state.json"
        if not path.exists():
            return RegistryState()
        return msgspec.json.decode(path.read_bytes(), type=RegistryState)

    def _save(self, state: RegistryState) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write(self.directory / "state.json", msgspec.json.encode(state))

    def _family(self, state: RegistryState, name: str) -> FamilyState:
        family = state.families.get(name)
        if family is None:
            raise NotFoundError(f"no model family {name!r} in the registry", path="path.name")
        return family

    # --- publishing ------------------------------------------------------------------

    def publish(self, blob: bytes, manifest: ModelManifest, percent: int = 100) -> ModelManifest:
        """Sign and store a version; offer it to ``percent`` % of devices (100: everyone)."""
        if not 0 <= percent <= 100:
            raise InvalidRequestError(f"rollout percent {percent} is not in 0..100", path="percent")
        try:
            verify_blob(blob, manifest, manifest.feature_spec_hash)
        except ArtifactError as exc:
            raise InvalidRequestError(str(exc), path="blob") from exc
        signed = self.sign(manifest)
        folder = self.directory / manifest.name / manifest.version
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "model.tflite", blob)
        atomic_write(folder / "manifest.json", msgspec.json.encode(signed))
        with self._lock():
            state = self._state()
            family = state.families.setdefault(manifest.name, FamilyState())
            if manifest.version not in family.versions:
                family.versions.append(manifest.version)
            if percent >= 100:
                family.stable, family.latest, family.percent = manifest.version, None, 0
            else:
                family.latest, family.percent = manifest.version, percent
            self._save(state)
        return signed

    def set_rollout(self, name: str, percent: int) -> FamilyInfo:
        """Widen or narrow the latest version's rollout; 100 makes it the stable version."""
        if not 0 <= percent <= 100:
            raise InvalidRequestError(f"rollout percent {percent} is not in 0..100", path="percent")
        with self._lock():
            state = self._state()
            family = self._family(state, name)
            if family.latest is None:
                raise InvalidRequestError(f"{name} has no version in rollout", path="name")
            if percent >= 100:
                family.stable, family.latest, family.percent = family.latest, None, 0
            else:
                family.percent = percent
            self._save(state)
        return self.family(name)

    def rollback(self, name: str) -> FamilyInfo:
        """Withdraw the version in rollout (or, with none, the stable one for the one before)."""
        with self._lock():
            state = self._state()
            family = self._family(state, name)
            if family.latest is not None:
                family.rolled_back.append(family.latest)
                family.latest, family.percent = None, 0
            elif family.stable is not None:
                family.rolled_back.append(family.stable)
                good = [v for v in family.versions if v not in family.rolled_back]
                family.stable = good[-1] if good else None
            else:
                raise InvalidRequestError(f"{name} has nothing to roll back", path="name")
            self._save(state)
        return self.family(name)

    def withdraw(self, name: str, versions: list[str]) -> None:
        """Mark ``versions`` of ``name`` as never to be offered again (a rollback skips them)."""
        with self._lock():
            state = self._state()
            family = state.families.get(name)
            if family is None:
                return
            family.rolled_back.extend(v for v in versions if v not in family.rolled_back)
            self._save(state)

    # --- reading ---------------------------------------------------------------------

    def family(self, name: str) -> FamilyInfo:
        f = self._family(self._state(), name)
        return FamilyInfo(
            name=name,
            stable=f.stable,
            latest=f.latest,
            percent=f.percent,
            versions=f.versions,
            rolled_back=f.rolled_back,
        )

    def families(self) -> list[FamilyInfo]:
        return [self.family(name) for name in sorted(self._state().families)]

    def current_dir(self, name: str) -> Path | None:
        """The folder of the stable version (``None``: the shipped model is current)."""
        state = self._state()
        family = state.families.get(name)
        if family is None or family.stable is None:
            return None
        return self.directory / name / family.stable

    def offer(self, name: str, device_id: str, running: str | None = None) -> Offer:
        """The version ``device_id`` should run; records what it says it runs."""
        with self._lock():
            state = self._state()
            if running:
                state.devices.setdefault(device_id, {})[name] = running
                self._save(state)
        family = state.families.get(name)
        if family is None:
            return Offer(name=name, version=None)
        version = family.stable
        if family.latest is not None and bucket(name, device_id) < family.percent:
            version = family.latest
        if version is None:
            return Offer(name=name, version=None)
        return Offer(name=name, version=version, manifest=self.manifest(name, version))

    def device_versions(self, device_id: str) -> dict[str, str]:
        return dict(self._state().devices.get(device_id, {}))

    def manifest(self, name: str, version: str) -> ModelManifest:
        path = self._path(name, version) / "manifest.json"
        return _manifest_dec.decode(path.read_bytes())

    def blob(self, name: str, version: str) -> bytes:
        return (self._path(name, version) / "model.tflite").read_bytes()

    def has_version(self, name: str, version: str) -> bool:
        family = self._state().families.get(name)
        return family is not None and version in family.versions

    def _path(self, name: str, version: str) -> Path:
        folder = self.directory / name / version
        state = self._state()
        if name not in state.families or version not in state.families[name].versions:
            raise NotFoundError(f"no version {version!r} of model {name!r}", path="path.version")
        return folder


__all__ = ["ModelDistribution", "Offer", "bucket", "team_scope"]
