"""On-device language identification: the shipped ``.tflite`` run by the TFLite interpreter alone.

NumPy only, never TensorFlow: ``models.tflite`` loads ``tflite_runtime`` first, then
``ai_edge_litert``, and keeps one interpreter, resized once per new batch size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.artifact import ARTIFACT_DIR
from models.errors import ArtifactError
from models.language.features import FEATURE_SPEC_HASH, SLOTS, featurize_batch
from models.tflite import TFLiteModel
from sync.manifest import ModelManifest

MODEL_NAME = "language"


class LanguageModel:
    """Batched language identification over one reused interpreter (not thread-safe).

    ``predict_batch`` answers the most likely label and its probability; the threshold below
    which a caller says "unknown" is the caller's business (``predict_proba`` gives all).
    """

    def __init__(self, model: TFLiteModel):
        self.manifest: ModelManifest = model.manifest
        self.labels: tuple[str, ...] = tuple(model.manifest.labels)
        self._model = model
        outputs = model.manifest.outputs
        if model.input_shape != (SLOTS,) or (outputs and outputs[0].shape[-1] != len(self.labels)):
            raise ArtifactError(
                f"model {model.name} {model.manifest.version}: input {list(model.input_shape)} "
                f"does not take {SLOTS} feature ids or its output does not match "
                f"{len(self.labels)} labels"
            )

    @classmethod
    def from_blob(cls, blob: bytes, manifest: ModelManifest, num_threads: int = 1) -> LanguageModel:
        return cls(TFLiteModel(blob, manifest, num_threads))

    @classmethod
    def from_artifact(
        cls, directory: Path | str = ARTIFACT_DIR, name: str = MODEL_NAME, num_threads: int = 1
    ) -> LanguageModel:
        """Load ``name`` from ``directory`` after checking size, sha256 and feature-spec hash."""
        return cls(TFLiteModel.load(Path(directory), name, FEATURE_SPEC_HASH, num_threads))

    def predict_ids(self, ids: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, len(labels))`` for rows of feature ids from ``featurize_batch``."""
        if len(ids) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self._model.predict1(np.asarray(ids, dtype=np.int32))

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(len(texts), len(labels))``, columns in ``labels`` order."""
        return self.predict_ids(featurize_batch(texts))

    def predict_batch(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Most likely language code of each text and its probability (float32)."""
        proba = self.predict_proba(texts)
        if len(proba) == 0:
            return [], np.zeros(0, dtype=np.float32)
        best = proba.argmax(axis=1)
        return [self.labels[i] for i in best], proba[np.arange(len(best)), best]

    def predict(self, text: str) -> tuple[str, float]:
        codes, conf = self.predict_batch([text])
        return codes[0], float(conf[0])
