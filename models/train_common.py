"""The training pipeline every tabular model family shares.

Raw feature rows in, a calibrated int8 TFLite model out:

1. ``check_labels``: clear ``TrainingDataError`` on empty, misshaped or one-class data.
2. Standardization folded into the model (explicit shift and scale, then a clip), so the
   device feeds the raw feature vector. The scale has a floor tied to the int8 input step, so
   a near-constant feature cannot turn quantization noise into large activations.
3. ``fit_tabular``: seeded MLP training (one or several members) with early stopping on a
   validation split carved from the training rows; Platt scaling fitted on the validation
   predictions and folded into each member's last layer; members' logits averaged inside one
   exported model, then a sigmoid, so the int8 model outputs calibrated probabilities.
4. ``export_int8`` / ``export_float`` through ``models.export``, ``parity_report`` (AUC drop),
   ``golden_cases`` for the manifest.

Imports TensorFlow (lazily): training side only, never on the device path.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import TrainingDataError
from sync.manifest import GoldenCase

#: Standardized inputs are clipped to this many standard deviations.
CLIP_SIGMA = 6.0


def held_out(lead_ids: list[str], fraction: float, seed: int) -> np.ndarray:
    """Rows whose lead falls in the held-out fraction, by a seeded hash of the lead id: every
    row of a lead on one side, the same split on every run with the same seed."""
    h = np.array([zlib.crc32(f"{seed}:{lid}".encode()) for lid in lead_ids], dtype=np.float64)
    return (h / 2**32) < fraction


def configure_tensorflow(threads: int = 2) -> None:
    """Quiet, few-threaded TensorFlow (call before the first TensorFlow op)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialized: keep what it has
        pass


def check_labels(x: np.ndarray, y: np.ndarray, names: Sequence[str] | None = None) -> None:
    """Raise ``TrainingDataError`` unless ``x``/``y`` can train: rows, both classes per label.

    ``y`` is (n,) or (n, k) with 0/1 values; NaN marks an unknown label (ignored in the loss).
    """
    x = np.asarray(x)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise TrainingDataError(f"no training rows (features shape {x.shape})")
    y2 = y.reshape(len(y), -1) if y.ndim else y
    if len(y2) != len(x):
        raise TrainingDataError(f"{len(x)} feature rows but {len(y2)} label rows")
    if not np.isfinite(x).all():
        raise TrainingDataError("features contain NaN or infinity")
    for j in range(y2.shape[1]):
        col = y2[:, j]
        known = col[~np.isnan(col)]
        label = names[j] if names else f"label {j}"
        classes = np.unique(known)
        if len(classes) < 2:
            raise TrainingDataError(
                f"{label}: needs both classes, got only {classes.tolist()} in {len(known)} rows"
            )


@dataclass(frozen=True)
class Standardizer:
    """Shift and scale folded into the model: z = clip((x - shift) * scale)."""

    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        mean, std = x.mean(axis=0), x.std(axis=0)
        # int8 input step: one scale covers the whole vector (per-tensor quantization)
        step = max(float(x.max() - x.min()), 1e-6) / 255.0
        floor = max(4.0 * step, 1e-3)
        scale = np.where(std > 1e-9, 1.0 / np.maximum(std, floor), 0.0)  # constants: ignored
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def apply(self, x: np.ndarray) -> np.ndarray:
        return np.clip((x - self.shift) * self.scale, -CLIP_SIGMA, CLIP_SIGMA)


@dataclass
class TrainConfig:
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    l2: float = 1e-4
    learning_rate: float = 2e-3
    batch_size: int = 128
    epochs: int = 60
    patience: int = 6
    val_fraction: float = 0.15
    members: int = 1
    bagging: bool = False  # each member its own validation split (see fit_tabular)
    seed: int = 0
    verbose: bool = True


