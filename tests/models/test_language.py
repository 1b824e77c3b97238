"""The shipped language-identification model, run as a phone runs it: tflite_runtime, no TF."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from models.artifact import ARTIFACT_DIR, load_verified
from models.errors import ArtifactError
from models.language.features import (
    FEATURE_SPEC_HASH,
    NONE_ID,
    SLOTS,
    VOCAB_SIZE,
    featurize,
    featurize_batch,
)
from models.language.infer import MODEL_NAME, LanguageModel
from models.language.labels import LANGUAGES

pytest.importorskip("tflite_runtime.interpreter")

# Written for these tests (not taken from any test corpus).
OBVIOUS = {
    "en": "We would like to schedule a viewing of the apartment on Saturday morning, if possible.",
    "es": "Nos gustaría ver el apartamento el sábado por la mañana, si le parece bien a usted.",
    "zh": "我们想在星期六上午去看看这套公寓，请问您方便吗？",
    "vi": "Chúng tôi muốn đến xem căn hộ vào sáng thứ bảy, nếu anh chị thấy tiện.",
    "ko": "토요일 오전에 아파트를 보러 가고 싶은데 괜찮으신가요?",
    "tl": "Gusto sana naming tingnan ang bahay sa Sabado ng umaga kung ayos lang po sa inyo.",
    "ar": "نود أن نشاهد الشقة صباح يوم السبت إذا كان ذلك مناسبا لكم.",
    "fr": "Nous aimerions visiter l'appartement samedi matin, si cela vous convient.",
    "ru": "Мы хотели бы посмотреть квартиру в субботу утром, если вам удобно.",
    "pt": "Gostaríamos de visitar o apartamento no sábado de manhã, se for conveniente para você.",
    "hi": "हम शनिवार सुबह फ्लैट देखना चाहते हैं, अगर आपको सुविधा हो तो।",
    "ja": "土曜日の午前中にアパートを見学したいのですが、ご都合はいかがでしょうか。",
    "de": "Wir würden die Wohnung gerne am Samstagvormittag besichtigen, wenn es Ihnen passt.",
    "it": "Vorremmo vedere l'appartamento sabato mattina, se per lei va bene.",
    "th": "เราอยากไปดูอพาร์ตเมนต์ในเช้าวันเสาร์ ถ้าคุณสะดวกนะครับ",
    "tr": "Uygunsanız cumartesi sabahı daireyi görmek istiyoruz.",
}


@pytest.fixture(scope="module")
def shipped_model() -> LanguageModel:
    return LanguageModel.from_artifact(ARTIFACT_DIR)


def test_manifest_verifies_and_describes_the_model():
    blob, manifest = load_verified(ARTIFACT_DIR, MODEL_NAME, FEATURE_SPEC_HASH)
    assert manifest.labels == list(LANGUAGES)
    assert manifest.size == len(blob) < 1_000_000
    assert manifest.inputs[0].dtype == "int32"
    assert manifest.inputs[0].shape[-1] == SLOTS
    assert manifest.outputs[0].dtype == "int8"
    assert manifest.golden


def test_loads_with_tflite_runtime(shipped_model):
    from models.tflite import runtime_name

    assert runtime_name() == "tflite_runtime"
    assert shipped_model.labels == LANGUAGES


@pytest.mark.parametrize("code", LANGUAGES)
def test_obvious_sentence_is_detected(shipped_model, code):
    predicted, confidence = shipped_model.predict(OBVIOUS[code])
    assert predicted == code
    assert confidence > 0.5


def test_batch_predicts_every_language_at_once(shipped_model):
    codes, confidences = shipped_model.predict_batch(list(OBVIOUS.values()))
    assert codes == list(OBVIOUS)
    assert confidences.dtype == np.float32 and confidences.shape == (len(OBVIOUS),)
    proba = shipped_model.predict_proba(list(OBVIOUS.values()))
    assert proba.shape == (len(OBVIOUS), len(LANGUAGES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=0.05)


def test_golden_cases_reproduce(shipped_model):
    for case in shipped_model.manifest.golden:
        got = shipped_model.predict_ids(np.asarray([case.input], dtype=np.int32))[0]
        np.testing.assert_allclose(got, case.output, atol=case.tolerance)


def test_featurize_batch_equals_stacked_featurize():
    texts = [*OBVIOUS.values(), "", "a", "😀😀", "12345", "x" * 1000, "hello\x00world", "İstanbul"]
    batch = featurize_batch(texts)
    assert batch.dtype == np.int32 and batch.shape == (len(texts), SLOTS)
    np.testing.assert_array_equal(batch, np.stack([featurize(t) for t in texts]))
    assert batch.min() >= 0 and batch.max() < VOCAB_SIZE


def test_featurize_is_case_and_punctuation_insensitive():
    np.testing.assert_array_equal(featurize("Hello, World!"), featurize("hello world"))


def test_text_without_letters_has_no_features():
    for text in ["", "😀 🏠", "123 456", "!!!"]:
        assert (featurize(text) == NONE_ID).all()


def test_empty_emoji_digits_do_not_crash(shipped_model):
    codes, confidences = shipped_model.predict_batch(["", "😀🏠", "0123456789", " ", "\x00"])
    assert len(codes) == 5 and all(c in LANGUAGES for c in codes)
    assert np.isfinite(confidences).all()
    codes, confidences = shipped_model.predict_batch([])
    assert codes == [] and confidences.shape == (0,)


def test_truncated_model_gives_a_clear_error(tmp_path):
    blob, _ = load_verified(ARTIFACT_DIR, MODEL_NAME)
    shutil.copy(ARTIFACT_DIR / f"{MODEL_NAME}.manifest.json", tmp_path)
    (tmp_path / f"{MODEL_NAME}.tflite").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ArtifactError, match=f"model {MODEL_NAME}"):
        LanguageModel.from_artifact(tmp_path)


def test_corrupt_model_gives_a_clear_error(tmp_path):
    blob, _ = load_verified(ARTIFACT_DIR, MODEL_NAME)
    shutil.copy(ARTIFACT_DIR / f"{MODEL_NAME}.manifest.json", tmp_path)
    corrupt = bytearray(blob)
    corrupt[100:120] = b"\xff" * 20
    (tmp_path / f"{MODEL_NAME}.tflite").write_bytes(bytes(corrupt))
    with pytest.raises(ArtifactError, match=f"model {MODEL_NAME}.*sha256"):
        LanguageModel.from_artifact(tmp_path)


def test_garbage_blob_that_passes_the_manifest_is_refused_by_name():
    from models.artifact import build_manifest

    garbage = b"not a flatbuffer" * 64
    manifest = build_manifest(MODEL_NAME, garbage, version="t", feature_spec_hash=FEATURE_SPEC_HASH)
    with pytest.raises(ArtifactError, match=f"model {MODEL_NAME} t: .*cannot load"):
        LanguageModel.from_blob(garbage, manifest)
