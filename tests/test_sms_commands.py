"""sms/commands.py: every spelling a citizen may type maps to one command."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookup.codes import Reason
from sms.commands import (
    BadCode,
    Guidance,
    Help,
    Keyed,
    Lookup,
    OptIn,
    OptOut,
    Unrecognised,
    parse,
)

pytestmark = pytest.mark.no_store

CODE = "000.00.18.H26-241129-0001"


@pytest.mark.parametrize(
    "text",
    [
        f"HS {CODE}",
        f"hs {CODE.lower()}",
        f"Hs:{CODE}",
        f"HS: {CODE}.",
        f"  HS   {CODE}  ",
        f"HOSO {CODE}",
        f"Ho so {CODE}",
        f"TRACUU {CODE}",
        f"Tra cứu {CODE}",
        unicodedata.normalize("NFD", f"Tra cứu hồ sơ {CODE}"),
        f"TC {CODE}",
        f"HS{CODE}",
        f"HS - {CODE}!",
        f'HS "{CODE}"',
        CODE,
        f"{CODE}.",
        "ＨＳ　０００.００.１８.Ｈ２６－２４１１２９－０００１",  # full-width, ideographic space
        "HS 000.00.18.H26\u2013241129\u20130001",  # en dashes
        "HS 000.00.18.H26 241129 0001",  # spaces for dashes
        "HS 000 00 18 H26 241129 0001".replace(" ", ".", 3),
    ],
)
def test_lookup_spellings(text: str) -> None:
    command = parse(text)
    assert isinstance(command, Lookup), command
    assert command.secret is None


def test_separators_missing_still_a_lookup() -> None:
    assert parse("HS 00000018H262411290001") == Lookup("00000018H262411290001")


@pytest.mark.parametrize(
    ("text", "code", "secret"),
    [
        (f"HS {CODE} 739204", CODE, "739204"),
        (f"{CODE} 2345", CODE, "2345"),
        (f"tra cuu ho so {CODE} ab12", CODE, "ab12"),
    ],
)
def test_code_with_secret(text: str, code: str, secret: str) -> None:
    assert parse(text) == Lookup(code, secret)


@pytest.mark.parametrize(
    ("label", "secret"),
    [
        ("CCCD", "001190012345"),
        ("so cccd", "012345"),
        ("CCCD", "012345"),
        ("CMND", "012345"),
        ("căn cước", "012345"),
        ("can cuoc cong dan", "012345"),
        ("số định danh", "012345"),
        (unicodedata.normalize("NFD", "Số CCCD:"), "012345"),
        ("dinh danh", "012345"),
    ],
)
def test_id_number_after_its_label_is_the_secret(label: str, secret: str) -> None:
    assert parse(f"HS {CODE} {label} {secret}") == Lookup(CODE, secret)
    assert parse(f"{CODE} {label} {secret}") == Lookup(CODE, secret)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TT 1.004227", Guidance("1.004227")),
        ("thủ tục: 2.000001", Guidance("2.000001")),
        ("TT", Guidance("")),
        ("TT khai sinh", Guidance("khai sinh")),
        ("HD", Help()),
        ("help", Help()),
        ("?", Help()),
        ("Hướng dẫn", Help()),
        ("", Help()),
        ("   ", Help()),
        ("TU CHOI", OptOut()),
        ("Từ chối", OptOut()),
        ("tuchoi", OptOut()),
        ("HỦY", OptOut()),
        ("huỷ", OptOut()),
        ("STOP", OptOut()),
        ("DK", OptIn()),
        ("Đăng ký", OptIn()),
        ("bat", OptIn()),
        ("START", OptIn()),
        ("xin chao", Unrecognised("xin chao")),
        ("Huy ho so 123", Unrecognised("Huy ho so 123")),
    ],
)
def test_other_commands(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("HS", Reason.EMPTY),
        ("HS 123", Reason.MISSING_PART),
        ("HS 000.00.18.H26-241399-0001", Reason.BAD_DATE),
        ("HS 000.00.18.H26-241129-0000", Reason.BAD_SEQUENCE),
    ],
)
def test_bad_codes_keep_their_reason(text: str, reason: Reason) -> None:
    command = parse(text)
    assert isinstance(command, BadCode)
    assert command.reason is reason


def test_code_inside_a_sentence() -> None:
    assert parse(f"Cho toi hoi ho so {CODE} da xong chua") == Lookup(CODE)


COMMANDS = (Lookup, Keyed, Guidance, Help, OptOut, OptIn, BadCode, Unrecognised)


@given(st.text(max_size=600))
def test_never_raises_always_a_command(text: str) -> None:
    assert isinstance(parse(text), COMMANDS)


@given(
    st.sampled_from(["HS", "hs", "Tra cứu", "TC", "HOSO", ""]),
    st.sampled_from([" ", ":", " : ", "  ", "\t", "\u3000"]),
    st.sampled_from(["", ".", "!", " ", "?"]),
)
def test_keyword_punctuation_variants(keyword: str, gap: str, end: str) -> None:
    text = f"{keyword}{gap if keyword else ''}{CODE}{end}"
    command = parse(text)
    assert isinstance(command, Lookup), (text, command)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # QA H2: filler words and quotes around the code
        (f"HS so {CODE}", Lookup(CODE)),
        (f"HS ma {CODE}", Lookup(CODE)),
        (f"Tra cuu ho so so {CODE}", Lookup(CODE)),
        (f"Tra cứu hs số {CODE}", Lookup(CODE)),
        (f"hs ma so {CODE} 739204", Lookup(CODE, "739204")),
        (f'HS "{CODE}"', Lookup(CODE)),
        (f"HS «{CODE}» 739204", Lookup(CODE, "739204")),
        # L3: how citizens mark the secret
        (f"HS {CODE} MK 739204", Lookup(CODE, "739204")),
        (f"HS {CODE} mk: ab12", Lookup(CODE, "ab12")),
        (f"HS {CODE} mã bí mật 739204", Lookup(CODE, "739204")),
        (f"HS {CODE} mat khau 739204", Lookup(CODE, "739204")),
        (f"HS {CODE},739204", Lookup(CODE, "739204")),
        (f"HS {CODE}; 739204", Lookup(CODE, "739204")),
        # ... and what is not a secret: the code alone is looked up
        (f"HS {CODE} 45", Lookup(CODE)),
        (f"HS {CODE} Cam on!", Lookup(CODE)),
        (f"HS {CODE} thanks", Lookup(CODE)),
        (f"HS {CODE} Nguyen Van A", Lookup(CODE)),
        # L4: two codes, the first is looked up
        (f"HS {CODE} 000.00.18.H26-241129-0002", Lookup(CODE, None, more_codes=True)),
        (f"{CODE}, 000.00.18.H26-241129-0002", Lookup(CODE, None, more_codes=True)),
        # L2: no agency, a keypad-style lookup
        ("HS 241129-0001", Keyed("2411290001")),
        ("HS 2411290001", Keyed("2411290001")),
        ("HS 241129 0001 739204", Keyed("2411290001", "739204")),
    ],
)
def test_extract_code_spellings(text: str, expected: object) -> None:
    assert parse(text) == expected