@dataclass
class TrainedModel:
    """The exported Keras model (probabilities out) and what went into it."""

    model: Any  # keras.Model: raw features -> calibrated probabilities
    standardizer: Standardizer
    platt: list[tuple[float, float]]  # per output: (a, b) on the averaged logit
    epochs: list[int] = field(default_factory=list)
    val_index: np.ndarray | None = None

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = self.model.predict(np.asarray(x, dtype=np.float32), batch_size=1024, verbose=0)
        return np.asarray(out, dtype=np.float32)


def standardize_layer(std: Standardizer, name: str = "standardize"):
    """A Keras layer ``clip((x - shift) * scale, ±CLIP_SIGMA)`` (exported with the model)."""
    import keras

    class Standardize(keras.layers.Layer):
        def __init__(self, shift, scale, **kw):
            super().__init__(**kw)
            self.shift = keras.ops.convert_to_tensor(shift)
            self.scale = keras.ops.convert_to_tensor(scale)

        def call(self, x):
            z = (x - self.shift) * self.scale
            return keras.ops.clip(z, -CLIP_SIGMA, CLIP_SIGMA)

    return Standardize(std.shift, std.scale, name=name)


def layer_settings(cfg: TrainConfig, seed: int) -> tuple[Any, Any]:
    """The seeded kernel initializer and the regularizer the dense layers of one member share."""
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    reg = keras.regularizers.L2(cfg.l2) if cfg.l2 else None
    return init, reg


def relu_stack(
    h: Any,
    widths: Sequence[int],
    settings: tuple[Any, Any],
    *,
    name: str,
    label: str = "dense",
    start: int = 0,
    dropout: float = 0.0,
    seed: int = 0,
) -> Any:
    """``h`` through ReLU dense layers of ``widths`` (``<name>_<label><i>``), each followed by
    dropout when ``dropout`` is set (``<name>_drop<i>``, seed ``seed + i``)."""
    import keras

    init, reg = settings
    for i, width in enumerate(widths, start=start):
        h = keras.layers.Dense(
            width,
            activation="relu",
            kernel_initializer=init,
            kernel_regularizer=reg,
            name=f"{name}_{label}{i}",
        )(h)
        if dropout:
            h = keras.layers.Dropout(dropout, seed=seed + i, name=f"{name}_drop{i}")(h)
    return h


def build_mlp(n_features: int, n_outputs: int, cfg: TrainConfig, seed: int, name: str = "mlp"):
    """An MLP from standardized features to ``n_outputs`` logits."""
    import keras

    settings = layer_settings(cfg, seed)
    inp = keras.Input(shape=(n_features,), name=f"{name}_in")
    h = relu_stack(inp, cfg.hidden, settings, name=name, dropout=cfg.dropout, seed=seed)
    out = keras.layers.Dense(n_outputs, kernel_initializer=settings[0], name=f"{name}_logits")(h)
    return keras.Model(inp, out, name=name)


def _masked_bce(y_true, logits):
    import keras

    ops = keras.ops
    known = ops.logical_not(ops.isnan(y_true))
    y = ops.where(known, y_true, 0.0)
    w = ops.cast(known, "float32")
    loss = ops.maximum(logits, 0) - logits * y + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(loss * w) / ops.maximum(ops.sum(w), 1.0)


