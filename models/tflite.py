"""Run a TFLite model with the interpreter alone: the device path, never TensorFlow.

``tflite_runtime`` is tried first, then ``ai_edge_litert`` (LiteRT). Inputs are quantized and
outputs dequantized here from the tensors' own parameters, so callers feed and read float32.
The interpreter is reused; a batch of a new size resizes the input once and is remembered.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from models.artifact import load_verified, sha256_hex
from models.errors import ArtifactError, ModelError
from sync.manifest import ModelManifest


class InterpreterMissingError(ModelError):
    """Neither tflite_runtime nor ai_edge_litert is installed."""


def interpreter_class() -> Any:
    """The TFLite ``Interpreter`` class of whichever runtime is installed."""
    try:
        from tflite_runtime.interpreter import Interpreter
    except ImportError:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise InterpreterMissingError(
                "no TFLite interpreter: install tflite-runtime or ai-edge-litert"
            ) from exc
    return Interpreter


def preload_runtime() -> None:
    """Load the TFLite runtime now, if installed.

    tflite_runtime and TensorFlow bundle their own TFLite; when TensorFlow is imported first,
    tflite_runtime's interpreter fails (``vector::reserve``). Processes that use both (training,
    evaluation, tests) call this before anything imports TensorFlow.
    """
    with contextlib.suppress(InterpreterMissingError):
        interpreter_class()


def runtime_name() -> str:
    return interpreter_class().__module__.split(".")[0]


class TFLiteModel:
    """One model, one reused interpreter; ``predict`` takes and returns float32 batches.

    Not thread-safe: give each thread its own instance (or hold a lock).
    """

    def __init__(self, blob: bytes, manifest: ModelManifest, num_threads: int = 1):
        self.manifest = manifest
        self.name = manifest.name
        try:
            self._interp = interpreter_class()(model_content=blob, num_threads=num_threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError, MemoryError) as exc:
            raise ArtifactError(
                f"model {manifest.name} {manifest.version}: the TFLite interpreter cannot load "
                f"it: {exc}"
            ) from exc
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self._batch: tuple[int, ...] = tuple(int(d["shape"][0]) for d in self._inputs)
        self.input_shape = tuple(int(x) for x in self._inputs[0]["shape"][1:])

    @classmethod
    def load(
        cls, directory: Path, name: str, feature_spec_hash: str | None = None, num_threads: int = 1
    ) -> TFLiteModel:
        """Load ``name`` from ``directory`` after checking size, sha256 and feature-spec hash."""
        blob, manifest = load_verified(Path(directory), name, feature_spec_hash)
        return cls(blob, manifest, num_threads)

    def _resize(self, sizes: tuple[int, ...]) -> None:
        """Give each input its own batch size (a factored model takes one lead and many
        candidates in one invoke); the interpreter is reallocated only when they change."""
        if sizes == self._batch:
            return
        for d, n in zip(self._inputs, sizes, strict=True):
            shape = list(d["shape"])
            shape[0] = n
            self._interp.resize_tensor_input(d["index"], shape)
        self._interp.allocate_tensors()
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self._batch = sizes

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs' tensor names, in the order :meth:`predict` takes them."""
        return tuple(str(d["name"]) for d in self._inputs)

    @property
    def input_sizes(self) -> tuple[int, ...]:
        """Values per row of each input (a golden case's flat input is their concatenation)."""
        return tuple(int(np.prod(d["shape"][1:])) for d in self._inputs)

    @classmethod
    def from_blob(cls, blob: bytes, name: str = "candidate", num_threads: int = 1) -> TFLiteModel:
        """An unverified model straight from bytes: for evaluation of a fresh export only."""
        manifest = ModelManifest(
            name=name,
            version="unverified",
            sha256=sha256_hex(blob),
            size=len(blob),
            feature_spec_hash="unverified",
        )
        return cls(blob, manifest, num_threads)

    def predict(self, *xs: np.ndarray) -> list[np.ndarray]:
        """Run one batch; one array per model input, one float32 array per output."""
        if len(xs) != len(self._inputs):
            raise ArtifactError(
                f"model {self.name}: expects {len(self._inputs)} inputs, got {len(xs)}"
            )
        self._resize(tuple(len(x) for x in xs))
        for x, d in zip(xs, self._inputs, strict=True):
            x = np.asarray(x)
            if tuple(x.shape[1:]) != tuple(int(s) for s in d["shape"][1:]):
                raise ArtifactError(
                    f"model {self.name}: input {d['name']!r} wants shape "
                    f"{[int(s) for s in d['shape'][1:]]} per row, got {list(x.shape[1:])}"
                )
            self._interp.set_tensor(d["index"], _quantize(x, d))
        self._interp.invoke()
        return [_dequantize(self._interp.get_tensor(d["index"]), d) for d in self._outputs]

    def predict1(self, x: np.ndarray) -> np.ndarray:
        """First output of a single-input model."""
        return self.predict(x)[0]


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.int8:
        scale, zero = detail["quantization"]
        return np.clip(np.round(x / scale + zero), -128, 127).astype(np.int8)
    return x.astype(dtype, copy=False)


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if detail["dtype"] == np.int8:
        scale, zero = detail["quantization"]
        return (y.astype(np.float32) - zero) * np.float32(scale)
    return y.astype(np.float32, copy=True)
