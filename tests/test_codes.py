"""Dossier codes: every real format, every way people mistype them, clear reasons."""

import unicodedata
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lookup.codes import (
    DossierCode,
    Extracted,
    InvalidCode,
    QueryKind,
    Reason,
    agency_spellings,
    compact_key,
    extract_code,
    find_code,
    lookup_key,
    parse_code,
    parse_keypad,
)

pytestmark = pytest.mark.no_store

REAL = [
    ("000.00.06.H56-231027-0361", "000.00.06.H56", date(2023, 10, 27), "0361"),
    ("000.17.22.H56-210531-0001", "000.17.22.H56", date(2021, 5, 31), "0001"),
    ("000.A0.01.H26-210212-9090", "000.A0.01.H26", date(2021, 2, 12), "9090"),
    ("38.98.H29-210519-0003", "38.98.H29", date(2021, 5, 19), "0003"),
    ("000.00.12.H62-201105-0004", "000.00.12.H62", date(2020, 11, 5), "0004"),
    ("G22.99.08-260921-896048", "G22.99.08", date(2026, 9, 21), "896048"),
    ("G22.99-251225-020175", "G22.99", date(2025, 12, 25), "020175"),
]


@pytest.mark.parametrize(("text", "agency", "received", "sequence"), REAL)
def test_real_codes_parse_into_their_parts(
    text: str, agency: str, received: date, sequence: str
) -> None:
    code = parse_code(text)
    assert code == DossierCode(agency, received, sequence)
    assert code.text == text
    assert str(code) == text


@pytest.mark.parametrize(
    "typed",
    [
        "000.00.18.H26-241129-0001",
        "000.00.18.h26-241129-0001",
        "  000.00.18.H26-241129-0001  ",
        "000.00.18.H26 – 241129 – 0001",  # en dash with spaces (word processors)
        "000.00.18.H26—241129—0001",  # em dash
        "000.00.18.H26‐241129‑0001",  # hyphen, non-breaking hyphen
        "000.00.18.H26−241129−0001",  # minus sign
        "０００．００．１８．Ｈ２６－２４１１２９－０００１",  # full width
        "000.00.18.H26 241129 0001",  # spaces instead of dashes
        "000. 00. 18. H26 - 241129 - 0001",
        "(000.00.18.H26-241129-0001).",
        "«000.00.18.H26-241129-0001»",
        '"000.00.18.H26-241129-0001",',
        unicodedata.normalize("NFD", "000.00.18.h26-241129-0001"),
        "000·00·18·H26-241129-0001",  # middle dots
    ],
)
def test_typing_variants_give_the_canonical_code(typed: str) -> None:
    assert parse_code(typed).text == "000.00.18.H26-241129-0001"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("", Reason.EMPTY),
        ("   ", Reason.EMPTY),
        ("-.,", Reason.EMPTY),
        ("x" * 81, Reason.TOO_LONG),
        ("000.00.18.H26_241129_0001", Reason.BAD_CHARACTER),
        ("000.00.18.H26-241129-0001#x", Reason.BAD_CHARACTER),
        ("hồ sơ 000.00.18.H26-241129-0001", Reason.BAD_CHARACTER),
        ("000.00.18.H26-2411290001", Reason.MISSING_PART),
        ("000.00.18.H26", Reason.MISSING_PART),
        ("241129-0001", Reason.MISSING_PART),
        ("000.00.18.H26--0001", Reason.MISSING_PART),
        ("000.00.18.H26-241129-0001-02", Reason.EXTRA_PART),
        ("H26-241129-0001", Reason.BAD_AGENCY),  # one group only
        ("1.2.3.4.5.6.7-241129-0001", Reason.BAD_AGENCY),  # seven groups
        ("0000.00.18.H26-241129-0001", Reason.BAD_AGENCY),  # group of four
        ("000..18.H26-241129-0001", Reason.BAD_AGENCY),  # empty group
        ("000.00.18.H26.-241129-0001", Reason.BAD_AGENCY),
        ("000.00.18.H26-240231-0001", Reason.BAD_DATE),  # 31 February
        ("000.00.18.H26-230229-0001", Reason.BAD_DATE),  # 2023 is no leap year
        ("000.00.18.H26-241329-0001", Reason.BAD_DATE),  # month 13
        ("000.00.18.H26-241100-0001", Reason.BAD_DATE),  # day 0
        ("000.00.18.H26-24112-0001", Reason.BAD_DATE),  # 5 digits
        ("000.00.18.H26-2411299-0001", Reason.BAD_DATE),
        ("000.00.18.H26-24AB29-0001", Reason.BAD_DATE),
        ("000.00.18.H26-241129-", Reason.MISSING_PART),  # no sequence at all
        ("000.00.18.H26-241129-0000001", Reason.BAD_SEQUENCE),  # 7 digits
        ("000.00.18.H26-241129-00A1", Reason.BAD_SEQUENCE),
        ("000.00.18.H26-241129-0000", Reason.BAD_SEQUENCE),  # counters start at 1
    ],
)
def test_malformed_codes_say_why(typed: str, reason: Reason) -> None:
    with pytest.raises(InvalidCode) as caught:
        parse_code(typed)
    assert caught.value.reason is reason
    assert caught.value.message  # an English sentence for logs and developers


