"""sms/codec.py: GSM 03.38 and UCS-2 encoding, UDH split/parse, receipts, id forms."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peers.smsc import _gsm_text  # the SMSC's own, independent GSM table
from sms import codec

pytestmark = pytest.mark.no_store


def test_gsm_basic_and_extension_round_trip() -> None:
    text = "@£$_ Hello {world} [x] ~|€^\\ àÄ"
    data = codec.gsm_encode(text)
    assert data[:4] == bytes((0x00, 0x01, 0x02, 0x11))
    assert codec.gsm_decode(data) == text
    assert _gsm_text(data) == text  # the independent table agrees


def test_gsm_rejects_vietnamese_letters() -> None:
    with pytest.raises(ValueError, match="not in the GSM"):
        codec.gsm_encode("hồ sơ")


def test_unaccent_vietnamese() -> None:
    assert codec.unaccent("Hồ sơ đã xử lý xong. ĐƯỢC “tiếp nhận” – ngày…") == (
        'Ho so da xu ly xong. DUOC "tiep nhan" - ngay...'
    )
    assert codec.fits_gsm(codec.unaccent("Nguyễn Thị Ánh Tuyết ₫"))


def test_single_segment_limits() -> None:
    assert len(codec.encode("a" * 160, reference=1, ucs2=False).parts) == 1
    two = codec.encode("a" * 161, reference=7, ucs2=False)
    assert len(two.parts) == 2
    assert two.esm_class == codec.ESM_UDHI
    assert two.parts[0][:6] == bytes((5, 0, 3, 7, 2, 1))
    assert two.parts[1][:6] == bytes((5, 0, 3, 7, 2, 2))
    assert len(two.parts[0]) == 6 + 153
    assert len(codec.encode("ồ" * 70, reference=1, ucs2=True).parts) == 1
    three = codec.encode("ồ" * 135, reference=1, ucs2=True)
    assert [len(p) - 6 for p in three.parts] == [134, 134, 2]


def test_escape_pair_never_split() -> None:
    text = "a" * 152 + "€" + "b" * 10  # the euro sign would straddle parts 1 and 2
    parts = codec.encode(text, reference=3, ucs2=False).parts
    assert parts[0][6:] == b"a" * 152
    assert parts[1][6:] == bytes((0x1B, 0x65)) + b"b" * 10


def test_ucs2_is_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Hồ sơ")
    sent = codec.encode(decomposed, reference=0, ucs2=True).parts[0]
    assert sent.decode("utf-16-be") == "Hồ sơ"


@given(st.text(alphabet=st.sampled_from([*codec.GSM_BASIC.replace("\x1b", ""), "€", "{"])))
def test_gsm_split_round_trips(text: str) -> None:
    encoded = codec.encode(text, reference=9, ucs2=False)
    bodies = [p[6:] if encoded.esm_class else p for p in encoded.parts]
    assert all(len(b) <= (153 if encoded.esm_class else 160) for b in bodies)
    assert "".join(codec.gsm_decode(b) for b in bodies) == text


@given(st.text(max_size=400))
def test_choose_coding_always_encodable(text: str) -> None:
    for accents in (False, True):
        body, ucs2 = codec.choose_coding(text, accents=accents)
        codec.encode(body, reference=1, ucs2=ucs2)  # never raises


@pytest.mark.parametrize(
    ("dc", "payload", "expected"),
    [
        (0, codec.gsm_encode("HS 123 @$"), "HS 123 @$"),
        (1, b"HS abc", "HS abc"),
        (3, "Tra cứu".encode("latin-1", "replace"), "Tra c?u"),
        (8, "Tra cứu hồ sơ".encode("utf-16-be"), "Tra cứu hồ sơ"),
        (0xF1, codec.gsm_encode("hi"), "hi"),
        (0x18, "ồ".encode("utf-16-be"), "ồ"),
    ],
)
def test_decode_data_codings(dc: int, payload: bytes, expected: str) -> None:
    assert codec.decode_incoming(dc, 0, payload) == (expected, None)


def test_udh_8_and_16_bit_and_sar() -> None:
    eight = bytes((5, 0, 3, 0xAB, 2, 1)) + b"HS 0"
    assert codec.decode_incoming(1, 0x40, eight) == ("HS 0", codec.Concat(0xAB, 2, 1))
    sixteen = bytes((6, 8, 4, 0x12, 0x34, 3, 2)) + b"xy"
    assert codec.decode_incoming(1, 0x40, sixteen) == ("xy", codec.Concat(0x1234, 3, 2))
    assert codec.decode_incoming(1, 0, b"ab", None, (77, 2, 2)) == ("ab", codec.Concat(77, 2, 2))
    assert codec.decode_incoming(1, 0, b"", b"payload text") == ("payload text", None)
    bad_seq = bytes((5, 0, 3, 1, 2, 5)) + b"z"
    assert codec.decode_incoming(1, 0x40, bad_seq) == ("z", None)


def test_receipt_text_and_tlvs() -> None:
    text = (
        "id:1A2B sub:001 dlvrd:000 submit date:2411291200 done date:2411291201"
        " stat:UNDELIV err:034 text:"
    )
    assert codec.parse_receipt(text) == codec.Receipt("1A2B", "UNDELIV", "034")
    assert codec.parse_receipt("", "abc\x00", 2) == codec.Receipt("abc", "DELIVRD", "")
    assert codec.parse_receipt("hello") is None
    assert not codec.Receipt("1", "ENROUTE").final
    assert codec.Receipt("1", "DELIVRD").delivered


def test_id_forms_hex_and_decimal() -> None:
    assert codec.id_forms("1A2B0000") == ("1a2b0000", str(0x1A2B0000))
    assert "1a2b0000" in codec.id_forms(str(0x1A2B0000))
    assert codec.id_forms("00ff") == ("ff", "255")


# (submit_sm_resp id, receipt id): every pairing real SMSCs produce must match (QA H3).
ID_PAIRS = [
    ("0A1B2C", "662316"),  # hex with a leading zero / decimal
    ("a1b2c", "662316"),
    ("662316", "a1b2c"),  # decimal / hex
    ("662316", "0A1B2C"),
    ("00000000662316", "662316"),  # zero-padded / plain
    ("662316", "00000000662316"),
    ("0000000000A1B2C", "662316"),  # zero-padded hex / decimal
    ("0x1A", "26"),
    ("FFFFFFFFFFFFFFFFF", "295147905179352825855"),  # 17 hex digits / decimal
    ("1B5E3E2A-7C3F", "1b5e3e2a-7c3f"),  # not a number: case only
]


@pytest.mark.parametrize(("submitted", "receipted"), ID_PAIRS)
def test_receipt_id_matches_the_stored_canonical_id(submitted: str, receipted: str) -> None:
    stored = codec.id_forms(submitted)[0]
    assert stored == codec.canonical_id(submitted)
    assert stored in codec.id_forms(receipted)
    # and the other way round (a receipt kept as an orphan, matched at submit_sm_resp)
    assert codec.canonical_id(receipted) in codec.id_forms(submitted)


def test_receipt_fields_are_words_before_the_text_field() -> None:
    text = (
        "id:77 sub:001 dlvrd:000 submit date:2411291200 done date:2411291201"
        " stat:UNDELIV err:001 Text:HS da xong, paid:5 stat:x"
    )
    assert codec.parse_receipt(text) == codec.Receipt("77", "UNDELIV", "001")
    inside = "id:77 submit date:2411291200 stat:DELIVRD err:000 text:id:99 was valid"
    assert codec.parse_receipt(inside) == codec.Receipt("77", "DELIVRD", "000")
    first = "id:12 id:34 stat:DELIVRD stat:UNDELIV err:000"
    assert codec.parse_receipt(first) == codec.Receipt("12", "DELIVRD", "000")
    assert codec.parse_receipt("msgid:5 xstat:DELIVRD") is None


@pytest.mark.parametrize(
    ("alphabet", "expected"),
    [("gsm", b"a\x00b\x11\x02 \x1b\x65"), ("latin1", b"a@b_$ ?"), ("ascii", b"a@b_$ ?")],
)
def test_default_alphabet_transcodes_data_coding_0(alphabet: str, expected: bytes) -> None:
    stored = codec.gsm_encode("a@b_$ €")
    assert codec.to_default_alphabet(stored, 0, alphabet) == expected
    udh = bytes((5, 0, 3, 1, 2, 1))
    assert codec.to_default_alphabet(udh + codec.gsm_encode("_é"), codec.ESM_UDHI, "latin1") == (
        udh + "_é".encode("latin-1")
    )
    assert codec.to_default_alphabet(codec.gsm_encode("é"), 0, "ascii") == b"?"


def test_default_alphabet_decodes_data_coding_0() -> None:
    assert codec.decode_incoming(0, 0, b"hs_000@x$", alphabet="latin1") == ("hs_000@x$", None)
    assert codec.decode_incoming(0, 0, b"hs_000@x$", alphabet="ascii") == ("hs_000@x$", None)
    assert codec.decode_incoming(0, 0, "Hà".encode("latin-1"), alphabet="latin1")[0] == "Hà"
    # GSM (the default) reads the same octets differently: 0x5F is §, 0x40 is ¡
    assert codec.decode_incoming(0, 0, b"_@")[0] == "§¡"


def test_truncated_tlv_id_completed_from_text() -> None:
    text = "id:1a2b0007 sub:001 dlvrd:001 submit date:2411291200 done date:2411291201 stat:DELIVRD"
    assert codec.parse_receipt(text, "1a2b000", 2) == codec.Receipt("1a2b0007", "DELIVRD", "")
    assert codec.parse_receipt(text, "ffff", 2) == codec.Receipt("ffff", "DELIVRD", "")
