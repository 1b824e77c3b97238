"""Voice-activity detection with numpy alone: which parts of a clip hold speech.

Frames of 20 ms every 10 ms are scored by energy above the clip's own noise floor (its 10th
percentile frame) and by zero-crossing rate, so that quiet unvoiced consonants (s, h, ch) next to
silence count as speech. A hangover keeps trailing frames after speech and padding widens every
speech span, so word edges are never clipped. :func:`compact` then shortens long pauses instead
of decoding them; :class:`TimeMap` maps times in the shortened audio back to the original.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from edge.voice.audio import SAMPLE_RATE


class VadSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How speech is told from silence, and how much silence is kept around it."""

    frame_s: float = 0.02
    hop_s: float = 0.01
    #: A frame is speech when its energy is this far above the clip's noise floor ...
    margin_db: float = 12.0
    #: ... or above this share of the way from the floor to the loud (98th percentile) frames.
    relative: float = 0.25
    #: Noisy frames (zero-crossing rate above this) count from a lower margin: fricatives.
    zcr: float = 0.3
    zcr_margin_db: float = 6.0
    #: A clip whose loud frames are less than this above its floor is kept whole (no silence
    #: to find: all speech, all noise or all silence).
    min_range_db: float = 15.0
    hangover_s: float = 0.1  # speech frames extend this long after the last loud frame
    pad_s: float = 0.25  # kept before and after every speech span
    min_gap_s: float = 0.3  # a pause shorter than this (after padding) is kept whole


@dataclass(frozen=True, slots=True)
class TimeMap:
    """Kept pieces of a clip: ``(start in the shortened audio, start in the original)``, s."""

    pieces: tuple[tuple[float, float], ...]

    def original(self, t: float) -> float:
        """The original time of ``t`` seconds into the shortened audio."""
        if not self.pieces:
            return t
        i = max(0, bisect_right([p[0] for p in self.pieces], t) - 1)
        kept, original = self.pieces[i]
        return original + (t - kept)


def frame_features(
    samples: NDArray[np.int16], settings: VadSettings
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Per frame: energy in dB (re one 16-bit step, DC removed) and zero-crossing rate."""
    frame = max(1, round(settings.frame_s * SAMPLE_RATE))
    hop = max(1, round(settings.hop_s * SAMPLE_RATE))
    if len(samples) < frame:
        return np.zeros(0), np.zeros(0)
    windows = np.lib.stride_tricks.sliding_window_view(samples, frame)[::hop]
    x = windows.astype(np.float32)
    x -= x.mean(axis=1, keepdims=True)
    energy = 10.0 * np.log10(np.einsum("ij,ij->i", x, x) / frame + 1.0)
    signs = np.signbit(x)
    zcr = np.count_nonzero(signs[:, 1:] != signs[:, :-1], axis=1) / (frame - 1)
    return energy, zcr


def speech_frames(samples: NDArray[np.int16], settings: VadSettings | None = None) -> NDArray[Any]:
    """One bool per hop: speech (with hangover) or not; all True when no silence is found."""
    settings = settings or VadSettings()
    energy, zcr = frame_features(samples, settings)
    if len(energy) == 0:
        return np.ones(0, dtype=bool)
    floor = float(np.percentile(energy, 10))
    loud = float(np.percentile(energy, 98))
    if loud - floor < settings.min_range_db:
        return np.ones(len(energy), dtype=bool)
    threshold = min(floor + settings.margin_db, floor + settings.relative * (loud - floor))
    speech = (energy > threshold) | (
        (zcr > settings.zcr) & (energy > floor + settings.zcr_margin_db)
    )
    hang = round(settings.hangover_s / settings.hop_s)
    if hang and speech.any():
        # a frame is speech if any of the ``hang`` frames before it (or itself) was
        counts = np.concatenate([[0], np.cumsum(speech)])
        idx = np.arange(len(speech))
        speech = counts[idx + 1] - counts[np.maximum(0, idx - hang)] > 0
    return speech


def speech_spans(
    samples: NDArray[np.int16], settings: VadSettings | None = None
) -> list[tuple[int, int]]:
    """Sample ranges ``[start, end)`` to keep: speech plus padding, close spans merged."""
    settings = settings or VadSettings()
    speech = speech_frames(samples, settings)
    if not speech.any():
        return []
    hop = max(1, round(settings.hop_s * SAMPLE_RATE))
    frame = max(1, round(settings.frame_s * SAMPLE_RATE))
    pad = round(settings.pad_s * SAMPLE_RATE)
    gap = round(settings.min_gap_s * SAMPLE_RATE)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], speech.astype(np.int8), [0]])))
    spans: list[tuple[int, int]] = []
    for first, last in zip(edges[::2], edges[1::2], strict=True):
        start = max(0, int(first) * hop - pad)
        end = min(len(samples), (int(last) - 1) * hop + frame + pad)
        if spans and start - spans[-1][1] < gap:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    return spans


def compact(
    samples: NDArray[np.int16], settings: VadSettings | None = None
) -> tuple[NDArray[Any], TimeMap]:
    """``samples`` without the silence outside :func:`speech_spans`, and the way back in time.

    A clip too short to judge, or with no silence to cut, comes back unchanged.
    """
    spans = speech_spans(samples, settings)
    if not spans or spans == [(0, len(samples))]:
        return samples, TimeMap(((0.0, 0.0),))
    pieces = []
    kept = 0
    for start, end in spans:
        pieces.append((kept / SAMPLE_RATE, start / SAMPLE_RATE))
        kept += end - start
    out = np.concatenate([samples[start:end] for start, end in spans])
    return out, TimeMap(tuple(pieces))
