"""Hashed character n-gram features for language identification (CLD3-like).

Pure NumPy and stdlib: the phone imports this module, never TensorFlow.

A text becomes a fixed-length row of ``SLOTS`` int32 ids into one embedding table:

* character 1- to 4-grams of the lower-cased text, where every non-letter (digits,
  punctuation, symbols, emoji) is a word boundary and each word is framed by spaces;
  n-grams never span more than one word (a space may only be the first or last character);
* one id per whole word (words up to ``MAX_WORD_CHARS`` letters);
* one script id per letter (Latin, Cyrillic, Arabic, Devanagari, Thai, Hangul, Hiragana,
  Katakana, Han, other), so the mean of the bag carries the script fractions.

Hashed ids live in ``1 .. BUCKETS``; script ids follow; id 0 means "no feature" (empty text).
The model averages the embeddings of the ``SLOTS`` ids. A text with fewer than ``SLOTS`` ids
repeats them cyclically, a text with more is subsampled evenly, so the mean is the mean over
the text's own features whatever its length, and no per-text weight input is needed.

Speed: a whole batch is joined into one string, encoded once to UTF-32 code points and hashed
with vectorized NumPy over the concatenation: no Python loop per character or per n-gram.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: log2 of the number of hashed buckets shared by all n-gram orders and words.
BUCKET_BITS = 15
BUCKETS = 1 << BUCKET_BITS
#: N-gram orders.
ORDERS = (1, 2, 3, 4)
#: Ids per text fed to the model.
SLOTS = 128
#: Characters of each text looked at (after lower-casing).
MAX_CHARS = 128
#: Longer letter runs (Thai, Chinese, Japanese sentences have no spaces) get no word id.
MAX_WORD_CHARS = 24

SCRIPTS = (
    "latin",
    "cyrillic",
    "arabic",
    "devanagari",
    "thai",
    "hangul",
    "hiragana",
    "katakana",
    "han",
    "other",
)
#: Id of "no feature" (an empty text).
NONE_ID = BUCKETS + len(SCRIPTS)
#: Total number of ids: hashed buckets, script ids, NONE_ID.
VOCAB_SIZE = NONE_ID + 1

_VERSION = "lang-features-3"
_PRIME = np.uint64(0x100000001B3)
#: Odd multipliers of the multiply-shift hash, one per n-gram order and one for words.
_MIX = {
    n: np.uint64(m)
    for n, m in zip(
        (*ORDERS, 0),
        (
            0x9E3779B97F4A7C15,
            0xC2B2AE3D27D4EB4F,
            0x165667B19E3779F9,
            0xD6E8FEB86659FD93,
            0xFF51AFD7ED558CCD,
        ),
        strict=True,
    )
}
_SHIFT = np.uint64(64 - BUCKET_BITS)
_SEP = "\x00"

# Character classes: 0 = text separator, 1 = boundary (any non-letter), 2 + script index = letter.
_CLS_SEP = 0
_CLS_SPACE = 1

_SCRIPT_RANGES = {
    "latin": [(0x0041, 0x024F), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA720, 0xA7FF)],
    "cyrillic": [(0x0400, 0x052F), (0x2DE0, 0x2DFF), (0xA640, 0xA69F)],
    "arabic": [
        (0x0600, 0x06FF),
        (0x0750, 0x077F),
        (0x08A0, 0x08FF),
        (0xFB50, 0xFDFF),
        (0xFE70, 0xFEFF),
    ],
    "devanagari": [(0x0900, 0x097F), (0xA8E0, 0xA8FF)],
    "thai": [(0x0E00, 0x0E7F)],
    "hangul": [
        (0x1100, 0x11FF),
        (0x3130, 0x318F),
        (0xA960, 0xA97F),
        (0xAC00, 0xD7AF),
        (0xD7B0, 0xD7FF),
    ],
    "hiragana": [(0x3040, 0x309F)],
    "katakana": [(0x30A0, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)],
    "han": [(0x3005, 0x3007), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)],
}


#: The character classes as runs ``[first, last, class]``, derived once from Python 3.11's
#: Unicode 14 database by ``derive_class_table`` and frozen, so that features (and their hash)
#: do not change with the Python (Unicode) version a device runs.
CLASS_TABLE_PATH = Path(__file__).with_name("char_classes.json")


def derive_class_table() -> np.ndarray:
    """Class of every BMP code point from this Python's ``unicodedata`` (see ``_CLS_*``)."""
    table = np.full(0x10000, _CLS_SPACE, dtype=np.uint8)
    other = 2 + SCRIPTS.index("other")
    for cp in range(0x10000):
        cat = unicodedata.category(chr(cp))
        if cat[0] in "LM":
            table[cp] = other
    for name, ranges in _SCRIPT_RANGES.items():
        code = 2 + SCRIPTS.index(name)
        for lo, hi in ranges:
            block = table[lo : hi + 1]
            block[block != _CLS_SPACE] = code
    # Combining marks used with Latin (decomposed Vietnamese) count as Latin.
    block = table[0x0300:0x0370]
    block[block != _CLS_SPACE] = 2 + SCRIPTS.index("latin")
    table[0] = _CLS_SEP
    return table


