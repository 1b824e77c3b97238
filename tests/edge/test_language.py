"""Language ID through the runtime: guards for short and mixed texts, batching, no TensorFlow."""

from __future__ import annotations

import pytest

from edge.language import UNKNOWN, script_counts, script_runs
from edge.runtime import EdgeRuntime

SENTENCES = {
    "en": "Is the three bedroom house on Maple Street still available for a showing?",
    "es": "¿La casa de tres recámaras sigue disponible? Me gustaría verla el sábado.",
    "ko": "이 아파트는 아직 매매 가능한가요? 주말에 집을 보러 가고 싶습니다.",
    "ja": "この物件はまだ購入できますか？週末に内見をお願いしたいです。",
    "zh": "这套房子还在出售吗？我想周末去看房。",
    "ru": "Эта квартира всё ещё продаётся? Я хотел бы посмотреть её в субботу.",
    "ar": "هل هذا المنزل لا يزال متاحا للبيع؟ أود أن أراه يوم السبت.",
    "th": "บ้านหลังนี้ยังขายอยู่ไหมครับ ผมอยากไปดูบ้านวันเสาร์",
    "hi": "क्या यह घर अभी भी बिक्री के लिए उपलब्ध है? मैं इसे शनिवार को देखना चाहूंगा।",
}


@pytest.fixture
async def runtime(tmp_path):
    rt = await EdgeRuntime.open(tmp_path / "d.db")
    yield rt
    await rt.close()


async def test_sentences_in_several_scripts_are_recognized(runtime):
    guesses = runtime.detect_languages(list(SENTENCES.values()))
    assert [g.language for g in guesses] == list(SENTENCES)
    assert all(g.confidence >= 0.5 for g in guesses)


async def test_batch_equals_one_by_one(runtime):
    texts = [*SENTENCES.values(), "42", "🙂🏠"]
    assert runtime.detect_languages(texts) == [runtime.detect_language(t) for t in texts]


@pytest.mark.parametrize("text", ["", "   ", "12345", "🙂🏠🔑", "$450,000!", "..."])
async def test_texts_without_letters_are_unknown_without_a_guess(runtime, text):
    guess = runtime.detect_language(text)
    assert guess.language == UNKNOWN and guess.confidence == 0.0


async def test_below_the_threshold_the_answer_is_unknown(runtime):
    runtime.language_identifier.threshold = 1.01
    guess = runtime.detect_language(SENTENCES["en"])
    assert guess.language == UNKNOWN and guess.confidence > 0.5


async def test_a_mixed_script_text_is_flagged_and_the_majority_language_wins(runtime):
    text = "서울 강남구 아파트 매매 문의드립니다 please call me back tomorrow"
    guess = runtime.detect_language(text)
    assert guess.mixed
    assert guess.language in {"ko", "en"}
    assert set(guess.alternatives) | {guess.language} >= {"ko", "en"} or guess.confidence > 0.5


def test_japanese_kana_with_kanji_is_one_script_group():
    counts = script_counts(["東京の物件を探しています"])
    assert counts.sum() == 12
    assert list(script_runs("東京の 物件です")) == ["CJK"]


def test_script_runs_split_words_by_script():
    assert script_runs("I love 서울 apartments") == {"LATIN": "I love apartments", "HANGUL": "서울"}
