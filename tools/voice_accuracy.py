"""How well the speech path does on a folder of clips with reference transcripts.

Character error rate as the Korean test set defines it: spaces and punctuation removed from both
texts, Levenshtein distance over characters divided by the reference length, averaged per clip.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from edge.voice.transcribe import Transcriber


class ClipScore(msgspec.Struct, frozen=True, kw_only=True):
    """One clip: what was said, what was heard, and the error."""

    name: str
    reference: str
    text: str
    cer: float
    duration_s: float
    seconds: float  # wall-clock seconds to read and transcribe the clip


class Evaluation(msgspec.Struct, frozen=True, kw_only=True):
    """Clips scored together."""

    clips: list[ClipScore]
    mean_cer: float
    real_time_factor: float  # total seconds of work / total seconds of audio


def scored_characters(text: str) -> str:
    """The characters that count: no whitespace, no punctuation (Unicode category P*)."""
    return "".join(
        c for c in text if not c.isspace() and not unicodedata.category(c).startswith("P")
    )


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions each cost one."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def character_error_rate(hypothesis: str, reference: str) -> float:
    """Edit distance over scored characters, divided by the reference's length."""
    ref = scored_characters(reference)
    hyp = scored_characters(hypothesis)
    if not ref:
        return float(bool(hyp))
    return edit_distance(hyp, ref) / len(ref)


def read_transcripts(directory: Path) -> list[tuple[str, str]]:
    """``(file name, transcript)`` pairs of ``transcripts.tsv``, in file order."""
    pairs = []
    for line in (directory / "transcripts.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip():
            name, _, text = line.partition("\t")
            pairs.append((name, text))
    return pairs


def evaluate(
    transcriber: Transcriber,
    directory: Path,
    *,
    language: str | None = None,
    names: Sequence[str] | None = None,
    workers: int = 1,
) -> Evaluation:
    """Transcribe the clips of ``directory`` (or only ``names``) and score them.

    ``workers`` > 1 transcribes clips in parallel threads (the recognizer releases the GIL):
    faster on several cores, but each clip's time, and so the real-time factor, then includes
    waiting for the others. Measure the real-time factor with one worker.
    """
    wanted = None if names is None else set(names)
    pairs = [(n, r) for n, r in read_transcripts(directory) if wanted is None or n in wanted]

    def score(pair: tuple[str, str]) -> ClipScore:
        name, reference = pair
        started = time.perf_counter()
        transcript = transcriber.transcribe(directory / name, language)
        return ClipScore(
            name=name,
            reference=reference,
            text=transcript.text,
            cer=character_error_rate(transcript.text, reference),
            duration_s=transcript.duration_s,
            seconds=time.perf_counter() - started,
        )

    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            clips = list(pool.map(score, pairs))
    else:
        clips = [score(pair) for pair in pairs]
    audio = sum(c.duration_s for c in clips)
    return Evaluation(
        clips=clips,
        mean_cer=sum(c.cer for c in clips) / len(clips) if clips else 0.0,
        real_time_factor=sum(c.seconds for c in clips) / audio if audio else 0.0,
    )
