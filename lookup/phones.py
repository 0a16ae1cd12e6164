"""Phone numbers: caller IDs, SMS senders and imported numbers to E.164.

Vietnamese mobiles went from 11 to 10 digits in 2018 and legacy data still
holds the old numbers, which `phonenumbers` rejects: they are converted first
(the last 7 digits stay). A caller ID the library calls invalid is still a real
caller, so it is kept in a best-effort E.164 form rather than dropped; only
text that cannot be a phone number at all gives None.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from kernel.logs import mask_msisdn

__all__ = ["LEGACY_PREFIXES", "mask_msisdn", "normalise_phone"]

# Old 11-digit mobile prefix (national, with the leading 0) -> the new 3-digit one.
LEGACY_PREFIXES: dict[str, str] = {
    # Viettel
    **{f"016{d}": f"03{d}" for d in "23456789"},
    # MobiFone
    "0120": "070",
    "0121": "079",
    "0122": "077",
    "0126": "076",
    "0128": "078",
    # VinaPhone
    "0123": "083",
    "0124": "084",
    "0125": "085",
    "0127": "081",
    "0129": "082",
    # Vietnamobile, Gmobile
    "0186": "056",
    "0188": "058",
    "0199": "059",
}

_SEPARATORS = re.compile(r"[\s.\-()/]")
# Current mobile ranges (national form); bulk imports skip the library's slow parse for them.
_MOBILE = re.compile(r"0(?:3[2-9]|5[2689]|7[06-9]|8[1-9]|9[0-46-9])\d{7}")
MIN_DIGITS, MAX_DIGITS = 8, 15  # shorter is a short code or garbage; E.164 allows 15


def normalise_phone(raw: str | None) -> str | None:
    """E.164 ('+84912345678') for any spelling of a number; None if it is none."""
    if raw is None:
        return None
    if _MOBILE.fullmatch(raw):  # already clean (stored data, bulk imports)
        return "+84" + raw[1:]
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw).strip())  # full-width digits
    if text.startswith("00"):
        text = "+" + text[2:]
    international = text.startswith("+")
    digits = text.removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        return None
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        return None
    if not international and digits.startswith("84") and len(digits) in (11, 12):
        international = True  # 84912345678: the country code without '+'
    national = _national(digits, international)
    if national is not None:
        national = _modernise(national)
        if _MOBILE.fullmatch(national):  # the common case; the library would agree (tested)
            return "+84" + national[1:]
        return _e164(national, "VN") or "+84" + national[1:]
    # Another country's number: trust the library when it understands it.
    return _e164("+" + digits, None) or "+" + digits


def _national(digits: str, international: bool) -> str | None:
    """The Vietnamese national form ('0912345678'), or None for a foreign number."""
    if international:
        return "0" + digits[2:] if digits.startswith("84") else None
    return digits if digits.startswith("0") else "0" + digits


def _modernise(national: str) -> str:
    """0162xxxxxxx -> 032xxxxxxx; anything else unchanged."""
    if len(national) == 11:
        new = LEGACY_PREFIXES.get(national[:4])
        if new is not None:
            return new + national[4:]
    return national


def _e164(number: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
