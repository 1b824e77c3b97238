"""Model artifacts on disk: a ``.tflite`` blob beside its ``.manifest.json``.

No TensorFlow here: the device and the server both read artifacts through this module.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path

import msgspec

from models.errors import ArtifactError
from sync.manifest import GoldenCase, ModelManifest, TensorSpec

#: Where the shipped default models live.
ARTIFACT_DIR = Path(__file__).resolve().parent / "artifacts"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def model_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.tflite"


def manifest_path(directory: Path, name: str) -> Path:
    return directory / f"{name}.manifest.json"


def build_manifest(
    name: str,
    blob: bytes,
    *,
    version: str,
    feature_spec_hash: str,
    inputs: list[TensorSpec] | None = None,
    outputs: list[TensorSpec] | None = None,
    labels: list[str] | None = None,
    metrics: dict[str, float] | None = None,
    golden: list[GoldenCase] | None = None,
) -> ModelManifest:
    """The manifest of ``blob``, with its hash and size computed here."""
    return ModelManifest(
        name=name,
        version=version,
        sha256=sha256_hex(blob),
        size=len(blob),
        feature_spec_hash=feature_spec_hash,
        inputs=inputs or [],
        outputs=outputs or [],
        labels=labels or [],
        metrics={k: float(v) for k, v in (metrics or {}).items()},
        created_at=int(time.time() * 1000),
        golden=golden or [],
    )


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never a part:
    a synced temporary file in the same folder, then a rename. ``mode`` 0o600 for secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)  # mkstemp makes files owner-only
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_artifact(directory: Path, blob: bytes, manifest: ModelManifest) -> Path:
    """Write blob then manifest, each atomically; return the model's path."""
    if sha256_hex(blob) != manifest.sha256 or len(blob) != manifest.size:
        raise ArtifactError(f"model {manifest.name}: manifest does not describe this blob")
    atomic_write(model_path(directory, manifest.name), blob)
    atomic_write(
        manifest_path(directory, manifest.name),
        msgspec.json.format(msgspec.json.encode(manifest)) + b"\n",
    )
    return model_path(directory, manifest.name)


def read_manifest(directory: Path, name: str) -> ModelManifest:
    path = manifest_path(directory, name)
    try:
        return msgspec.json.decode(path.read_bytes(), type=ModelManifest)
    except FileNotFoundError as exc:
        raise ArtifactError(f"model {name}: no manifest at {path}") from exc
    except msgspec.MsgspecError as exc:
        raise ArtifactError(f"model {name}: invalid manifest {path}: {exc}") from exc


def load_verified(
    directory: Path, name: str, expected_feature_spec_hash: str | None = None
) -> tuple[bytes, ModelManifest]:
    """Read a model and its manifest and check size, sha256 and feature-spec hash."""
    manifest = read_manifest(directory, name)
    path = model_path(directory, name)
    try:
        blob = path.read_bytes()
    except FileNotFoundError as exc:
        raise ArtifactError(f"model {name}: no model file at {path}") from exc
    verify_blob(blob, manifest, expected_feature_spec_hash)
    return blob, manifest


def verify_blob(
    blob: bytes, manifest: ModelManifest, expected_feature_spec_hash: str | None = None
) -> None:
    """Raise ArtifactError naming the model and the mismatch."""
    if len(blob) != manifest.size:
        raise ArtifactError(
            f"model {manifest.name} {manifest.version}: size {len(blob)} "
            f"!= manifest {manifest.size}"
        )
    digest = sha256_hex(blob)
    if digest != manifest.sha256:
        raise ArtifactError(
            f"model {manifest.name} {manifest.version}: sha256 {digest[:12]}… "
            f"!= manifest {manifest.sha256[:12]}…"
        )
    if (
        expected_feature_spec_hash is not None
        and manifest.feature_spec_hash != expected_feature_spec_hash
    ):
        raise ArtifactError(
            f"model {manifest.name} {manifest.version}: feature-spec hash "
            f"{manifest.feature_spec_hash} != runtime's {expected_feature_spec_hash}"
        )


def signing_bytes(manifest: ModelManifest) -> bytes:
    """The bytes a manifest's Ed25519 signature covers: every field but signature and signer."""
    return msgspec.json.encode(msgspec.structs.replace(manifest, signature="", signer=""))
