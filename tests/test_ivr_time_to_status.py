"""Issue 11, "the status comes late": the status within 12 s of the answer.

On a real Asterisk the caller who pressed 1 and keyed 2411290001# at about three
digits a second heard "đã có kết quả" 16.8 s after the answer, 5.2 s of it the code
read back digit by digit. The time is computed here, not measured: the prompts a
real call (real server, simulated Asterisk) plays, with their lengths estimated from
their scripts, plus the caller's keying time.

The caller of the issue (which this model reproduces conservatively: it gives the
old order 18.0 s against the 16.8 s measured; the new one 10.7 s): hears the welcome
to its end, then keys "1", the ten digits and "#" at three keys a second; the keys cut the menu and
the code question short (barge-in); after "#" every prompt plays whole.

A prompt's length: 0.25 s a syllable plus 0.3 s a file, fitted to the espeak-ng
placeholders at 150 words a minute ("Xin chào, đây là tổng đài …" 15 syllables,
3.76 s; "Mời nhập mã hồ sơ: …" 23 syllables, 6.17 s; "Hồ sơ số" 1.14 s; a digit
0.6 s). A recorded voice is usually quicker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lookup.sqlite import DossierStore, SqliteLookup
from prompts.catalog import load_catalog
from tests.test_ivr_calls import DOSSIERS, PROCEDURES, call, heard

pytestmark = pytest.mark.no_store

GOAL_S = 12.0
KEYS_PER_S = 3.0
CODE = "2411290001"
KEYED = f"1{CODE}#"  # the menu's 1, the code, the terminator
SECONDS_PER_SYLLABLE = 0.25
SECONDS_PER_FILE = 0.3
CATALOG = load_catalog()


def prompt_s(prompt_id: str) -> float:
    """The estimated length of one catalogued prompt."""
    text = CATALOG[prompt_id].text.replace("/", " ")  # "Ông/Bà" is said "ông bà"
    return len(text.split()) * SECONDS_PER_SYLLABLE + SECONDS_PER_FILE


def time_to_status(said: list[str]) -> float:
    """Seconds from the answer to the first word of the status, for the caller above."""
    assert said[0] == "ivr_welcome"
    after_keys = said.index("ivr_please_wait")  # the first prompt after "#"
    status = next(i for i, p in enumerate(said) if p.startswith("status_"))
    before_status = said[after_keys:status]
    assert not [p for p in before_status if p.startswith("txt_")], "a free text to estimate"
    keying = len(KEYED) / KEYS_PER_S
    return prompt_s("ivr_welcome") + keying + sum(prompt_s(p) for p in before_status)


@pytest.fixture
async def lookup(tmp_path: Path) -> AsyncIterator[SqliteLookup]:
    path = tmp_path / "tracuu.sqlite3"
    store = await DossierStore.open(path)
    await store.upsert_dossiers(DOSSIERS)
    await store.upsert_procedures(PROCEDURES)
    await store.close()
    opened = await SqliteLookup.open(path, collection_place="Bộ phận Một cửa")
    yield opened
    await opened.close()


async def test_the_status_comes_within_12_s_of_the_answer(lookup: SqliteLookup) -> None:
    # The agency of the number: 2411290001 is then one dossier, the ready one.
    record = await call(lookup, f"1 {CODE}# _ _ _", params={"agency": "000.00.18.H26"})
    said = heard(record)
    assert "status_ready" in said  # "đã có kết quả"
    seconds = time_to_status(said)
    assert seconds <= GOAL_S, f"status after {seconds:.1f} s: {said}"
    # The code is confirmed right after the status, and again with "1" (hear it again).
    status = said.index("status_ready")
    assert "dossier_code" in said[status : said.index("ivr_after_result")]


def test_the_old_order_is_what_the_issue_measured() -> None:
    """The model against the issue: code read back and procedure named first, then status."""
    code = ["dossier_code", *(f"digit_{d}" for d in "241129"), "code_sequence"]
    code += [f"digit_{d}" for d in "0001"]
    old = ["ivr_welcome", "ivr_menu_main", "ivr_enter_code", "ivr_please_wait", *code]
    old += ["procedure_of", "status_ready"]  # the procedure's name left out: fewer seconds
    assert time_to_status(old) > 16.8  # the model errs on the slow side
