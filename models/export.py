"""Full-integer int8 TFLite export of a Keras model, with a float-versus-int8 parity check.

Imports TensorFlow: training and export only, never on the device path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.errors import TrainingDataError
from models.tflite import TFLiteModel
from sync.manifest import TensorSpec


def to_int8_tflite(model, representative: np.ndarray, max_samples: int = 500) -> bytes:
    """Convert ``model`` to a TFLite flatbuffer with int8 weights, activations, inputs and outputs.

    ``representative`` holds float32 inputs (rows) used to calibrate activation ranges.
    """
    import tensorflow as tf

    rep = np.asarray(representative)
    if rep.dtype.kind not in "iu":  # integer inputs (feature ids) stay integers
        rep = rep.astype(np.float32)
    if rep.ndim < 2 or len(rep) == 0:
        raise TrainingDataError("representative dataset is empty")
    rep = rep[:max_samples]

    def gen():
        for row in rep:
            yield [row[None, ...]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def to_float_tflite(model) -> bytes:
    """Float32 TFLite flatbuffer, for size and parity comparisons."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def tensor_specs(blob: bytes) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs (with quantization) read from a flatbuffer."""
    interp = TFLiteModel.from_blob(blob)._interp

    def spec(d) -> TensorSpec:
        scale, zero = d.get("quantization", (0.0, 0))
        return TensorSpec(
            name=d["name"],
            shape=[int(x) for x in d["shape"]],
            dtype=np.dtype(d["dtype"]).name,
            scale=float(scale),
            zero_point=int(zero),
        )

    return [spec(d) for d in interp.get_input_details()], [
        spec(d) for d in interp.get_output_details()
    ]


def run_tflite(blob: bytes, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Run a TFLite model in the device's interpreter (tflite_runtime) on float inputs.

    Returns the first output as float32, dequantized. Evaluation uses this so that reported
    figures come from the same int8 interpreter as on the device.
    """
    model = TFLiteModel.from_blob(blob)
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        raise TrainingDataError("no rows to run the model on")
    return np.concatenate(
        [model.predict1(x[start : start + batch]) for start in range(0, len(x), batch)], axis=0
    )


def parity(
    float_predict: Callable[[np.ndarray], np.ndarray], int8_blob: bytes, x: np.ndarray
) -> dict[str, float]:
    """Max and mean absolute difference between the float model and the int8 model on ``x``."""
    a = np.asarray(float_predict(x), dtype=np.float32)  # x keeps its dtype (int ids stay int)
    b = run_tflite(int8_blob, x)
    diff = np.abs(a.reshape(b.shape) - b)
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}
