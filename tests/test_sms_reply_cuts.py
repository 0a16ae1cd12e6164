"""A name in an SMS reply is never cut mid-word ("cap giay phep xay du"), issue 12."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernel.office import OfficeSettings
from lookup.model import Procedure
from prompts.catalog import load_catalog
from sms import replies
from sms.replies import ReplyContext, fit, whole_words

pytestmark = pytest.mark.no_store

CTX = ReplyContext(catalog=load_catalog(), office=OfficeSettings(), today=date(2024, 12, 2))
WORDS = st.lists(
    st.sampled_from(["cap", "giay", "phep", "xay", "dung", "nha", "o", "rieng", "le",
                     "khai", "thac", "khoang", "san", "chuyen", "muc", "dich", "su", "dat"]),
    min_size=1, max_size=30,
)  # fmt: skip


@given(WORDS, st.integers(5, 60))
def test_whole_words_keeps_whole_words(words: list[str], limit: int) -> None:
    text = " ".join(words)
    cut = whole_words(text, limit)
    kept = cut.removesuffix("...").split()
    assert kept == words[: len(kept)]
    assert cut == text or cut.endswith("...")


def test_the_issue_example_is_not_cut_mid_word() -> None:
    reply = replies.procedure_not_found_reply(
        "cap giay phep xay dung nha o rieng le tai do thi", CTX
    )
    assert "cap giay phep xay dung nha o rieng le..." in reply
    assert "xay du." not in reply


@given(WORDS, st.integers(1, 2))
def test_a_long_guidance_is_cut_between_words(words: list[str], parts: int) -> None:
    name = " ".join(words)
    procedure = Procedure("9.999999", name, tuple(" ".join(words) for _ in range(6)), "", "")
    ctx = ReplyContext(catalog=CTX.catalog, office=CTX.office, today=CTX.today, max_parts=parts)
    reply = replies.guidance_reply(procedure, ctx)
    if reply.endswith("..."):
        last = reply.removesuffix("...").split()[-1].strip(".,;:")
        assert last in {*words, "Thu", "tuc", "Giay", "to", "can", "co"}, reply


def test_fit_cuts_at_a_space() -> None:
    text = "Thu tuc " + " ".join(["Chuyen muc dich su dung dat"] * 40)
    cut = fit(text, accents=False, max_parts=1)
    assert cut.endswith("...")
    assert text.startswith(cut.removesuffix("..."))
    assert text[len(cut.removesuffix("..."))] == " "
