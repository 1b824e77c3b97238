"""What the server asks of a training process: one record, written as JSON beside the export.

The server (which never imports TensorFlow) writes a :class:`RetrainJob` into the run's work
folder and starts ``python -m models.retrain JOB.json``; the process writes ``result.json``
(and, with a candidate, its artifacts) into ``job.out``. Light on purpose: msgspec only.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: Non-inferiority margin of the decision, in mean AUC: 0.002 is about what int8 rounding alone
#: moves the shipped model's AUC (its manifest's ``auc_drop_int8`` is 0.0012 per label), so a
#: smaller difference between two int8 models is a tie, and a tie is promoted.
TOLERANCE = 0.002


class RetrainSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How a candidate is trained and judged."""

    #: The candidate's version (its manifest's).
    version: str = ""
    #: Seed of the holdout split and of the training.
    seed: int = 0
    #: Share of the synced leads held out to judge candidate and current model.
    holdout: float = 0.3
    #: Fewer labelled rows than this: no candidate.
    min_rows: int = 50
    tolerance: float = TOLERANCE
    #: Refuse when the candidate is worse on the synced holdout in this share of bootstrap
    #: resamples of its leads.
    confidence: float = 0.95
    epochs: int = 40
    #: Behaviour only: the generator's arguments of the base corpus (None: synced data only).
    base_world: dict[str, Any] | None = None
    #: Where the base corpus is cached (None: not cached).
    cache: str | None = None


class RetrainJob(msgspec.Struct, frozen=True, kw_only=True):
    """One run of the training process: train and judge a candidate, or (``drift`` set) only
    score the current model for the drift check."""

    family: str
    #: The pseudonymized export (:class:`models.behaviour.retrain.TrainingSet`, MessagePack).
    data: str
    #: The folder of the current model's ``<name>.tflite`` files.
    current: str
    #: Where ``result.json`` and the candidate go.
    out: str
    #: A score reference (:class:`models.drift.ScoreReference` JSON): a drift check only.
    drift: str | None = None
    settings: RetrainSettings = RetrainSettings()
