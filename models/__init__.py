"""Feature specification, model definitions, training, int8 export, evaluation, shipped artifacts.

TensorFlow is imported only by the training and export modules (``models.export`` and the
``train`` modules of each family); everything else here is safe on the device path.
"""

from models.tflite import preload_runtime

# tflite_runtime and TensorFlow each bundle TFLite; tflite_runtime's interpreter breaks when
# TensorFlow was imported first. Loading it with the package keeps every process safe.
preload_runtime()
