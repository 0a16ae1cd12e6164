"""Vietnamese number words, against a reference written differently and by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages.numbers import (
    number_words,
    say_number,
)

pytestmark = pytest.mark.no_store

D = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]


def reference(n: int, region: str) -> str:
    """Reads the zero-padded digit string group by group (no recursion, no divmod).

    Valid for 0 .. 999 999 999 999; the scale of each three-digit group comes from
    its position.
    """
    if n == 0:
        return "không"
    zero_tens = "linh" if region == "north" else "lẻ"
    thousand = "nghìn" if region == "north" else "ngàn"
    scales = ["tỷ", "triệu", thousand, ""]
    digits = str(n).rjust(12, "0")
    out: list[str] = []
    for index in range(4):
        h, t, u = (int(c) for c in digits[index * 3 : index * 3 + 3])
        if h == t == u == 0:
            continue
        words: list[str] = []
        if out or h:
            words += [D[h], "trăm"]
        if t == 0 and u:
            words += [zero_tens, D[u]] if words else [D[u]]
        elif t == 1:
            words += ["mười", {0: "", 5: "lăm"}.get(u, D[u])]
        elif t >= 2:
            words += [D[t], "mươi", {0: "", 1: "mốt", 4: "tư", 5: "lăm"}.get(u, D[u])]
        out += [*words, scales[index]]
    return " ".join(w for w in out if w)


@pytest.mark.parametrize("region", ["north", "south"])
def test_every_number_to_1100_matches_the_reference(region: str) -> None:
    for n in range(1101):
        assert say_number(n, region=region) == reference(n, region), n  # type: ignore[arg-type]


@pytest.mark.parametrize("region", ["north", "south"])
def test_every_year_and_round_amount_matches_the_reference(region: str) -> None:
    for n in [*range(1900, 2101), *range(0, 10_000_001, 5_000), *range(99_990, 100_011)]:
        assert say_number(n, region=region) == reference(n, region), n  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=999_999_999_999), st.sampled_from(["north", "south"]))
def test_any_number_below_a_thousand_billion_matches_the_reference(n: int, region: str) -> None:
    assert say_number(n, region=region) == reference(n, region)  # type: ignore[arg-type]


NORTH = {
    0: "không",
    1: "một",
    4: "bốn",
    5: "năm",
    10: "mười",
    11: "mười một",
    14: "mười bốn",
    15: "mười lăm",
    20: "hai mươi",
    21: "hai mươi mốt",
    24: "hai mươi tư",
    25: "hai mươi lăm",
    55: "năm mươi lăm",
    91: "chín mươi mốt",
    100: "một trăm",
    101: "một trăm linh một",
    104: "một trăm linh bốn",
    105: "một trăm linh năm",
    110: "một trăm mười",
    111: "một trăm mười một",
    115: "một trăm mười lăm",
    121: "một trăm hai mươi mốt",
    1000: "một nghìn",
    1001: "một nghìn không trăm linh một",
    1005: "một nghìn không trăm linh năm",
    1010: "một nghìn không trăm mười",
    1015: "một nghìn không trăm mười lăm",
    1100: "một nghìn một trăm",
    2024: "hai nghìn không trăm hai mươi tư",
    2026: "hai nghìn không trăm hai mươi sáu",
    10005: "mười nghìn không trăm linh năm",
    15000: "mười lăm nghìn",
    21000: "hai mươi mốt nghìn",
    50000: "năm mươi nghìn",
    105000: "một trăm linh năm nghìn",
    1_000_000: "một triệu",
    1_000_005: "một triệu không trăm linh năm",
    1_005_000: "một triệu không trăm linh năm nghìn",
    2_500_000: "hai triệu năm trăm nghìn",
    1_000_000_000: "một tỷ",
    1_000_000_001: "một tỷ không trăm linh một",
    999_999_999_999: "chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu "
    "chín trăm chín mươi chín nghìn chín trăm chín mươi chín",
    1_000_000_000_000: "một nghìn tỷ",
    1_234_000_000_000: "một nghìn hai trăm ba mươi tư tỷ",
    1_000_005_000_000_000: "một triệu không trăm linh năm tỷ",
}


@pytest.mark.parametrize(("n", "words"), NORTH.items())
def test_tricky_numbers_in_the_north(n: int, words: str) -> None:
    assert say_number(n) == words
    assert number_words(n) == words.split()


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (105, "một trăm lẻ năm"),
        (1005, "một ngàn không trăm lẻ năm"),
        (2026, "hai ngàn không trăm hai mươi sáu"),
        (10005, "mười ngàn không trăm lẻ năm"),
        (301_004, "ba trăm lẻ một ngàn không trăm lẻ bốn"),
    ],
)
def test_tricky_numbers_in_the_south(n: int, words: str) -> None:
    assert say_number(n, region="south") == words


def test_four_as_bon_when_asked() -> None:
    assert say_number(24, four_as_tu=False) == "hai mươi bốn"
    assert say_number(14, four_as_tu=False) == "mười bốn"
    assert say_number(2024, four_as_tu=False) == "hai nghìn không trăm hai mươi bốn"


def test_negative_numbers_have_no_words() -> None:
    with pytest.raises(ValueError, match="negative"):
        number_words(-1)


@pytest.mark.parametrize("region", ["north", "south"])
def test_special_words_only_where_they_belong(region: str) -> None:
    """mốt/tư only after mươi, lăm only after a tens word, linh/lẻ only after trăm."""
    other = {"north": {"lẻ", "ngàn"}, "south": {"linh", "nghìn"}}[region]
    for n in range(0, 2_000_000, 7):
        words = number_words(n, region=region)  # type: ignore[arg-type]
        assert not other & set(words), n
        for before, word in zip(["", *words], words, strict=False):
            if word in {"mốt", "tư"}:
                assert before == "mươi", n
            if word == "lăm":
                assert before in {"mười", "mươi"}, n
            if word in {"linh", "lẻ"}:
                assert before == "trăm", n
