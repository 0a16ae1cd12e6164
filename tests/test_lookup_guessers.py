"""Wrong secrets are counted per dossier AND guesser: a stranger cannot lock the owner out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from lookup import demo
from lookup.port import Proof
from lookup.sqlite import DossierStore, SqliteLookup

pytestmark = pytest.mark.no_store

TODAY = date(2024, 12, 2)
CODE = demo.FIXED_CODE
PIN = "739204"
STRANGER, OWNER_ELSEWHERE = "+84987000111", "+84936000222"


@pytest.fixture
async def lookup(tmp_path: Path) -> AsyncIterator[SqliteLookup]:
    database = tmp_path / "g.sqlite3"
    store = await DossierStore.open(database)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    opened = await SqliteLookup.open(database, clock=lambda: 1_800_000_000.0)
    yield opened
    await opened.close()


@pytest.mark.parametrize("guesses", [5, 6, 20])
async def test_a_strangers_guesses_lock_only_the_stranger(
    lookup: SqliteLookup, guesses: int
) -> None:
    for n in range(guesses):
        assert await lookup.full(CODE, Proof(secret=f"{n:06d}", guesser=STRANGER)) is None
    assert await lookup.secret_locked(CODE, guesser=STRANGER) is True
    assert await lookup.full(CODE, Proof(secret=PIN, guesser=STRANGER)) is None  # locked
    for guesser in (OWNER_ELSEWHERE, ""):
        assert await lookup.secret_locked(CODE, guesser=guesser) is False
    owner = await lookup.full(CODE, Proof(secret=PIN, guesser=OWNER_ELSEWHERE))
    assert owner is not None
    assert owner.applicant_name == "Nguyễn Thị Lan"


async def test_full_any_counts_for_its_guesser_only(lookup: SqliteLookup) -> None:
    codes = [CODE, "000.00.18.H26-241129-0002"]
    for n in range(5):
        assert await lookup.full_any(codes, f"9{n:05d}", guesser=STRANGER) == []
    assert [await lookup.secret_locked(c, guesser=STRANGER) for c in codes] == [True, True]
    assert [await lookup.secret_locked(c) for c in codes] == [False, False]
    proven = await lookup.full_any(codes, "190012345")  # no guesser: the shared count
    assert [view.public.code for view in proven] == [CODE]
