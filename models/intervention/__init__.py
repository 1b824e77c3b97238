"""The intervention family: P(response | lead features, channel, local hour-of-week slot).

``models.intervention.candidate`` (NumPy only, device-safe) builds the model input, including
``candidate_matrix`` for scoring all 4 x 168 candidates of a lead in one batched invoke;
``models.intervention.dataset`` builds leakage-free rows from a world; ``models.intervention.
train`` (TensorFlow) trains and exports ``models/artifacts/intervention.tflite``.
"""

from models.intervention.candidate import (
    CANDIDATE_NAMES,
    CANDIDATE_VERSION,
    CHANNEL_NAMES,
    INTERVENTION_SPEC_HASH,
    N_INPUT,
    CandidateError,
    candidate_matrix,
    local_hour_of_week,
    model_input,
)

#: Artifact name (``intervention.tflite`` / ``intervention.manifest.json``).
NAME = "intervention"
LABELS: tuple[str, ...] = ("p_response",)

__all__ = [
    "CANDIDATE_NAMES",
    "CANDIDATE_VERSION",
    "CHANNEL_NAMES",
    "INTERVENTION_SPEC_HASH",
    "LABELS",
    "NAME",
    "N_INPUT",
    "CandidateError",
    "candidate_matrix",
    "local_hour_of_week",
    "model_input",
]
