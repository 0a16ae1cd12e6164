"""SMS text <-> SMPP bytes: GSM 03.38, UCS-2, UDH concatenation, delivery receipts.

Owns the encoding decisions smpplib gets wrong for us: its make_parts picks a
random concatenation reference and may split a GSM escape pair between two
parts. Here the reference is the caller's (persisted in the outbox) and parts
are cut on character boundaries. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1), septet value = index.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table, reached through ESC (0x1B) (TS 23.038 §6.2.1.1).
GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}
_ESC = 0x1B
# Octet (septet, top bit ignored) -> character, for decoding without escapes.
_SEPTET_TABLE = {octet: GSM_BASIC[octet & 0x7F] for octet in range(256)}
_TO_SEPTET = {ch: i for i, ch in enumerate(GSM_BASIC) if i != _ESC}
_TO_EXTENSION = {ch: code for code, ch in GSM_EXTENSION.items()}

DC_GSM = 0x00  # SMSC default alphabet: GSM 03.38, one septet per octet in SMPP
DC_IA5 = 0x01
DC_LATIN1 = 0x03
DC_UCS2 = 0x08
ESM_UDHI = 0x40
ESM_RECEIPT = 0x04  # esm_class message type: SMSC delivery receipt (SMPP 3.4 §5.2.12)

SINGLE = {DC_GSM: 160, DC_UCS2: 70}  # units in one unsplit SMS
PER_PART = {DC_GSM: 153, DC_UCS2: 67}  # units left beside a 6-octet UDH


def gsm_units(ch: str) -> int | None:
    """Septets one character needs in GSM 03.38 (2 for the extension table), None if absent."""
    if ch in _TO_SEPTET:
        return 1
    if ch in _TO_EXTENSION:
        return 2
    return None


def gsm_encode(text: str) -> bytes:
    """Unpacked septets; raises ValueError on a character outside GSM 03.38."""
    if _GSM_PLAIN.fullmatch(text):
        return text.encode("ascii").translate(_ASCII_TO_GSM)
    out = bytearray()
    for ch in text:
        if ch in _TO_SEPTET:
            out.append(_TO_SEPTET[ch])
        elif ch in _TO_EXTENSION:
            out += bytes((_ESC, _TO_EXTENSION[ch]))
        else:
            raise ValueError(f"{ch!r} is not in the GSM 03.38 alphabet")
    return bytes(out)


def gsm_decode(data: bytes) -> str:
    """Unpacked septets to text; an unknown escape gives a space (TS 23.038 note)."""
    if _ESC not in data:
        return data.decode("latin-1").translate(_SEPTET_TABLE)
    out: list[str] = []
    escaped = False
    for octet in data:
        septet = octet & 0x7F
        if escaped:
            out.append(GSM_EXTENSION.get(septet, " "))
            escaped = False
        elif septet == _ESC:
            escaped = True
        else:
            out.append(GSM_BASIC[septet])
    return "".join(out)


_VIET_EXTRA = str.maketrans({"đ": "d", "Đ": "D", "ð": "d", "Ð": "D"})
# Typographic characters that have a plain GSM equivalent.
_PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
    }
)


# For plain text only three ASCII characters move: @ -> 0x00, $ -> 0x02, _ -> 0x11.
_ASCII_TO_GSM = bytes.maketrans(b"@$_", b"\x00\x02\x11")


class _Unaccent(dict[int, str]):
    """str.translate table filled on first sight of each character (fast on long runs)."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        plain = ch.translate(_PLAIN).translate(_VIET_EXTRA)
        decomposed = unicodedata.normalize("NFD", plain)
        kept = unicodedata.normalize(
            "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
        )
        value = "".join(c if gsm_units(c) is not None else "?" for c in kept)
        self[code] = value
        return value


_UNACCENT = _Unaccent()
# Characters that are one septet and the same code point in ASCII and GSM 03.38.
_GSM_PLAIN = re.compile(r"[A-Za-z0-9 @$_!\"#%&'()*+,\-./:;<=>?\n\r]*")


def unaccent(text: str) -> str:
    """Vietnamese without diacritics ("Hồ sơ đã xong" -> "Ho so da xong"), GSM-safe."""
    if _GSM_PLAIN.fullmatch(text):
        return text
    return unicodedata.normalize("NFC", text).translate(_UNACCENT)


def fits_gsm(text: str) -> bool:
    return _GSM_PLAIN.fullmatch(text) is not None or all(gsm_units(ch) is not None for ch in text)


@dataclass(frozen=True, slots=True)
class Encoded:
    """One message ready for submit_sm: every part carries its own UDH if split."""

    data_coding: int
    esm_class: int
    parts: tuple[bytes, ...]


