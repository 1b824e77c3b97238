"""Language-ID training text, the trainer, the lingua evaluation and the throughput benchmark.

The trainer runs for real on a tiny corpus: wordfreq's "small" lists instead of the "best" ones
(the large lists take seconds per language to load), a thousandth of the shipped sample
counts and one epoch. The lingua data is a tiny stand-in written under ``tmp_path``.

Tests that import TensorFlow take ``tensorflow_process`` (``tests/models/conftest.py``): they
run in a child interpreter, away from the Kivy client's window libraries.
"""

from __future__ import annotations

import math
import re
import shutil

import numpy as np
import pytest

from edge.inference import ModelRegistry
from edge.spec_hashes import SPEC_HASHES
from models.artifact import ARTIFACT_DIR, load_verified, read_manifest
from models.errors import ModelError, TrainingDataError
from models.language import corpus
from models.language.evaluate import KINDS, evaluate_lingua, format_report, read_items
from models.language.features import FEATURE_SPEC_HASH
from models.language.labels import LANGUAGES
from models.language.train import GOLDEN_TEXTS

pytestmark = pytest.mark.filterwarnings(
    "ignore:Statistics for quantized inputs were expected:UserWarning"
)

#: One sentence per language, in ``LANGUAGES`` order (the trainer's golden texts).
SENTENCE = dict(zip(LANGUAGES, GOLDEN_TEXTS, strict=True))


@pytest.fixture
def small_wordlists(monkeypatch):
    """wordfreq's small lists in place of the large ones (same code path, ~100x faster)."""
    import wordfreq

    real = wordfreq.get_frequency_dict
    monkeypatch.setattr(
        wordfreq, "get_frequency_dict", lambda code, wordlist="best": real(code, wordlist="small")
    )


@pytest.fixture
def lingua_dir(tmp_path):
    """A lingua-shaped test folder: every kind and language, a sentence and a word each."""
    root = tmp_path / "lingua"
    for kind in KINDS:
        (root / kind).mkdir(parents=True)
        for lang in LANGUAGES:
            (root / kind / f"{lang}.txt").write_text(f"{SENTENCE[lang]}\n\n  \n", encoding="utf-8")
    return root


@pytest.fixture
def language_artifact(tmp_path):
    """A copy of the shipped language model, safe to rewrite."""
    out = tmp_path / "artifacts"
    out.mkdir()
    for suffix in (".tflite", ".manifest.json"):
        shutil.copy(ARTIFACT_DIR / f"language{suffix}", out / f"language{suffix}")
    return out


# --- corpus ------------------------------------------------------------------------------


def test_wordlist_is_letters_only_by_descending_frequency_and_normalized():
    wl = corpus.load_wordlist("tl", top=5000)  # Tagalog comes from wordfreq's "fil"
    assert wl.language == "tl" and len(wl.words) == len(wl.freqs) == 5000
    assert "ang" in wl.words[:10]
    assert wl.freqs.sum() == pytest.approx(1.0)
    assert np.all(np.diff(wl.freqs) <= 0)
    assert all(any(c.isalpha() for c in w) and not any(c.isdigit() for c in w) for w in wl.words)


def test_thai_wordlist_comes_from_pythainlp():
    wl = corpus.load_wordlist("th", top=2000)
    assert len(wl.words) == 2000
    assert all(any("\u0e00" <= c <= "\u0e7f" for c in w) for w in wl.words[:50])
    assert np.all(np.diff(wl.freqs) <= 0)


def test_a_wordlist_under_a_thousand_words_is_refused_by_name():
    with pytest.raises(TrainingDataError, match="language vi: only 999 words"):
        corpus.load_wordlist("vi", top=999)


def _wordlist(language: str, words: list[str]) -> corpus.WordList:
    freqs = 1.0 / np.arange(1, len(words) + 1)
    return corpus.WordList(language, words, freqs / freqs.sum())


