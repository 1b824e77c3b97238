"""The 16 languages the product speaks (ISO 639-1), in one order everyone shares.

The language model's output order, the device's message catalogs and the outreach keywords all
use this tuple; the feature spec keeps its own frozen order (see ``models.features.columns``).
"""

LANGUAGES: tuple[str, ...] = tuple("en es zh vi ko tl ar fr ru pt hi ja de it th tr".split())  # noqa: SIM905 (a line, not sixteen)
