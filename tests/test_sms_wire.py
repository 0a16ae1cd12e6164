"""sms/pdu.py's PDU reader on exact bytes (SMPP 3.4 §4.6.1, §4.7.1, §5.3)."""

from __future__ import annotations

import struct

import pytest

from sms.pdu import MAX_PDU, BadFraming, Pdu, PduError, PduReader

pytestmark = pytest.mark.no_store


def Bytes(data: bytes) -> PduReader:
    reader = PduReader()
    reader.feed(data)
    return reader


def _read_pdu(reader: PduReader) -> Pdu:
    pdu = reader.next()
    assert pdu is not None, "a whole PDU was expected"
    return pdu


def pdu(command_id: int, body: bytes, sequence: int = 7, status: int = 0) -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


DELIVER_HEAD = (
    b"\0" + b"\x01\x01" + b"84912345678\0" + b"\x00\x00" + b"8088\0"
    + b"\x04\x00\x00" + b"\0" + b"\0" + b"\x00\x00" + b"\x00\x00"
)  # fmt: skip


def test_receipt_tlvs_without_nul_are_kept_whole() -> None:
    text = b"id:1a2b0007 stat:DELIVRD"
    body = (
        DELIVER_HEAD + bytes((len(text),)) + text
        + tlv(0x001E, b"1a2b0007") + tlv(0x0427, b"\x02") + tlv(0x1234, b"vendor")
    )  # fmt: skip
    got = _read_pdu(Bytes(pdu(0x00000005, body)))
    assert (got.command, got.sequence, got.status) == ("deliver_sm", 7, 0)
    assert got.source_addr == b"84912345678"
    assert got.esm_class == 0x04
    assert got.short_message == text
    assert got.receipted_message_id == b"1a2b0007"
    assert got.message_state == 2


def test_payload_and_sar_tlvs() -> None:
    body = (
        DELIVER_HEAD.replace(b"\x04\x00\x00", b"\x00\x00\x00") + b"\x00"
        + tlv(0x0424, "Tra cứu".encode("utf-16-be"))
        + tlv(0x020C, b"\x01\x02") + tlv(0x020E, b"\x02") + tlv(0x020F, b"\x01")
    )  # fmt: skip
    got = _read_pdu(Bytes(pdu(0x00000005, body)))
    assert got.short_message == b""
    assert got.message_payload == "Tra cứu".encode("utf-16-be")
    assert (got.sar_msg_ref_num, got.sar_total_segments, got.sar_segment_seqnum) == (258, 2, 1)


def test_data_sm_and_responses() -> None:
    data_sm = b"\0" + b"\x01\x01" + b"84900000001\0" + b"\x00\x00" + b"8088\0" + b"\x00\x00\x08"
    got = _read_pdu(Bytes(pdu(0x00000103, data_sm + tlv(0x0424, b"\x00H"))))
    assert (got.command, got.data_coding, got.message_payload) == ("data_sm", 8, b"\x00H")
    resp = _read_pdu(Bytes(pdu(0x80000004, b"abc123\0", sequence=9)))
    assert (resp.command, resp.sequence, resp.message_id) == ("submit_sm_resp", 9, b"abc123")
    refused = _read_pdu(Bytes(pdu(0x80000004, b"", status=0x58)))
    assert (refused.status, refused.message_id) == (0x58, b"")
    assert _read_pdu(Bytes(pdu(0x00000006, b""))).command == "unbind"


def test_broken_framing_is_a_link_error() -> None:
    # command_length 8: not even a header. Its 4 octets are enough (nothing more is
    # waited for), and the connection must go (SMPP 3.4 §4.3: the stream is corrupt).
    with pytest.raises(BadFraming):
        Bytes(struct.pack(">L", 8)).next()
    with pytest.raises(BadFraming):
        Bytes(struct.pack(">LLLL", MAX_PDU + 1, 5, 0, 1)).next()
    assert issubclass(BadFraming, PduError)
    # A PDU not yet whole is waited for, not misread.
    partial = Bytes(pdu(0x00000005, b"")[:10])
    assert partial.next() is None
    partial.feed(pdu(0x00000005, b"")[10:])
    assert _read_pdu(partial).command == "deliver_sm"


def test_malformed_bodies_are_marked_and_the_stream_stays_in_step() -> None:
    truncated_tlv = DELIVER_HEAD + b"\x04HS 1" + struct.pack(">HH", 0x0424, 50) + b"ab"
    unterminated = b"\0\x01\x01no-terminator"
    overrun = DELIVER_HEAD + b"\x50HS 1"  # sm_length 80, 4 octets there
    stream = Bytes(
        pdu(0x00000005, truncated_tlv, sequence=1)
        + pdu(0x00000005, unterminated, sequence=2)
        + pdu(0x00000005, overrun, sequence=3)
        + pdu(0x00000111, b"vendor", sequence=4)
        + pdu(0x00000015, b"", sequence=5)
    )
    first, second, third, fourth, fifth = (_read_pdu(stream) for _ in range(5))
    assert (first.sequence, first.malformed) == (1, 0xC0)  # ESME_RINVOPTPARSTREAM
    assert first.message_payload is None  # never a half-read payload in place of the text
    assert (second.sequence, second.malformed) == (2, 0x02)  # ESME_RINVCMDLEN
    assert (third.sequence, third.malformed) == (3, 0x02)
    assert (fourth.command, fourth.command_id, fourth.malformed) == ("command 0x111", 0x111, 0)
    assert (fifth.command, fifth.sequence) == ("enquire_link", 5)
    assert stream.pending == 0


def test_sender_type_of_number_is_read() -> None:
    body = b"\0" + b"\x05\x00" + b"Viettel\0" + DELIVER_HEAD[15:] + b"\x02hi"
    got = _read_pdu(Bytes(pdu(0x00000005, body)))
    assert (got.source_ton, got.source_addr, got.short_message) == (5, b"Viettel", b"hi")
