"""Cultural adaptation of outreach: language, register, locale formats and contact hours."""

from edge.culture.catalog import Catalogs
from edge.culture.contact import (
    CONTACT_END_HOUR,
    CONTACT_START_HOUR,
    ContactWindow,
    contact_window,
    is_quiet,
)
from edge.culture.message import (
    DraftMessage,
    Intent,
    MessageContext,
    adapt_message,
    warm_caches,
)
from edge.culture.register import SUPPORTED_LANGUAGES, Gender, default_formality

__all__ = [
    "CONTACT_END_HOUR",
    "CONTACT_START_HOUR",
    "SUPPORTED_LANGUAGES",
    "Catalogs",
    "ContactWindow",
    "DraftMessage",
    "Gender",
    "Intent",
    "MessageContext",
    "adapt_message",
    "contact_window",
    "default_formality",
    "is_quiet",
    "warm_caches",
]
