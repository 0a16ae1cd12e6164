"""The PostgreSQL backend against a real throwaway PostgreSQL 15 server."""

import asyncio
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import lookup.queries as lookup_queries
from gateway.settings import Settings
from kernel.db import Database
from lookup.codes import InvalidCode
from lookup.factory import open_lookup, open_store
from lookup.lockout import DAY_S, SecretPolicy
from lookup.model import Dossier, Procedure, Status
from lookup.port import Proof, SecretGuard
from lookup.postgres import PostgresLookup, PostgresStore
from lookup.rows import dossier_from_row
from tests.peers import postgres as postgres_peer

pytestmark = pytest.mark.postgres
PORT = 54329
_names = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    why = postgres_peer.available()
    if why is not None:
        pytest.skip(why)
    with postgres_peer.server(PORT) as url:
        yield url


@pytest.fixture
async def url(server: str) -> str:
    name = f"t{os.getpid()}_{next(_names)}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return server.replace("/postgres?", f"/{name}?")


def dossier(code: str = "000.00.18.H26-241129-0001", **fields: object) -> Dossier:
    base = Dossier(
        code=code, agency_id=code.split("-", 1)[0], procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh", status=Status.READY, received_on=date(2024, 11, 29),
        due_on=date(2024, 12, 3), applicant_name="Nguyễn Thị Lan",
        applicant_phones=("0912345678",), applicant_id_number="001190012345", secret="739204",
    )  # fmt: skip
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture
async def lookup(url: str) -> AsyncIterator[PostgresLookup]:
    store = await PostgresStore.open(url)
    await store.upsert_dossiers([
        dossier(),
        dossier("000.00.19.H26-241129-0001", applicant_phones=("01626123456",)),
        dossier("000.00.20.H26-241129-0001"),
    ])  # fmt: skip
    await store.upsert_procedures([
        Procedure("1.001193", "Đăng ký khai sinh", ("Tờ khai",), "Miễn lệ phí", "1 ngày", True),
        Procedure("1.009994", "Cấp giấy phép xây dựng", ("Đơn",), "75.000 đồng", "15 ngày"),
    ])  # fmt: skip
    await store.close()
    opened = await PostgresLookup.open(
        url, agencies={"000.00.18.H26": "UBND phường Cửa Nam", "000.00.19.H26": "UBND P. HK"}
    )
    yield opened
    await opened.close()


async def test_the_same_answers_as_sqlite(lookup: PostgresLookup) -> None:
    view = await lookup.by_code("0000018H262411290001")
    assert view is not None
    assert (view.code, view.status, view.agency_name) == (
        "000.00.18.H26-241129-0001",
        Status.READY,
        "UBND phường Cửa Nam",
    )
    with pytest.raises(InvalidCode):
        await lookup.by_code("000.00.18.H26-240231-0001")
    keyed = await lookup.by_keypad_digits("2411291")
    assert [v.code for v in keyed] == ["000.00.18.H26-241129-0001", "000.00.19.H26-241129-0001"]
    assert [v.code for v in await lookup.by_phone("0326123456")] == ["000.00.19.H26-241129-0001"]
    assert await lookup.full(view.code, Proof(secret="012345")) is not None
    assert await lookup.full(view.code, Proof(phone="0987654321")) is None
    assert [p.name for p in await lookup.procedures(common_only=True)] == ["Đăng ký khai sinh"]
    building = await lookup.procedure("1.009994")
    assert building is not None
    assert building.fee == "75.000 đồng"


async def test_changes_and_updates(url: str, lookup: PostgresLookup) -> None:
    first = await lookup.changed_since("", limit=2)
    assert (len(first.dossiers), first.more) == (2, True)
    rest = await lookup.changed_since(first.cursor)
    assert (len(rest.dossiers), rest.more) == (1, False)
    store = await PostgresStore.open(url)
    try:
        await store.upsert_dossiers([dossier()])  # unchanged: no change
        assert (await lookup.changed_since(rest.cursor)).dossiers == ()
        await store.upsert_dossiers(
            [dossier(status=Status.RETURNED, applicant_phones=("0987654321",))]
        )
    finally:
        await store.close()
    changed = await lookup.changed_since(rest.cursor)
    assert [(d.code, d.status) for d in changed.dossiers] == [
        ("000.00.18.H26-241129-0001", Status.RETURNED)
    ]
    assert [v.code for v in await lookup.by_phone("0912345678")] == ["000.00.20.H26-241129-0001"]
    assert len(await lookup.by_phone("0987654321")) == 1


async def test_factory_opens_postgres(url: str) -> None:
    async with open_lookup(Settings(database=url)) as opened:
        assert isinstance(opened, PostgresLookup)
        assert await opened.by_code("000.00.18.H26-241129-0001") is None


