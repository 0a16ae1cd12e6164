"""Rendering parts as text and as prompt ids; accents, GSM-7, dynamic prompts."""

from __future__ import annotations

import dataclasses
import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages.fragments import code_fragments, code_parts, date_fragments, number_fragments
from messages.gsm import fits_one_segment, gsm7_septets, is_gsm7, to_gsm7
from messages.numbers import (
    date_words,
    day_words,
    digit_words,
    month_words,
    say_date,
    say_number,
)
from messages.parts import (
    CodeDigits,
    DateValue,
    FreeText,
    Message,
    Number,
    Phrase,
    Punct,
    dynamic_prompt_id,
    dynamic_prompts,
    dynamic_texts,
)
from messages.render import format_number, strip_accents, to_prompts, to_text
from prompts.catalog import Catalog, Prompt, load_catalog

pytestmark = pytest.mark.no_store

CATALOG = load_catalog()
TINY = Catalog(
    [
        Prompt("hello", "Xin chào quý vị", "system", "n", sms="Chào"),
        Prompt("bye", "Tạm biệt.", "system", "n"),
    ]
)


def test_parts_are_frozen_and_hashable() -> None:
    message: Message = (
        Phrase("hello"),
        Number(3),
        DateValue(date(2026, 4, 5)),
        CodeDigits("x"),
        FreeText("y"),
        Punct("."),
    )
    assert len({message, tuple(message)}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        message[0].id = "bye"  # type: ignore[misc,union-attr]
    with pytest.raises(ValueError, match="negative"):
        Number(-1)


def test_text_uses_the_sms_wording_and_glues_punctuation() -> None:
    message = (Phrase("hello"), Punct(","), FreeText(" Ông  Ba\n"), Punct("."), Phrase("bye"))
    assert to_text(message, TINY, accents=True) == "Chào, Ông Ba. Tạm biệt."
    assert to_prompts(message, TINY, region="north") == [
        "hello",
        dynamic_prompt_id("Ông Ba"),
        "bye",
    ]


def test_punctuation_never_doubles_or_leads() -> None:
    message = (Punct(","), FreeText("Tầng 1."), Punct("."), FreeText(""), Punct(";"))
    assert to_text(message, TINY, accents=True) == "Tầng 1."
    assert to_prompts(message, TINY, region="north") == [dynamic_prompt_id("Tầng 1.")]


def test_numbers_dates_and_codes_in_text() -> None:
    message = (
        Number(50000),
        Number(7),
        DateValue(date(2026, 4, 5), with_year=False),
        CodeDigits(" G22.99-251225-020175 "),
    )
    assert to_text(message, TINY, accents=True) == "50.000 7 ngày 05/04/2026 G22.99-251225-020175"


@pytest.mark.parametrize(
    ("n", "written"),
    [(0, "0"), (999, "999"), (1000, "1.000"), (2026, "2.026"), (1_500_000, "1.500.000")],
)
def test_format_number(n: int, written: str) -> None:
    assert format_number(n) == written


def test_a_phrase_missing_from_the_catalog_is_a_bug() -> None:
    with pytest.raises(KeyError):
        to_text((Phrase("nope"),), TINY, accents=True)
    with pytest.raises(KeyError):
        to_prompts((Phrase("nope"),), TINY, region="north")


VOWELS = "aàáảãạăằắẳẵặâầấẩẫậeèéẻẽẹêềếểễệiìíỉĩịoòóỏõọôồốổỗộơờớởỡợuùúủũụưừứửữựyỳýỷỹỵ"


def test_strip_accents_covers_every_vietnamese_letter() -> None:
    assert strip_accents(VOWELS) == "a" * 18 + "e" * 12 + "i" * 6 + "o" * 18 + "u" * 12 + "y" * 6
    assert strip_accents(VOWELS.upper()) == strip_accents(VOWELS).upper()
    assert strip_accents("Đường Điện Biên, đồng") == "Duong Dien Bien, dong"
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Hằng")
    assert strip_accents(decomposed) == "Nguyen Thi Hang"


def test_unaccented_text_is_gsm7_even_from_odd_data() -> None:
    message = (FreeText("“Quầy 3” – tầng 1… ★ giờ: 7h30 — 17h€"),)
    assert to_text(message, TINY, accents=False) == '"Quay 3" - tang 1... gio: 7h30 - 17h€'
    assert is_gsm7(to_text(message, TINY, accents=False))


@given(st.text(max_size=80))
def test_any_text_comes_out_gsm7_when_unaccented(raw: str) -> None:
    written = to_text((FreeText(raw),), TINY, accents=False)
    assert is_gsm7(written)
    assert "  " not in written


@given(st.text(alphabet=VOWELS + VOWELS.upper() + "đĐ ,.", max_size=60))
def test_accented_text_is_nfc_and_unaccented_is_ascii(raw: str) -> None:
    message = (FreeText(unicodedata.normalize("NFD", raw)),)
    written = to_text(message, TINY, accents=True)
    assert unicodedata.is_normalized("NFC", written)
    assert to_text(message, TINY, accents=False).isascii()


def test_gsm7_lengths() -> None:
    assert gsm7_septets("abc") == 3
    assert gsm7_septets("[€]") == 6  # extension characters take an escape each
    assert fits_one_segment("a" * 160)
    assert not fits_one_segment("a" * 161)
    assert not fits_one_segment("a" * 79 + "€" * 41)
    assert not fits_one_segment("Hồ sơ")
    assert not is_gsm7("ồ")
    with pytest.raises(ValueError, match="GSM"):
        gsm7_septets("ồ")
    assert to_gsm7("a\u00a0 b\tc ★") == "a b c"


def test_dynamic_prompt_ids_are_stable_and_normalised() -> None:
    nfd = unicodedata.normalize("NFD", "Đăng ký khai sinh")
    assert dynamic_prompt_id("Đăng ký khai sinh") == dynamic_prompt_id(f"  {nfd}\n")
    assert dynamic_prompt_id("Đăng ký khai sinh") != dynamic_prompt_id("Đăng ký kết hôn")
    # sha256 of the NFC UTF-8 text: the same id on every machine and every run
    assert dynamic_prompt_id("Đăng ký khai sinh") == "txt_1fa939ccc49d99bd"


def test_dynamic_texts_are_listed_once_in_order() -> None:
    message = (FreeText("B"), Phrase("hello"), FreeText(" A "), FreeText("B"), FreeText(" "))
    assert dynamic_texts(message) == ("B", "A")
    assert dynamic_prompts(message) == {dynamic_prompt_id("B"): "B", dynamic_prompt_id("A"): "A"}
    assert to_prompts(message, TINY, region="north") == [
        dynamic_prompt_id("B"),
        "hello",
        dynamic_prompt_id("A"),
        dynamic_prompt_id("B"),
    ]


# ---------------------------------------------------------------- dates and codes


def test_dates_in_words() -> None:
    assert say_date(date(2026, 4, 5)) == (
        "ngày mùng năm tháng tư năm hai nghìn không trăm hai mươi sáu"
    )
    assert say_date(date(2026, 4, 5), today=date(2026, 12, 31)) == "ngày mùng năm tháng tư"
    assert say_date(date(2027, 1, 1), today=date(2026, 12, 31)) == (
        "ngày mùng một tháng một năm hai nghìn không trăm hai mươi bảy"
    )
    assert say_date(date(2005, 11, 21), region="south") == (
        "ngày hai mươi mốt tháng mười một năm hai ngàn không trăm lẻ năm"
    )
    assert say_date(date(1999, 12, 15)) == (
        "ngày mười lăm tháng mười hai năm một nghìn chín trăm chín mươi chín"
    )


def test_day_and_month_limits() -> None:
    assert day_words(10) == ["ngày", "mùng", "mười"]
    assert day_words(11) == ["ngày", "mười", "một"]
    for bad in (0, 32):
        with pytest.raises(ValueError, match="day"):
            day_words(bad)
    for bad in (0, 13):
        with pytest.raises(ValueError, match="month"):
            month_words(bad)


def test_every_date_of_ten_years_plays_as_its_words() -> None:
    """Each date's prompts exist and, joined, say exactly the date's words."""
    texts = {p.id: p.text for p in CATALOG}
    day = date(2020, 1, 1)
    while day < date(2030, 1, 1):
        for region in ("north", "south"):
            ids = date_fragments(day, region=region)  # type: ignore[arg-type]
            spoken = " ".join(texts[i] for i in ids)
            assert spoken == say_date(day, region=region), day  # type: ignore[arg-type]
        short = date_fragments(day, region="north", with_year=False)
        assert " ".join(texts[i] for i in short) == " ".join(date_words(day, today=day))
        day += timedelta(days=1)


@given(st.integers(min_value=0, max_value=10**13), st.sampled_from(["north", "south"]))
def test_every_number_plays_as_its_words(n: int, region: str) -> None:
    ids = number_fragments(n, region=region)  # type: ignore[arg-type]
    assert " ".join(CATALOG[i].text for i in ids) == say_number(n, region=region)  # type: ignore[arg-type]


def test_every_number_to_100000_plays_from_the_catalog() -> None:
    for region in ("north", "south"):
        for n in range(100_001):
            ids = number_fragments(n, region=region)  # type: ignore[arg-type]
            assert not CATALOG.missing(ids), n


@pytest.mark.parametrize(
    ("code", "parts"),
    [
        ("000.00.18.H26-241129-0001", ("241129", "0001")),
        ("g22.99.08 – 260921 — 896048 ", ("260921", "896048")),
        ("2411290001", ("241129", "0001")),
        ("241129000123", ("241129", "000123")),
        ("24112900", None),
        ("2411290001234", None),
        ("000.00.18.H26", None),
        ("", None),
    ],
)
def test_code_parts(code: str, parts: tuple[str, str] | None) -> None:
    assert code_parts(code) == parts


def test_a_code_is_read_as_date_digits_then_sequence() -> None:
    assert code_fragments("000.00.06.H56-231027-0361") == [
        *("digit_2", "digit_3", "digit_1", "digit_0", "digit_2", "digit_7"),
        "code_sequence",
        *("digit_0", "digit_3", "digit_6", "digit_1"),
    ]
    # Not a code: every digit in it, one by one (letters and dots are never read).
    assert code_fragments("H26-12a") == ["digit_2", "digit_6", "digit_1", "digit_2"]
    assert to_prompts((CodeDigits(""),), CATALOG, region="north") == []
    assert digit_words("0361") == ["không", "ba", "sáu", "một"]
    assert " ".join(CATALOG[i].text for i in code_fragments("38.98.H29-210519-0003")) == (
        "hai một không năm một chín số thứ tự không không không ba"
    )