def test_leap_day_is_a_real_date() -> None:
    assert parse_code("000.00.18.H26-240229-0001").received_on == date(2024, 2, 29)


def test_bad_date_message_names_the_date() -> None:
    with pytest.raises(InvalidCode, match=r"31/02/2024 is not a calendar date"):
        parse_code("000.00.18.H26-240231-0001")


def test_compact_key_keeps_only_letters_and_digits() -> None:
    assert parse_code("000.00.18.H26-241129-0001").compact == "0000018H262411290001"
    assert compact_key("000.00.18.h26-241129-0001") == "0000018H262411290001"


@pytest.mark.parametrize(
    "typed",
    [
        "000.00.18.H26-241129-0001",
        "0000018H262411290001",  # every separator dropped
        "000.00.18.H26-2411290001",  # one dash missing
        "000.00.18.H26_241129_0001",  # underscores for dashes
        "000,00,18,H26-241129-0001",  # commas for dots
        "000 00 18 H26 241129 0001",
        "0000018H26-241129-0001",  # the agency's dots left out
    ],
)
def test_lookup_key_survives_missing_or_replaced_separators(typed: str) -> None:
    assert lookup_key(typed) == "0000018H262411290001"


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("000.00.18.H26-240231-0001", Reason.BAD_DATE),  # parseable shape: its own reason
        ("hello", Reason.MISSING_PART),  # no plausible date and sequence
        ("tra cứu 000.00.18.H26-2402310001", Reason.MISSING_PART),  # after the filler
        ("HS so 0000018H262402310001", Reason.MISSING_PART),  # filler, then no real date
        ("241129-0001", Reason.MISSING_PART),  # no agency: extract_code's DATE_SEQUENCE
        ("0000018H262402310001", Reason.MISSING_PART),  # run together, but 31/02
        ("H26-241129-0001", Reason.BAD_AGENCY),  # one group: no dots went missing
    ],
)
def test_lookup_key_still_refuses_what_is_no_code(typed: str, reason: Reason) -> None:
    with pytest.raises(InvalidCode) as caught:
        lookup_key(typed)
    assert caught.value.reason is reason


def test_keypad_form_is_date_then_sequence() -> None:
    code = parse_code("000.00.18.H26-241129-0001")
    assert code.keypad == "2411290001"
    assert code.sequence_number == 1


@pytest.mark.parametrize(
    "digits", ["2411291", "24112901", "2411290001", "241129000001", "2411290001#"]
)
def test_keypad_sequences_compare_as_numbers(digits: str) -> None:
    keyed = parse_keypad(digits)
    assert keyed.received_on == date(2024, 11, 29)
    assert keyed.sequence_number == 1
    assert keyed.yymmdd == "241129"


def test_keypad_keeps_a_six_digit_sequence() -> None:
    assert parse_keypad("260921896048").sequence_number == 896048


@pytest.mark.parametrize(
    ("digits", "reason"),
    [
        ("", Reason.EMPTY),
        ("241129", Reason.MISSING_PART),  # date only
        ("2411290000001", Reason.TOO_LONG),  # 13 digits
        ("24112900*1", Reason.BAD_CHARACTER),
        (
            "２４１１２９０００１",
            Reason.BAD_CHARACTER,
        ),  # full-width digits never come from a keypad
        ("2402310001", Reason.BAD_DATE),
        ("2411290000", Reason.BAD_SEQUENCE),
    ],
)
def test_bad_keypad_input_says_why(digits: str, reason: Reason) -> None:
    with pytest.raises(InvalidCode) as caught:
        parse_keypad(digits)
    assert caught.value.reason is reason


