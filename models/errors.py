"""Errors of the models package."""


class ModelError(Exception):
    """Base of every error raised by ``models``."""


class TrainingDataError(ModelError):
    """Training data that cannot train a model (empty, one class, wrong shape)."""


class ArtifactError(ModelError):
    """A model file or manifest that does not match what it claims."""
