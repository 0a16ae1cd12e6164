"""Plain words, many spellings: refusals, re-subscriptions, and what is neither (issue 12).

Each phrase is built from parts people combine (courtesy, verb, object, tail) and then
typed every way a phone delivers it: with or without diacritics, NFD, upper case,
Telex or VNI leftovers of an unconverted keyboard.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lookup.codes import compact_key, yymmdd
from sms.commands import BadCode, Guidance, Help, Lookup, OptIn, OptOut, parse

pytestmark = pytest.mark.no_store

# ---- how a phrase is typed

_TELEX_MARKS = {"\u0302": None, "\u0306": "w", "\u031b": "w"}  # circumflex doubles the vowel
_TELEX_TONES = {"\u0301": "s", "\u0300": "f", "\u0309": "r", "\u0303": "x", "\u0323": "j"}
_VNI_MARKS = {"\u0302": "6", "\u0306": "8", "\u031b": "7"}
_VNI_TONES = {"\u0301": "1", "\u0300": "2", "\u0309": "3", "\u0303": "4", "\u0323": "5"}


def unaccent(text: str) -> str:
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return bare.replace("đ", "d").replace("Đ", "D")


def telex(text: str) -> str:
    """What a Telex keyboard types for `text` when nothing converts it: "khoong nhaajn"."""
    return re.sub(r"[^\W\d_]+", lambda m: _telex_word(m[0]), unicodedata.normalize("NFC", text))


def _telex_word(word: str) -> str:
    out, tone = "", ""
    for ch in unicodedata.normalize("NFD", word):
        if ch in _TELEX_TONES:
            tone = _TELEX_TONES[ch]
        elif ch in _TELEX_MARKS:
            out += out[-1] if _TELEX_MARKS[ch] is None else "w"
        elif ch in "đĐ":
            out += "dd" if ch == "đ" else "DD"
        else:
            out += ch
    return out + tone


def vni(text: str) -> str:
    """The same with a VNI keyboard: digits after the letters ("kho6ng nha65n")."""
    out = ""
    for ch in unicodedata.normalize("NFD", text):
        if ch in _VNI_TONES:
            out += _VNI_TONES[ch]
        elif ch in _VNI_MARKS:
            out += _VNI_MARKS[ch]
        elif ch in "đĐ":
            out += ch.replace("đ", "d9").replace("Đ", "D9")
        else:
            out += ch
    return out


SPELLINGS = st.sampled_from(
    [
        lambda s: s,
        unaccent,
        lambda s: unicodedata.normalize("NFD", s),
        str.upper,
        str.lower,
        lambda s: unaccent(s).upper(),
        telex,
        vni,
        lambda s: s.capitalize(),
    ]
)

# ---- refusals

COURTESY = st.sampled_from(["", "Xin ", "Vui lòng ", "Làm ơn ", "Cho tôi ", "Em ", "Ad ơi "])
STOP_VERB = st.sampled_from(["Dừng", "Ngừng", "Thôi", "Hủy", "Huỷ", "Tắt", "Đừng", "Từ chối"])
SEND = st.sampled_from(["", " nhận", " gửi", " nhắn", " nhận"])
MESSAGES = st.sampled_from([" tin", " tin nhắn", " thông báo", " SMS", " tin nhắn nhắc"])
TAIL = st.sampled_from(["", " nữa", " cho tôi", " cho tôi nữa", " ạ", " nhé", "!", " nữa nhé", "."])
NEGATION = st.sampled_from(["Không", "Ko", "K", "Hk", "Tôi không", "Tôi không muốn", "Không muốn"])


def joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


@given(joined(COURTESY, STOP_VERB, SEND, MESSAGES, TAIL), SPELLINGS)
def test_stop_words_before_the_messages_are_a_refusal(phrase: str, spelled: object) -> None:
    text = spelled(phrase)  # type: ignore[operator]
    assert parse(text) == OptOut(), text


@given(NEGATION, st.sampled_from([" nhận", " nhận", " gửi"]), MESSAGES, TAIL, SPELLINGS)
def test_not_receiving_the_messages_is_a_refusal(
    negation: str, send: str, what: str, tail: str, spelled: object
) -> None:
    text = spelled(f"{negation}{send}{what}{tail}")  # type: ignore[operator]
    assert parse(text) == OptOut(), text


@given(
    st.sampled_from(["HUY DK", "Hủy đăng ký", "huy dang ky nhan tin", "STOP", "Tu choi", "Hủy ĐK"]),
    SPELLINGS,
)
def test_keyword_refusals(text: str, spelled: object) -> None:
    typed = spelled(text)  # type: ignore[operator]
    assert parse(typed) == OptOut(), typed


# ---- re-subscriptions

START = st.sampled_from(
    ["Đăng ký nhận", "DK nhận", "Đăng ký", "Bật", "Tiếp tục nhận", "Muốn nhận", "Mở"]
)


@given(COURTESY, START, MESSAGES, st.sampled_from(["", " lại", " lại nhé", " ạ"]), SPELLINGS)
def test_asking_for_the_messages_again_is_an_opt_in(
    courtesy: str, verb: str, what: str, tail: str, spelled: object
) -> None:
    text = spelled(f"{courtesy}{verb}{what}{tail}")  # type: ignore[operator]
    assert parse(text) == OptIn(), text


@given(st.sampled_from(["nhắn tin lại", "Nhận tin lại", "gửi lại tin nhắn", "nhận lại thông báo"]),
       SPELLINGS)  # fmt: skip
def test_again_after_the_messages_is_an_opt_in(text: str, spelled: object) -> None:
    typed = spelled(text)  # type: ignore[operator]
    assert parse(typed) == OptIn(), typed


# ---- neither: "nhận" in a question about the dossier, or a complaint

NOT_A_REFUSAL = st.sampled_from(
    [
        "khi nào nhận kết quả",
        "Khi nào tôi nhận được kết quả?",
        "Tôi không nhận được tin nhắn kết quả",
        "tôi không nhận được tin",
        "Sao chưa nhận được tin nhắn",
        "Bao giờ nhận hồ sơ",
        "đã nhận tin, cảm ơn",
        "Nhận kết quả ở đâu",
        "Hủy hồ sơ",
        "Đăng ký kết hôn",
        "Đăng ký khai sinh cho con",
    ]
)


@given(NOT_A_REFUSAL, SPELLINGS)
def test_questions_with_nhan_are_not_refusals(text: str, spelled: object) -> None:
    typed = spelled(text)  # type: ignore[operator]
    assert parse(typed) not in (OptOut(), OptIn()), typed


# ---- questions and templates

HOW_TO = st.sampled_from(
    ["tra cứu hồ sơ như thế nào", "Mã hồ sơ ở đâu", "Làm sao để tra cứu", "Cách tra cứu hồ sơ",
     "Hướng dẫn tra cứu", "Mã số hồ sơ là gì", "tra cứu ntn"]
)  # fmt: skip


@given(HOW_TO, st.sampled_from(["", "?", " ạ", " vậy", "??"]), SPELLINGS)
def test_how_to_questions_get_help(text: str, end: str, spelled: object) -> None:
    typed = spelled(text + end)  # type: ignore[operator]
    assert parse(typed) == Help(), typed


@given(
    st.sampled_from(["HS", "Tra cứu", "Hồ sơ", "TC", "Mã hồ sơ"]),
    st.sampled_from(
        ["", " ?", "?", " <mã hồ sơ>", " [ma ho so]", " mã hồ sơ", " <mã hồ sơ> gửi 8088"]
    ),
    SPELLINGS,
)
def test_bare_keywords_and_templates_ask_for_the_code(
    keyword: str, template: str, spelled: object
) -> None:
    typed = spelled(keyword + template)  # type: ignore[operator]
    command = parse(typed)
    assert isinstance(command, BadCode | Help), typed  # both answers carry the syntax


@given(
    st.sampled_from(["Cho hỏi thủ tục", "Thủ tục", "Cho em hỏi", ""]),
    st.sampled_from(["đăng ký kết hôn", "khai sinh", "cấp giấy phép xây dựng"]),
    st.sampled_from(["cần giấy tờ gì", "cần những gì", "lệ phí bao nhiêu", "mất bao lâu"]),
    SPELLINGS,
)
def test_procedure_questions_are_guidance(ask: str, name: str, about: str, spelled: object) -> None:
    typed = spelled(f"{ask} {name} {about}".strip())  # type: ignore[operator]
    command = parse(typed)
    assert isinstance(command, Guidance), typed


# ---- separators: the right code or a refusal, never another code

GROUP = st.text("0123456789", min_size=1, max_size=3)
PROVINCE = st.from_regex(r"[A-Z][0-9]{2}", fullmatch=True)
DAY = st.dates(date(2019, 1, 1), date(2030, 12, 31))
SEQUENCE = st.integers(1, 999_999).map(lambda n: f"{n:04d}")


@st.composite
def codes(draw: st.DrawFn) -> tuple[list[str], str, str]:
    groups = [*draw(st.lists(GROUP, min_size=1, max_size=5)), draw(PROVINCE)]
    return groups, yymmdd(draw(DAY)), draw(SEQUENCE)


SPACED = st.sampled_from([" ", "  ", "\u00a0", "\u2009", "\u3000"])
DASHES = st.sampled_from(["-", "\u2013", "\u2014", "\u2212", "\u2010", "\uff0d", "\u30fc"])


@given(codes(), SPACED, DASHES)
def test_spaces_around_every_separator_give_the_same_code(
    code: tuple[list[str], str, str], space: str, dash: str
) -> None:
    groups, day, sequence = code
    text = (
        f"{space}.{space}".join(groups) + f"{space}{dash}{space}{day}{space}{dash}{space}{sequence}"
    )
    command = parse(f"HS {text}")
    assert command == Lookup(f"{'.'.join(groups)}-{day}-{sequence}"), text


@given(codes(), st.data())
def test_a_doubled_or_missing_dot_is_the_code_or_its_key_never_another(
    code: tuple[list[str], str, str], data: st.DataObject
) -> None:
    groups, day, sequence = code
    canonical = f"{'.'.join(groups)}-{day}-{sequence}"
    at = data.draw(st.integers(0, len(groups) - 2))
    glue = data.draw(st.sampled_from(["..", "", ". ."]))
    # A dot left out between two short groups spells another valid agency (0.0 -> 00):
    # nothing can tell; one whose joined group is too long for a group can.
    assume(glue or len(groups[at]) + len(groups[at + 1]) > 3)
    agency = ".".join(groups[: at + 1]) + glue + ".".join(groups[at + 1 :])
    command = parse(f"HS {agency}-{day}-{sequence}")
    allowed = (Lookup(canonical), Lookup(compact_key(canonical)))
    assert command in allowed or isinstance(command, BadCode), (agency, command)
