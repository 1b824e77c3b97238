"""Build the typical-lead vector from the behaviour model's training world (it imports the
trainer's world spec, so it stays off the device path).

``realty-edge build-reference`` rewrites ``models/behaviour/typical_lead.json``
(about 15 s): run it after a change to the feature spec or to the training world.
"""

from __future__ import annotations

from models.behaviour.dataset import LabelConfig, build_rows
from models.behaviour.reference import typical
from models.behaviour.train import DEFAULT_WORLD
from models.features import FEATURE_SPEC_HASH
from models.synthetic import generate_world


def build(world: dict | None = None) -> dict:
    """The typical lead of the training rows of ``world`` (default: the behaviour model's)."""
    spec = dict(DEFAULT_WORLD, **(world or {}))
    w = generate_world(**spec)
    rows = build_rows(w.leads, w.events, w.listings, w.now_ms, LabelConfig())
    vector = typical(rows.x)
    return {
        "feature_spec_hash": FEATURE_SPEC_HASH,
        "world": spec,
        "rows": len(rows.x),
        "statistic": "median",
        "vector": [round(float(v), 6) for v in vector],
    }
