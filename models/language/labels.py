"""The languages the model tells apart, in its output order (ISO 639-1)."""

LANGUAGES: tuple[str, ...] = (
    "en",
    "es",
    "zh",
    "vi",
    "ko",
    "tl",
    "ar",
    "fr",
    "ru",
    "pt",
    "hi",
    "ja",
    "de",
    "it",
    "th",
    "tr",
)
