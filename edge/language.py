"""Language identification on the device: the shipped language model, batched, with guards.

Texts with no letters (an emoji, a number, punctuation) are answered ``unknown`` without a
model call; a guess below the confidence threshold is ``unknown`` too. A text that mixes scripts
(for example English with a Korean place name) is judged as a whole and flagged ``mixed``; the
language of each script run is listed among the alternatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from models.language.features import featurize_batch
from models.tflite import TFLiteModel

UNKNOWN = "unknown"
#: Below this probability the answer is ``unknown`` (about 3x the uniform 1/16).
DEFAULT_THRESHOLD = 0.2
#: A second script must cover this share of the letters for a text to count as mixed.
MIXED_SHARE = 0.2


class LanguageGuess(msgspec.Struct, frozen=True, kw_only=True):
    """The language of a text (ISO 639-1, or ``unknown``) and how sure the model is."""

    language: str
    confidence: float
    alternatives: dict[str, float] = {}
    mixed: bool = False


# (first code point, last code point, script) of the letters of the scripts we tell apart.
_RANGES = (
    (0x41, 0x5A, "LATIN"),
    (0x61, 0x7A, "LATIN"),
    (0xC0, 0x24F, "LATIN"),
    (0x1E00, 0x1EFF, "LATIN"),
    (0x400, 0x4FF, "CYRILLIC"),
    (0x600, 0x6FF, "ARABIC"),
    (0x750, 0x77F, "ARABIC"),
    (0x900, 0x97F, "DEVANAGARI"),
    (0xE00, 0xE7F, "THAI"),
    (0x1100, 0x11FF, "HANGUL"),
    (0x3040, 0x30FF, "KANA"),
    (0x3130, 0x318F, "HANGUL"),
    (0x3400, 0x4DBF, "CJK"),
    (0x4E00, 0x9FFF, "CJK"),
    (0xAC00, 0xD7AF, "HANGUL"),
    (0xFB50, 0xFDFF, "ARABIC"),
    (0xFE70, 0xFEFF, "ARABIC"),
)
SCRIPTS = ("LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI", "THAI", "HANGUL", "KANA", "CJK")
_EDGES = np.array([edge for lo, hi, _ in _RANGES for edge in (lo, hi + 1)], dtype=np.int64)
_EDGE_SCRIPT = np.full(len(_EDGES) + 1, -1, dtype=np.int64)
for _k, (_lo, _hi, _name) in enumerate(_RANGES):
    _EDGE_SCRIPT[2 * _k + 1] = SCRIPTS.index(_name)


_CJK, _KANA = SCRIPTS.index("CJK"), SCRIPTS.index("KANA")


def script_counts(texts: Sequence[str]) -> NDArray[Any]:
    """Letters per script, shape ``(len(texts), len(SCRIPTS))``, vectorized over the batch."""
    n = len(texts)
    if n == 0:
        return np.zeros((0, len(SCRIPTS)), dtype=np.int64)
    joined = "".join(texts)
    if not joined:
        return np.zeros((n, len(SCRIPTS)), dtype=np.int64)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=n)
    owner = np.repeat(np.arange(n), lengths)
    script = _EDGE_SCRIPT[np.searchsorted(_EDGES, cps, side="right")]
    keep = script >= 0
    flat = owner[keep] * len(SCRIPTS) + script[keep]
    return np.bincount(flat, minlength=n * len(SCRIPTS)).reshape(n, len(SCRIPTS))


def script_runs(text: str) -> dict[str, str]:
    """The words of ``text`` grouped by the script of their letters."""
    words = text.split()
    runs: dict[str, list[str]] = {}
    counts = script_counts(words)
    for word, row, total in zip(words, counts.argmax(axis=1), counts.sum(axis=1), strict=True):
        if total:
            script = SCRIPTS[int(row)]
            runs.setdefault("CJK" if script == "KANA" else script, []).append(word)
    return {s: " ".join(ws) for s, ws in runs.items()}


class LanguageIdentifier:
    """Batched language ID over one reused interpreter."""

    def __init__(self, model: TFLiteModel, threshold: float = DEFAULT_THRESHOLD):
        self.model = model
        self.labels = tuple(model.manifest.labels)
        self.threshold = threshold

    def probabilities(self, texts: Sequence[str]) -> NDArray[Any]:
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.model.predict1(featurize_batch(list(texts)))

    def detect_batch(self, texts: Sequence[str]) -> list[LanguageGuess]:
        """One guess per text, in order; the model runs once for the whole batch."""
        results: list[LanguageGuess | None] = [None] * len(texts)
        plain: list[int] = []
        mixed: dict[int, dict[str, str]] = {}
        counts = script_counts(texts)
        letters = counts.sum(axis=1)
        # Japanese writes kana and kanji together: one group for mixing purposes.
        grouped = counts.copy()
        grouped[:, _CJK] += grouped[:, _KANA]
        grouped[:, _KANA] = 0
        n_major = (grouped >= np.maximum(letters * MIXED_SHARE, 1)[:, None]).sum(axis=1)
        special = set(np.flatnonzero((letters == 0) | (n_major >= 2)).tolist())
        for i in special:
            text = texts[i]
            if letters[i] == 0 and not any(ch.isalpha() for ch in text):
                results[i] = LanguageGuess(language=UNKNOWN, confidence=0.0)
            elif n_major[i] >= 2:
                runs = script_runs(text)
                mixed[i] = runs if len(runs) >= 2 else {"": text}
            else:
                plain.append(i)
        if special:
            plain = sorted({*range(len(texts))} - special | set(plain))
        else:
            plain = list(range(len(texts)))
        # A mixed text is judged whole (the model has seen mixed n-grams; counting letters
        # across scripts would favour alphabets over Han or Hangul), and each script run's
        # language is added to the alternatives.
        whole = [*plain, *mixed]
        run_texts = [r for runs in mixed.values() for r in runs.values()]
        proba = self.probabilities([texts[i] for i in whole] + run_texts)
        for i, guess in zip(whole, self._guesses(proba[: len(whole)]), strict=True):
            results[i] = guess
        row = len(whole)
        for i, runs in mixed.items():
            whole_guess = results[i]
            assert whole_guess is not None
            others = dict(whole_guess.alternatives)
            for p in proba[row : row + len(runs)]:
                run_guess = self._guess(p)
                if run_guess.language not in (UNKNOWN, whole_guess.language):
                    others[run_guess.language] = run_guess.confidence
            row += len(runs)
            results[i] = msgspec.structs.replace(whole_guess, mixed=True, alternatives=others)
        guesses = [g for g in results if g is not None]
        assert len(guesses) == len(texts), "every text is guessed above"
        return guesses

    def detect(self, text: str) -> LanguageGuess:
        return self.detect_batch([text])[0]

    def _guesses(self, proba: NDArray[Any]) -> list[LanguageGuess]:
        """:meth:`_guess` for every row, with the sorting done once for the batch."""
        if len(proba) == 0:
            return []
        top = np.argsort(-proba, axis=1)[:, :3]
        conf = np.take_along_axis(proba, top, axis=1).round(4).tolist()
        labels, threshold = self.labels, self.threshold
        out = []
        for idx, c in zip(top.tolist(), conf, strict=True):
            out.append(
                LanguageGuess(
                    language=labels[idx[0]] if c[0] >= threshold else UNKNOWN,
                    confidence=c[0],
                    alternatives={
                        labels[j]: v for j, v in zip(idx[1:], c[1:], strict=True) if v > 0.01
                    },
                )
            )
        return out

    def _guess(self, p: NDArray[Any]) -> LanguageGuess:
        order = np.argsort(-p)[:3]
        best = int(order[0])
        confidence = float(p[best])
        alternatives = {
            self.labels[int(j)]: round(float(p[j]), 4) for j in order[1:] if p[j] > 0.01
        }
        language = self.labels[best] if confidence >= self.threshold else UNKNOWN
        return LanguageGuess(
            language=language, confidence=round(confidence, 4), alternatives=alternatives
        )
