"""Which models the device runs, and the feature-spec hash each must carry.

The hashes come from the feature code the runtime itself runs, so a model trained against
another version of a feature spec is refused before it can score anything.
"""

from __future__ import annotations

from collections.abc import Callable


def _language() -> str:
    from models.language.features import FEATURE_SPEC_HASH

    return FEATURE_SPEC_HASH


def _behaviour() -> str:
    from models.features import FEATURE_SPEC_HASH

    return FEATURE_SPEC_HASH


def _intervention() -> str:
    from models.intervention.candidate import INTERVENTION_SPEC_HASH

    return INTERVENTION_SPEC_HASH


def _personalization() -> str:
    from models.personalization import PERSONALIZATION_SPEC_HASH

    return PERSONALIZATION_SPEC_HASH


SPEC_HASHES: dict[str, Callable[[], str]] = {
    "language": _language,
    "behaviour": _behaviour,
    "intervention": _intervention,
    "personalization_lead": _personalization,
    "personalization_listing": _personalization,
    "personalization_style": _behaviour,
}