def test_find_code_in_an_sms_and_a_qr_url() -> None:
    assert find_code("HS 000.00.18.H26-241129-0001 xin cam on") == parse_code(
        "000.00.18.H26-241129-0001"
    )
    url = "https://dichvucong.example.vn/tra-cuu?ma=G22.99.08-260921-896048&lang=vi"
    assert find_code(url) == parse_code("G22.99.08-260921-896048")
    assert find_code("no code here 12345") is None
    assert find_code("000.00.18.H26-240231-0001") is None  # shape right, date wrong


CODE = "000.00.18.H26-241129-0001"


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        (f"HS so {CODE}", ""),
        (f"HS ma {CODE}", ""),
        (f"Tra cuu ho so so {CODE}", ""),
        (f"hs ma so {CODE} 739204", "739204"),
        (f'"HS {CODE}"', ""),
        (f"Mã số hồ sơ: {CODE}, 739204", "739204"),
        (f"HS SỐ {CODE}.", ""),
        (f"xin chao, toi hoi {CODE} cam on", "cam on"),
        (f"https://dichvucong.example.vn/tra-cuu?ma={CODE}&lang=vi 739204", "739204"),
        ("HS 000.00.18.H26 241129 0001 739204", "739204"),
        ("HS000.00.18.H26-241129-0001 739204", "739204"),  # keyword glued on
        ("maso:000.00.18.H26-241129-0001", ""),
    ],
)
def test_filler_words_never_stick_to_the_code(text: str, rest: str) -> None:
    # QA H2: "HS so 000..." used to search for SO0000018H26... and answer "not found".
    assert extract_code(text) == Extracted(QueryKind.CODE, CODE, rest, parse_code(CODE))
    assert lookup_key(text) == "0000018H262411290001"


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("HS so 0000018H262411290001", ""),
        ("hs ma so 0000018H26-241129-0001 739204", "739204"),
        ("HS: 000 00 18 H26 241129 0001", ""),
        ("Mã số 000.00.18.H26-2411290001", ""),
        ("000 00 18 h26 – 241129 – 0001", ""),  # the console's loosest spelling
        ("hs0000018H262411290001 739204", "739204"),
    ],
)
def test_compact_fallback_only_joins_tokens_with_digits(text: str, rest: str) -> None:
    assert extract_code(text) == Extracted(QueryKind.KEY, "0000018H262411290001", rest)


def test_a_word_in_front_of_a_compact_code_is_not_part_of_the_key() -> None:
    # "SOHS" and "MASO" are filler as one word too; an unknown word is refused, not absorbed.
    assert extract_code("SOHS 0000018H262411290001").query == "0000018H262411290001"
    with pytest.raises(InvalidCode):
        extract_code("banana 0000018H262411290001")


@pytest.mark.parametrize(
    "written",
    [
        "000.00.18.H26-241129-1",
        "000.00.18.H26-241129-01",
        "000.00.18.H26-241129-00001",
        "000.00.18.H26-241129-000001",
        "000.00.18.H26-241129-OOO1",  # letter O typed for zero
        "000.00.18.H26-24I129-0001",  # letter I typed for one
        "000.00.18.H26-241129-000l",  # letter l typed for one
    ],
)
def test_sequence_spellings_mean_sequence_one_of_that_day(written: str) -> None:
    # QA L1: the keypad accepted 2411291, the written "-1" was "sequence wrong".
    code = parse_code(written)
    assert (code.agency, code.received_on, code.sequence_number) == (
        "000.00.18.H26",
        date(2024, 11, 29),
        1,
    )


def test_letter_o_in_the_agency_is_kept_but_offered_as_zero() -> None:
    code = parse_code("OOO.OO.18.H26-241129-OOO1")
    assert code.agency == "OOO.OO.18.H26"  # letters are legitimate in agencies (A0, H26)
    assert agency_spellings(code.agency) == ("OOO.OO.18.H26", "000.00.18.H26")
    assert agency_spellings("000.A0.01.H26") == ("000.A0.01.H26",)
    assert agency_spellings("G22.99.08") == ("G22.99.08",)


