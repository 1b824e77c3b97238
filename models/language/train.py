"""Train the language-identification model and export it as an int8 TFLite artifact.

Imports TensorFlow: training side only.
Run ``realty-edge train --family language --out models/artifacts``.

The model is an embedding bag (CLD3-like): ``SLOTS`` int32 feature ids from
``models.language.features`` -> embedding lookup -> mean -> dense ReLU -> softmax over
``LANGUAGES``. The integer input stays int32 (it is an index, not a quantity); weights,
activations and the output are int8.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from models.artifact import build_manifest, save_artifact
from models.errors import TrainingDataError
from models.language import corpus
from models.language.features import FEATURE_SPEC_HASH, SLOTS, VOCAB_SIZE, featurize_batch
from models.language.labels import LANGUAGES
from sync.manifest import GoldenCase, ModelManifest

MODEL_NAME = "language"
EMBED_DIM = 28
HIDDEN = 128
#: Samples per language and kind (windows only for zh, ja, th).
SAMPLES = {"single": 60_000, "pair": 40_000, "sentence": 14_000, "window": 12_000}
EPOCHS = 3
BATCH = 512
DEV_FRACTION = 0.03
#: Fewest training samples (after the dev split) the trainer accepts.
MIN_TRAIN = 500

GOLDEN_TEXTS = [
    "The house has three bedrooms and a large garden.",
    "La casa tiene tres dormitorios y un jardín grande.",
    "这套房子有三个卧室和一个大花园。",
    "Căn nhà có ba phòng ngủ và một khu vườn lớn.",
    "이 집에는 침실이 세 개 있고 큰 정원이 있습니다.",
    "Ang bahay ay may tatlong silid-tulugan at malaking hardin.",
    "يحتوي المنزل على ثلاث غرف نوم وحديقة كبيرة.",
    "La maison a trois chambres et un grand jardin.",
    "В доме три спальни и большой сад.",
    "A casa tem três quartos e um jardim grande.",
    "घर में तीन शयनकक्ष और एक बड़ा बगीचा है।",
    "この家には寝室が三つと広い庭があります。",
    "Das Haus hat drei Schlafzimmer und einen großen Garten.",
    "La casa ha tre camere da letto e un grande giardino.",
    "บ้านหลังนี้มีสามห้องนอนและสวนขนาดใหญ่",
    "Evin üç yatak odası ve büyük bir bahçesi var.",
]


def build_dataset(seed: int, samples: dict[str, int] = SAMPLES, progress: bool = True):
    """Texts, labels and kinds for every language, shuffled with ``seed``."""
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    texts: list[str] = []
    labels: list[int] = []
    kinds: list[str] = []
    for li, lang in enumerate(tqdm(LANGUAGES, desc="corpus", disable=not progress)):
        wl = corpus.load_wordlist(lang)
        for kind, text in corpus.sample_texts(wl, rng, samples):
            texts.append(text)
            labels.append(li)
            kinds.append(kind)
    if not texts:
        raise TrainingDataError("no training samples")
    order = rng.permutation(len(texts))
    return [texts[i] for i in order], np.asarray(labels, np.int32)[order], np.asarray(kinds)[order]


def featurize_all(texts: list[str], progress: bool = True, chunk: int = 8192) -> np.ndarray:
    from tqdm import tqdm

    out = np.empty((len(texts), SLOTS), dtype=np.int32)
    for start in tqdm(range(0, len(texts), chunk), desc="features", disable=not progress):
        out[start : start + chunk] = featurize_batch(texts[start : start + chunk])
    return out


def build_model(embed_dim: int = EMBED_DIM, hidden: int = HIDDEN):
    """ids -> embedding -> mean (AVERAGE_POOL_2D: TFLite's int8 MEAN is ~10x slower) -> softmax."""
    import keras
    import tensorflow as tf
    from keras import layers

    class Lookup(layers.Layer):
        """Plain GATHER (Keras' Embedding adds ops to wrap negative ids, which never occur)."""

        def build(self, input_shape):
            self.table = self.add_weight(
                shape=(VOCAB_SIZE, embed_dim),
                initializer=keras.initializers.RandomUniform(-0.05, 0.05),
                name="table",
            )

        def call(self, ids):
            return tf.gather(self.table, ids)

    inp = keras.Input(shape=(SLOTS,), dtype="int32", name="feature_ids")
    x = Lookup(name="ngram_embedding")(inp)
    x = layers.Reshape((SLOTS, 1, embed_dim))(x)
    x = layers.AveragePooling2D((SLOTS, 1), name="mean")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    out = layers.Dense(len(LANGUAGES), activation="softmax", name="language")(x)
    return keras.Model(inp, out, name="language_id")


def _limit_threads() -> None:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised
        pass


def _accuracy_by_kind(pred: np.ndarray, y: np.ndarray, kinds: np.ndarray) -> dict[str, float]:
    out = {"dev_accuracy": float((pred == y).mean())}
    for kind in corpus.KINDS:
        mask = kinds == kind
        if mask.any():
            out[f"dev_accuracy_{kind}"] = float((pred[mask] == y[mask]).mean())
    return out


def train_language_model(
    out_dir: Path | str,
    seed: int = 0,
    progress: bool = True,
    *,
    samples: dict[str, int] = SAMPLES,
    epochs: int = EPOCHS,
    lingua_dir: Path | str | None = None,
) -> ModelManifest:
    """Train, export int8, check parity, save ``language.tflite`` + manifest to ``out_dir``.

    ``lingua_dir``, when given, is only evaluated after training (its accuracies go into the
    manifest's metrics); nothing is trained or tuned on it.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from models.export import parity, tensor_specs, to_float_tflite, to_int8_tflite

    _limit_threads()
    keras.utils.set_random_seed(seed)
    if progress:
        print(f"language model: seed {seed}, feature spec {FEATURE_SPEC_HASH}")
    t0 = time.time()
    texts, y, kinds = build_dataset(seed, samples, progress)
    x = featurize_all(texts, progress)
    n_dev = max(1000, int(len(texts) * DEV_FRACTION))
    if len(texts) < n_dev + MIN_TRAIN:
        raise TrainingDataError(
            f"{len(texts)} samples: the dev split takes {n_dev} and training needs at least "
            f"{MIN_TRAIN} more; raise --scale"
        )
    x_dev, y_dev, k_dev = x[:n_dev], y[:n_dev], kinds[:n_dev]
    x_tr, y_tr = x[n_dev:], y[n_dev:]

    model = build_model()
    steps = epochs * int(np.ceil(len(x_tr) / BATCH))
    schedule = keras.optimizers.schedules.CosineDecay(4e-3, decay_steps=steps, alpha=0.02)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    ds = (
        tf.data.Dataset.from_tensor_slices((x_tr, y_tr))
        .shuffle(200_000, seed=seed)
        .batch(BATCH)
        .prefetch(2)
    )
    bar = tqdm(total=steps, desc="train", disable=not progress)

    class _Bar(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            bar.update(1)
            if batch % 200 == 0 and logs:
                bar.set_postfix(loss=f"{logs['loss']:.3f}", acc=f"{logs['accuracy']:.3f}")

    model.fit(ds, epochs=epochs, verbose=0, callbacks=[_Bar()], shuffle=False)  # ds is shuffled
    bar.close()

    float_pred = model.predict(x_dev, batch_size=1024, verbose=0).argmax(1)
    metrics = {f"float_{k}": v for k, v in _accuracy_by_kind(float_pred, y_dev, k_dev).items()}

    # Representative set: a few hundred rows spanning every kind and language.
    rep = x_tr[np.random.default_rng(seed).choice(len(x_tr), min(500, len(x_tr)), replace=False)]
    blob = to_int8_tflite(model, rep)
    float_blob = to_float_tflite(model)
    par = parity(
        lambda a: model.predict(a.astype(np.int32), batch_size=1024, verbose=0), blob, x_dev[:2000]
    )

    from models.export import run_tflite

    int8_prob = run_tflite(blob, x_dev, batch=1024)
    metrics |= _accuracy_by_kind(int8_prob.argmax(1), y_dev, k_dev)
    metrics |= {
        "parity_max_abs_diff": par["max_abs_diff"],
        "parity_mean_abs_diff": par["mean_abs_diff"],
        "argmax_agreement": float((int8_prob.argmax(1) == float_pred).mean()),
        "size_bytes": float(len(blob)),
        "float_size_bytes": float(len(float_blob)),
        "train_samples": float(len(x_tr)),
        "train_seconds": time.time() - t0,
        "seed": float(seed),
    }
    if lingua_dir is not None and Path(lingua_dir).exists():
        from models.language.evaluate import evaluate_lingua

        labels = list(LANGUAGES)
        res = evaluate_lingua(
            lingua_dir,
            lambda t: [
                labels[i] for i in run_tflite(blob, featurize_batch(t), batch=1024).argmax(1)
            ],
        )
        metrics |= {f"lingua_{k.replace('-', '_')}": v for k, v in res["mean"].items()}

    golden_ids = featurize_batch(GOLDEN_TEXTS)
    golden_out = run_tflite(blob, golden_ids)
    golden = [
        GoldenCase(
            input=[float(v) for v in row], output=[round(float(v), 4) for v in out], tolerance=0.05
        )
        for row, out in zip(golden_ids, golden_out, strict=True)
    ]
    inputs, outputs = tensor_specs(blob)
    manifest = build_manifest(
        MODEL_NAME,
        blob,
        version=time.strftime("%Y.%m.%d", time.gmtime()) + f"-s{seed}",
        feature_spec_hash=FEATURE_SPEC_HASH,
        inputs=inputs,
        outputs=outputs,
        labels=list(LANGUAGES),
        metrics=metrics,
        golden=golden,
    )
    save_artifact(Path(out_dir), blob, manifest)
    if progress:
        for k, v in metrics.items():
            print(f"  {k}: {v:.4f}")
    return manifest