async def test_the_lookup_shares_the_process_database(url: str) -> None:
    db = await Database.open(url)
    try:
        async with open_lookup(Settings(database=url), db=db) as opened:
            assert isinstance(opened, PostgresLookup)
            assert await opened.by_code("000.00.18.H26-241129-0001") is None
        assert await db.fetchval("SELECT count(*) FROM dossier") == 0  # not closed by it
    finally:
        await db.close()


async def test_the_writer_shares_the_process_database(url: str) -> None:
    """The console's push API in a gateway on PostgreSQL writes through the gateway's one
    Database (no pool of its own) and leaves it open."""
    db = await Database.open(url)
    try:
        async with open_store(Settings(database=url), db=db) as store:
            assert isinstance(store, PostgresStore)
            assert await store.upsert_dossiers([dossier()]) == 1
            assert await store.upsert_dossiers([dossier()]) == 1  # unchanged: no new seq
        assert await db.fetchval("SELECT count(*) FROM dossier") == 1  # not closed by it
        assert await db.fetchval("SELECT max(change_seq) FROM dossier") == 1
        assert await db.fetchval("SELECT count(*) FROM dossier_phone") == 1
    finally:
        await db.close()


async def test_a_page_of_changes_becomes_dossiers_off_the_event_loop(
    lookup: PostgresLookup, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[threading.Thread] = set()

    def watched(*args: Any) -> Dossier:
        threads.add(threading.current_thread())
        return dossier_from_row(*args)

    monkeypatch.setattr(lookup_queries, "dossier_from_row", watched)
    assert len((await lookup.changed_since("")).dossiers) == 3
    assert threads
    assert threading.current_thread() not in threads


def test_cli_on_postgres(url: str, tmp_path: Path) -> None:
    env = {**os.environ, "TRACUU_DATABASE": url, "TRACUU_CONFIG": "/nonexistent"}

    def tracuu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, env=env,
            timeout=120, check=False,
        )  # fmt: skip

    assert tracuu("db", "init").returncode == 0
    demo = tracuu("demo-data", "--count", "30")
    assert demo.returncode == 0, demo.stderr
    assert demo.stdout.startswith("7 fixed and 30 generated demo dossiers, 10 procedures in post")
    found = tracuu("lookup", "000.00.18.H26-241129-0002", "--json")
    assert json.loads(found.stdout)["overdue"] is True
    export = tmp_path / "a.csv"
    export.write_text("code,status,due_on\nG22.99-251225-020175,done,2025-12-30\n", "utf-8")
    assert tracuu("import", str(export)).returncode == 0
    done = tracuu("lookup", "G22.99-251225-020175", "--json")
    assert json.loads(done.stdout)["status_label"] == "Đã trả kết quả"


async def test_written_spellings_and_date_sequence(lookup: PostgresLookup) -> None:
    for typed in ("HS so 000.00.18.H26-241129-0001", "000.00.18.H26-241129-1",
                  "OOO.OO.18.H26-241129-OOO1", '"HS 000.00.18.H26-241129-0001"'):  # fmt: skip
        view = await lookup.by_code(typed)
        assert view is not None
        assert view.code == "000.00.18.H26-241129-0001"


async def test_wrong_secrets_lock_the_dossier_for_everyone(url: str) -> None:
    store = await PostgresStore.open(url)
    await store.upsert_dossiers([dossier(), dossier("000.00.19.H26-241129-0001")])
    await store.close()
    now = [1_733_000_000.0]
    first = await PostgresLookup.open(url, clock=lambda: now[0])
    second = await PostgresLookup.open(url, clock=lambda: now[0])
    code, right = "000.00.18.H26-241129-0001", Proof(secret="739204")
    try:
        assert isinstance(first, SecretGuard)
        guesses = [
            (first, second)[n % 2].full(code, Proof(secret=f"{n:06d}")) for n in range(100, 112)
        ]
        assert await asyncio.gather(*guesses) == [None] * 12  # concurrent: all counted
        assert await second.secret_locked(code) is True
        assert await first.full(code, right) is None
        assert await first.full(code, Proof(secret="012345")) is None
        owner = await second.full(code, Proof(phone="0912345678"))
        assert owner is not None
        assert await first.full("000.00.19.H26-241129-0001", right) is not None
        now[0] += DAY_S
        assert await first.secret_locked(code) is False
        assert await second.full(code, right) is not None
    finally:
        await first.close()
        await second.close()
    reopened = await PostgresLookup.open(url, clock=lambda: now[0])
    try:
        for _ in range(5):
            assert await reopened.full(code, Proof(secret="000000")) is None
    finally:
        await reopened.close()
    restarted = await PostgresLookup.open(url, clock=lambda: now[0])
    try:
        assert await restarted.secret_locked(code) is True  # kept in the database
    finally:
        await restarted.close()


# One citizen, three dossiers on one phone, one ID number, a receipt PIN each.
A, B, C = (f"000.00.18.H26-241129-000{n}" for n in (1, 2, 3))
PINS = {A: "739204", B: "518306", C: "264190"}
ID_DIGITS = "012345"  # the last six of 001190012345: proves all three


