"""Areas: the cities and neighbourhoods of the store's listings named in a text.

Names are matched as written (a capital letter: "Auburn" the city, not "auburn" the colour),
or as leads write them in other scripts (``aliases``: "シアトル", "벨뷰", "Сиэтл"),
or regardless of case when the text has no capital letter at all; the longest name wins
("North Ames" before "Ames"); a negated name ("not in Seattle") is left out.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from edge.profile_text.aliases import ALIASES
from edge.profile_text.scan import negated


@functools.lru_cache(maxsize=16)
def _pattern(names: tuple[str, ...], ignore_case: bool) -> re.Pattern[str] | None:
    if not names:
        return None
    alt = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z])(?:{alt})(?![A-Za-z])", re.IGNORECASE if ignore_case else 0)


@functools.lru_cache(maxsize=16)
def _prepared(places: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, str]]:
    """Every spelling to look for (names and their aliases), and the name of each."""
    names = sorted({p for p in places if p and p.strip()})
    canonical = {n.lower(): n for n in names}
    for name in names:
        canonical.update({a.lower(): name for a in ALIASES.get(name, ())})
    spellings = tuple(sorted({*names, *(a for n in names for a in ALIASES.get(n, ()))}))
    return spellings, canonical


def areas(text: str, places: Iterable[str]) -> list[str]:
    """The known ``places`` named (not negated) in ``text``, in order of mention."""
    names, canonical = _prepared(places if isinstance(places, tuple) else tuple(places))
    rx = _pattern(names, not any(c.isupper() for c in text))
    if rx is None:
        return []
    found: list[str] = []
    for m in rx.finditer(text):
        name = canonical[m.group(0).lower()]
        if name not in found and not negated(text, m.start(), m.end()):
            found.append(name)
    return found
