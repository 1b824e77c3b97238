"""WAV in, 16 kHz mono 16-bit PCM out: what the Vosk models on the device take.

Reads RIFF/WAVE with integer PCM (16, 24 or 32 bit) or 32-bit float samples, from bytes or a
path. Other rates and channel counts are converted with numpy alone (downmix by mean,
band-limited windowed-sinc resampling), since a phone may not have scipy. Anything else (MP3,
Ogg, FLAC, 8-bit PCM, compressed WAV, random bytes) is refused with an :class:`AudioFormatError`
that says what was expected and what came.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge.errors import AudioFormatError

#: What the recognizer takes: 16 kHz, mono, signed 16-bit little-endian PCM.
SAMPLE_RATE = 16_000

EXPECTED = "expected a WAV file (RIFF/WAVE, PCM)"

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
_SUBFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


@dataclass(frozen=True, slots=True)
class Pcm:
    """Mono 16-bit samples at :data:`SAMPLE_RATE`, and what the source was."""

    samples: NDArray[np.int16]  # one channel
    source_rate: int
    source_channels: int
    source_bits: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE

    def to_bytes(self) -> bytes:
        """Little-endian 16-bit PCM, as ``KaldiRecognizer.AcceptWaveform`` takes it."""
        return self.samples.astype("<i2", copy=False).tobytes()


def read_wav(source: bytes | bytearray | memoryview | str | os.PathLike[str]) -> Pcm:
    """Read a WAV from bytes or a path and convert it to 16 kHz mono 16-bit PCM."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise AudioFormatError(f"{EXPECTED}; cannot read {str(path)!r}: {exc}") from exc
    fmt, channels, rate, bits, payload = _parse_riff(data)
    samples = _decode(fmt, bits, channels, payload)
    mono = samples.mean(axis=1) if channels > 1 else samples[:, 0]
    if rate != SAMPLE_RATE:
        mono = resample(mono, rate, SAMPLE_RATE)
    pcm16 = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
    return Pcm(samples=pcm16, source_rate=rate, source_channels=channels, source_bits=bits)


def pcm_from_bytes(data: bytes) -> NDArray[np.int16]:
    """Raw 16 kHz mono 16-bit little-endian PCM (a streaming chunk) as int16 samples."""
    if len(data) % 2:
        raise AudioFormatError(
            f"expected 16-bit PCM (an even number of bytes); got {len(data)} bytes"
        )
    return np.frombuffer(data, dtype="<i2").astype(np.int16)


def describe(data: bytes) -> str:
    """A short guess at what non-WAV bytes are, for error messages."""
    head = data[:16]
    if not data:
        return "no data (0 bytes)"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3 data"
    known = {
        b"OggS": "Ogg data",
        b"fLaC": "FLAC data",
        b"RIFX": "big-endian RIFX data",
        b"RF64": "RF64 data",
        b"FORM": "AIFF data",
        b"\x1aE\xdf\xa3": "WebM/Matroska data",
        b"#!AMR": "AMR data",
    }
    for magic, name in known.items():
        if head.startswith(magic):
            return name
    if head[4:8] == b"ftyp":
        return "MP4/M4A data"
    if head.startswith(b"RIFF"):
        return f"a RIFF file of type {head[8:12]!r}"
    return f"{len(data)} bytes starting {head[:8]!r}"


