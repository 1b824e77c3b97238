"""The device's models: verified before use, interpreters reused, swapped atomically.

Models come from the device's own model directory (versions it downloaded) and fall back to
the artifacts shipped with the package. Before a model is used or installed, its blob must
match its manifest (size, sha256), its feature-spec hash must match the runtime's, the TFLite
interpreter must load it, and its golden cases must give the expected outputs. A model that
fails any check is refused with an error naming the model and the mismatch, and the version in
use stays in use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec
import numpy as np

from edge.errors import EdgeError
from models.artifact import ARTIFACT_DIR, load_verified, verify_blob
from models.errors import ArtifactError
from models.tflite import TFLiteModel
from sync.manifest import ModelManifest


class ModelRefusedError(EdgeError):
    """A model that failed verification; the one in use is kept."""


def canary(model: TFLiteModel) -> None:
    """Run the manifest's golden inputs; raise ModelRefusedError on a wrong output."""
    sizes = model.input_sizes
    for i, case in enumerate(model.manifest.golden):
        flat = np.asarray(case.input, dtype=np.float32)
        if flat.size != sum(sizes):
            raise ModelRefusedError(
                f"model {model.name} {model.manifest.version}: golden case {i} has "
                f"{flat.size} input values, the model takes {sum(sizes)} per row"
            )
        # one row per input: a multi-input model's case is its inputs' rows, concatenated
        cuts = np.cumsum(sizes)[:-1]
        got = model.predict(*(part[None] for part in np.split(flat, cuts)))[0].reshape(-1)
        want = np.asarray(case.output, dtype=np.float32).reshape(-1)
        if got.shape != want.shape or not np.allclose(got, want, atol=case.tolerance):
            raise ModelRefusedError(
                f"model {model.name} {model.manifest.version}: golden case {i} gave "
                f"{np.round(got, 4).tolist()}, expected {np.round(want, 4).tolist()} "
                f"± {case.tolerance}"
            )


#: The TFLite flatbuffer file identifier, at bytes 4..8.
TFLITE_IDENTIFIER = b"TFL3"


def _sandbox_main() -> None:  # pragma: no cover - runs in the child process
    """Child side of :func:`sandbox_check`: load the model, run its canary, exit 0 or 3."""
    directory = Path(sys.argv[1])
    manifest = msgspec.json.decode((directory / "manifest.json").read_bytes(), type=ModelManifest)
    try:
        canary(TFLiteModel((directory / "model.tflite").read_bytes(), manifest))
    except (EdgeError, ArtifactError) as exc:
        print(exc, file=sys.stderr)
        sys.exit(3)


def sandbox_check(blob: bytes, manifest: ModelManifest, timeout_s: float = 60) -> None:
    """Load the model and run its canary in a child process first.

    A malformed flatbuffer can crash the TFLite interpreter outright (a segmentation fault, not
    an exception); a download must never be able to take the app down with it.
    """
    if blob[4:8] != TFLITE_IDENTIFIER:
        raise ModelRefusedError(
            f"model {manifest.name} {manifest.version}: not a TFLite flatbuffer "
            f"(identifier {blob[4:8]!r}, expected {TFLITE_IDENTIFIER!r})"
        )
    with tempfile.TemporaryDirectory(prefix="realty-edge-canary-") as tmp:
        (Path(tmp) / "model.tflite").write_bytes(blob)
        (Path(tmp) / "manifest.json").write_bytes(msgspec.json.encode(manifest))
        code = "from edge.inference import _sandbox_main; _sandbox_main()"
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code, tmp],
                capture_output=True,
                text=True,
                timeout=timeout_s,
            )
        except subprocess.TimeoutExpired as exc:
            raise ModelRefusedError(
                f"model {manifest.name} {manifest.version}: canary took over {timeout_s} s"
            ) from exc
    if proc.returncode < 0:
        raise ModelRefusedError(
            f"model {manifest.name} {manifest.version}: crashed the TFLite interpreter "
            f"(signal {-proc.returncode}); refused"
        )
    if proc.returncode != 0:
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
        raise ModelRefusedError(detail)


class ActiveVersions(msgspec.Struct):
    """Which installed version of each model is in use, and the one before it."""

    active: dict[str, str] = {}
    previous: dict[str, str] = {}