@pytest.mark.parametrize(
    ("text", "digits", "rest"),
    [
        ("HS 241129-0001", "2411290001", ""),
        ("HS 241129 0001 739204", "2411290001", "739204"),
        ("hs ma so 241129-1", "2411291", ""),
        ("HS 2411290001", "2411290001", ""),
        ("241129-OOO1", "2411290001", ""),
    ],
)
def test_date_and_sequence_without_agency(text: str, digits: str, rest: str) -> None:
    # QA L2: resolved like keypad digits (by_keypad_digits), not "incomplete".
    found = extract_code(text)
    assert found == Extracted(QueryKind.DATE_SEQUENCE, digits, rest)
    assert parse_keypad(found.query).sequence_number == 1
    with pytest.raises(InvalidCode) as caught:
        lookup_key(text)  # by_code needs the agency
    assert caught.value.reason is Reason.MISSING_PART


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", Reason.EMPTY),
        ("HS", Reason.EMPTY),
        ("HS 240231-0001", Reason.MISSING_PART),  # 31/02 is no date: not date+sequence
        ("hồ sơ của tôi", Reason.EMPTY),  # filler words only
        ("HS 000.00.18.H26-240231-0001", Reason.BAD_DATE),
        ("HS 000.00.18.H26-240231-0001 739204", Reason.BAD_DATE),  # not "extra part"
        ("hs so 000.00.18.H26-241129-0000 739204", Reason.BAD_SEQUENCE),
        ("x" * 481, Reason.TOO_LONG),
    ],
)
def test_extract_code_says_why_there_is_none(text: str, reason: Reason) -> None:
    with pytest.raises(InvalidCode) as caught:
        extract_code(text)
    assert caught.value.reason is reason


# -- properties ------------------------------------------------------------------------------

groups = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=3)
codes = st.builds(
    DossierCode,
    agency=st.lists(groups, min_size=2, max_size=6).map(".".join),
    received_on=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    sequence=st.integers(4, 6).flatmap(
        lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n).filter(
            lambda s: int(s) > 0
        )
    ),
)
dashes = st.sampled_from(["-", " - ", "–", "—", "‑", "−", "－", " "])


@given(codes)
def test_every_valid_code_round_trips(code: DossierCode) -> None:
    assert parse_code(code.text) == code
    assert lookup_key(code.text) == code.compact
    assert parse_keypad(code.keypad).sequence_number == code.sequence_number


@given(codes, dashes, dashes, st.booleans(), st.sampled_from(["", " ", ".", "(", '"']))
def test_spelling_never_changes_the_code(
    code: DossierCode, dash1: str, dash2: str, lower: bool, wrap: str
) -> None:
    typed = f"{code.agency}{dash1}{code.received_on:%y%m%d}{dash2}{code.sequence}"
    typed = wrap + (typed.lower() if lower else typed) + wrap
    assert parse_code(typed) == code
    assert parse_code(unicodedata.normalize("NFD", typed)) == code


@given(codes, st.sampled_from(["HS", "hs so", "Mã số", "HO SO MA", '"HS']), st.text(max_size=20))
def test_extract_finds_any_code_after_any_filler(code: DossierCode, filler: str, tail: str) -> None:
    tail = " ".join(tail.split())
    found = extract_code(f"{filler} {code.text} {tail}")
    assert found.code == code
    assert found.rest == tail


@given(st.text(max_size=200))
def test_any_text_extracts_or_says_why(text: str) -> None:
    try:
        found: Extracted | None = extract_code(text)
    except InvalidCode as exc:
        reason: Reason | None = exc.reason
        found = None
    else:
        reason = None
    assert (found is None) != (reason is None)
    assert found is None or found.query


@given(st.text(max_size=100))
def test_any_text_parses_or_says_why(text: str) -> None:
    try:
        code = parse_code(text)
    except InvalidCode as exc:
        reason: Reason | None = exc.reason
    else:
        reason = None
        assert parse_code(code.text) == code
    assert reason is None or isinstance(reason, Reason)


@pytest.mark.parametrize(
    ("text", "kind", "query"),
    [
        ("HS 000.00.18.H26/241129/0001", QueryKind.KEY, "0000018H262411290001"),
        ("000.00.18.H26 / 241129 / 0001", QueryKind.KEY, "0000018H262411290001"),
        ("hs 241129/0001", QueryKind.DATE_SEQUENCE, "2411290001"),
    ],
)
def test_slashes_between_the_parts_still_find_the_dossier(
    text: str, kind: QueryKind, query: str
) -> None:
    found = extract_code(text)
    assert (found.kind, found.query) == (kind, query)
