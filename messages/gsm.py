"""The GSM 03.38 7-bit alphabet: what an unaccented SMS may contain, and its length.

An SMS segment holds 160 septets in GSM-7; a character of the extension table
(€ [ ] { } ~ ^ | \\ and form feed) costs two, behind an escape (3GPP TS 23.038
§6.2.1). Anything else forces UCS-2 and 70 characters a segment.
Refuses: segmentation and encoding to bytes (the SMS link's job).
"""

from __future__ import annotations

import re

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
SEGMENT_SEPTETS = 160

# Typography that office data carries but GSM-7 lacks, spelled with what it has.
_SUBSTITUTES = {
    "\u00a0": " ",  # no-break space
    "\t": " ",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "…": "...",
    "•": "-",
    "«": '"',
    "»": '"',
}


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def gsm7_septets(text: str) -> int:
    """Length in septets; raises ValueError if `text` is not GSM-7."""
    if not is_gsm7(text):
        raise ValueError("text is not in the GSM 7-bit alphabet")
    return sum(2 if c in GSM7_EXTENSION else 1 for c in text)


def fits_one_segment(text: str) -> bool:
    """One unconcatenated GSM-7 SMS (160 septets)."""
    return is_gsm7(text) and gsm7_septets(text) <= SEGMENT_SEPTETS


def to_gsm7(text: str) -> str:
    """Substitute typographic characters; drop whatever GSM-7 still cannot carry.

    Meant for text already stripped of Vietnamese diacritics, where only stray
    symbols remain; multiple spaces left by a dropped symbol are collapsed.
    """
    out = "".join(
        c if c in GSM7_BASIC or c in GSM7_EXTENSION else _SUBSTITUTES.get(c, "") for c in text
    )
    return re.sub(" {2,}", " ", out).strip(" ")
