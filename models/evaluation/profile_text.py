"""Field-level precision, recall and F1 of reading a lead's criteria from text.

The labelled messages live in ``tests/data/profile_text/<lang>.jsonl`` (``text``, ``split``
``dev`` or ``test``, ``expect``: the gold fields). The extractor is passed in (it lives on the
device side, which ``models`` does not import): a function of (text, language, known places)
returning the fields in the gold's shape. Scalars count a true positive when equal to the gold,
a false positive when predicted and wrong, a false negative when gold and missed; lists count
items.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "profile_text"
SCALARS = ("price_min", "price_max", "currency", "beds", "baths", "channel", "hours")
LISTS = ("areas", "property_types", "must_haves")
FIELDS = (*SCALARS, *LISTS)
SPLITS = ("dev", "test")
#: Per-field F1 the extractor is held to.
TARGET_F1 = 0.9

Extractor = Callable[[str, str, Sequence[str]], Mapping[str, Any]]


def known_places() -> list[str]:
    """The cities and neighbourhoods of the synthetic listings (what a device's store holds)."""
    from models.synthetic.listing import areas, load_prior

    found = areas(load_prior())
    return sorted({a.name for a in found} | {a.city for a in found})


def load(directory: Path = DATA_DIR) -> dict[str, list[dict[str, Any]]]:
    """Labelled messages per language."""
    return {
        p.stem: [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        for p in sorted(directory.glob("*.jsonl"))
    }


def _same(field: str, a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return abs(float(a) - float(b)) < 0.5 if field.startswith("price") else float(a) == b
    if field == "hours":
        return list(a) == list(b)
    return a == b


def count(field: str, gold: Any, pred: Any) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) of one field of one message."""
    if field in LISTS:
        g, p = set(gold or ()), set(pred or ())
        return len(g & p), len(p - g), len(g - p)
    if pred is None:
        return 0, 0, int(gold is not None)
    if gold is None:
        return 0, 1, 0
    return (1, 0, 0) if _same(field, gold, pred) else (0, 1, 1)


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(f1, 4),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def evaluate_profile_text(
    extract: Extractor, directory: Path = DATA_DIR, places: Sequence[str] | None = None
) -> dict[str, Any]:
    """P/R/F1 per field (overall and per language) on each split, and the time per message."""
    data = load(directory)
    names = known_places() if places is None else list(places)
    totals = {s: {f: [0, 0, 0] for f in FIELDS} for s in SPLITS}
    per_lang: dict[str, dict[str, dict[str, list[int]]]] = {}
    misses: list[dict[str, Any]] = []
    n = {s: 0 for s in SPLITS}
    spent = 0.0
    for lang, rows in data.items():  # compile each language's patterns: time the steady state
        for row in rows[:1]:
            extract(row["text"], lang, names)
    for lang, rows in data.items():
        per_lang[lang] = {s: {f: [0, 0, 0] for f in FIELDS} for s in SPLITS}
        for row in rows:
            split = row["split"]
            t0 = time.perf_counter()
            pred = extract(row["text"], lang, names)
            spent += time.perf_counter() - t0
            n[split] += 1
            for f in FIELDS:
                c = count(f, row["expect"].get(f), pred.get(f))
                for acc in (totals[split][f], per_lang[lang][split][f]):
                    for i in range(3):
                        acc[i] += c[i]
                if split == "test" and (c[1] or c[2]):
                    misses.append(
                        {
                            "id": row["id"],
                            "field": f,
                            "gold": row["expect"].get(f),
                            "predicted": pred.get(f),
                        }
                    )
    fields = {s: {f: prf(*totals[s][f]) for f in FIELDS} for s in SPLITS}
    return {
        "messages": n,
        "languages": len(data),
        "target_f1": TARGET_F1,
        "fields": fields,
        "per_language_f1": {
            lang: {s: {f: prf(*v[s][f])["f1"] for f in FIELDS} for s in SPLITS}
            for lang, v in per_lang.items()
        },
        "below_target": [f for f in FIELDS if fields["test"][f]["f1"] < TARGET_F1],
        "test_misses": misses,
        "ms_per_message": round(1000 * spent / max(1, sum(n.values())), 4),
    }


def markdown(res: dict[str, Any]) -> list[str]:
    """The report's section: per-field P/R/F1 on both splits, then F1 per language (test)."""
    lines = [
        "",
        "## Profile text extraction (field-level, labelled messages)",
        "",
        f"{res['messages']['dev']} dev and {res['messages']['test']} test messages in "
        f"{res['languages']} languages; {res['ms_per_message']} ms per message; "
        f"target F1 >= {res['target_f1']} per field.",
        "",
        "| field | test P | test R | test F1 | dev P | dev R | dev F1 | met (test) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in FIELDS:
        t, d = res["fields"]["test"][f], res["fields"]["dev"][f]
        lines.append(
            f"| {f} | {t['precision']:.3f} | {t['recall']:.3f} | {t['f1']:.3f} "
            f"| {d['precision']:.3f} | {d['recall']:.3f} | {d['f1']:.3f} "
            f"| {'yes' if t['f1'] >= res['target_f1'] else 'no'} |"
        )
    lines += [
        "",
        "F1 per language on the test half:",
        "",
        "| language | " + " | ".join(FIELDS) + " |",
        "|---" * (1 + len(FIELDS)) + "|",
    ]
    for lang, v in res["per_language_f1"].items():
        lines.append(f"| {lang} | " + " | ".join(f"{v['test'][f]:.2f}" for f in FIELDS) + " |")
    return lines