def _parse_riff(data: bytes) -> tuple[int, int, int, int, bytes]:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioFormatError(f"{EXPECTED}; got {describe(data)}")
    fmt_chunk: bytes | None = None
    payload: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = data[pos + 8 : pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt_chunk = body
        elif chunk_id == b"data":
            payload = body  # a streamed WAV may say 0 or 0xFFFFFFFF: take what is there
            if size in (0, 0xFFFFFFFF):
                payload = data[pos + 8 :]
            elif len(body) < size:
                raise AudioFormatError(
                    f"truncated WAV: its data chunk says {size} bytes but only {len(body)} "
                    "are there (the file was cut short)"
                )
            break
        pos += 8 + size + (size & 1)
    if fmt_chunk is None or len(fmt_chunk) < 16:
        raise AudioFormatError(f"{EXPECTED}; got a WAV without a valid 'fmt ' chunk")
    if payload is None:
        raise AudioFormatError(f"{EXPECTED}; got a WAV without a 'data' chunk")
    fmt, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt_chunk)
    if fmt == _EXTENSIBLE and len(fmt_chunk) >= 40:
        sub = fmt_chunk[24:40]
        if sub[2:] == _SUBFORMAT_TAIL:
            fmt = struct.unpack_from("<H", sub)[0]
    if fmt == _FLOAT and bits == 32:
        pass
    elif fmt != _PCM:
        kind = {_FLOAT: f"{bits}-bit float", 2: "ADPCM", 6: "A-law", 7: "mu-law", 0x55: "MP3"}
        raise AudioFormatError(
            f"{EXPECTED}; got a WAV with {kind.get(fmt, f'format code {fmt:#x}')} samples"
        )
    elif bits not in (16, 24, 32):
        raise AudioFormatError(f"{EXPECTED} with 16-, 24- or 32-bit samples; got {bits}-bit PCM")
    if channels < 1 or not 1000 <= rate <= 384_000:
        raise AudioFormatError(f"{EXPECTED}; got {channels} channel(s) at {rate} Hz")
    return fmt, channels, rate, bits, payload


def _decode(fmt: int, bits: int, channels: int, payload: bytes) -> NDArray[np.float64]:
    """Samples as float64 in [-1, 1), shape (frames, channels)."""
    width = bits // 8
    usable = len(payload) - len(payload) % (width * channels)
    raw = payload[:usable]
    if fmt == _FLOAT:
        x = np.frombuffer(raw, dtype="<f4").astype(np.float64)
    elif bits == 16:
        x = np.frombuffer(raw, dtype="<i2") / 32768.0
    elif bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)
    else:
        x = np.frombuffer(raw, dtype="<i4") / float(1 << 31)
    return np.asarray(x, dtype=np.float64).reshape(-1, channels)


def resample(
    x: NDArray[np.floating[Any]], src_rate: int, dst_rate: int, *, zeros: int = 16
) -> NDArray[np.float64]:
    """Band-limited resampling (Kaiser-windowed sinc, ``zeros`` crossings each side), numpy only.

    The low-pass sits at 95 % of the lower Nyquist frequency, so downsampling does not alias.
    For rational ratios the filter phases repeat, so they are computed once (polyphase).
    """
    if src_rate == dst_rate or len(x) == 0:
        return np.asarray(x, dtype=np.float64)
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    cutoff = 0.95 * min(1.0, up / down)  # relative to the input Nyquist frequency
    half = math.ceil(zeros / cutoff)  # filter half-width in input samples
    offsets = np.arange(-half, half + 1)
    # output sample n sits at input position n * down / up = base + phase / up
    phases = np.arange(up)[:, None] / up  # (up, 1)
    tau = phases - offsets[None, :]  # distance from each tap, in input samples
    beta = 8.6
    window = np.i0(beta * np.sqrt(np.clip(1.0 - (tau / (half + 1)) ** 2, 0.0, 1.0)))
    table = cutoff * np.sinc(cutoff * tau) * window / np.i0(beta)  # (up, taps)
    n_out = len(x) * up // down
    padded = np.concatenate([np.zeros(half + 1), np.asarray(x, dtype=np.float64)])
    padded = np.concatenate([padded, np.zeros(half + 2)])
    out = np.empty(n_out, dtype=np.float64)
    block = max(1, 2_000_000 // len(offsets))
    for start in range(0, n_out, block):
        n = np.arange(start, min(start + block, n_out))
        base, phase = np.divmod(n * down, up)
        idx = base[:, None] + offsets[None, :] + half + 1
        out[start : start + len(n)] = np.einsum("ij,ij->i", padded[idx], table[phase])
    return out
