"""Speech to text on the device: whole clips, or a stream of PCM chunks with partial results.

One :class:`Transcriber` serves every language that has a model; the models are shared across
the process (see :mod:`edge.voice.models`), each call or stream has a recognizer of its own
while it runs, so calls may run in parallel threads (the runtime calls through
``asyncio.to_thread``). Finished recognizers are kept warm and reused (:mod:`edge.voice.pool`);
whole clips may have their long pauses cut out before decoding (:mod:`edge.voice.vad`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from edge.errors import VoiceError
from edge.voice.audio import SAMPLE_RATE, Pcm, pcm_from_bytes, read_wav
from edge.voice.models import VoskModels, default_registry, language_key
from edge.voice.normalize import normalize_transcript
from edge.voice.pool import Lease, RecognizerPool
from edge.voice.vad import TimeMap, VadSettings, compact


class Word(msgspec.Struct, frozen=True, kw_only=True):
    """One recognized word, timed from the start of the audio."""

    word: str
    start_s: float
    end_s: float
    confidence: float


class Transcript(msgspec.Struct, frozen=True, kw_only=True):
    """The final text of a clip or a stream."""

    text: str
    language: str
    duration_s: float
    real_time_factor: float  # seconds of work per second of audio
    words: list[Word] = msgspec.field(default_factory=list)
    confidence: float | None = None  # mean word confidence, when words were recognized
    raw_text: str = ""  # what the recognizer said, before normalization


class Partial(msgspec.Struct, frozen=True, kw_only=True):
    """What a stream has heard so far; it may still change."""

    text: str
    language: str
    audio_s: float


#: What :meth:`TranscriptionStream.finish` returns.
Final = Transcript


class DecoderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How audio is prepared and fed to the recognizer."""

    chunk_s: float = 0.25  # whole-clip feeding, in pieces of this length
    #: Samples are multiplied by this before decoding (streams too): -6 dB. The Korean model
    #: makes far fewer errors on attenuated input (chosen on the tuning half of the Korean
    #: clips: x0.35 and x0.5 alike, x0.25 a little worse, x1 and peak normalization worse).
    input_gain: float = 0.5
    #: If set, whole clips are scaled so their RMS is this (16-bit units) instead of input_gain.
    target_rms: float | None = None
    words: bool = True  # word timings and confidences in the transcript
    #: Pauses do not cut the audio into separate utterances until one is this long: decoding a
    #: voice note as one utterance keeps the language-model context and the speaker adaptation
    #: (cutting at every pause made the Korean error rate worse); it bounds memory on long audio.
    max_utterance_s: float = 60.0
    #: Reuse finished recognizers: they keep the lookahead graph's composition cache warm,
    #: which on the Korean model is most of a fresh recognizer's decoding time.
    reuse_recognizers: bool = True
    #: If set, whole clips lose their long pauses before decoding (streams are never cut).
    vad: VadSettings | None = None


def _segment_text(result: str) -> tuple[str, list[dict[str, Any]]]:
    data = json.loads(result)
    return data.get("text", ""), data.get("result", [])


def _scaled(samples: NDArray[np.int16], gain: float) -> NDArray[np.int16]:
    """``samples`` times ``gain``, rounded and clipped to 16 bits."""
    if gain == 1.0:
        return samples
    scaled: NDArray[np.int16] = np.clip(
        np.round(samples.astype(np.float64) * gain), -32768, 32767
    ).astype(np.int16)
    return scaled


def _level(samples: NDArray[np.int16], settings: DecoderSettings) -> NDArray[np.int16]:
    """Whole-clip level: to ``target_rms`` if set, else times ``input_gain``."""
    if settings.target_rms is None or len(samples) == 0:
        return _scaled(samples, settings.input_gain)
    rms = float(np.sqrt(np.mean(samples.astype(np.float64) ** 2)))
    return _scaled(samples, settings.target_rms / rms) if rms >= 1.0 else samples