def split_validation(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (on the first label) train/validation row indices."""
    from sklearn.model_selection import train_test_split

    y1 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)[:, 0]
    strat = np.where(np.isnan(y1), -1, y1)
    idx = np.arange(len(y1))
    try:
        return train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    except ValueError:  # a class too small to stratify
        return train_test_split(idx, test_size=fraction, random_state=seed)


def platt_fit(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling on logits: p = sigmoid(a * logit + b), fitted by maximum likelihood."""
    from sklearn.linear_model import LogisticRegression

    known = ~np.isnan(y)
    z, t = logits[known].reshape(-1, 1), y[known]
    if len(np.unique(t)) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(z, t)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fit_tabular(
    x: np.ndarray,
    y: np.ndarray,
    cfg: TrainConfig | None = None,
    label_names: Sequence[str] | None = None,
) -> TrainedModel:
    """Train ``cfg.members`` seeded MLPs on raw rows ``x`` and labels ``y`` (n,) or (n, k).

    Early stopping and Platt calibration use a validation split of these rows only.
    """
    cfg = cfg or TrainConfig()
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    y2 = y.reshape(len(y), -1) if len(y) else y.reshape(0, 1)
    check_labels(x, y2, label_names)
    configure_tensorflow()
    import keras

    from models.export import to_float_tflite  # noqa: F401  (fail early if export is broken)

    n_out = y2.shape[1]
    tr, va = split_validation(y2, cfg.val_fraction, cfg.seed)
    std = Standardizer.fit(x[tr])
    z = std.apply(x).astype(np.float32)
    members, epochs = [], []
    # bagging: member k early-stops on its own validation split; calibration then uses each
    # row's mean logit over the members that held it out (out-of-bag), so more rows train
    oob_sum = np.zeros((len(x), n_out), dtype=np.float64)
    oob_n = np.zeros(len(x), dtype=np.int64)
    progress = _progress(cfg.members * cfg.epochs, cfg.verbose)
    for k in range(cfg.members):
        seed = cfg.seed * 1000 + k
        if cfg.bagging:
            m_tr, m_va = split_validation(y2, cfg.val_fraction, cfg.seed + k)
        else:
            m_tr, m_va = tr, va
        keras.utils.set_random_seed(seed)
        net = build_mlp(x.shape[1], n_out, cfg, seed, name=f"m{k}")
        net.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss=_masked_bce)
        stop = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.patience, restore_best_weights=True
        )
        hist = net.fit(
            z[m_tr],
            y2[m_tr],
            validation_data=(z[m_va], y2[m_va]),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            shuffle=True,
            verbose=0,
            callbacks=[stop, _tqdm_callback(progress)],
        )
        epochs.append(len(hist.history["loss"]))
        progress.update(cfg.epochs - epochs[-1])
        members.append(net)
        if cfg.bagging:
            oob_sum[m_va] += np.asarray(net(z[m_va], training=False))
            oob_n[m_va] += 1
    progress.close()
    if cfg.bagging:
        held = oob_n > 0
        cal_logits, cal_y = oob_sum[held] / oob_n[held, None], y2[held]
    else:
        cal_logits = np.mean([np.asarray(m(z[va], training=False)) for m in members], axis=0)
        cal_y = y2[va]
    platt = [platt_fit(cal_logits[:, j], cal_y[:, j]) for j in range(n_out)]
    model = _assemble(members, std, platt, x.shape[1])
    return TrainedModel(model=model, standardizer=std, platt=platt, epochs=epochs, val_index=va)


def _assemble(members, std: Standardizer, platt, n_features: int):
    """One model: standardize -> members with Platt folded into their logits -> mean -> sigmoid."""
    import keras

    a = np.array([p[0] for p in platt], dtype=np.float32)
    b = np.array([p[1] for p in platt], dtype=np.float32)
    inp = keras.Input(shape=(n_features,), name="features")
    z = standardize_layer(std)(inp)
    logits = []
    for net in members:
        last = net.get_layer(f"{net.name}_logits")
        w, bias = last.get_weights()
        last.set_weights([w * a[None, :], bias * a + b])  # Platt folded into the last layer
        logits.append(net(z))
    avg = logits[0] if len(logits) == 1 else keras.layers.Average(name="mean_logit")(logits)
    out = keras.layers.Activation("sigmoid", name="probability")(avg)
    return keras.Model(inp, out, name="calibrated")


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="train", unit="epoch", disable=not enabled, leave=False)


def _tqdm_callback(bar):
    import keras

    class TqdmEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            bar.update(1)
            if logs and "val_loss" in logs:
                bar.set_postfix(val_loss=f"{logs['val_loss']:.4f}")

    return TqdmEpochs()


def export_float(trained: TrainedModel) -> bytes:
    from models.export import to_float_tflite

    return to_float_tflite(trained.model)


