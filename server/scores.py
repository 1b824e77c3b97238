"""Scores on the wire are rounded to two decimals: the API answers what a person needs to act
on (a 0.37 chance), not the model's full precision, which a membership-inference attack reads.

:func:`round_scores` rounds the fields named in :data:`SCORE_FIELDS` wherever they are in an
answer (nested Structs, lists, dicts); prices, sizes and other measures are left alone.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import msgspec

#: Decimals a score keeps in an API answer.
DECIMALS = 2
#: The fields that hold a model's probability, confidence, effect or ranking score.
SCORE_FIELDS = frozenset(
    {
        "p_convert",
        "p_respond",
        "p_response",
        "reference_convert",
        "reference_respond",
        "effect",
        "effect_respond",
        "confidence",
        "language_confidence",
        "scores",
        "score",
    }
)
T = TypeVar("T")


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_round(v) for v in value)
    return round_scores(value)


def round_scores(answer: T) -> T:
    """``answer`` with every score field (and the scores nested in it) rounded to 2 decimals."""
    if isinstance(answer, msgspec.Struct):
        changes: dict[str, Any] = {}
        for name in answer.__struct_fields__:
            value = getattr(answer, name)
            new = _round(value) if name in SCORE_FIELDS else round_scores(value)
            if new is not value:
                changes[name] = new
        return msgspec.structs.replace(answer, **changes) if changes else answer
    if isinstance(answer, list | tuple):
        items = [round_scores(v) for v in answer]
        if any(a is not b for a, b in zip(items, answer, strict=True)):
            return type(answer)(items)
        return answer
    if isinstance(answer, dict):
        rounded = {k: round_scores(v) for k, v in answer.items()}
        if any(rounded[k] is not v for k, v in answer.items()):
            # A plain dict of the same items stands for the mapping ``answer`` was (mypy
            # cannot tie the narrowed ``T`` to a new dict).
            return cast(T, rounded)
        return answer
    return answer