class TranscriptionStream:
    """Feed 16 kHz mono 16-bit PCM chunks; get partial results, then the final transcript."""

    def __init__(
        self,
        recognizer: Any,
        language: str,
        settings: DecoderSettings,
        *,
        lease: Lease | None = None,
        pool: RecognizerPool | None = None,
    ) -> None:
        self._recognizer = recognizer
        self._language = language
        self._settings = settings
        self._lease = lease
        self._pool = pool
        self._offset_s = lease.offset_s if lease is not None else 0.0  # Vosk's clock at start
        self._time_map: TimeMap | None = None  # set when the audio fed was shortened
        self._source_samples: int | None = None  # the original length, when shortened
        self._segments: list[str] = []
        self._words: list[dict[str, Any]] = []
        self._last_partial = ""
        self._samples = 0
        self._utterance = 0  # samples since the recognizer last started an utterance
        self._busy_s = 0.0
        self._finished = False
        self._lock = threading.Lock()  # a recognizer is not safe across threads

    @property
    def language(self) -> str:
        return self._language

    def feed(self, pcm_chunk: bytes) -> Partial | None:
        """Take a chunk; a :class:`Partial` when the heard text changed, else None."""
        samples = _scaled(pcm_from_bytes(pcm_chunk), self._settings.input_gain)
        return self._accept(samples, partial=True)

    def _accept(self, samples: NDArray[np.int16], *, partial: bool) -> Partial | None:
        with self._lock:
            if self._finished:
                raise VoiceError("this transcription stream is finished; start a new one")
            started = time.perf_counter()
            self._samples += len(samples)
            if self._lease is not None:
                self._lease.samples += len(samples)
            data = samples.astype("<i2", copy=False).tobytes()
            self._utterance += len(samples)
            current = ""
            endpoint = self._recognizer.AcceptWaveform(data)
            if endpoint and self._utterance > self._settings.max_utterance_s * SAMPLE_RATE:
                self._take_segment(self._recognizer.Result())
                self._utterance = 0
            elif partial:
                current = json.loads(self._recognizer.PartialResult()).get("partial", "")
            self._busy_s += time.perf_counter() - started
            if not partial:
                return None
            text = normalize_transcript(" ".join([*self._segments, current]), self._language)
            if text == self._last_partial:
                return None
            self._last_partial = text
            return Partial(text=text, language=self._language, audio_s=self._samples / SAMPLE_RATE)

    def finish(self) -> Transcript:
        """The final transcript; the stream takes no more audio after this."""
        with self._lock:
            if self._finished:
                raise VoiceError("this transcription stream is already finished")
            started = time.perf_counter()
            self._take_segment(self._recognizer.FinalResult())
            self._finished = True
            if self._pool is not None and self._lease is not None:
                self._pool.release(self._lease)
            self._busy_s += time.perf_counter() - started
            return self._transcript(self._busy_s)

    def _take_segment(self, result: str) -> None:
        text, words = _segment_text(result)
        if text:
            self._segments.append(text)
        self._words.extend(words)

    def _time(self, vosk_s: float) -> float:
        """A time Vosk reported, in seconds from the start of this clip's original audio."""
        t = vosk_s - self._offset_s
        t = self._time_map.original(t) if self._time_map is not None else t
        return round(max(0.0, t), 3)

    def _transcript(self, busy_s: float) -> Transcript:
        raw = " ".join(self._segments)
        samples = self._samples if self._source_samples is None else self._source_samples
        duration = samples / SAMPLE_RATE
        words = [
            Word(
                word=w["word"],
                start_s=self._time(float(w.get("start", 0.0))),
                end_s=self._time(float(w.get("end", 0.0))),
                confidence=float(w.get("conf", 1.0)),
            )
            for w in self._words
        ]
        confidence = sum(w.confidence for w in words) / len(words) if words else None
        return Transcript(
            text=normalize_transcript(raw, self._language),
            language=self._language,
            duration_s=duration,
            real_time_factor=busy_s / duration if duration else 0.0,
            words=words,
            confidence=confidence,
            raw_text=raw,
        )


class Transcriber:
    """Offline transcription with the Vosk models of a :class:`VoskModels`."""

    def __init__(
        self,
        registry: VoskModels | None = None,
        *,
        default_language: str | None = None,
        settings: DecoderSettings | None = None,
        pool: RecognizerPool | None = None,
    ) -> None:
        self.registry = registry if registry is not None else default_registry()
        self.default_language = default_language
        self.settings = settings or DecoderSettings()
        self.pool = pool if pool is not None else RecognizerPool()

    def language_for(self, language: str | None) -> str:
        """The language asked for, the configured default, or the only installed one."""
        if language:
            return language_key(language)
        if self.default_language:
            return language_key(self.default_language)
        installed = self.registry.languages()
        if len(installed) == 1:
            return installed[0]
        raise VoiceError(
            "say which language to transcribe: "
            f"{len(installed)} Vosk models installed ({', '.join(installed) or 'none'}) "
            "and no default language configured"
        )

    def stream(self, language: str | None = None) -> TranscriptionStream:
        """A stream for 16 kHz mono 16-bit PCM chunks in ``language``."""
        import vosk

        lang = self.language_for(language)
        model = self.registry.model(lang)
        words = self.settings.words

        def make() -> Any:
            recognizer = vosk.KaldiRecognizer(model, float(SAMPLE_RATE))
            recognizer.SetWords(words)
            return recognizer

        if not self.settings.reuse_recognizers:
            return TranscriptionStream(make(), lang, self.settings)
        lease = self.pool.acquire(model, words, make)
        return TranscriptionStream(
            lease.recognizer, lang, self.settings, lease=lease, pool=self.pool
        )

    def transcribe(
        self, audio: bytes | str | os.PathLike[str] | Pcm, language: str | None = None
    ) -> Transcript:
        """Transcribe a WAV (bytes or path) or already-read :class:`Pcm` in ``language``."""
        self.registry.model(self.language_for(language))  # no model: refused before reading
        started = time.perf_counter()
        pcm = audio if isinstance(audio, Pcm) else read_wav(audio)
        stream = self.stream(language)  # after reading: bad audio does not lose a warm one
        samples = _level(pcm.samples, self.settings)
        if self.settings.vad is not None:
            samples, stream._time_map = compact(samples, self.settings.vad)
            stream._source_samples = len(pcm.samples)
        step = max(1, int(self.settings.chunk_s * SAMPLE_RATE))
        for start in range(0, len(samples), step):
            stream._accept(samples[start : start + step], partial=False)
        transcript = stream.finish()
        elapsed = time.perf_counter() - started
        duration = transcript.duration_s
        return msgspec.structs.replace(
            transcript, real_time_factor=elapsed / duration if duration else 0.0
        )

    def transcribe_stream(
        self, chunks: Iterable[bytes], language: str | None = None
    ) -> Iterator[Partial | Transcript]:
        """Partial results while ``chunks`` arrive, then the final :class:`Transcript`."""
        stream = self.stream(language)
        for chunk in chunks:
            partial = stream.feed(chunk)
            if partial is not None:
                yield partial
        yield stream.finish()
