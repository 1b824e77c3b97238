"""Text in every script the leads write gets a shipped font that has its glyphs."""

from __future__ import annotations

import struct
import zlib

from mobile_client.arabic import shape
from mobile_client.fonts import (
    ARABIC,
    CJK,
    DEVANAGARI,
    FONT_DIR,
    HANGUL,
    LATIN,
    THAI,
    font_for,
    markup,
    runs,
)
from tests.mobile_client.png import variance


def test_text_is_cut_into_runs_of_one_script_each():
    assert runs("Hi 김민준, 中文 ไทย مرحبا नमस्ते") == [
        (LATIN, "Hi "),
        (HANGUL, "김민준, "),
        (CJK, "中文 "),
        (THAI, "ไทย "),
        (ARABIC, "مرحبا "),
        (DEVANAGARI, "नमस्ते"),
    ]


def test_markup_tags_non_latin_runs_with_their_font_and_escapes_brackets():
    assert markup("[x] 안녕") == f"&bl;x&br; [font={HANGUL}]안녕[/font]"
    assert markup("plain") == "plain"


def test_arabic_runs_are_joined_and_shown_right_to_left_with_numbers_kept():
    # sheen initial, qaf medial, teh marbuta final; then visual order, the number unreversed
    assert markup("شقة 120") == f"[font={ARABIC}]120 \ufe94\ufed8\ufeb7[/font]"


def test_arabic_letters_take_their_joined_forms_and_lam_alef_its_ligature():
    assert shape("لا") == "\ufefb"
    assert shape("سلام") == "\ufeb3\ufefc\ufee1"  # seen initial, lam-alef final, meem isolated
    assert shape("د ب") == "\ufea9 \ufe8f"  # letters apart stay isolated


def test_a_text_input_takes_the_font_of_its_first_non_latin_script():
    assert font_for("Dear 田中 様") == CJK
    assert font_for("Hello") == LATIN


def test_the_shipped_fonts_exist_with_their_licences_and_stay_small():
    for font in (CJK, HANGUL, ARABIC, DEVANAGARI, THAI):
        assert (FONT_DIR / font).exists(), font
    licences = {p.name for p in FONT_DIR.glob("LICENSE-*.txt")}
    assert licences == {
        "LICENSE-DroidSansFallback.txt",
        "LICENSE-Nanum-OFL.txt",
        "LICENSE-Noto-OFL.txt",
    }
    assert sum(p.stat().st_size for p in FONT_DIR.iterdir()) < 10_000_000


def test_the_blank_check_sees_a_blank_image(tmp_path):
    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    rows = b"".join(b"\x00" + b"\x20\x20\x20\xff" * 8 for _ in range(8))
    png = tmp_path / "blank.png"
    header = struct.pack(">IIBBBBB", 8, 8, 8, 6, 0, 0, 0)  # 8x8, 8-bit RGBA
    png.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    assert variance(png) == 0