def load_class_table(path: Path = CLASS_TABLE_PATH) -> np.ndarray:
    runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
    table = np.empty(0x10000, dtype=np.uint8)
    for first, last, cls in runs:
        table[first : last + 1] = cls
    return table


_CLASS = load_class_table()

FEATURE_SPEC = {
    "version": _VERSION,
    "bucket_bits": BUCKET_BITS,
    "orders": list(ORDERS),
    "slots": SLOTS,
    "max_chars": MAX_CHARS,
    "max_word_chars": MAX_WORD_CHARS,
    "scripts": list(SCRIPTS),
    "prime": int(_PRIME),
    "mix": {str(k): int(v) for k, v in _MIX.items()},
    "class_table_sha256": hashlib.sha256(_CLASS.tobytes()).hexdigest(),
}
#: Hash of every parameter above: a model trained on other features must not load.
FEATURE_SPEC_HASH = hashlib.sha256(json.dumps(FEATURE_SPEC, sort_keys=True).encode()).hexdigest()[
    :16
]

_pow_cache: dict[str, np.ndarray] = {}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """P**k and P**-k modulo 2**64 for k < n (cached, grown on demand)."""
    have = _pow_cache.get("fwd")
    if have is None or len(have) < n:
        size = max(n, 1 << 16, 2 * (0 if have is None else len(have)))
        inv = np.uint64(pow(int(_PRIME), -1, 1 << 64))
        fwd = np.full(size, _PRIME, dtype=np.uint64)
        fwd[0] = 1
        bwd = np.full(size, inv, dtype=np.uint64)
        bwd[0] = 1
        with np.errstate(over="ignore"):
            _pow_cache["fwd"] = np.cumprod(fwd, dtype=np.uint64)
            _pow_cache["bwd"] = np.cumprod(bwd, dtype=np.uint64)
    return _pow_cache["fwd"][:n], _pow_cache["bwd"][:n]


def _prepare(texts: Sequence[str]) -> str:
    lowered = [t[:MAX_CHARS].lower() for t in texts]
    joined = " \x00 ".join(lowered)
    if joined.count(_SEP) != len(lowered) - 1:  # a text holds NUL itself: rare, slow path
        joined = " \x00 ".join(t.replace(_SEP, " ") for t in lowered)
    return "\x00 " + joined + " \x00"


