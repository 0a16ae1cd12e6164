"""The console's web font draws every Vietnamese letter itself (checked, not assumed).

A browser that lacks a glyph takes it from a fallback font, and a combining mark
drawn by another font lands beside its letter ("hô`"). The console ships Be
Vietnam Pro (console/static/fonts, OFL); for each weight the latin and vietnamese
subsets together must map every precomposed Vietnamese letter, upper and lower
case, the combining tone marks, and the đồng sign.
"""

from __future__ import annotations

import re
import unicodedata
from importlib import resources
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

pytestmark = pytest.mark.no_store

FONTS = Path(str(resources.files("console").joinpath("static/fonts")))
BASES = "aăâeêioôơuưy"
TONES = "\u0300\u0301\u0303\u0309\u0323"  # huyền, sắc, ngã, hỏi, nặng


def vietnamese_letters() -> set[str]:
    letters = set("abcdefghijklmnopqrstuvwxyzđ")
    for base in BASES:
        for tone in ("", *TONES):
            letters.add(unicodedata.normalize("NFC", base + tone))
    letters |= {letter.upper() for letter in letters}
    assert all(len(letter) == 1 for letter in letters)  # every one is precomposed in NFC
    return letters


def test_the_letter_list_is_complete() -> None:
    letters = vietnamese_letters()
    # a–z, đ, ă â ê ô ơ ư, and the 12 vowels under each of the 5 tones; both cases
    assert len(letters) == 2 * (26 + 1 + 6 + 12 * 5)
    assert {"ệ", "Ỹ", "ử", "Đ", "ợ"} <= letters


@pytest.mark.parametrize("weight", [400, 600, 700])
def test_each_weight_covers_every_vietnamese_letter(weight: int) -> None:
    cmap: set[int] = set()
    for subset in ("latin", "vietnamese"):
        font = TTFont(FONTS / f"be-vietnam-pro-{subset}-{weight}-normal.woff2")
        cmap |= set(font.getBestCmap())
    needed = {ord(ch) for ch in vietnamese_letters()} | {ord(t) for t in TONES} | {0x20AB}
    missing = sorted(chr(code) for code in needed - cmap)
    assert missing == []


def test_the_stylesheet_names_every_file_and_the_licence_is_beside_them() -> None:
    css = (FONTS / "fonts.css").read_text("utf-8")
    named = set(re.findall(r"url\(([^)]+\.woff2)\)", css))
    assert named == {path.name for path in FONTS.glob("*.woff2")}
    assert "SIL Open Font License" in (FONTS / "OFL.txt").read_text("utf-8")
    assert '"Be Vietnam Pro"' in (FONTS.parent / "console.css").read_text("utf-8")
