"""Translation catalogs: gettext ``.po`` files read with Babel, parsed once per language.

Each language has ``<directory>/<lang>/LC_MESSAGES/messages.po``. An entry is looked up by its
context (``"<part>|<register>"``) and its message id (``greeting``, ``body``, ``extra``,
``closing``, ``facts``). A fuzzy entry or an empty ``msgstr`` counts as missing, as it does for
``msgfmt``: the caller then falls back to English and reports it.
"""

from __future__ import annotations

import threading
from pathlib import Path

from babel.messages.pofile import read_po

from edge.errors import CatalogError

#: Where the shipped catalogs live.
DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "locales"

#: The language every other one falls back to; its catalog must be complete.
FALLBACK_LANGUAGE = "en"

Key = tuple[str, str]  # (msgctxt, msgid)


def catalog_path(directory: Path, language: str) -> Path:
    """The ``messages.po`` of one language under a catalog directory."""
    return directory / language / "LC_MESSAGES" / "messages.po"


def parse_catalog(path: Path) -> dict[Key, str]:
    """Every translated, non-fuzzy entry of one ``.po`` file, by (context, message id)."""
    try:
        with path.open("rb") as f:
            catalog = read_po(f, ignore_obsolete=True, abort_invalid=True)
    except OSError as e:
        raise CatalogError(f"cannot read catalog {str(path)!r}: {e}") from e
    except Exception as e:  # Babel raises its own parse errors and ValueError
        raise CatalogError(f"catalog {str(path)!r} is not a valid .po file: {e}") from e
    entries: dict[Key, str] = {}
    for message in catalog:
        if not isinstance(message.id, str) or message.fuzzy or not isinstance(message.string, str):
            continue
        if message.string:
            entries[(message.context or "", message.id)] = message.string
    return entries


class Catalogs:
    """The catalogs of one directory, each parsed on first use and kept for the process."""

    def __init__(self, directory: Path | str = DEFAULT_DIRECTORY):
        self.directory = Path(directory)
        self._parsed: dict[str, dict[Key, str] | None] = {}
        self._lock = threading.Lock()

    def entries(self, language: str) -> dict[Key, str] | None:
        """The entries of ``language``, or None when the directory has no catalog for it."""
        try:
            return self._parsed[language]
        except KeyError:
            pass
        with self._lock:
            if language not in self._parsed:
                path = catalog_path(self.directory, language)
                self._parsed[language] = parse_catalog(path) if path.is_file() else None
            return self._parsed[language]

    def fallback_entries(self) -> dict[Key, str]:
        """The English entries; a missing English catalog is an error, not a fallback."""
        entries = self.entries(FALLBACK_LANGUAGE)
        if entries is None:
            path = catalog_path(self.directory, FALLBACK_LANGUAGE)
            raise CatalogError(f"the fallback catalog {str(path)!r} does not exist")
        return entries

    def languages(self) -> list[str]:
        """The languages that have a catalog file in the directory, sorted."""
        found = self.directory.iterdir() if self.directory.is_dir() else ()
        return sorted(p.name for p in found if catalog_path(self.directory, p.name).is_file())


_default: Catalogs | None = None


def default_catalogs() -> Catalogs:
    """The shipped catalogs, shared by every caller in the process."""
    global _default
    if _default is None:
        _default = Catalogs()
    return _default
