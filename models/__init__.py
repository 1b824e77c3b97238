"""Feature specification, model definitions, training, int8 export, evaluation, shipped artifacts.

TensorFlow is imported only by the training and export modules (``models.export`` and the
``train`` modules of each family); everything else here is safe on the device path.
"""
