"""Phone numbers to E.164, legacy 11-digit mobiles included; masking for logs."""

import pytest

from lookup.phones import LEGACY_PREFIXES, mask_msisdn, normalise_phone

pytestmark = pytest.mark.no_store


@pytest.mark.parametrize(
    "raw",
    [
        "0912345678",
        "84912345678",
        "+84912345678",
        "+84 912 345 678",
        "091.234.5678",
        "091-234-5678",
        "(091) 234 5678",
        "０９１２３４５６７８",  # full width, from a word processor
        "0084912345678",
        "912345678",
        " 0912345678\n",
    ],
)
def test_every_spelling_of_a_current_mobile(raw: str) -> None:
    assert normalise_phone(raw) == "+84912345678"


# Every legacy prefix from the domain notes, with the last 7 digits kept.
LEGACY = {
    "0162": "032",
    "0163": "033",
    "0164": "034",
    "0165": "035",
    "0166": "036",
    "0167": "037",
    "0168": "038",
    "0169": "039",
    "0120": "070",
    "0121": "079",
    "0122": "077",
    "0126": "076",
    "0128": "078",
    "0123": "083",
    "0124": "084",
    "0125": "085",
    "0127": "081",
    "0129": "082",
    "0186": "056",
    "0188": "058",
    "0199": "059",
}


def test_the_table_is_the_one_in_the_notes() -> None:
    assert LEGACY_PREFIXES == LEGACY


@pytest.mark.parametrize(("old", "new"), sorted(LEGACY.items()))
def test_legacy_prefixes_are_converted(old: str, new: str) -> None:
    expected = "+84" + new[1:] + "4567890"
    assert normalise_phone(old + "4567890") == expected
    assert normalise_phone("84" + old[1:] + "4567890") == expected
    assert normalise_phone("+84 " + old[1:] + " 456 7890") == expected


def test_landlines_are_not_mistaken_for_legacy_mobiles() -> None:
    assert normalise_phone("024 3825 3536") == "+842438253536"  # Hà Nội landline, 11 digits
    assert normalise_phone("0283 822 4111") == "+842838224111"


def test_foreign_numbers_keep_their_country() -> None:
    assert normalise_phone("+1 415 555 0123") == "+14155550123"
    assert normalise_phone("0033 1 42 68 53 00") == "+33142685300"


def test_a_number_the_library_rejects_is_kept_best_effort() -> None:
    # 0100... is not an allocated range, but a switch did present it as caller ID.
    assert normalise_phone("0100123456") == "+84100123456"
    assert normalise_phone("+999123456789") == "+999123456789"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "abc",
        "VIETTEL",
        "1022",
        "8088",
        "0912",
        "09123x5678",
        "+",
        "0912345678901234567",
    ],
)
def test_garbage_gives_none(raw: str | None) -> None:
    assert normalise_phone(raw) is None


def test_masking_keeps_the_ends_only() -> None:
    assert mask_msisdn("0912345678") == "091****678"
    assert "2345" not in mask_msisdn("+84912345678")
    assert mask_msisdn(None) == "-"


@pytest.mark.parametrize("prefix", [f"0{a}{b}" for a in "35789" for b in "0123456789"])
def test_fast_path_agrees_with_the_library(prefix: str) -> None:
    # Clean current mobiles skip phonenumbers on bulk imports; the answer must not change.
    import phonenumbers

    for tail in ("0000000", "4567890", "9999999"):
        number = prefix + tail
        parsed = phonenumbers.parse(number, "VN")
        library = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        assert normalise_phone(number) == library
        assert normalise_phone(" " + number) == library  # the slow path