def featurize_batch(texts: Sequence[str]) -> np.ndarray:
    """int32 array ``(len(texts), SLOTS)`` of feature ids.

    Row ``i`` equals ``featurize(texts[i])``: a text's features never depend on its batch.
    """
    n_texts = len(texts)
    if n_texts == 0:
        return np.zeros((0, SLOTS), dtype=np.int32)
    raw = np.frombuffer(_prepare(texts).encode("utf-32-le"), dtype=np.uint32)
    cls = _CLASS[np.minimum(raw, 0xFFFF)]  # U+FFFF and everything astral: a boundary
    # Collapse runs of boundaries into one space; every boundary becomes U+0020.
    space = cls == _CLS_SPACE
    keep = np.empty(len(raw), dtype=bool)
    keep[0] = True
    np.logical_not(space[1:] & space[:-1], out=keep[1:])
    cls = cls[keep]
    space = space[keep]
    cp = raw[keep].astype(np.uint64)
    cp[space] = 32
    n = len(cp)
    sep = cls == _CLS_SEP
    letter = cls >= 2
    width = len(ORDERS) + 2
    ids = np.empty((n, width), dtype=np.int32)
    valid = np.zeros((n, width), dtype=bool)
    # Script id of every letter.
    ids[:, -1] = cls
    ids[:, -1] += BUCKETS - 2
    valid[:, -1] = letter

    # N-grams: exact key (16 bits per character) of cp[i:i+k], then multiply-shift hash.
    # Valid when the window holds a letter, no separator and no space strictly inside.
    h = cp
    bad = sep
    inner_space = None
    for col, order in enumerate(ORDERS):
        m = n - order + 1
        if m <= 0:
            break
        if order == 1:
            ok = letter
        else:
            h = (h[:m] << np.uint64(16)) | cp[order - 1 :]
            bad = bad[:m] | sep[order - 1 :]
            if order == 2:
                ok = ~bad & (letter[:m] | letter[1:])
            else:
                mid = space[order - 2 : n - 1]
                inner_space = mid if inner_space is None else inner_space[:m] | mid
                ok = ~(bad | inner_space)
        ids[:m, col] = (h * _MIX[order]) >> _SHIFT
        valid[:m, col] = ok

    # Whole words: a space, then letters up to the next space.
    bound = np.flatnonzero(space)
    if len(bound) > 1:
        start, end = bound[:-1], bound[1:]
        length = end - start - 1
        word = (length > 0) & (length <= MAX_WORD_CHARS) & letter[start + 1]
        start, end = start[word] + 1, end[word]
        fwd, bwd = _powers(n + 1)
        with np.errstate(over="ignore"):
            prefix = np.zeros(n + 1, dtype=np.uint64)
            np.cumsum(cp * fwd[:n], out=prefix[1:])
            wh = (prefix[end] - prefix[start]) * bwd[start]
            ids[start - 1, len(ORDERS)] = (wh * _MIX[0]) >> _SHIFT
        valid[start - 1, len(ORDERS)] = True

    feats = ids.ravel()[valid.ravel()]
    per_row = np.count_nonzero(valid, axis=1)
    seps = np.flatnonzero(sep)  # each text starts at its separator; a last one closes
    counts = np.add.reduceat(per_row, seps[:-1]) if n_texts > 1 else per_row.sum(keepdims=True)
    if n_texts > 1:
        counts[-1] -= per_row[seps[-1] :].sum()
    return _fill_slots(feats, counts)


def _slot_table() -> np.ndarray:
    """Row ``c``: the positions a text with ``c`` ids puts in its SLOTS (cyclic when c <= SLOTS)."""
    k = np.arange(SLOTS)
    c = np.arange(SLOTS + 1)[:, None]
    return (k % np.maximum(c, 1)).astype(np.int32)


_SLOT_TABLE = _slot_table()


def _fill_slots(feats: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Spread each text's ids over SLOTS: cyclic repeat when short, even subsample when long."""
    if len(feats) == 0:
        return np.full((len(counts), SLOTS), NONE_ID, dtype=np.int32)
    counts = counts.astype(np.int32, copy=False)
    pos = _SLOT_TABLE[np.minimum(counts, SLOTS)]
    long = np.flatnonzero(counts > SLOTS)
    if len(long):
        k = np.arange(SLOTS, dtype=np.int64)
        pos[long] = (k * counts[long, None].astype(np.int64)) // SLOTS
    pos += (np.cumsum(counts) - counts).astype(np.int32)[:, None]
    np.minimum(pos, len(feats) - 1, out=pos)
    out = feats[pos]
    out[counts == 0] = NONE_ID
    return out


def featurize(text: str) -> np.ndarray:
    """int32 array ``(SLOTS,)`` of feature ids for one text."""
    return featurize_batch([text])[0]
