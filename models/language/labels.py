"""The languages the model tells apart, in its output order (ISO 639-1)."""

from sync.languages import LANGUAGES as LANGUAGES
