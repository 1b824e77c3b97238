"""A seeded synthetic world for development, tests and benchmarks.

The generative process is documented in :mod:`models.synthetic.world`; the listing prior is
fitted by :mod:`models.synthetic.fit` and shipped as ``listing_prior.json``.
"""

from models.synthetic.world import (
    DEFAULT_NOW_MS,
    LeadTruth,
    SyntheticError,
    World,
    generate_world,
    hour_effect,
    read_truth,
    response_probability,
    this_hour_ms,
    truth_path,
    write_world,
)

__all__ = [
    "DEFAULT_NOW_MS",
    "LeadTruth",
    "SyntheticError",
    "World",
    "generate_world",
    "hour_effect",
    "read_truth",
    "response_probability",
    "this_hour_ms",
    "truth_path",
    "write_world",
]