def export_int8(trained: TrainedModel, representative: np.ndarray) -> bytes:
    from models.export import to_int8_tflite

    rng = np.random.default_rng(0)
    rep = np.asarray(representative, dtype=np.float32)
    rep = rep[rng.permutation(len(rep))[:1000]]
    return to_int8_tflite(trained.model, rep, max_samples=len(rep))


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged, equal to scikit-learn's ``roc_auc_score``); NaN labels
    are ignored, and it is NaN when the known labels have one class only."""
    from scipy.stats import rankdata

    y = np.asarray(y, dtype=np.float64)
    known = ~np.isnan(y)
    y, p = y[known], np.asarray(p)[known]
    pos = int(np.count_nonzero(y == 1))
    neg = len(y) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = rankdata(p)
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |mean(y) - mean(p)| weighted by bin size."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    known = ~np.isnan(y)
    y, p = y[known], p[known]
    b = np.minimum((p * bins).astype(int), bins - 1)
    n = np.bincount(b, minlength=bins)
    sy = np.bincount(b, weights=y, minlength=bins)
    sp = np.bincount(b, weights=p, minlength=bins)
    nz = n > 0
    return float(np.sum(np.abs(sy[nz] - sp[nz])) / max(len(y), 1))


def parity_report(
    float_probs: np.ndarray, int8_probs: np.ndarray, y: np.ndarray, labels: Sequence[str]
) -> dict[str, float]:
    """Per label: float AUC, int8 AUC, their difference, and the max absolute output difference."""
    f2 = np.asarray(float_probs).reshape(len(float_probs), -1)
    q2 = np.asarray(int8_probs).reshape(len(int8_probs), -1)
    y2 = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    report: dict[str, float] = {}
    for j, name in enumerate(labels):
        af, aq = roc_auc(y2[:, j], f2[:, j]), roc_auc(y2[:, j], q2[:, j])
        report[f"{name}.auc_float"] = af
        report[f"{name}.auc_int8"] = aq
        report[f"{name}.auc_drop_int8"] = af - aq
        report[f"{name}.max_abs_diff"] = float(np.max(np.abs(f2[:, j] - q2[:, j])))
    return report


def golden_cases(
    int8_blob: bytes, x: np.ndarray, n: int = 4, tolerance: float = 0.02
) -> list[GoldenCase]:
    """``n`` inputs spread over the int8 model's score range, with its outputs."""
    from models.export import run_tflite

    x = np.asarray(x, dtype=np.float32)
    y = run_tflite(int8_blob, x)
    order = np.argsort(y.reshape(len(y), -1)[:, 0])
    pick = order[np.linspace(0, len(order) - 1, n).astype(int)]
    return [
        GoldenCase(input=x[i].tolist(), output=y[i].reshape(-1).tolist(), tolerance=tolerance)
        for i in pick
    ]


def report_metrics(metrics: dict[str, float], width: int = 36) -> None:
    """Print a trainer's metrics, one per line."""
    for k, v in metrics.items():
        print(f"  {k:{width}s} {v:.4f}")


def save_int8_artifact(
    out: Path | str,
    name: str,
    blob: bytes,
    *,
    version: str,
    feature_spec_hash: str,
    labels: Sequence[str],
    metrics: dict[str, float],
    golden_x: np.ndarray,
    golden_n: int = 4,
    golden_tolerance: float = 0.02,
) -> Path:
    """Write ``blob`` and its manifest (tensor specs, metrics, golden cases) into ``out``.

    ``golden_tolerance``: how far the device's canary may be from the golden outputs (an
    embedding tower's raw outputs need more room than a probability).
    """
    from models.artifact import build_manifest, save_artifact
    from models.export import tensor_specs

    inputs, outputs = tensor_specs(blob)
    manifest = build_manifest(
        name,
        blob,
        version=version,
        feature_spec_hash=feature_spec_hash,
        inputs=inputs,
        outputs=outputs,
        labels=list(labels),
        metrics=metrics,
        golden=golden_cases(blob, golden_x, n=golden_n, tolerance=golden_tolerance),
    )
    return save_artifact(Path(out), blob, manifest)
