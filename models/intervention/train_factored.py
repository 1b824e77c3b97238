"""The factored intervention network: the lead's part once, only the slot part per candidate.

    logit(lead, slot) = head(relu(lead_part(lead) + slot_part(slot)))

``lead_part`` is a small tower over the standardized behavioural vector (``N_FEATURES``) that
ends in the pre-activation of the joint layer; ``slot_part`` is one bias-free dense layer over
the standardized candidate encoding (``N_CANDIDATE``: channel, hour, day and the lead x
candidate interactions of :mod:`models.intervention.candidate`); ``head`` is a narrow MLP. This
is exactly an MLP over ``[lead embedding, candidate]`` (a first dense layer over a concatenation
is the sum of one dense layer per part), so nothing is lost by the factoring, but the model has
two inputs: ``lead`` with one row per lead and ``slots`` with one row per candidate. With one
lead row the interpreter broadcasts it over every candidate, so planning a week of 4 x 91
candidates costs one lead tower plus 364 small rows, instead of 364 full rows as before.

Standardization (per input) and Platt scaling are folded into the exported model, as in
:mod:`models.train_common`; several members average their logits inside it.

Imports TensorFlow (lazily): training and export only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.features import N_FEATURES
from models.intervention.candidate import N_CANDIDATE, N_INPUT
from models.train_common import (
    Standardizer,
    TrainConfig,
    check_labels,
    configure_tensorflow,
    layer_settings,
    platt_fit,
    relu_stack,
    split_validation,
    standardize_layer,
)
from sync.manifest import GoldenCase

#: Width of the joint layer (lead part + slot part) and of the lead tower's hidden layer.
JOINT = 64


@dataclass
class FactoredModel:
    """The exported Keras model (two inputs, calibrated probability out) and its pieces."""

    model: Any
    lead_std: Standardizer
    slot_std: Standardizer
    platt: tuple[float, float]
    epochs: list[int] = field(default_factory=list)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(response) (n, 1) of rows ``[lead features, candidate encoding]``."""
        lead, slots = split_rows(x)
        out = self.model.predict([lead, slots], batch_size=2048, verbose=0)
        return np.asarray(out, dtype=np.float32)


def split_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``model_input`` as the model's two inputs (lead part, candidate part)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != N_INPUT:
        raise ValueError(f"intervention rows must have {N_INPUT} columns, got {x.shape}")
    return x[:, :N_FEATURES], x[:, N_FEATURES:]


def _member(cfg: TrainConfig, seed: int, name: str):
    """One member on standardized inputs: (lead_z, slot_z) -> logit."""
    import keras

    settings = layer_settings(cfg, seed)
    init, reg = settings
    lead = keras.Input(shape=(N_FEATURES,), name=f"{name}_lead")
    slots = keras.Input(shape=(N_CANDIDATE,), name=f"{name}_slots")
    h = relu_stack(lead, [JOINT], settings, name=name, label="lead")
    if cfg.dropout:
        h = keras.layers.Dropout(cfg.dropout, seed=seed, name=f"{name}_leaddrop")(h)
    joint = cfg.hidden[0]
    lead_part = keras.layers.Dense(
        joint, kernel_initializer=init, kernel_regularizer=reg, name=f"{name}_lead1"
    )(h)
    slot_part = keras.layers.Dense(
        joint, use_bias=False, kernel_initializer=init, name=f"{name}_slot"
    )(slots)
    h = keras.layers.Activation("relu", name=f"{name}_joint")(
        keras.layers.Add(name=f"{name}_add")([lead_part, slot_part])
    )
    h = relu_stack(h, cfg.hidden[1:], settings, name=name, start=1)
    out = keras.layers.Dense(1, kernel_initializer=init, name=f"{name}_logits")(h)
    return keras.Model([lead, slots], out, name=name)


def _masked_bce(y_true, logits):
    from models.train_common import _masked_bce as bce

    return bce(y_true, logits)


