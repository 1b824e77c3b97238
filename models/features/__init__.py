"""The behavioural feature specification: named, versioned features as pure NumPy functions.

``FEATURE_NAMES`` / ``FEATURE_SPEC_HASH`` define the vector; ``extract(lead, cols, now_ms)``
computes it from a lead's ``EventColumns``. No TensorFlow: the device imports this package.
"""

from models.features.columns import (
    EVENT_ROW_FIELDS,
    EventColumns,
    columns_from_records,
    columns_from_rows,
    empty_columns,
)
from models.features.extract import extract, extract_batch, without_events
from models.features.spec import (
    BLOCKS,
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURE_SPEC_HASH,
    FEATURE_SPEC_VERSION,
    N_FEATURES,
    spec_hash,
    spec_parameters,
)

__all__ = [
    "BLOCKS",
    "EVENT_ROW_FIELDS",
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "FEATURE_SPEC_HASH",
    "FEATURE_SPEC_VERSION",
    "N_FEATURES",
    "EventColumns",
    "columns_from_records",
    "columns_from_rows",
    "empty_columns",
    "extract",
    "extract_batch",
    "spec_hash",
    "spec_parameters",
    "without_events",
]