def _units(text: str, data_coding: int) -> list[int]:
    if data_coding == DC_GSM and _GSM_PLAIN.fullmatch(text):
        return [1] * len(text)
    if data_coding == DC_GSM:
        return [gsm_units(ch) or 1 for ch in text]
    return [len(ch.encode("utf-16-be")) // 2 for ch in text]


def _encode_chunk(text: str, data_coding: int) -> bytes:
    return gsm_encode(text) if data_coding == DC_GSM else text.encode("utf-16-be")


def split_text(text: str, data_coding: int) -> list[str]:
    """Cut text into SMS parts on character boundaries (no split escape or surrogate pair)."""
    units = _units(text, data_coding)
    if sum(units) <= SINGLE[data_coding]:
        return [text]
    limit, chunks, start, used = PER_PART[data_coding], [], 0, 0
    for i, size in enumerate(units):
        if used + size > limit:
            chunks.append(text[start:i])
            start, used = i, 0
        used += size
    chunks.append(text[start:])
    return chunks


def encode(text: str, *, reference: int, ucs2: bool) -> Encoded:
    """Encode a reply: GSM-7 when `ucs2` is False (text must be GSM-safe), else UCS-2 NFC.

    `reference` is the 8-bit concatenation reference (TS 23.040 §9.2.3.24.1); the
    outbox derives it from the message id so a resend after a crash reuses it.
    """
    data_coding = DC_UCS2 if ucs2 else DC_GSM
    text = unicodedata.normalize("NFC", text) if ucs2 else text
    chunks = split_text(text, data_coding)
    if len(chunks) == 1:
        return Encoded(data_coding, 0, (_encode_chunk(text, data_coding),))
    total = len(chunks)
    if total > 255:
        raise ValueError("a message cannot have more than 255 parts")
    parts = tuple(
        bytes((5, 0x00, 3, reference & 0xFF, total, seq)) + _encode_chunk(chunk, data_coding)
        for seq, chunk in enumerate(chunks, start=1)
    )
    return Encoded(data_coding, ESM_UDHI, parts)


def choose_coding(text: str, *, accents: bool) -> tuple[str, bool]:
    """(text to send, use UCS-2): unaccented GSM-7 unless accents are wanted and needed."""
    if accents:
        nfc = unicodedata.normalize("NFC", text)
        return nfc, not fits_gsm(nfc)
    return unaccent(text), False


def part_count(text: str, *, accents: bool) -> int:
    body, ucs2 = choose_coding(text, accents=accents)
    return len(split_text(body, DC_UCS2 if ucs2 else DC_GSM))


# ---------------------------------------------------------------- incoming


@dataclass(frozen=True, slots=True)
class Concat:
    """Where one part sits in a concatenated message."""

    reference: int
    total: int
    seq: int


ALPHABETS = ("gsm", "latin1", "ascii")


def decode_text(data_coding: int, body: bytes, alphabet: str = "gsm") -> str:
    """Message bytes to text for the SMPP data_coding values SMSCs use.

    `alphabet` is what the SMSC means by data_coding 0 (its "default alphabet").
    """
    if data_coding == DC_GSM and alphabet != "gsm":
        return body.decode("latin-1" if alphabet == "latin1" else "ascii", "replace")
    if data_coding == DC_GSM or (data_coding & 0xF4) == 0xF0:  # 0xF0-0xF3: GSM, with a class
        return gsm_decode(body)
    if data_coding == DC_UCS2 or (data_coding & 0xCC) == 0x08:  # general group, UCS-2
        return body[: len(body) - len(body) % 2].decode("utf-16-be", "replace")
    if data_coding == DC_IA5:
        return body.decode("ascii", "replace")
    # 3 = Latin-1; 2/4 = 8-bit binary, which a citizen never sends: Latin-1 keeps every byte.
    return body.decode("latin-1")


def split_udh(payload: bytes) -> tuple[Concat | None, bytes]:
    """Parse a User Data Header: 8-bit (IEI 0x00) or 16-bit (IEI 0x08) concatenation."""
    if not payload:
        return None, payload
    length = payload[0]
    header, body = payload[1 : 1 + length], payload[1 + length :]
    concat, i = None, 0
    while i + 2 <= len(header):
        iei, size = header[i], header[i + 1]
        value = header[i + 2 : i + 2 + size]
        if iei == 0x00 and size == 3 and len(value) == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == 0x08 and size == 4 and len(value) == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + size
    if concat is not None and not 1 <= concat.seq <= concat.total:
        concat = None
    return concat, body


def decode_incoming(
    data_coding: int,
    esm_class: int,
    short_message: bytes,
    message_payload: bytes | None = None,
    sar: tuple[int, int, int] | None = None,
    *,
    alphabet: str = "gsm",
) -> tuple[str, Concat | None]:
    """One deliver_sm's text and its place in a multipart message (UDH or SAR TLVs)."""
    payload = message_payload if message_payload else short_message
    concat: Concat | None = None
    if esm_class & ESM_UDHI:
        concat, payload = split_udh(payload)
    if concat is None and sar is not None:
        reference, total, seq = sar
        if total > 1 and 1 <= seq <= total:
            concat = Concat(reference, total, seq)
    return decode_text(data_coding, payload, alphabet), concat


# GSM septet -> the same character in Latin-1 ('?' where Latin-1 has none: Greek capitals).
_SEPTET_TO_LATIN1 = bytes(
    ord(ch) if ord(ch) < 256 else ord("?") for ch in (GSM_BASIC[o & 0x7F] for o in range(256))
)


def to_default_alphabet(payload: bytes, esm_class: int, alphabet: str) -> bytes:
    """A stored data_coding 0 part (GSM septets, UDH first if esm_class says so) in the
    SMSC's default alphabet. GSM: unchanged. Latin-1/ASCII: one octet a character (the
    part gets no longer: an escape pair becomes one octet); no equivalent gives '?'."""
    if alphabet == "gsm":
        return payload
    head = b""
    if esm_class & ESM_UDHI and payload:
        head, payload = payload[: 1 + payload[0]], payload[1 + payload[0] :]
    if _ESC in payload:
        text = gsm_decode(payload)
        out = text.encode("latin-1", "replace")
    else:
        out = payload.translate(_SEPTET_TO_LATIN1)
    if alphabet == "ascii":
        out = bytes(b if b < 0x80 else 0x3F for b in out)
    return head + out


# ---------------------------------------------------------------- receipts


@dataclass(frozen=True, slots=True)
class Receipt:
    """A delivery receipt (SMPP 3.4 Appendix B text, and/or TLVs)."""

    message_id: str
    stat: str  # DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, ACCEPTD, ENROUTE, UNKNOWN
    err: str = ""

    @property
    def final(self) -> bool:
        return self.stat not in ("ENROUTE", "ACCEPTD")

    @property
    def delivered(self) -> bool:
        return self.stat == "DELIVRD"


# Appendix B fields, whole words only ("paid:" is not "id:"); the free `text:` field and
# everything after it is the original message's start, never parsed.
_RECEIPT_FIELD = re.compile(r"(?<![0-9A-Za-z_])(id|stat|err)\s*:\s*(\S+)", re.IGNORECASE)
_RECEIPT_TEXT = re.compile(r"(?<![0-9A-Za-z_])text\s*:", re.IGNORECASE)
# message_state TLV values (SMPP 3.4 §5.2.28) -> the receipt text's stat words.
MESSAGE_STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


def parse_receipt(
    text: str, receipted_message_id: str | None = None, message_state: int | None = None
) -> Receipt | None:
    """The receipt in a deliver_sm; TLVs win over the text, which SMSCs format loosely."""
    cut = _RECEIPT_TEXT.search(text)
    head = text[: cut.start()] if cut else text
    fields: dict[str, str] = {}
    for key, value in _RECEIPT_FIELD.findall(head):
        fields.setdefault(key.lower(), value)  # the first occurrence wins
    tlv_id = (receipted_message_id or "").strip("\x00 ")
    text_id = fields.get("id", "")
    message_id = tlv_id or text_id
    if tlv_id and text_id.lower().startswith(tlv_id.lower()):
        # smpplib drops the last character of a TLV string sent without its NUL: the
        # receipt text, when it carries the longer spelling, is the complete id.
        message_id = text_id
    stat = MESSAGE_STATES.get(message_state or 0) or fields.get("stat", "").upper()
    if not message_id or not stat:
        return None
    return Receipt(message_id, stat[:7], fields.get("err", ""))


def canonical_id(message_id: str) -> str:
    """An SMSC message id as stored and compared: trimmed, lower case, without a 0x
    prefix or leading zeros ("000A1B2C" and "a1b2c" are one id)."""
    clean = message_id.strip("\x00 ").lower()
    if clean.startswith("0x") and len(clean) > 2:
        clean = clean[2:]
    return clean.lstrip("0") or ("0" if clean else "")


def id_forms(message_id: str) -> tuple[str, ...]:
    """The canonical id first, then its hex<->decimal twins.

    Many SMSCs answer submit_sm_resp with a hex id and put it in decimal in the
    receipt (or the reverse), with or without leading zeros. The outbox stores the
    canonical id; a receipt matches when any of its forms is that id. The relation
    is symmetric (hex->decimal of one is decimal->hex of the other), so forms on one
    side and the canonical on the other find every pairing.
    """
    canonical = canonical_id(message_id)
    forms = [canonical]
    if canonical.isdigit() and len(canonical) <= 40:
        forms.append(format(int(canonical), "x"))
    if re.fullmatch(r"[0-9a-f]{1,32}", canonical):
        forms.append(str(int(canonical, 16)))
    return tuple(dict.fromkeys(f for f in forms if f))