class ModelRegistry:
    """Loads, verifies, caches and swaps the device's TFLite models."""

    def __init__(
        self,
        installed_dir: Path | None,
        spec_hashes: Mapping[str, Callable[[], str]],
        shipped_dir: Path = ARTIFACT_DIR,
        sandbox: bool = True,
    ):
        self.installed_dir = installed_dir
        self.sandbox = sandbox
        self.shipped_dir = shipped_dir
        self._spec_hashes = spec_hashes
        self._models: dict[str, TFLiteModel] = {}
        self._lock = threading.Lock()

    # --- where models live ---------------------------------------------------------

    def _state_path(self) -> Path | None:
        return self.installed_dir / "active.json" if self.installed_dir else None

    def _state(self) -> ActiveVersions:
        path = self._state_path()
        if path is None or not path.exists():
            return ActiveVersions()
        return msgspec.json.decode(path.read_bytes(), type=ActiveVersions)

    def _write_state(self, state: ActiveVersions) -> None:
        path = self._state_path()
        assert path is not None
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".active.")
        with os.fdopen(fd, "wb") as fh:
            fh.write(msgspec.json.encode(state))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _version_dir(self, name: str, version: str) -> Path:
        assert self.installed_dir is not None
        return self.installed_dir / name / version

    def expected_hash(self, name: str) -> str:
        try:
            return self._spec_hashes[name]()
        except KeyError as exc:
            raise ModelRefusedError(f"model {name!r} is not one this runtime knows") from exc

    # --- loading -------------------------------------------------------------------

    def _load_checked(self, directory: Path, name: str) -> TFLiteModel:
        try:
            model = TFLiteModel.load(directory, name, self.expected_hash(name))
        except ArtifactError as exc:
            raise ModelRefusedError(str(exc)) from exc
        canary(model)
        return model

    def get(self, name: str) -> TFLiteModel:
        """The model in use for ``name`` (installed version, else the shipped one)."""
        model = self._models.get(name)
        if model is not None:
            return model
        with self._lock:
            model = self._models.get(name)
            if model is None:
                model = self._load_preferred(name)
                self._models[name] = model
            return model

    def _load_preferred(self, name: str) -> TFLiteModel:
        state = self._state()
        for version in (state.active.get(name), state.previous.get(name)):
            if version and self.installed_dir:
                try:
                    return self._load_checked(self._version_dir(name, version), name)
                except ModelRefusedError:
                    continue  # a damaged download: fall back to the next good one
        return self._load_checked(self.shipped_dir, name)

    def versions(self) -> dict[str, str]:
        """Version of each model loaded so far."""
        return {name: m.manifest.version for name, m in self._models.items()}

    def manifest(self, name: str) -> ModelManifest:
        return self.get(name).manifest

    # --- installing ----------------------------------------------------------------

    def install(self, blob: bytes, manifest: ModelManifest) -> TFLiteModel:
        """Verify a new version fully, then make it the one in use; keep the previous one."""
        if self.installed_dir is None:
            raise ModelRefusedError("this runtime has no model directory to install into")
        name = manifest.name
        try:
            verify_blob(blob, manifest, self.expected_hash(name))
            if self.sandbox:
                sandbox_check(blob, manifest)
            model = TFLiteModel(blob, manifest)
        except ArtifactError as exc:
            raise ModelRefusedError(str(exc)) from exc
        canary(model)
        self.installed_dir.mkdir(parents=True, exist_ok=True)
        target = self._version_dir(name, manifest.version)
        staging = Path(tempfile.mkdtemp(dir=self.installed_dir, prefix=f".{name}-"))
        (staging / f"{name}.tflite").write_bytes(blob)
        (staging / f"{name}.manifest.json").write_bytes(msgspec.json.encode(manifest))
        load_verified(staging, name, manifest.feature_spec_hash)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            for f in target.iterdir():
                f.unlink()
            target.rmdir()
        os.replace(staging, target)
        with self._lock:
            state = self._state()
            current = state.active.get(name) or self._current_version(name)
            if current and current != manifest.version:
                state.previous[name] = current
            state.active[name] = manifest.version
            self._write_state(state)
            self._models[name] = model
        return model

    def _current_version(self, name: str) -> str | None:
        model = self._models.get(name)
        return model.manifest.version if model else None

    def use_shipped(self, name: str) -> str:
        """Run the shipped ``name`` again (downloaded versions stay on disk, unused)."""
        with self._lock:
            state = self._state()
            had = (state.active.pop(name, None), state.previous.pop(name, None))
            if had != (None, None) and self.installed_dir is not None:
                self._write_state(state)
            self._models.pop(name, None)
        return self.get(name).manifest.version

    def rollback(self, name: str) -> str:
        """Go back to the previous version of ``name``; returns the version now in use."""
        with self._lock:
            state = self._state()
            previous = state.previous.pop(name, None)
            if previous is None:
                state.active.pop(name, None)
            else:
                state.active[name] = previous
            self._write_state(state)
            self._models.pop(name, None)
        return self.get(name).manifest.version
