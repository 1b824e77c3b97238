"""Training text for language identification, built from word-frequency lists that packages ship.

Every language's list comes from ``wordfreq`` except Thai, which comes from ``pythainlp``'s
Thai National Corpus frequency list. Samples are single words, word pairs and pseudo-sentences
drawn by word frequency; languages written without spaces are joined without spaces.
No TensorFlow here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.errors import TrainingDataError
from models.language.labels import LANGUAGES

#: wordfreq's code for each of our ISO 639-1 codes (None: not in wordfreq).
WORDFREQ_CODE = {code: code for code in LANGUAGES} | {"tl": "fil", "th": None}
#: Languages written without spaces between words.
NO_SPACE = frozenset({"zh", "ja", "th"})
#: Words kept per language (by frequency).
TOP_WORDS = 150_000

KINDS = ("single", "pair", "sentence", "window")


@dataclass(frozen=True)
class WordList:
    language: str
    words: list[str]
    freqs: np.ndarray  # float64, sums to 1


def _has_letter(word: str) -> bool:
    return any(ch.isalpha() for ch in word) and not any(ch.isdigit() for ch in word)


def load_wordlist(language: str, top: int = TOP_WORDS) -> WordList:
    """The ``top`` most frequent words of ``language`` with their relative frequencies."""
    if language == "th":
        import pythainlp

        path = Path(pythainlp.__file__).parent / "corpus" / "tnc_freq.txt"
        pairs = []
        for line in path.read_text(encoding="utf-8").splitlines():
            word, _, count = line.partition("\t")
            if word.strip() and count.strip().isdigit():
                pairs.append((word.strip(), float(count)))
        pairs.sort(key=lambda p: -p[1])
    else:
        import wordfreq

        code = WORDFREQ_CODE[language]
        pairs = list(wordfreq.get_frequency_dict(code, wordlist="best").items())
    pairs = [(w, f) for w, f in pairs if _has_letter(w)][:top]
    if len(pairs) < 1000:
        raise TrainingDataError(f"language {language}: only {len(pairs)} words in its word list")
    words = [w for w, _ in pairs]
    freqs = np.array([f for _, f in pairs], dtype=np.float64)
    return WordList(language, words, freqs / freqs.sum())


def _is_han_only(word: str) -> bool:
    return all("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in word)


def _probs(freqs: np.ndarray, alpha: float) -> np.ndarray:
    p = freqs**alpha
    return p / p.sum()


def sample_texts(
    wl: WordList, rng: np.random.Generator, counts: dict[str, int]
) -> list[tuple[str, str]]:
    """``(kind, text)`` samples of one language; ``counts`` maps each kind to how many.

    * single: one word, drawn by flattened frequency (``f ** 0.4``): test words are types,
      not tokens;
    * pair: two words (``f ** 0.6``);
    * sentence: 3 to 25 words by true frequency, some capitalised, some with punctuation;
    * window: for languages without spaces, a 1 to 4 character window of a pseudo-sentence.
    """
    words = np.array(wl.words, dtype=object)
    lang = wl.language
    joiner = "" if lang in NO_SPACE else " "
    out: list[tuple[str, str]] = []

    p_single = _probs(wl.freqs, 0.4)
    if lang == "ja":
        # Japanese written in Han characters only is indistinguishable from Chinese: keep few.
        han = np.array([_is_han_only(w) for w in wl.words])
        p_single = p_single * np.where(han, 0.1, 1.0)
        p_single /= p_single.sum()
    n_single = counts.get("single", 0)
    for w in rng.choice(words, size=n_single, p=p_single):
        out.append(("single", str(w)))

    p_pair = _probs(wl.freqs, 0.6)
    n_pair = counts.get("pair", 0)
    firsts = rng.choice(words, size=n_pair, p=p_pair)
    seconds = rng.choice(words, size=n_pair, p=p_pair)
    for a, b in zip(firsts, seconds, strict=True):
        sep = joiner if lang not in NO_SPACE or rng.random() < 0.8 else " "
        out.append(("pair", f"{a}{sep}{b}"))

    p_sent = _probs(wl.freqs, 0.9)
    n_sent = counts.get("sentence", 0)
    n_win = counts.get("window", 0) if lang in NO_SPACE else 0
    lengths = rng.integers(3, 26, size=n_sent + n_win)
    pool = rng.choice(words, size=int(lengths.sum()), p=p_sent)
    pos = 0
    punct = [",", ".", "!", "?", ";", ":", " -", " 2024", " 15"]
    for i, k in enumerate(lengths):
        toks = [str(t) for t in pool[pos : pos + k]]
        pos += k
        if i >= n_sent:
            text = "".join(toks)
            width = int(rng.integers(1, 5))
            start = int(rng.integers(0, max(1, len(text) - width + 1)))
            chunk = text[start : start + width]
            if lang == "ja" and _is_han_only(chunk) and rng.random() < 0.9:
                continue
            out.append(("window", chunk))
            continue
        if joiner and rng.random() < 0.3:
            j = int(rng.integers(0, k))
            toks[j] = toks[j] + punct[int(rng.integers(0, len(punct)))]
        text = joiner.join(toks)
        if rng.random() < 0.5:
            text = text[:1].upper() + text[1:]
        out.append(("sentence", text))
    return out
