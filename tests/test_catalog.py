"""The prompt catalog: its loader's checks, and that the shipped files are whole."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from messages.fragments import ALL_FRAGMENTS, NUMBER_FRAGMENTS
from prompts.catalog import (
    CATALOG_DIR,
    Catalog,
    CatalogError,
    Prompt,
    load_catalog,
    parse_catalog_file,
)

pytestmark = pytest.mark.no_store

GOOD = """
[hello]
text = "Xin chào."
group = "system"
note = "Chào hỏi."
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_catalog_loads_and_holds_every_fragment() -> None:
    catalog = load_catalog()
    assert not catalog.missing(ALL_FRAGMENTS)
    assert len(catalog) == len(catalog.ids) == len(set(catalog.ids))
    assert (CATALOG_DIR / "core.toml").is_file()


def test_every_shipped_script_is_nfc_vietnamese_with_a_note() -> None:
    for prompt in load_catalog():
        for value in (prompt.text, prompt.note, prompt.sms or prompt.text):
            assert unicodedata.normalize("NFC", value) == value, prompt.id
            assert value.strip() == value, prompt.id
        assert prompt.source.endswith(".toml")


def test_number_fragments_say_their_word() -> None:
    catalog = load_catalog()
    for word, prompt_id in NUMBER_FRAGMENTS.items():
        assert catalog[prompt_id].text == word


DAYS = [
    "ngày mùng một",
    "ngày mùng hai",
    "ngày mùng ba",
    "ngày mùng bốn",
    "ngày mùng năm",
    "ngày mùng sáu",
    "ngày mùng bảy",
    "ngày mùng tám",
    "ngày mùng chín",
    "ngày mùng mười",
    "ngày mười một",
    "ngày mười hai",
    "ngày mười ba",
    "ngày mười bốn",
    "ngày mười lăm",
    "ngày mười sáu",
    "ngày mười bảy",
    "ngày mười tám",
    "ngày mười chín",
    "ngày hai mươi",
    "ngày hai mươi mốt",
    "ngày hai mươi hai",
    "ngày hai mươi ba",
    "ngày hai mươi tư",
    "ngày hai mươi lăm",
    "ngày hai mươi sáu",
    "ngày hai mươi bảy",
    "ngày hai mươi tám",
    "ngày hai mươi chín",
    "ngày ba mươi",
    "ngày ba mươi mốt",
]
MONTHS = [
    "tháng một",
    "tháng hai",
    "tháng ba",
    "tháng tư",
    "tháng năm",
    "tháng sáu",
    "tháng bảy",
    "tháng tám",
    "tháng chín",
    "tháng mười",
    "tháng mười một",
    "tháng mười hai",
]


def test_day_month_and_digit_fragments_say_the_right_words() -> None:
    catalog = load_catalog()
    assert [catalog[f"day_{d:02d}"].text for d in range(1, 32)] == DAYS
    assert [catalog[f"month_{m:02d}"].text for m in range(1, 13)] == MONTHS
    assert [catalog[f"digit_{i}"].text for i in range(10)] == (
        ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"]
    )
    assert catalog["date_year"].text == "năm"


def test_catalog_access() -> None:
    catalog = Catalog(
        [
            Prompt("a_b", "Một.", "x", "n"),
            Prompt("c", "Hai câu dài.", "y", "n", sms="Hai."),
        ]
    )
    assert "a_b" in catalog
    assert "zz" not in catalog
    assert catalog.get("zz") is None
    assert catalog.get("c") == catalog["c"]
    assert catalog["c"].written == "Hai."
    assert catalog["a_b"].written == "Một."
    assert catalog.ids == ("a_b", "c")
    assert [p.id for p in catalog] == ["a_b", "c"]
    assert catalog.group("y") == (catalog["c"],)
    assert catalog.missing(["a_b", "c", "d"]) == {"d"}


def test_files_merge_in_name_order(tmp_path: Path) -> None:
    write(tmp_path, "b.toml", GOOD.replace("hello", "bye"))
    write(tmp_path, "a.toml", GOOD)
    write(tmp_path, "notes.txt", "ignored")
    assert load_catalog([tmp_path]).ids == ("hello", "bye")
    assert load_catalog([tmp_path / "b.toml"]).ids == ("bye",)


def test_a_duplicate_id_across_files_names_both(tmp_path: Path) -> None:
    write(tmp_path, "core.toml", GOOD)
    write(tmp_path, "ivr.toml", GOOD)
    with pytest.raises(CatalogError, match=r"'hello' defined twice: in core.toml and ivr.toml"):
        load_catalog([tmp_path])


def test_the_shipped_ids_clash_with_a_channel_file(tmp_path: Path) -> None:
    write(tmp_path, "sms.toml", GOOD.replace("hello", "system_busy"))
    with pytest.raises(CatalogError, match="system_busy"):
        load_catalog([CATALOG_DIR, tmp_path])


BAD = [
    ('[Hello]\ntext = "a"\ngroup = "g"\nnote = "n"\n', "snake_case"),
    ('[hello_]\ntext = "a"\ngroup = "g"\nnote = "n"\n', "snake_case"),
    ('["chào"]\ntext = "a"\ngroup = "g"\nnote = "n"\n', "snake_case"),
    ('[hello]\ntext = ""\ngroup = "g"\nnote = "n"\n', "text is empty"),
    ('[hello]\ntext = " a"\ngroup = "g"\nnote = "n"\n', "whitespace"),
    ('[hello]\ntext = "Xin cha\u0300o"\ngroup = "g"\nnote = "n"\n', "not NFC"),
    ('[hello]\ntext = "a"\nsms = "Xin cha\u0300o"\ngroup = "g"\nnote = "n"\n', "sms"),
    ('[hello]\ntext = "a"\ngroup = "G"\nnote = "n"\n', "group"),
    ('[hello]\ntext = "a"\ngroup = "g"\nnote = "  "\n', "note is empty"),
    ('[hello]\ntext = "a"\ngroup = "g"\n', "lacks 'note'"),
    ('[hello]\ntext = "a"\ngroup = "g"\nnote = "n"\ntxet = "b"\n', "unknown keys"),
    ('[hello]\ntext = 1\ngroup = "g"\nnote = "n"\n', "strings"),
    ('hello = "a"\n', "must be a table"),
    ('[hello]\ntext = "a"\n[hello]\ntext = "b"\n', "hello"),
    ("[hello\n", "bad.toml"),
]


@pytest.mark.parametrize(("text", "complaint"), BAD)
def test_a_malformed_file_is_refused_with_a_reason(
    tmp_path: Path, text: str, complaint: str
) -> None:
    with pytest.raises(CatalogError, match=complaint):
        load_catalog([write(tmp_path, "bad.toml", text)])


def test_a_prompt_built_in_code_is_checked_too() -> None:
    with pytest.raises(CatalogError, match="empty"):
        Catalog([Prompt("x", "", "g", "n")])


def test_core_sms_wordings_are_shorter_than_their_scripts() -> None:
    core = parse_catalog_file(CATALOG_DIR / "core.toml")
    shortened = [p for p in core if p.sms is not None]
    assert len(shortened) >= 15
    for prompt in shortened:
        assert len(prompt.sms or "") < len(prompt.text), prompt.id
