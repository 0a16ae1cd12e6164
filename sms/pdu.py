"""SMPP 3.4 PDUs: the few the link sends and reads, as bytes (pure: no sockets, no clock).

The link owns its socket (sms/link.py); this module turns bytes into `Pdu`
objects and back. Only the PDUs the link needs are known (SMPP 3.4 §4):
bind_transceiver, submit_sm, enquire_link, unbind and the responses we send;
submit_sm_resp, deliver_sm, data_sm, enquire_link(_resp), unbind(_resp),
bind_transceiver_resp and generic_nack that we read. Anything else is read as
"command 0x…" with its id, so dispatch can answer generic_nack.

Framing is checked before anything else: a command_length outside 16..MAX_PDU
raises BadFraming as soon as its four octets are in (nothing more is waited
for). A body we cannot read is marked `malformed` with the status its response
should carry (ESME_RINVOPTPARSTREAM for a TLV cut short, ESME_RINVCMDLEN for
mandatory fields running past the PDU) and the stream stays in step.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Command status values we act on (SMPP 3.4 §5.1.3).
ROK = 0x00
INVALID_COMMAND_LENGTH = 0x02  # ESME_RINVCMDLEN
INVALID_COMMAND_ID = 0x03  # ESME_RINVCMDID
SYSTEM_ERROR = 0x08  # ESME_RSYSERR
QUEUE_FULL = 0x14  # ESME_RMSGQFUL
SUBMIT_FAILED = 0x45  # ESME_RSUBMITFAIL
THROTTLED = 0x58  # ESME_RTHROTTLED
RETRY_LATER = 0x64  # ESME_RX_T_APPN
INVALID_TLV_STREAM = 0xC0  # ESME_RINVOPTPARSTREAM
# Worth another try later (SMPP 3.4 §5.1.3 leaves the class to the ESME; Kannel/Vumi agree).
TEMPORARY: frozenset[int] = frozenset(
    {SYSTEM_ERROR, SUBMIT_FAILED, QUEUE_FULL, THROTTLED, RETRY_LATER}
)

STATUS_NAMES: dict[int, str] = {
    0x00: "ESME_ROK", 0x01: "ESME_RINVMSGLEN", 0x02: "ESME_RINVCMDLEN",
    0x03: "ESME_RINVCMDID", 0x04: "ESME_RINVBNDSTS", 0x05: "ESME_RALYBND",
    0x06: "ESME_RINVPRTFLG", 0x07: "ESME_RINVREGDLVFLG", 0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR", 0x0B: "ESME_RINVDSTADR", 0x0C: "ESME_RINVMSGID",
    0x0D: "ESME_RBINDFAIL", 0x0E: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID",
    0x11: "ESME_RCANCELFAIL", 0x13: "ESME_RREPLACEFAIL", 0x14: "ESME_RMSGQFUL",
    0x15: "ESME_RINVSERTYP", 0x33: "ESME_RINVNUMDESTS", 0x34: "ESME_RINVDLNAME",
    0x40: "ESME_RINVDESTFLAG", 0x42: "ESME_RINVSUBREP", 0x43: "ESME_RINVESMCLASS",
    0x44: "ESME_RCNTSUBDL", 0x45: "ESME_RSUBMITFAIL", 0x48: "ESME_RINVSRCTON",
    0x49: "ESME_RINVSRCNPI", 0x50: "ESME_RINVDSTTON", 0x51: "ESME_RINVDSTNPI",
    0x53: "ESME_RINVSYSTYP", 0x54: "ESME_RINVREPFLAG", 0x55: "ESME_RINVNUMMSGS",
    0x58: "ESME_RTHROTTLED", 0x61: "ESME_RINVSCHED", 0x62: "ESME_RINVEXPIRY",
    0x63: "ESME_RINVDFTMSGID", 0x64: "ESME_RX_T_APPN", 0x65: "ESME_RX_P_APPN",
    0x66: "ESME_RX_R_APPN", 0x67: "ESME_RQUERYFAIL", 0xC0: "ESME_RINVOPTPARSTREAM",
    0xC1: "ESME_ROPTPARNOTALLWD", 0xC2: "ESME_RINVPARLEN", 0xC3: "ESME_RMISSINGOPTPARAM",
    0xC4: "ESME_RINVOPTPARAMVAL", 0xFE: "ESME_RDELIVERYFAILURE", 0xFF: "ESME_RUNKNOWNERR",
}  # fmt: skip

# command_id values (SMPP 3.4 §5.1.2.1).
BIND_TRANSCEIVER = 0x00000009
SUBMIT_SM = 0x00000004
ENQUIRE_LINK = 0x00000015
UNBIND = 0x00000006
RESPONSE_BIT = 0x80000000
COMMANDS: dict[int, str] = {
    0x80000000: "generic_nack",
    0x80000004: "submit_sm_resp",
    0x00000005: "deliver_sm",
    0x00000103: "data_sm",
    0x00000006: "unbind",
    0x80000006: "unbind_resp",
    0x00000015: "enquire_link",
    0x80000015: "enquire_link_resp",
    0x80000009: "bind_transceiver_resp",
}
# Requests that take no response (SMPP 3.4 §4.12.1: alert_notification).
NO_RESPONSE = frozenset({0x00000102})
# Responses we send: command_id and body (message_id unused: empty).
_RESPONSES = {
    "deliver_sm_resp": (0x80000005, b"\0"),
    "data_sm_resp": (0x80000103, b"\0"),
    "enquire_link_resp": (0x80000015, b""),
    "unbind_resp": (0x80000006, b""),
    "generic_nack": (0x80000000, b""),
}
_TLV_STRINGS = {0x001E: "receipted_message_id"}
_TLV_OCTETS = {0x0424: "message_payload"}
_TLV_INTS = {
    0x0427: "message_state",
    0x020C: "sar_msg_ref_num",
    0x020E: "sar_total_segments",
    0x020F: "sar_segment_seqnum",
}
HEADER = struct.Struct(">LLLL")
MAX_PDU = 70_000  # a deliver_sm with a 64 KiB message_payload, and then some


class PduError(Exception):
    """Bytes that are not the PDU they claim to be."""


class BadFraming(PduError):
    """A command_length outside 16..MAX_PDU: the stream cannot be trusted any more."""


class _BadTlv(Exception):
    """A TLV whose length runs past the end of the PDU."""


@dataclass
class Pdu:
    """A received PDU: the fields the dispatch uses."""

    command: str
    status: int
    sequence: int
    command_id: int = 0
    malformed: int = 0  # an error status for a body we could not read (framing was fine)
    message_id: bytes = b""
    source_ton: int = 0
    source_addr: bytes = b""
    esm_class: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    message_payload: bytes | None = None
    receipted_message_id: bytes | None = None
    message_state: int | None = None
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


class PduReader:
    """Frames PDUs out of a byte stream: feed() what the socket gave, next() until None."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._at = 0

    def feed(self, data: bytes) -> None:
        if self._at:
            del self._buffer[: self._at]
            self._at = 0
        self._buffer += data

    def next(self) -> Pdu | None:
        """The next whole PDU, or None until more bytes come; BadFraming on a bad length."""
        available = len(self._buffer) - self._at
        if available < 4:
            return None
        (length,) = struct.unpack_from(">L", self._buffer, self._at)
        if not 16 <= length <= MAX_PDU:
            raise BadFraming(f"PDU length {length} out of range")
        if available < length:
            return None
        frame = bytes(self._buffer[self._at : self._at + length])
        self._at += length
        return decode(frame)

    @property
    def whole(self) -> bool:
        """A whole PDU (or a length that breaks the framing) waits for next()."""
        available = len(self._buffer) - self._at
        if available < 4:
            return False
        (length,) = struct.unpack_from(">L", self._buffer, self._at)
        return available >= length or not 16 <= length <= MAX_PDU

    @property
    def pending(self) -> int:
        """Octets read but not yet framed."""
        return len(self._buffer) - self._at


