"""Pixel statistics of a PNG with the standard library only (8-bit RGB or RGBA, as Kivy writes)."""

from __future__ import annotations

import statistics
import struct
import zlib
from pathlib import Path


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def gray_pixels(path: Path) -> list[float]:
    """The image's pixels as gray levels (mean of R, G, B), row by row."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color in (2, 6), f"{path}: depth {depth}, color type {color}"
            channels = 4 if color == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, prev, gray = zlib.decompress(idat), width * channels, bytearray(), []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        gray.extend(sum(line[x : x + 3]) / 3 for x in range(0, stride, channels))
        prev = line
    return gray


def variance(path: Path) -> float:
    """Variance of the gray levels: about 0 for a blank (single-colour) image."""
    return statistics.pvariance(gray_pixels(path)[::7])