def fit_factored(x: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> FactoredModel:
    """Train ``cfg.members`` factored members on rows ``[lead, candidate]`` and 0/1 labels.

    ``cfg.hidden[0]`` is the joint layer's width, the rest the head's. Early stopping and Platt
    scaling use a validation split of these rows only.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32).reshape(-1, 1)
    check_labels(x, y, ["p_response"])
    lead, slots = split_rows(x)
    configure_tensorflow()
    import keras

    tr, va = split_validation(y, cfg.val_fraction, cfg.seed)
    lead_std, slot_std = Standardizer.fit(lead[tr]), Standardizer.fit(slots[tr])
    zl = lead_std.apply(lead).astype(np.float32)
    zs = slot_std.apply(slots).astype(np.float32)
    members, epochs = [], []
    for k in range(cfg.members):
        seed = cfg.seed * 1000 + k
        keras.utils.set_random_seed(seed)
        net = _member(cfg, seed, f"m{k}")
        net.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=_masked_bce)
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.patience, restore_best_weights=True
        )
        hist = net.fit(
            [zl[tr], zs[tr]],
            y[tr],
            validation_data=([zl[va], zs[va]], y[va]),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            shuffle=True,
            verbose=2 if cfg.verbose else 0,
            callbacks=[stop],
        )
        epochs.append(len(hist.history["loss"]))
        members.append(net)
    cal = np.mean([np.asarray(m([zl[va], zs[va]], training=False)) for m in members], axis=0)
    platt = platt_fit(cal[:, 0], y[va, 0])
    return FactoredModel(
        _assemble(members, lead_std, slot_std, platt), lead_std, slot_std, platt, epochs
    )


def _assemble(members, lead_std: Standardizer, slot_std: Standardizer, platt: tuple[float, float]):
    """Two raw inputs -> standardize -> members (Platt folded in) -> mean logit -> sigmoid."""
    import keras

    a, b = platt
    lead = keras.Input(shape=(N_FEATURES,), name="lead")
    slots = keras.Input(shape=(N_CANDIDATE,), name="slots")
    zl = standardize_layer(lead_std, "standardize_lead")(lead)
    zs = standardize_layer(slot_std, "standardize_slots")(slots)
    logits = []
    for net in members:
        last = net.get_layer(f"{net.name}_logits")
        w, bias = last.get_weights()
        last.set_weights([w * a, bias * a + b])
        logits.append(net([zl, zs]))
    avg = logits[0] if len(logits) == 1 else keras.layers.Average(name="mean_logit")(logits)
    out = keras.layers.Activation("sigmoid", name="probability")(avg)
    return keras.Model([lead, slots], out, name="intervention")


def export_factored_int8(
    trained: FactoredModel, representative: np.ndarray, samples: int = 1000
) -> bytes:
    """Full-integer int8 flatbuffer with two inputs, calibrated on rows of ``representative``."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    rep = np.asarray(representative, dtype=np.float32)
    rep = rep[rng.permutation(len(rep))[:samples]]
    lead, slots = split_rows(rep)

    def gen():
        for i in range(len(rep)):
            yield {"lead": lead[i : i + 1], "slots": slots[i : i + 1]}

    converter = tf.lite.TFLiteConverter.from_keras_model(trained.model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        # calibrating a two-input model by signature goes through TensorFlow's own (deprecated)
        # tf.lite.Interpreter inside the converter; the device never uses it
        warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
        return converter.convert()


def export_factored_float(trained: FactoredModel) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(trained.model).convert()


def golden_factored(
    blob: bytes, x: np.ndarray, n: int = 4, tolerance: float = 0.02
) -> list[GoldenCase]:
    """``n`` rows spread over the int8 model's score range; each case's input is the row's
    two parts in the interpreter's input order (the canary splits it by the inputs' sizes)."""
    from models.intervention.candidate import golden_input, score_rows
    from models.tflite import TFLiteModel

    model = TFLiteModel.from_blob(blob)
    x = np.asarray(x, dtype=np.float32)
    y = score_rows(model, x)
    order = np.argsort(y)
    pick = order[np.linspace(0, len(order) - 1, n).astype(int)]
    return [
        GoldenCase(input=golden_input(model, x[i]), output=[float(y[i])], tolerance=tolerance)
        for i in pick
    ]
