"""The behaviour model family: P(convert) and P(respond) from the behavioural feature vector.

``models.behaviour.dataset`` builds leakage-free rows from a world; ``models.behaviour.train``
(TensorFlow) trains, calibrates and exports the shipped int8 artifact
``models/artifacts/behaviour.tflite``. This module itself imports no TensorFlow.
"""

from models.behaviour.dataset import LABELS

#: Artifact name (``behaviour.tflite`` / ``behaviour.manifest.json``).
NAME = "behaviour"

__all__ = ["LABELS", "NAME"]