async def three_lookups(url: str, now: list[float]) -> list[PostgresLookup]:
    store = await PostgresStore.open(url)
    await store.upsert_dossiers([dossier(code, secret=pin) for code, pin in PINS.items()])
    await store.close()
    return [await PostgresLookup.open(url, clock=lambda: now[0]) for _ in range(2)]


async def failures(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT code_key, failures FROM secret_failure")
    finally:
        await conn.close()
    return {row["code_key"][-4:]: row["failures"] for row in rows}  # {"0001": 2, ...}


async def test_one_secret_against_several_dossiers_is_one_attempt(url: str) -> None:
    now = [1_733_000_000.0]
    first, second = await three_lookups(url, now)
    try:
        assert isinstance(first, SecretGuard)
        for _ in range(10):  # the owner keys the PIN of A: nothing counted on B and C
            assert [v.public.code for v in await first.full_any([A, B, C], PINS[A])] == [A]
        assert [await second.secret_locked(code) for code in (A, B, C)] == [False] * 3
        assert await failures(url) == {}  # no placeholder row left behind either
        assert await first.full_any([A, B, C], "000000") == []  # wrong: once on each
        assert await failures(url) == {"0001": 1, "0002": 1, "0003": 1}
        assert [v.public.code for v in await second.full_any([C, A, B], PINS[B])] == [B]
        assert await failures(url) == {"0001": 1, "0003": 1}  # B cleared, the others kept
        for n in range(5):
            assert await (first, second)[n % 2].full_any([A, B, C], f"99999{n}") == []
        assert [await first.secret_locked(code) for code in (A, B, C)] == [True] * 3
        assert await second.full_any([A, B, C], ID_DIGITS) == []  # locked: even the right one
        assert await failures(url) == {"0001": 5, "0002": 5, "0003": 5}
        now[0] += DAY_S
        assert len(await first.full_any([A, B, C], ID_DIGITS)) == 3
    finally:
        await first.close()
        await second.close()


async def test_a_locked_dossier_is_skipped_while_the_others_still_prove(url: str) -> None:
    now = [1_733_000_000.0]
    first, second = await three_lookups(url, now)
    try:
        for _ in range(5):
            assert await first.full(A, Proof(secret="000000")) is None
        views = await second.full_any([A, B, C], ID_DIGITS)
        assert [v.public.code for v in views] == [B, C]
        assert await second.full_any([A, B, C], PINS[A]) == []
        assert await failures(url) == {"0001": 5, "0002": 1, "0003": 1}
        assert await first.secret_locked(A) is True
    finally:
        await first.close()
        await second.close()


async def test_concurrent_attempts_at_overlapping_dossiers_are_all_counted(url: str) -> None:
    # Fresh dossiers (no rows yet), overlapping sets in different orders, and single
    # guesses racing them: every one counted, and no deadlock between them.
    now = [1_733_000_000.0]
    first, second = await three_lookups(url, now)
    try:
        attempts = [
            (first, second)[n % 2].full_any([A, B, C] if n % 2 else [C, B], f"{n:06d}")
            for n in range(100_000, 100_004)
        ]
        singles = [second.full(A, Proof(secret="000000")), first.full(C, Proof(secret="1"))]
        results = await asyncio.gather(*attempts, *singles)
        assert results == [[]] * 4 + [None, None]
        assert await failures(url) == {"0001": 3, "0002": 4, "0003": 5}
        more = [(first, second)[n % 2].full_any([A, B, C], f"{n:06d}") for n in range(8)]
        assert await asyncio.gather(*more) == [[]] * 8
        assert await failures(url) == {"0001": 5, "0002": 5, "0003": 5}
    finally:
        await first.close()
        await second.close()


async def test_right_and_wrong_secrets_racing_at_overlapping_dossiers_never_deadlock(
    url: str,
) -> None:
    # A right secret deletes its dossier's count while wrong ones write theirs: with row
    # locks on placeholder rows this deadlocked about every other attempt.
    now = [1_733_000_000.0]
    store = await PostgresStore.open(url)
    await store.upsert_dossiers([dossier(code, secret=pin) for code, pin in PINS.items()])
    await store.close()
    policy = SecretPolicy(max_failures=1000)  # never locked: every attempt is checked
    lookups = [
        await PostgresLookup.open(url, policy=policy, clock=lambda: now[0]) for _ in range(2)
    ]
    orders = [[A, B, C], [C, B], [B, A], [C, A, B]]
    try:
        attempts = [
            lookups[n % 2].full_any(orders[n % 4], PINS[A] if n % 3 == 0 else "000000")
            for n in range(80)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)
    finally:
        for opened in lookups:
            await opened.close()
    assert [r for r in results if not isinstance(r, list)] == []  # no LookupUnavailable
    proven = [[v.public.code for v in r] for r in results if isinstance(r, list) and r]
    assert proven == [[A]] * sum(1 for n in range(80) if n % 3 == 0 and A in orders[n % 4])
