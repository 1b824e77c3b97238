"""Speech in its own process: an API worker never loads Vosk, and a transcription never
takes the worker's CPU or memory.

:class:`SpeechProcess` has the shape the advanced API uses of
:class:`edge.voice.Transcriber` (``registry.languages()``, ``transcribe``, ``stream`` with
``feed`` and ``finish``); each call is one message over a pipe to a child process (started
with ``spawn`` on first use, so it does not inherit the worker's memory), which holds the
Vosk models and recognizers. The installed languages are read in the worker (listing model
folders loads nothing), so a health check never waits behind a transcription. Calls are
blocking: the API makes them with ``asyncio.to_thread``. One child per worker serves the
calls one at a time; a child that died is started again by the next call.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any

from edge.errors import VoiceError
from edge.voice.models import VoskModels, default_registry


class SpeechProcessError(VoiceError):
    """The speech process failed or went away (it is started again on the next call)."""


def _serve(conn: Connection) -> None:  # pragma: no cover - runs in the child process
    from edge.voice import Transcriber

    transcriber = Transcriber()
    streams: dict[int, Any] = {}
    while True:
        try:
            op, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if op == "transcribe":
                value: Any = transcriber.transcribe(*args)
            elif op == "feed":
                sid, language, chunk = args
                if sid not in streams:
                    streams[sid] = transcriber.stream(language)
                value = streams[sid].feed(chunk)
            elif op == "finish":
                sid, language = args
                stream = streams.pop(sid, None) or transcriber.stream(language)
                value = stream.finish()
            elif op == "drop":
                streams.pop(args[0], None)
                value = None
            else:
                raise ValueError(f"unknown speech operation {op!r}")
            conn.send((True, value))
        except Exception as exc:  # sent back as data: the caller re-raises it
            conn.send((False, (isinstance(exc, VoiceError), f"{exc}")))


class SpeechProcess:
    """A Transcriber in a child process (see the module docstring)."""

    def __init__(self, registry: VoskModels | None = None):
        self.registry = registry if registry is not None else default_registry()
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._ids = itertools.count(1)

    @property
    def pid(self) -> int | None:
        """The child's process id, or None before the first call."""
        return self._process.pid if self._process is not None else None

    def _call(self, op: str, *args: Any) -> Any:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start()
            assert self._conn is not None
            try:
                self._conn.send((op, args))
                ok, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._stop()
                raise SpeechProcessError(f"the speech process went away: {exc}") from exc
        if ok:
            return value
        voice, message = value
        raise (VoiceError if voice else SpeechProcessError)(message)

    def _start(self) -> None:
        self._stop()
        ctx = multiprocessing.get_context("spawn")
        mine, theirs = ctx.Pipe()
        process = ctx.Process(target=_serve, args=(theirs,), name="realty-edge-speech", daemon=True)
        process.start()
        theirs.close()
        self._process, self._conn = process, mine

    def _stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(timeout=10)
            self._process = None

    def transcribe(self, wav: bytes, language: str | None = None) -> Any:
        """A :class:`edge.voice.Transcript` of a WAV (bytes) in ``language``."""
        return self._call("transcribe", wav, language)

    def stream(self, language: str | None = None) -> RemoteStream:
        """A stream of PCM chunks; nothing reaches the child before the first chunk."""
        return RemoteStream(self, next(self._ids), language)

    def close(self) -> None:
        with self._lock:
            self._stop()


class RemoteStream:
    """One utterance in the speech process: ``feed`` chunks, then ``finish``."""

    def __init__(self, owner: SpeechProcess, sid: int, language: str | None):
        self.owner, self.sid, self.language = owner, sid, language

    def feed(self, chunk: bytes) -> Any:
        return self.owner._call("feed", self.sid, self.language, chunk)

    def finish(self) -> Any:
        return self.owner._call("finish", self.sid, self.language)

    def drop(self) -> None:
        """Forget an unfinished utterance (its socket went away)."""
        self.owner._call("drop", self.sid)
