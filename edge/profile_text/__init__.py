"""Profiles learn from what the lead says: criteria read from conversation text, on the device.

Deterministic rules and per-language lexicons (16 languages, no model, no network): budget,
bedrooms, bathrooms, areas (names of the store's listings' places), property types,
must-haves, preferred channel and hours. :func:`extract` reads one message,
:func:`extract_all` a conversation, :func:`apply_stated` merges what was said into a profile
learned from behaviour (what the lead said wins over what was inferred). See
``docs/profile-text.md``.
"""

from edge.profile_text.extract import ProfileText, extract, extract_all, warm
from edge.profile_text.merge import apply_stated, describe
from edge.profile_text.scan import LANGUAGES

__all__ = ["LANGUAGES", "ProfileText", "apply_stated", "describe", "extract", "extract_all", "warm"]
