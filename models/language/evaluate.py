"""Accuracy on lingua's language-identification test data (evaluation only: never train on it).

Layout (see the data folder's SOURCE.md): ``<kind>/<iso>.txt`` with one item per line, kinds
``sentences``, ``word-pairs`` and ``single-words``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from models.errors import ModelError
from models.language.labels import LANGUAGES

KINDS = ("sentences", "word-pairs", "single-words")
DEFAULT_DATA_DIR = Path("/work/shared/data/lingua-langid-testdata")

Predict = Callable[[Sequence[str]], Sequence[str]]


def read_items(data_dir: Path, kind: str, language: str) -> list[str]:
    path = Path(data_dir) / kind / f"{language}.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise ModelError(f"lingua test data: no file {path}") from exc
    return [line.strip() for line in lines if line.strip()]


def evaluate_lingua(
    data_dir: Path | str,
    predict: Predict,
    languages: Sequence[str] = LANGUAGES,
    batch_size: int = 4096,
) -> dict:
    """Accuracy of ``predict`` (a batch of texts -> their language codes) per kind and language.

    Returns ``{"mean": {kind: acc}, "per_language": {kind: {lang: acc}},
    "confusion": {kind: int array (true, predicted)}, "labels": [...], "counts": {...}}``;
    a prediction outside ``languages`` counts as wrong (it lands in no column).
    """
    index = {code: i for i, code in enumerate(languages)}
    result: dict = {
        "mean": {},
        "per_language": {},
        "confusion": {},
        "labels": list(languages),
        "counts": {},
    }
    for kind in KINDS:
        confusion = np.zeros((len(languages), len(languages)), dtype=np.int64)
        per_lang: dict[str, float] = {}
        counts: dict[str, int] = {}
        for lang in languages:
            items = read_items(Path(data_dir), kind, lang)
            predicted: list[str] = []
            for start in range(0, len(items), batch_size):
                predicted.extend(predict(items[start : start + batch_size]))
            correct = sum(p == lang for p in predicted)
            for p in predicted:
                if p in index:
                    confusion[index[lang], index[p]] += 1
            per_lang[lang] = correct / len(items) if items else 0.0
            counts[lang] = len(items)
        result["per_language"][kind] = per_lang
        result["mean"][kind] = float(np.mean(list(per_lang.values())))
        result["confusion"][kind] = confusion
        result["counts"][kind] = counts
    return result


def format_report(result: dict) -> str:
    """Plain-text table of per-language and mean accuracy (%)."""
    langs = result["labels"]
    lines = ["kind          " + " ".join(f"{x:>5}" for x in langs) + "   mean"]
    for kind in KINDS:
        per = result["per_language"][kind]
        lines.append(
            f"{kind:<13} "
            + " ".join(f"{100 * per[x]:5.1f}" for x in langs)
            + f"  {100 * result['mean'][kind]:5.2f}"
        )
    return "\n".join(lines)


def record_metrics(directory: Path, result: dict, name: str = "language") -> None:
    """Store the lingua means (``lingua_<kind>``) in the manifest; the blob stays as it is."""
    import msgspec

    from models.artifact import load_verified, save_artifact

    blob, manifest = load_verified(Path(directory), name)
    metrics = dict(manifest.metrics)
    for kind, value in result["mean"].items():
        metrics[f"lingua_{kind.replace('-', '_')}"] = float(value)
    save_artifact(Path(directory), blob, msgspec.structs.replace(manifest, metrics=metrics))
