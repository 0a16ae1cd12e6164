"""Phone numbers as the SMS side stores and sends them: digits, country code first.

SMSCs hand us senders as 84912345678, +84912345678 or 0912345678 (and old
11-digit numbers); we store and submit 84912345678 (TON international, NPI
E.164). Anything that is not a phone number (an alphanumeric sender, a short
code) is kept as it came. Pure.
"""

from __future__ import annotations

from lookup.phones import normalise_phone


def to_msisdn(raw: str) -> str:
    """'0912345678' / '+84912345678' / '84912345678' -> '84912345678'."""
    if len(raw) == 11 and raw.startswith("84") and raw.isdigit() and raw[2] in "35789":
        return raw  # already a current mobile number in our form (the common case)
    e164 = normalise_phone(raw)
    if e164 is None:
        return raw.strip()
    return e164.removeprefix("+")


def to_e164(msisdn: str) -> str:
    return "+" + msisdn if msisdn.isdigit() else msisdn


TON_ALPHANUMERIC = 5  # SMPP 3.4 §5.2.5


def is_phone_number(msisdn: str, ton: int = 1) -> bool:
    """Whether a sender can be answered: a full phone number, not an alphanumeric
    sender ("Viettel", TON 5), a short code (9029) or an empty address. Replies to
    those would go nowhere, or to another machine that may answer back."""
    return ton != TON_ALPHANUMERIC and msisdn.isdigit() and 9 <= len(msisdn) <= 15
