"""The typical lead: the reference the behaviour drivers are measured against.

A lead's drivers say how much each kind of behaviour moves its score away from the score of a
*typical lead*: the feature-by-feature median of the behaviour model's training rows (the
default synthetic world, every eligible lead at every cutoff). The vector depends on the feature
spec, not on a model version, so it ships beside the spec (``typical_lead.json``) with the spec
hash it was computed under; a mismatch is refused. Rebuild it after a spec change with
``realty-edge build-reference``. No TensorFlow here: the device loads it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

from models.errors import ModelError
from models.features import FEATURE_SPEC_HASH, N_FEATURES

PATH = Path(__file__).with_name("typical_lead.json")


class ReferenceError(ModelError):
    """The typical-lead vector is missing or was computed under another feature spec."""


def typical(x: np.ndarray) -> np.ndarray:
    """The feature-by-feature median of the rows of ``x`` (float32)."""
    if x.ndim != 2 or len(x) == 0 or x.shape[1] != N_FEATURES:
        raise ReferenceError(f"want rows of {N_FEATURES} features, got shape {list(x.shape)}")
    return np.median(x, axis=0).astype(np.float32)


def parse(doc: dict) -> np.ndarray:
    """The vector of a typical-lead document, after checking its spec hash and length."""
    if doc.get("feature_spec_hash") != FEATURE_SPEC_HASH:
        raise ReferenceError(
            f"typical lead computed for feature spec {doc.get('feature_spec_hash')!r}, "
            f"this spec is {FEATURE_SPEC_HASH!r}: run realty-edge build-reference"
        )
    vector = np.asarray(doc.get("vector", []), dtype=np.float32)
    if vector.shape != (N_FEATURES,):
        raise ReferenceError(f"typical lead has {vector.size} values, want {N_FEATURES}")
    return vector


@cache
def typical_lead() -> np.ndarray:
    """The shipped typical-lead vector (read once)."""
    try:
        doc = json.loads(PATH.read_text())
    except FileNotFoundError as exc:
        raise ReferenceError(f"no typical lead at {PATH}") from exc
    vector = parse(doc)
    vector.flags.writeable = False
    return vector
