"""The benchmarks run on tiny samples and report what they document.

Language: our identifier beside the other detectors on a few lingua items per language.
Voice: character error rate and real-time factor on two Korean clips. Features: timing of
one lead's feature extraction. Data-dependent tests skip when ``shared/data`` is absent.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from models.language.evaluate import KINDS
from models.language.labels import LANGUAGES
from models.language.train import GOLDEN_TEXTS

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LINGUA = DATA / "lingua-langid-testdata"


@pytest.fixture
def tiny_lingua(tmp_path) -> Path:
    """Every kind and language, two items: the golden sentence and its first word."""
    root = tmp_path / "lingua"
    for kind in KINDS:
        (root / kind).mkdir(parents=True)
        for lang, text in zip(LANGUAGES, GOLDEN_TEXTS, strict=True):
            first = text.split()[0] if " " in text else text[:2]
            (root / kind / f"{lang}.txt").write_text(f"{text}\n{first}\n", encoding="utf-8")
    return root


# --- language ----------------------------------------------------------------------------


def test_bench_language_reports_errors_and_ratios_per_detector(tiny_lingua, monkeypatch):
    from tools import bench_language

    def broken():
        raise RuntimeError("model download needed")

    def english():
        return lambda texts: ["en"] * len(texts)

    monkeypatch.setattr(
        bench_language,
        "DETECTORS",
        {
            "realty-edge": bench_language.ours,
            "broken": broken,
            "always-en": english,
        },
    )
    lines = []
    res = bench_language.run(tiny_lingua, limit=1, progress=lines.append)

    assert res["limit_per_language"] == 1
    assert res["detectors"]["broken"] == {"error": "RuntimeError: model download needed"}
    assert "broken: not available (model download needed)" in lines
    ours, en = res["detectors"]["realty-edge"], res["detectors"]["always-en"]
    keys = {"sentences", "word_pairs", "single_words"}
    assert set(ours) == keys | {f"{k}_texts_per_s" for k in keys}
    assert ours["sentences"] >= 15 / 16  # the shipped model reads the golden sentences
    assert en["sentences"] == en["word_pairs"] == en["single_words"] == 1 / 16
    assert set(res["ours_over_theirs"]) == {"always-en"}
    ratio = res["ours_over_theirs"]["always-en"]
    assert ratio["sentences"] == pytest.approx(ours["sentences"] * 16)
    assert ratio["word_pairs_texts_per_s"] == pytest.approx(
        ours["word_pairs_texts_per_s"] / en["word_pairs_texts_per_s"]
    )
    assert len(lines) == 3


def test_bench_language_loads_limit_items_per_language_in_order(tiny_lingua):
    from tools.bench_language import load

    data = load(tiny_lingua, limit=1)
    assert list(data) == list(KINDS)
    texts, truth = data["sentences"]
    assert texts == list(GOLDEN_TEXTS) and truth == list(LANGUAGES)
    assert len(load(tiny_lingua, limit=None)["word-pairs"][0]) == 2 * len(LANGUAGES)


def test_bench_language_on_lingua_data_runs_every_installed_detector():
    from tools.bench_language import DETECTORS, run

    if not (LINGUA / "sentences").is_dir():
        pytest.skip(f"lingua test data not found at {LINGUA}")
    res = run(LINGUA, limit=2, progress=lambda line: None)
    assert set(res["detectors"]) == set(DETECTORS)
    ours = res["detectors"]["realty-edge"]
    assert "error" not in ours
    for row in res["detectors"].values():
        for k, v in row.items():
            if k == "error":
                continue
            assert math.isfinite(v) and v >= 0
            if not k.endswith("_per_s"):
                assert v <= 1.0
    assert ours["sentences"] >= 0.9
    loaded = {n for n, row in res["detectors"].items() if "error" not in row} - {"realty-edge"}
    assert set(res["ours_over_theirs"]) == loaded


# --- voice: see test_bench_voice.py ------------------------------------------------------


# --- feature extraction ------------------------------------------------------------------


def test_feature_bench_rows_are_seeded_and_shaped_like_the_sql_join():
    from models.features.columns import EVENT_ROW_FIELDS, columns_from_rows
    from tools.bench_features import NOW_MS, sample_rows

    rows = sample_rows(50, seed=3)
    assert rows == sample_rows(50, seed=3) and rows != sample_rows(50, seed=4)
    assert all(len(r) == len(EVENT_ROW_FIELDS) for r in rows)
    assert all(NOW_MS - 120 * 86_400_000 <= r[0] <= NOW_MS for r in rows)
    with_listing = ("property_view", "property_save", "inquiry", "offer")
    assert all((r[7] is None) == (r[1] not in with_listing) for r in rows)
    assert len(columns_from_rows(rows)) == 50


def test_feature_bench_cli_prints_min_median_p95_in_order(monkeypatch, capsys):
    from typer.testing import CliRunner

    from tools import bench_features as bench
    from tools.cli import app

    res = bench.bench(n_events=20, runs=5)
    for name in ("extract", "rows+extract"):
        lo, mid, hi = (res[f"{name}.{k}_ms"] for k in ("min", "median", "p95"))
        assert 0 < lo <= mid <= hi
    result = CliRunner().invoke(app, ["bench", "features", "--events", "10", "--runs", "3"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(res)
    assert all(re.fullmatch(r"\S+\s+\d+\.\d{3}", line) for line in lines)