def decode(frame: bytes) -> Pdu:
    """One whole PDU (header included); a body we cannot parse is marked `malformed`."""
    length, command_id, status, sequence = HEADER.unpack_from(frame)
    if length != len(frame):
        raise BadFraming(f"PDU length {length} but {len(frame)} octets")
    body = frame[16:]
    name = COMMANDS.get(command_id, f"command {command_id:#x}")
    pdu = Pdu(name, status, sequence, command_id)
    try:
        if name == "submit_sm_resp" and body:
            pdu.message_id = body.split(b"\0", 1)[0]
        elif name in ("deliver_sm", "data_sm"):
            _parse_message(pdu, body)
    except _BadTlv:
        pdu.malformed = INVALID_TLV_STREAM
    except (IndexError, struct.error, PduError):
        pdu.malformed = INVALID_COMMAND_LENGTH  # mandatory fields run past command_length
    return pdu


def _cstring(body: bytes, pos: int) -> tuple[bytes, int]:
    end = body.find(b"\0", pos)
    if end < 0:
        raise PduError("unterminated C-octet string")
    return body[pos:end], end + 1


def _parse_message(pdu: Pdu, body: bytes) -> None:
    """deliver_sm (SMPP 3.4 §4.6.1) or data_sm (§4.7.1) body, then its TLVs."""
    _, pos = _cstring(body, 0)  # service_type
    pdu.source_ton = body[pos]
    pos += 2  # source_addr_ton, source_addr_npi
    pdu.source_addr, pos = _cstring(body, pos)
    pos += 2  # dest_addr_ton, dest_addr_npi
    _, pos = _cstring(body, pos)  # destination_addr
    pdu.esm_class = body[pos]
    if pdu.command == "data_sm":
        pdu.data_coding = body[pos + 2]  # after registered_delivery
        pos += 3
    else:
        pos += 3  # esm_class, protocol_id, priority_flag
        _, pos = _cstring(body, pos)  # schedule_delivery_time
        _, pos = _cstring(body, pos)  # validity_period
        pos += 2  # registered_delivery, replace_if_present_flag
        pdu.data_coding = body[pos]
        sm_length = body[pos + 2]  # after sm_default_msg_id
        pos += 3
        if pos + sm_length > len(body):
            raise IndexError("short_message runs past the PDU")
        pdu.short_message = body[pos : pos + sm_length]
        pos += sm_length
    while pos < len(body):
        if pos + 4 > len(body):
            raise _BadTlv("a TLV header cut short")
        tag, size = struct.unpack_from(">HH", body, pos)
        if pos + 4 + size > len(body):
            # SMPP 3.4 §5.1.3 ESME_RINVOPTPARSTREAM: rejected whole, never half-read.
            raise _BadTlv(f"TLV {tag:#06x} of {size} octets runs past the PDU")
        value = body[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag in _TLV_STRINGS:
            setattr(pdu, _TLV_STRINGS[tag], value.split(b"\0", 1)[0])
        elif tag in _TLV_OCTETS:
            setattr(pdu, _TLV_OCTETS[tag], value)
        elif tag in _TLV_INTS and value:
            setattr(pdu, _TLV_INTS[tag], int.from_bytes(value, "big"))


# ---------------------------------------------------------------- encoding


def encode(command_id: int, sequence: int, body: bytes = b"", status: int = ROK) -> bytes:
    return HEADER.pack(16 + len(body), command_id, status, sequence) + body


def response(command: str, sequence: int, status: int = ROK) -> bytes:
    """A response PDU carrying the request's sequence number and status."""
    command_id, body = _RESPONSES[command]
    return encode(command_id, sequence, body, status)


def c_octets(value: str, size: int) -> bytes:
    """A C-octet string of at most `size` octets, NUL included (SMPP 3.4 §3.1)."""
    return value.encode("ascii", "replace")[: size - 1] + b"\0"


def bind_transceiver(sequence: int, system_id: str, password: str, system_type: str) -> bytes:
    """bind_transceiver (SMPP 3.4 §4.1.5)."""
    body = b"".join(
        (
            c_octets(system_id, 16),
            c_octets(password, 9),
            c_octets(system_type, 13),
            bytes((0x34, 0, 0)),  # interface_version 3.4, addr_ton, addr_npi
            b"\0",  # address_range: any
        )
    )
    return encode(BIND_TRANSCEIVER, sequence, body)


@dataclass(frozen=True)
class Addressing:
    """The submit_sm fields that come from settings, not from the message."""

    source_addr: str
    source_ton: int
    source_npi: int
    dest_ton: int
    dest_npi: int
    registered_delivery: bool


def submit_sm(
    sequence: int,
    addressing: Addressing,
    *,
    msisdn: str,
    esm_class: int,
    data_coding: int,
    payload: bytes,
) -> bytes:
    """submit_sm (SMPP 3.4 §4.4.1), encoded by hand: a generic PDU builder costs more
    CPU than the rest of the hot path together. The tests check these bytes with
    smpp.pdu3."""
    a = addressing
    body = b"".join(
        (
            b"\0",  # service_type: SMSC default
            bytes((a.source_ton, a.source_npi)),
            a.source_addr.encode("ascii", "replace")[:20] + b"\0",
            bytes((a.dest_ton, a.dest_npi)),
            msisdn.encode("ascii", "replace")[:20] + b"\0",
            bytes((esm_class, 0, 0)),  # esm_class, protocol_id, priority_flag
            b"\0\0",  # schedule_delivery_time, validity_period: immediate, default
            bytes((1 if a.registered_delivery else 0, 0, data_coding, 0)),
            bytes((len(payload),)),
            payload,
        )
    )
    return encode(SUBMIT_SM, sequence, body)


class Sequences:
    """Sequence numbers 1..0x7FFFFFFF, wrapping (SMPP 3.4 §3.2)."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> int:
        self._last = self._last % 0x7FFFFFFF + 1
        return self._last


# ---------------------------------------------------------------- statuses, said


# SMPP 3.4 §5.1.3: the bind answers an operator can act on.
_BIND_ADVICE = {
    "ESME_RINVPASWD": "wrong system_id/password",
    "ESME_RINVSYSID": "wrong system_id/password",
    "ESME_RALYBND": "already bound (another session uses this system_id)",
    "ESME_RBINDFAIL": "bind failed at the SMSC",
    "ESME_RINVSYSTYP": "wrong system_type",
}


def bind_refusal(status: int) -> str:
    """A refused bind for a person: "wrong system_id/password (ESME_RINVPASWD)"."""
    name = STATUS_NAMES.get(status) or f"status {status:#04x}"
    advice = _BIND_ADVICE.get(name)
    return f"{advice} ({name})" if advice else name


def status_name(status: int) -> str:
    return f"status {status:#04x} ({STATUS_NAMES.get(status, 'unknown')})"
