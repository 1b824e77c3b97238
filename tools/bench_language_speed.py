"""End-to-end throughput of language identification (features + int8 model) on one core.

``realty-edge bench language-speed [--texts FILE ...] [--batch 1024]``: without files it uses
lingua's test sentences when present, else a built-in set of short sentences.
"""

from __future__ import annotations

import time
from pathlib import Path

from models.language.evaluate import DEFAULT_DATA_DIR
from models.language.labels import LANGUAGES

_FALLBACK = [
    "Can we see the house on Saturday?",
    "¿Podemos ver la casa el sábado?",
    "我们星期六可以看房子吗？",
    "Chúng ta có thể xem nhà vào thứ bảy không?",
    "토요일에 집을 볼 수 있을까요?",
    "Puwede ba naming makita ang bahay sa Sabado?",
    "هل يمكننا رؤية المنزل يوم السبت؟",
    "Pouvons-nous voir la maison samedi ?",
]


def load_texts(files: list[Path]) -> list[str]:
    if not files and (DEFAULT_DATA_DIR / "sentences").is_dir():
        files = [DEFAULT_DATA_DIR / "sentences" / f"{code}.txt" for code in LANGUAGES]
    texts = [
        line for f in files for line in f.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    return texts or _FALLBACK * 2000


def measure(model, texts: list[str], batch: int, repeat: int = 3) -> dict[str, float]:
    """Best of ``repeat`` passes: texts per second for features alone and end to end."""
    from models.language.features import featurize_batch

    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    model.predict_batch(batches[0])
    best_feat = best_all = 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        for b in batches:
            featurize_batch(b)
        best_feat = max(best_feat, len(texts) / (time.perf_counter() - t))
        t = time.perf_counter()
        for b in batches:
            model.predict_batch(b)
        best_all = max(best_all, len(texts) / (time.perf_counter() - t))
    return {"features_per_s": best_feat, "end_to_end_per_s": best_all, "texts": float(len(texts))}
