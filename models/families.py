"""Every model family's training entry point, by name (for ``realty-edge train``).

Importing this module imports no TensorFlow; each trainer imports it when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def _language(out: Path, seed: int, verbose: bool) -> Any:
    from models.language.train import train_language_model

    return train_language_model(out, seed=seed, progress=verbose)


def _behaviour(out: Path, seed: int, verbose: bool) -> Any:
    from models.behaviour.train import train_behaviour

    return train_behaviour(out, seed=seed, verbose=verbose)


def _intervention(out: Path, seed: int, verbose: bool) -> Any:
    from models.intervention.train import train_intervention

    return train_intervention(out, seed=seed, verbose=verbose)


def _personalization(out: Path, seed: int, verbose: bool) -> Any:
    from models.personalization.train import train_personalization

    return train_personalization(out, seed=seed, verbose=verbose)


#: Families in the order ``train`` runs them when none is named.
FAMILIES: dict[str, Callable[[Path, int, bool], Any]] = {
    "language": _language,
    "behaviour": _behaviour,
    "intervention": _intervention,
    "personalization": _personalization,
}
