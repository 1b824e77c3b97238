"""The on-device runtime. Its one public API is :class:`edge.runtime.EdgeRuntime`.

Nothing here imports TensorFlow: models run through the TFLite interpreter alone.
"""
