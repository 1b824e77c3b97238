"""The personalization family: listing ranking (two towers) and communication style.

Ranking: a lead tower over the lead's preference vector and a listing tower over listing
attributes, exported as two int8 TFLite models whose embeddings are dot-producted in NumPy, so
the device embeds its listings once and ranks 20,000 of them in a few milliseconds.
``models.personalization.features`` (NumPy only, device-safe) builds both tower inputs from
records: ``lead_preference_vector(lead, cols)`` and ``listing_matrix(listings)``; ``top_k``
ranks. Style: a multi-label head on the behavioural feature vector (preferred channel,
formality, message length); labels are documented in ``models.personalization.dataset``.
Training (TensorFlow) lives in ``models.personalization.train``.
"""

from models.personalization.features import (
    LEAD_NAMES,
    LISTING_NAMES,
    N_LEAD,
    N_LISTING,
    PERSONALIZATION_SPEC_HASH,
    PERSONALIZATION_VERSION,
    lead_preference_vector,
    listing_matrix,
    top_k,
)

LEAD_NAME = "personalization_lead"
LISTING_NAME = "personalization_listing"
STYLE_NAME = "personalization_style"

__all__ = [
    "LEAD_NAME",
    "LEAD_NAMES",
    "LISTING_NAME",
    "LISTING_NAMES",
    "N_LEAD",
    "N_LISTING",
    "PERSONALIZATION_SPEC_HASH",
    "PERSONALIZATION_VERSION",
    "STYLE_NAME",
    "lead_preference_vector",
    "listing_matrix",
    "top_k",
]