def test_samples_have_the_requested_kinds_and_counts_and_are_seeded():
    wl = _wordlist("en", [f"word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(1200)])
    counts = {"single": 30, "pair": 20, "sentence": 10, "window": 7}
    out = corpus.sample_texts(wl, np.random.default_rng(0), counts)
    kinds = [k for k, _ in out]
    # no windows for a language written with spaces
    assert kinds == ["single"] * 30 + ["pair"] * 20 + ["sentence"] * 10
    assert all(len(t.split(" ")) == 2 for k, t in out if k == "pair")
    for _, text in (s for s in out if s[0] == "sentence"):
        assert 3 <= len(text.split(" ")) <= 25
    assert out == corpus.sample_texts(wl, np.random.default_rng(0), counts)
    assert out != corpus.sample_texts(wl, np.random.default_rng(1), counts)


def test_languages_without_spaces_get_windows_and_joined_pairs():
    wl = _wordlist(
        "th", [f"{chr(0x0E01 + i % 40)}{chr(0x0E01 + i // 40 % 40)}" for i in range(1200)]
    )
    out = corpus.sample_texts(wl, np.random.default_rng(0), {"pair": 200, "window": 50})
    windows = [t for k, t in out if k == "window"]
    assert len(windows) == 50 and all(1 <= len(t) <= 4 for t in windows)
    pairs = [t for k, t in out if k == "pair"]
    joined = sum(" " not in t for t in pairs) / len(pairs)
    assert 0.7 < joined < 0.9  # 80% joined without a space, the rest with one


def test_japanese_single_words_written_only_in_han_are_rare():
    han = [chr(0x4E00 + i) + chr(0x4E00 + i + 1) for i in range(600)]
    kana = [chr(0x3041 + i % 80) + chr(0x30A1 + i // 80) for i in range(600)]
    words = [w for pair in zip(han, kana, strict=True) for w in pair]
    out = corpus.sample_texts(_wordlist("ja", words), np.random.default_rng(0), {"single": 2000})
    share = np.mean([corpus._is_han_only(t) for _, t in out])
    assert share < 0.2  # ~1/11 after the 0.1 down-weighting; half the list is Han-only


def test_build_dataset_without_samples_is_refused(monkeypatch):
    from models.language.train import build_dataset

    words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(1000)]
    monkeypatch.setattr(corpus, "load_wordlist", lambda lang: _wordlist(lang, words))

    with pytest.raises(TrainingDataError, match="no training samples"):
        build_dataset(0, samples={}, progress=False)


# --- the trainer -------------------------------------------------------------------------


def test_too_few_samples_for_the_dev_split_and_training_is_a_clear_error(
    tmp_path, small_wordlists, tensorflow_process
):
    from models.errors import TrainingDataError
    from models.language.train import SAMPLES, train_language_model

    samples = {k: max(1, int(v * 0.0005)) for k, v in SAMPLES.items()}
    with pytest.raises(TrainingDataError, match=r"the dev split takes 1000 .* raise --scale"):
        train_language_model(tmp_path, seed=0, progress=False, samples=samples, epochs=1)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_language_cli_trains_a_tiny_model_the_device_loads(
    tmp_path, monkeypatch, capsys, small_wordlists, lingua_dir, tensorflow_process
):
    from models.language.train import SAMPLES, train_language_model

    out = tmp_path / "out"
    samples = {k: max(1, int(v * 0.001)) for k, v in SAMPLES.items()}
    saved = train_language_model(out, 4, False, samples=samples, epochs=1, lingua_dir=lingua_dir)
    manifest = read_manifest(out, "language")
    assert saved == manifest
    assert manifest.version.endswith("-s4")

    blob, _ = load_verified(out, "language", FEATURE_SPEC_HASH)
    assert manifest.labels == list(LANGUAGES)
    assert manifest.inputs[0].dtype == "int32"
    assert len(manifest.golden) == len(GOLDEN_TEXTS)
    m = manifest.metrics
    assert all(math.isfinite(v) for v in m.values())
    # 0.001 of the shipped counts: 60 + 40 + 14 per language, plus up to 12 windows for zh/ja/th
    assert 16 * 114 - 1000 <= m["train_samples"] <= 16 * 114 + 36 - 1000
    assert m["seed"] == 4.0 and m["size_bytes"] == len(blob) < m["float_size_bytes"]
    for key in (
        "dev_accuracy",
        "float_dev_accuracy",
        "argmax_agreement",
        "dev_accuracy_single",
        "dev_accuracy_pair",
        "dev_accuracy_sentence",
        "dev_accuracy_window",
        "lingua_sentences",
        "lingua_word_pairs",
        "lingua_single_words",
    ):
        assert 0.0 <= m[key] <= 1.0, key
    assert 0.0 <= m["parity_mean_abs_diff"] <= m["parity_max_abs_diff"] <= 1.0

    model = ModelRegistry(None, SPEC_HASHES, shipped_dir=out).get("language")  # canary runs
    probs = model.predict1(np.asarray([model.manifest.golden[0].input], np.float32))
    assert probs.shape == (1, len(LANGUAGES)) and probs.sum() == pytest.approx(1.0, abs=0.05)


def test_accuracy_by_kind_counts_each_kind_present():
    from models.language.train import _accuracy_by_kind

    pred = np.array([0, 1, 2, 2])
    y = np.array([0, 1, 1, 2])
    kinds = np.array(["single", "single", "pair", "pair"])
    assert _accuracy_by_kind(pred, y, kinds) == {
        "dev_accuracy": 0.75,
        "dev_accuracy_single": 1.0,
        "dev_accuracy_pair": 0.5,
    }


# --- lingua evaluation -------------------------------------------------------------------


def test_evaluate_lingua_counts_per_language_and_ignores_blank_lines(lingua_dir):
    seen = []

    def always_english_in_batches_of_five(texts):
        seen.append(len(texts))
        return ["en" if i % 2 == 0 else "xx" for i in range(len(texts))]

    res = evaluate_lingua(lingua_dir, always_english_in_batches_of_five, batch_size=5)
    assert seen == [1] * (len(KINDS) * len(LANGUAGES))  # one item per file: blanks dropped
    for kind in KINDS:
        assert res["per_language"][kind]["en"] == 1.0
        assert res["per_language"][kind]["es"] == 0.0
        assert res["mean"][kind] == pytest.approx(1 / len(LANGUAGES))
        assert res["counts"][kind] == dict.fromkeys(LANGUAGES, 1)
        conf = res["confusion"][kind]
        assert conf.shape == (16, 16) and conf[:, 0].sum() == 16 and conf.sum() == 16
    assert res["labels"] == list(LANGUAGES)


def test_a_prediction_outside_the_labels_is_wrong_and_in_no_column(lingua_dir):
    res = evaluate_lingua(lingua_dir, lambda texts: ["xx"] * len(texts), languages=("en", "es"))
    assert res["mean"] == dict.fromkeys(KINDS, 0.0)
    assert all(int(c.sum()) == 0 for c in res["confusion"].values())


def test_missing_lingua_file_names_the_path(tmp_path):
    with pytest.raises(ModelError, match=re.escape(str(tmp_path / "sentences" / "en.txt"))):
        read_items(tmp_path, "sentences", "en")


def test_format_report_has_a_row_per_kind_in_percent(lingua_dir):
    res = evaluate_lingua(lingua_dir, lambda texts: ["en"] * len(texts))
    lines = format_report(res).splitlines()
    assert lines[0].split() == ["kind", *LANGUAGES, "mean"]
    assert [line.split()[0] for line in lines[1:]] == list(KINDS)
    assert lines[1].split()[1:3] == ["100.0", "0.0"] and lines[1].split()[-1] == "6.25"


def test_evaluate_cli_records_lingua_means_in_a_copy_of_the_shipped_manifest(
    monkeypatch, capsys, lingua_dir, language_artifact
):
    from models.language.evaluate import record_metrics
    from models.language.infer import LanguageModel

    before = read_manifest(language_artifact, "language")
    model = LanguageModel.from_artifact(language_artifact)
    result = evaluate_lingua(lingua_dir, lambda texts: model.predict_batch(texts)[0])
    record_metrics(language_artifact, result)
    lines = format_report(result).splitlines()
    assert lines[0].startswith("kind") and len(lines) == 1 + len(KINDS)
    # the shipped model reads the golden sentence of each language right
    sentences = float(lines[1].split()[-1])
    assert sentences >= 90.0

    _blob, after = load_verified(language_artifact, "language", FEATURE_SPEC_HASH)
    assert after.sha256 == before.sha256  # the model itself is untouched
    assert after.metrics["lingua_sentences"] == pytest.approx(sentences / 100, abs=1e-4)
    assert {"lingua_word_pairs", "lingua_single_words"} <= set(after.metrics)
    untouched = {k: v for k, v in before.metrics.items() if not k.startswith("lingua_")}
    assert {k: after.metrics[k] for k in untouched} == untouched


# --- throughput benchmark ----------------------------------------------------------------


def test_benchmark_texts_come_from_files_then_lingua_then_the_fallback(tmp_path, monkeypatch):
    from tools import bench_language_speed as benchmark

    f = tmp_path / "texts.txt"
    f.write_text("Hola\n\n  \nBonjour\n", encoding="utf-8")
    assert benchmark.load_texts([f]) == ["Hola", "Bonjour"]
    lingua = tmp_path / "lingua"
    (lingua / "sentences").mkdir(parents=True)
    for lang in LANGUAGES:
        (lingua / "sentences" / f"{lang}.txt").write_text(SENTENCE[lang] + "\n", encoding="utf-8")
    monkeypatch.setattr(benchmark, "DEFAULT_DATA_DIR", lingua)
    assert benchmark.load_texts([]) == list(GOLDEN_TEXTS)
    monkeypatch.setattr(benchmark, "DEFAULT_DATA_DIR", tmp_path / "absent")
    texts = benchmark.load_texts([])
    assert len(texts) == 2000 * len(benchmark._FALLBACK) and texts[:8] == benchmark._FALLBACK


def test_benchmark_cli_prints_throughput_of_the_shipped_model(tmp_path, monkeypatch, capsys):
    from models.language.infer import LanguageModel
    from tools import bench_language_speed as benchmark

    model = LanguageModel.from_artifact()
    r = benchmark.measure(model, list(GOLDEN_TEXTS) * 3, batch=10, repeat=2)
    assert set(r) == {"features_per_s", "end_to_end_per_s", "texts"}
    assert r["texts"] == 48.0 and r["features_per_s"] > 0 and r["end_to_end_per_s"] > 0

    f = tmp_path / "texts.txt"
    f.write_text("\n".join(GOLDEN_TEXTS) + "\n", encoding="utf-8")
    from typer.testing import CliRunner

    from tools.cli import app

    result = CliRunner().invoke(
        app,
        [
            "bench",
            "language-speed",
            "--texts",
            str(f),
            "--batch",
            "4",
            "--artifacts",
            str(ARTIFACT_DIR),
        ],
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert re.fullmatch(
        r"16 texts \(mean \d+ chars\), batch 4, 1 thread: features [\d,]+/s, "
        r"end to end [\d,]+/s",
        out,
    ), out
