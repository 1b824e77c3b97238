"""Character error rate and real-time factor of the offline speech path on a clip folder.

    python -m tools.bench_voice --data ../shared/data/korean-speech --split all

``--split even`` / ``odd`` scores the clips at even / odd positions of ``transcripts.tsv``
(0-based): settings were chosen on the even half, so the odd half is the held-out figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import msgspec

from edge.voice.accuracy import evaluate, read_transcripts
from edge.voice.models import VoskModels
from edge.voice.transcribe import DecoderSettings, Transcriber

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "korean-speech"


def default_data_dir() -> Path:
    """``$REALTY_EDGE_DATA_DIR`` (the data folder or the clip folder itself), else ../shared."""
    env = os.environ.get("REALTY_EDGE_DATA_DIR")
    if env:
        base = Path(env)
        return base / "korean-speech" if (base / "korean-speech").is_dir() else base
    return DEFAULT_DATA


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="folder with transcripts.tsv")
    parser.add_argument("--language", default="ko")
    parser.add_argument("--split", choices=["all", "even", "odd"], default="all")
    parser.add_argument("--json", type=Path, default=None, help="write every clip's result here")
    parser.add_argument("--input-gain", type=float, default=None, help="override the default")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every clip")
    args = parser.parse_args(argv)
    data = args.data or default_data_dir()
    names = [name for name, _ in read_transcripts(data)]
    if args.split != "all":
        names = names[0 if args.split == "even" else 1 :: 2]
    settings = DecoderSettings()
    if args.input_gain is not None:
        settings = msgspec.structs.replace(settings, input_gain=args.input_gain)
    transcriber = Transcriber(VoskModels(), default_language=args.language, settings=settings)
    started = time.perf_counter()
    transcriber.registry.model(args.language)
    load_s = time.perf_counter() - started
    result = evaluate(transcriber, data, names=names)
    if args.verbose:
        for clip in result.clips:
            print(f"{clip.cer:.3f}  {clip.name}  {clip.text}  |  {clip.reference}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"split={args.split} clips={len(result.clips)} mean_cer={result.mean_cer:.4f} "
        f"rtf={result.real_time_factor:.3f} model_load_s={load_s:.1f} peak_rss_mib={peak_mib:.0f} "
        f"load_avg={os.getloadavg()[0]:.1f} cpus={os.cpu_count()}"
    )
    if args.json:
        args.json.write_bytes(msgspec.json.encode(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
