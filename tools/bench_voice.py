"""Our speech path beside raw Vosk on a clip folder: CPU real-time factor and character errors.

    python -m tools.bench_voice --split all --repeats 3 [--ablation] [--json]

Both paths share one loaded model and run in this process, interleaved clip by clip (raw Vosk,
then each of our configurations, on the same clip, ``--repeats`` rounds), so a busy machine slows
them alike. Time is process CPU time (``time.process_time``) from the WAV file to the final
text, model load excluded; the real-time factor of a clip is that time over its duration, the
median over the rounds. *Raw Vosk* is what Vosk's examples do: ``wave`` reads the file, one new
``KaldiRecognizer`` per clip with words on, 4,000-frame chunks, ``FinalResult``, its text scored
as it is. Our path is :class:`edge.voice.Transcriber` with the shipped settings; ``--ablation``
adds one row per change, measured the same way. The first clip our path ever decodes has no warm
recognizer: its RTF is reported apart as ``cold_first_rtf``.

``--split even`` / ``odd`` takes the clips at even / odd positions of ``transcripts.tsv``
(0-based): settings were chosen on the even half, so the odd half is the held-out figure.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import wave
from collections.abc import Callable
from pathlib import Path

import msgspec

from edge.latency import percentile
from edge.voice.models import VoskModels
from edge.voice.transcribe import DecoderSettings, Transcriber
from edge.voice.vad import VadSettings
from tools.voice_accuracy import character_error_rate, read_transcripts

CLIPS = Path("shared") / "data" / "korean-speech"
RAW = "raw_vosk"


class PathResult(msgspec.Struct, frozen=True, kw_only=True):
    """One path over the clips: per-clip CPU RTF (median of rounds) and CER (mean of rounds)."""

    name: str
    rtf_p50: float
    rtf_p95: float
    rtf_total: float  # all CPU seconds over all audio seconds (medians per clip)
    mean_cer: float
    ratio_to_raw: float  # rtf_total / raw Vosk's rtf_total
    cold_first_rtf: float  # the first clip of the run, before anything was warm
    clip_rtf: dict[str, float]
    clip_cer: dict[str, float]


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """Every path measured side by side, and the conditions of the run."""

    split: str
    clips: int
    audio_s: float
    repeats: int
    timer: str
    load_avg: tuple[float, float, float]  # at the start
    load_avg_end: tuple[float, float, float]
    cpus: int
    paths: list[PathResult]


def default_data_dir() -> Path:
    """``$REALTY_EDGE_DATA_DIR`` (the data folder or the clip folder itself), else the first
    ``shared/data/korean-speech`` beside the checkout or a folder above it."""
    env = os.environ.get("REALTY_EDGE_DATA_DIR")
    if env:
        base = Path(env)
        return base / "korean-speech" if (base / "korean-speech").is_dir() else base
    root = Path(__file__).resolve().parents[1]
    for folder in root.parents:
        if (folder / CLIPS).is_dir():
            return folder / CLIPS
    return root.parent / CLIPS


def split_names(names: list[str], split: str) -> list[str]:
    """All names, or those at even / odd positions (0-based)."""
    if split == "all":
        return names
    return names[0 if split == "even" else 1 :: 2]


def raw_vosk(model: object) -> Callable[[Path], tuple[str, float]]:
    """Vosk as its examples use it: a new recognizer per clip; (text, duration_s)."""
    import vosk

    def run(path: Path) -> tuple[str, float]:
        with wave.open(str(path), "rb") as w:
            recognizer = vosk.KaldiRecognizer(model, float(w.getframerate()))
            recognizer.SetWords(True)
            while data := w.readframes(4000):
                recognizer.AcceptWaveform(data)
            duration = w.getnframes() / w.getframerate()
        return json.loads(recognizer.FinalResult()).get("text", ""), duration

    return run


#: A narrower search than the model's own (beam 10, max-active 3000), measured, not shipped.
NARROW_BEAM: dict[str, object] = {"beam": 8, "max-active": 1500}


def configurations(ablation: bool) -> dict[str, tuple[DecoderSettings, dict[str, object]]]:
    """Our path as shipped; with ``ablation``, each change alone and before any of them.

    Each entry: the decoder settings and the model.conf options (empty: the model's own).
    """
    shipped = DecoderSettings()
    if not ablation:
        return {"ours": (shipped, {})}
    before = DecoderSettings(reuse_recognizers=False, vad=None)
    warm = msgspec.structs.replace(before, reuse_recognizers=True)
    return {
        "before (fresh recognizer, no VAD)": (before, {}),
        "+ VAD only": (msgspec.structs.replace(before, vad=VadSettings()), {}),
        "+ beam 8, max-active 1500 only": (before, NARROW_BEAM),
        "+ warm recognizer only": (warm, {}),
        "+ warm recognizer + VAD": (msgspec.structs.replace(warm, vad=VadSettings()), {}),
        "+ warm recognizer + beam 8": (warm, NARROW_BEAM),
        "ours (shipped)": (shipped, {}),
    }


def run(
    data: Path,
    *,
    split: str = "all",
    repeats: int = 3,
    ablation: bool = False,
    language: str = "ko",
    registry: VoskModels | None = None,
) -> Report:
    """Measure raw Vosk and our configurations on the clips of ``split``, interleaved."""
    registry = registry or VoskModels()
    model = registry.model(language)
    pairs = dict(read_transcripts(data))
    names = split_names(list(pairs), split)
    paths: dict[str, Callable[[Path], tuple[str, float]]] = {RAW: raw_vosk(model)}
    tuned: dict[str, VoskModels] = {}
    for name, (settings, options) in configurations(ablation).items():
        models = registry
        if options:
            key = repr(sorted(options.items()))
            if key not in tuned:
                tuned[key] = VoskModels(
                    {language: registry.path(language)}, decoder_options={language: options}
                )
            models = tuned[key]
            models.model(language)  # loaded before the clock runs
        transcriber = Transcriber(models, default_language=language, settings=settings)

        def ours(path: Path, t: Transcriber = transcriber) -> tuple[str, float]:
            transcript = t.transcribe(path)
            return transcript.text, transcript.duration_s

        paths[name] = ours
    cpu: dict[str, dict[str, list[float]]] = {p: {n: [] for n in names} for p in paths}
    cer: dict[str, dict[str, list[float]]] = {p: {n: [] for n in names} for p in paths}
    durations: dict[str, float] = {}
    load_start = os.getloadavg()
    for _ in range(repeats):
        for clip in names:
            for path_name, decode in paths.items():
                started = time.process_time()
                text, duration = decode(data / clip)
                cpu[path_name][clip].append(time.process_time() - started)
                cer[path_name][clip].append(character_error_rate(text, pairs[clip]))
                durations[clip] = duration
    audio = sum(durations.values())
    results = [_summarize(p, names, cpu[p], cer[p], durations) for p in paths]
    raw_total = results[0].rtf_total
    results = [msgspec.structs.replace(r, ratio_to_raw=r.rtf_total / raw_total) for r in results]
    return Report(
        split=split,
        clips=len(names),
        audio_s=round(audio, 2),
        repeats=repeats,
        timer="time.process_time (process CPU time)",
        load_avg=_rounded(load_start),
        load_avg_end=_rounded(os.getloadavg()),
        cpus=os.cpu_count() or 1,
        paths=results,
    )


def _rounded(load: tuple[float, float, float]) -> tuple[float, float, float]:
    return (round(load[0], 2), round(load[1], 2), round(load[2], 2))


def _summarize(
    name: str,
    names: list[str],
    cpu: dict[str, list[float]],
    cer: dict[str, list[float]],
    durations: dict[str, float],
) -> PathResult:
    seconds = {n: statistics.median(cpu[n]) for n in names}
    rtf = {n: seconds[n] / durations[n] for n in names}
    errors = {n: statistics.fmean(cer[n]) for n in names}
    return PathResult(
        name=name,
        rtf_p50=round(statistics.median(rtf.values()), 4),
        rtf_p95=round(percentile(list(rtf.values()), 0.95), 4),
        rtf_total=round(sum(seconds.values()) / sum(durations.values()), 4),
        mean_cer=round(statistics.fmean(errors.values()), 4),
        ratio_to_raw=1.0,
        cold_first_rtf=round(cpu[names[0]][0] / durations[names[0]], 4),
        clip_rtf={n: round(v, 4) for n, v in rtf.items()},
        clip_cer={n: round(v, 4) for n, v in errors.items()},
    )


def format_table(report: Report) -> str:
    """The paths as a text table, with the run's conditions."""
    lines = [
        f"split={report.split} clips={report.clips} audio_s={report.audio_s} "
        f"repeats={report.repeats} timer=CPU load_avg={report.load_avg} -> "
        f"{report.load_avg_end} cpus={report.cpus}",
        f"{'path':36s} {'rtf p50':>8s} {'rtf p95':>8s} {'rtf all':>8s} {'x raw':>6s} "
        f"{'cold 1st':>8s} {'CER':>7s}",
    ]
    for p in report.paths:
        lines.append(
            f"{p.name:36s} {p.rtf_p50:8.3f} {p.rtf_p95:8.3f} {p.rtf_total:8.3f} "
            f"{p.ratio_to_raw:6.3f} {p.cold_first_rtf:8.3f} {p.mean_cer:7.4f}"
        )
    return "\n".join(lines)
