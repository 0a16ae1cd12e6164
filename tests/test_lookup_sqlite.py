"""The SQLite backend on real files: every query, second factors, changes, concurrency."""

import asyncio
import dataclasses
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import lookup.queries as lookup_queries
from lookup.codes import InvalidCode, QueryKind, Reason, extract_code
from lookup.lockout import DAY_S, SecretPolicy
from lookup.model import Dossier, Procedure, Status
from lookup.port import LookupUnavailable, Proof, SecretGuard
from lookup.rows import dossier_from_row
from lookup.sqlite import STEPS, DossierStore, SqliteLookup

pytestmark = pytest.mark.sqlite_only(
    "the SQLite dossier adapter on its files; PostgreSQL's: tests/test_lookup_postgres.py"
)

AGENCIES = {"000.00.18.H26": "UBND phường Cửa Nam", "000.00.19.H26": "UBND phường Hoàn Kiếm"}


def dossier(code: str = "000.00.18.H26-241129-0001", **fields: object) -> Dossier:
    base = Dossier(
        code=code,
        agency_id=code.split("-", maxsplit=1)[0],
        procedure_code="1.001193",
        procedure_name="Đăng ký khai sinh",
        status=Status.READY,
        received_on=date(2024, 11, 29),
        due_on=date(2024, 12, 3),
        applicant_name="Nguyễn Thị Lan",
        applicant_phones=("0912345678",),
        applicant_id_number="001190012345",
        applicant_address="12 Hàng Bài, Hoàn Kiếm, Hà Nội",
        secret="739204",
    )
    return dataclasses.replace(base, **fields)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "var" / "tracuu.sqlite3"  # the parent does not exist yet


async def store_all(db: Path, *dossiers: Dossier) -> None:
    store = await DossierStore.open(db)
    try:
        await store.upsert_dossiers(dossiers)
    finally:
        await store.close()


@pytest.fixture
async def lookup(db: Path) -> AsyncIterator[SqliteLookup]:
    await store_all(
        db,
        dossier(),
        dossier(
            "000.00.19.H26-241129-0001",
            procedure_name="Đăng ký kết hôn",
            applicant_phones=("01626123456", "0987654321"),
            agency_name="Tên riêng",
        ),
        dossier("000.00.20.H26-241129-0001"),  # another switchboard's agency
        dossier("G22.99.08-260921-896048", status=Status.PROCESSING, applicant_phones=()),
    )
    opened = await SqliteLookup.open(db, agencies=AGENCIES, collection_place="Bộ phận Một cửa")
    yield opened
    await opened.close()


async def test_by_code_in_any_spelling(lookup: SqliteLookup) -> None:
    for typed in (
        "000.00.18.H26-241129-0001",
        "000.00.18.h26 – 241129 – 0001",
        "0000018H262411290001",
        "000.00.18.H26-2411290001",
    ):
        view = await lookup.by_code(typed)
        assert view is not None
        assert view.code == "000.00.18.H26-241129-0001"
        assert view.status is Status.READY
        assert view.agency_name == "UBND phường Cửa Nam"  # from the settings: the row has none
        assert view.collection_place == "Bộ phận Một cửa"  # the office default
        assert view.due_on == date(2024, 12, 3)


async def test_row_agency_name_wins_over_settings(lookup: SqliteLookup) -> None:
    view = await lookup.by_code("000.00.19.H26-241129-0001")
    assert view is not None
    assert view.agency_name == "Tên riêng"


async def test_unknown_and_invalid_codes(lookup: SqliteLookup) -> None:
    assert await lookup.by_code("000.00.18.H26-241129-0002") is None
    with pytest.raises(InvalidCode) as caught:
        await lookup.by_code("000.00.18.H26-240231-0001")
    assert caught.value.reason is Reason.BAD_DATE


async def test_keypad_returns_every_configured_agency_that_matches(lookup: SqliteLookup) -> None:
    views = await lookup.by_keypad_digits("2411290001")
    # 000.00.20.H26 has the same date and sequence but is not this switchboard's agency.
    assert [v.code for v in views] == ["000.00.18.H26-241129-0001", "000.00.19.H26-241129-0001"]
    assert [v.code for v in await lookup.by_keypad_digits("2411291")] == [v.code for v in views]
    assert await lookup.by_keypad_digits("2411290002") == []


async def test_keypad_without_configured_agencies_searches_all(db: Path) -> None:
    await store_all(db, dossier(), dossier("000.00.20.H26-241129-0001"))
    opened = await SqliteLookup.open(db)
    try:
        assert len(await opened.by_keypad_digits("241129000001")) == 2
    finally:
        await opened.close()


async def test_keypad_six_digit_sequence(db: Path) -> None:
    await store_all(db, dossier("G22.99.08-260921-896048"))
    opened = await SqliteLookup.open(db, agencies={"g22.99.08": "UBND xã A"})
    try:
        views = await opened.by_keypad_digits("260921896048")
        assert [v.code for v in views] == ["G22.99.08-260921-896048"]
        assert views[0].agency_name == "UBND xã A"
    finally:
        await opened.close()


async def test_by_phone_in_any_spelling_including_legacy(lookup: SqliteLookup) -> None:
    for phone in ("0326123456", "+84 326 123 456", "01626123456"):
        views = await lookup.by_phone(phone)
        assert [v.code for v in views] == ["000.00.19.H26-241129-0001"]
    assert len(await lookup.by_phone("0912345678")) == 2
    assert await lookup.by_phone("0900000000") == []
    assert await lookup.by_phone("garbage") == []


@pytest.mark.parametrize(
    ("proof", "allowed"),
    [
        (Proof(phone="+84912345678"), True),
        (Proof(phone="0912 345 678"), True),
        (Proof(phone="0987654321"), False),  # someone else's phone
        (Proof(secret="739204"), True),  # receipt PIN
        (Proof(secret=" 739204 "), True),
        (Proof(secret="739205"), False),
        (Proof(secret="012345"), True),  # last 6 digits of the ID number
        (Proof(secret="0012345"), True),
        (Proof(secret="001190012345"), True),  # the whole ID number
        (Proof(secret="2345"), False),  # 4 digits: 10,000 guesses are too few (QA M6)
        (Proof(secret="12345"), False),
        (Proof(secret="123456"), False),  # not the last digits
        (Proof(secret="0001190012345"), False),  # longer than the ID number
        (Proof(), False),
        (Proof(phone="", secret=""), False),
    ],
)
async def test_second_factor(lookup: SqliteLookup, proof: Proof, allowed: bool) -> None:
    full = await lookup.full("000.00.18.H26-241129-0001", proof)
    if allowed:
        assert full is not None
        assert full.applicant_name == "Nguyễn Thị Lan"
        assert full.applicant_phones == ("+84912345678",)
        assert full.public.code == "000.00.18.H26-241129-0001"
    else:
        assert full is None


async def test_no_pin_means_a_pin_never_matches(db: Path) -> None:
    await store_all(db, dossier(secret="", applicant_id_number=""))
    opened = await SqliteLookup.open(db)
    try:
        assert await opened.full("000.00.18.H26-241129-0001", Proof(secret="")) is None
        assert await opened.full("000.00.18.H26-241129-0001", Proof(secret="0000")) is None
    finally:
        await opened.close()


async def test_full_of_unknown_code_is_none(lookup: SqliteLookup) -> None:
    assert await lookup.full("000.00.18.H26-241129-0009", Proof(secret="739204")) is None


async def test_upsert_updates_by_code_and_replaces_phones(db: Path) -> None:
    await store_all(db, dossier())
    await store_all(
        db,
        dossier(
            "000.00.18.h26-241129-0001", status=Status.RETURNED, applicant_phones=("0987654321",)
        ),
    )
    opened = await SqliteLookup.open(db)
    try:
        view = await opened.by_code("000.00.18.H26-241129-0001")
        assert view is not None
        assert view.status is Status.RETURNED
        assert await opened.by_phone("0912345678") == []
        assert len(await opened.by_phone("0987654321")) == 1
    finally:
        await opened.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM dossier").fetchone() == (1,)


async def test_invalid_code_is_refused_before_anything_is_written(db: Path) -> None:
    store = await DossierStore.open(db)
    try:
        with pytest.raises(InvalidCode):
            await store.upsert_dossiers([dossier(), dossier("not a code")])
    finally:
        await store.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM dossier").fetchone() == (0,)


async def test_changed_since_pages_through_every_change(db: Path) -> None:
    stamp = datetime(2024, 12, 1, 8, 0, tzinfo=UTC)  # every write shares one timestamp
    codes = [f"000.00.18.H26-241129-{n:04d}" for n in range(1, 8)]
    await store_all(db, *(dossier(code, updated_at=stamp) for code in codes))
    opened = await SqliteLookup.open(db)
    try:
        seen: list[str] = []
        cursor, more = "", True
        while more:
            page = await opened.changed_since(cursor, limit=3)
            seen += [d.code for d in page.dossiers]
            cursor, more = page.cursor, page.more
        assert seen == codes
        # Nothing new: an empty page with the same cursor.
        empty = await opened.changed_since(cursor)
        assert (empty.dossiers, empty.cursor, empty.more) == ((), cursor, False)
        # Re-importing identical data is not a change; a status change is, and comes last.
        await store_all(db, *(dossier(code, updated_at=stamp) for code in codes))
        assert (await opened.changed_since(cursor)).dossiers == ()
        await store_all(db, dossier(codes[2], status=Status.RETURNED, updated_at=stamp))
        changed = await opened.changed_since(cursor)
        assert [(d.code, d.status) for d in changed.dossiers] == [(codes[2], Status.RETURNED)]
        assert changed.dossiers[0].applicant_phones == ("+84912345678",)  # internal record
        assert int(changed.cursor) > int(cursor)
        with pytest.raises(ValueError, match="cursor"):
            await opened.changed_since("yesterday")
    finally:
        await opened.close()


async def test_pages_become_dossiers_and_queries_run_off_the_event_loop(
    lookup: SqliteLookup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page of changes maps to Dossiers on a reader thread (a reminder scan reads 1.1M
    rows); every statement runs there. A point lookup's few rows (at most 50) map on
    the loop: a row costs microseconds, less than a hop between threads."""
    from kernel.db import _SyncConn

    mapped: set[threading.Thread] = set()
    queried: set[threading.Thread] = set()

    def watched(*args: Any) -> Dossier:
        mapped.add(threading.current_thread())
        return dossier_from_row(*args)

    fetchall = _SyncConn.fetchall

    def fetch(self: _SyncConn, *args: Any) -> Any:
        queried.add(threading.current_thread())
        return fetchall(self, *args)

    monkeypatch.setattr(lookup_queries, "dossier_from_row", watched)
    monkeypatch.setattr(_SyncConn, "fetchall", fetch)
    assert (await lookup.changed_since("")).dossiers
    assert mapped
    assert threading.current_thread() not in mapped
    assert await lookup.by_code("000.00.18.H26-241129-0001") is not None
    assert await lookup.by_phone("0912345678")
    assert await lookup.by_keypad_digits("2411290001")
    assert queried
    assert threading.current_thread() not in queried


async def test_procedures(db: Path) -> None:
    store = await DossierStore.open(db)
    try:
        await store.upsert_procedures(
            [
                Procedure(
                    "1.001193",
                    "Đăng ký khai sinh",
                    ("Tờ khai", "Giấy chứng sinh"),
                    "Miễn phí",
                    "Ngay trong ngày",
                    common=True,
                ),
                Procedure(
                    "1.000894", "Cấp giấy phép xây dựng", ("Đơn đề nghị",), "75.000 đồng", "15 ngày"
                ),
            ]
        )
        await store.upsert_procedures(
            [
                Procedure(
                    "1.000894",
                    "Cấp giấy phép xây dựng",
                    ("Đơn đề nghị", "Bản vẽ"),
                    "75.000 đồng",
                    "15 ngày",
                )
            ]
        )
    finally:
        await store.close()
    opened = await SqliteLookup.open(db)
    try:
        building = await opened.procedure("1.000894")
        assert building is not None
        assert building.documents == ("Đơn đề nghị", "Bản vẽ")
        assert [p.code for p in await opened.procedures()] == ["1.000894", "1.001193"]
        common = await opened.procedures(common_only=True)
        assert [(p.name, p.fee, p.common) for p in common] == [
            ("Đăng ký khai sinh", "Miễn phí", True)
        ]
        assert await opened.procedure("nope") is None
    finally:
        await opened.close()


async def test_readers_answer_while_a_writer_holds_the_lock(db: Path) -> None:
    await store_all(db, dossier())
    opened = await SqliteLookup.open(db)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE dossier SET status = 10")
        async with asyncio.timeout(60):
            views = await asyncio.gather(*(opened.by_code(d.code) for d in [dossier()] * 20))
        assert {v.status for v in views if v} == {Status.READY}  # the committed state
        writer.execute("COMMIT")
        view = await opened.by_code(dossier().code)
        assert view is not None
        assert view.status is Status.RETURNED
    finally:
        writer.close()
        await opened.close()


async def test_wal_mode_and_schema_version(db: Path) -> None:
    await store_all(db)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute(
            "SELECT version FROM schema_version WHERE component = 'lookup'"
        ).fetchone() == (len(STEPS),)
        plan = " ".join(
            str(row)
            for row in conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM dossier WHERE code_date = ? AND seq_num = ?",
                ("241129", 1),
            )
        )
        assert "dossier_keypad" in plan


async def test_a_broken_file_is_unavailable_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LookupUnavailable, match="cannot open"):
        await SqliteLookup.open(broken)


async def test_queries_after_close_are_unavailable(db: Path) -> None:
    opened = await SqliteLookup.open(db)
    await opened.close()
    with pytest.raises(LookupUnavailable):
        await opened.by_code("000.00.18.H26-241129-0001")


async def test_same_code_twice_in_one_batch_keeps_the_last(db: Path) -> None:
    store = await DossierStore.open(db)
    try:
        await store.upsert_dossiers(
            [
                dossier(applicant_phones=("0912345678",)),
                dossier(status=Status.RETURNED, applicant_phones=("0987654321", "0911111111")),
            ]
        )
        await store.upsert_dossiers([dossier(status=Status.RETURNED, applicant_phones=())])
        await store.upsert_dossiers([dossier("000.00.18.H26-241129-0002")], batch_size=1)
    finally:
        await store.close()
    opened = await SqliteLookup.open(db)
    try:
        view = await opened.by_code(dossier().code)
        assert view is not None
        assert view.status is Status.RETURNED
        for phone in ("0912345678", "0987654321", "0911111111"):
            assert [v.code for v in await opened.by_phone(phone)] == (
                ["000.00.18.H26-241129-0002"] if phone == "0912345678" else []
            )
    finally:
        await opened.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM dossier_phone").fetchone() == (1,)
        ids = [r[0] for r in conn.execute("SELECT id FROM dossier ORDER BY id")]
        assert ids == [1, 2]


@pytest.mark.parametrize(
    "typed",
    [
        "HS so 000.00.18.H26-241129-0001",  # QA H2: filler words in front
        "hs ma so 000.00.18.H26-241129-0001 739204",
        '"HS 000.00.18.H26-241129-0001"',
        "000.00.18.H26-241129-1",  # QA L1: the sequence as a number, like the keypad
        "000.00.18.H26-241129-00001",
        "OOO.OO.18.H26-241129-OOO1",  # letter O for zero
        "HS Mã số 0000018H262411290001",
    ],
)
async def test_by_code_finds_what_citizens_write(lookup: SqliteLookup, typed: str) -> None:
    view = await lookup.by_code(typed)
    assert view is not None
    assert view.code == "000.00.18.H26-241129-0001"  # as the office wrote it
    assert view.agency_name == "UBND phường Cửa Nam"


async def test_written_date_and_sequence_resolve_like_the_keypad(lookup: SqliteLookup) -> None:
    # QA L2: "HS 241129-0001" is not "incomplete"; both configured agencies match: ask which.
    found = extract_code("HS 241129-0001")
    assert found.kind is QueryKind.DATE_SEQUENCE
    views = await lookup.by_keypad_digits(found.query)
    assert [v.code for v in views] == ["000.00.18.H26-241129-0001", "000.00.19.H26-241129-0001"]
    with pytest.raises(InvalidCode) as caught:
        await lookup.by_code("HS 241129-0001")  # by_code needs the agency
    assert caught.value.reason is Reason.MISSING_PART


class Clock:
    def __init__(self) -> None:
        self.now = 1_733_000_000.0

    def __call__(self) -> float:
        return self.now


CODE = "000.00.18.H26-241129-0001"
OTHER = "000.00.19.H26-241129-0001"
RIGHT_PIN, WRONG_PIN = Proof(secret="739204"), Proof(secret="000000")


async def test_five_wrong_secrets_lock_the_dossier_for_a_day(db: Path) -> None:
    # QA M6: guessing 6 digits a few at a time from several SIMs must not work.
    await store_all(db, dossier(), dossier(OTHER))
    clock = Clock()
    first = await SqliteLookup.open(db, clock=clock)
    second = await SqliteLookup.open(db, clock=clock)  # another process, same file
    try:
        assert isinstance(first, SecretGuard)
        for opened in (first, second, first, second):
            assert await opened.full(CODE, WRONG_PIN) is None
        assert await first.secret_locked(CODE) is False
        assert await second.full(CODE, Proof(secret="999999")) is None  # the fifth
        assert await first.secret_locked(CODE) is True
        # Locked: the right PIN and the right ID digits answer like a wrong secret.
        assert await first.full(CODE, RIGHT_PIN) is None
        assert await second.full(CODE, Proof(secret="012345")) is None
        # The registered phone is no secret: unaffected. Other dossiers: unaffected.
        owner = await first.full(CODE, Proof(phone="0912345678", secret="000000"))
        assert owner is not None
        assert owner.applicant_name == "Nguyễn Thị Lan"
        assert await first.full(OTHER, RIGHT_PIN) is not None
        assert await first.secret_locked(OTHER) is False
        clock.now += DAY_S - 1
        assert await first.full(CODE, RIGHT_PIN) is None
        clock.now += 1
        assert await first.secret_locked(CODE) is False
        assert await first.full(CODE, RIGHT_PIN) is not None
    finally:
        await first.close()
        await second.close()


async def test_the_lock_survives_a_restart(db: Path) -> None:
    await store_all(db, dossier())
    clock = Clock()
    opened = await SqliteLookup.open(db, clock=clock)
    try:
        for _ in range(5):
            assert await opened.full(CODE, WRONG_PIN) is None
    finally:
        await opened.close()
    reopened = await SqliteLookup.open(db, clock=clock)
    try:
        assert await reopened.secret_locked(CODE) is True
        assert await reopened.full(CODE, RIGHT_PIN) is None
    finally:
        await reopened.close()


async def test_a_right_secret_clears_the_count_and_old_failures_expire(db: Path) -> None:
    await store_all(db, dossier())
    clock = Clock()
    opened = await SqliteLookup.open(db, clock=clock)
    try:
        for _ in range(4):
            assert await opened.full(CODE, WRONG_PIN) is None
        assert await opened.full(CODE, RIGHT_PIN) is not None  # the owner mistyped 4 times
        for _ in range(4):
            assert await opened.full(CODE, WRONG_PIN) is None
        clock.now += DAY_S  # the window has passed: these four no longer count
        for _ in range(4):
            assert await opened.full(CODE, WRONG_PIN) is None
        assert await opened.secret_locked(CODE) is False
        assert await opened.full(CODE, RIGHT_PIN) is not None
    finally:
        await opened.close()


async def test_concurrent_guesses_are_all_counted(db: Path) -> None:
    await store_all(db, dossier())
    clock = Clock()
    readers = [await SqliteLookup.open(db, clock=clock) for _ in range(3)]
    try:
        guesses = [
            readers[n % 3].full(CODE, Proof(secret=f"{n:06d}")) for n in range(100_000, 100_012)
        ]
        assert await asyncio.gather(*guesses) == [None] * 12
        assert await readers[0].full(CODE, RIGHT_PIN) is None
    finally:
        for opened in readers:
            await opened.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT failures FROM secret_failure").fetchall() == [(5,)]


async def test_secret_rules_are_configurable(db: Path) -> None:
    await store_all(db, dossier())
    policy = SecretPolicy(min_id_digits=4, max_failures=2, window_s=60, lockout_s=60)
    clock = Clock()
    opened = await SqliteLookup.open(db, policy=policy, clock=clock)
    try:
        assert await opened.full(CODE, Proof(secret="2345")) is not None  # 4 digits allowed
        assert await opened.full(CODE, WRONG_PIN) is None
        assert await opened.full(CODE, WRONG_PIN) is None
        assert await opened.secret_locked(CODE) is True
        clock.now += 60
        assert await opened.full(CODE, Proof(secret="2345")) is not None
    finally:
        await opened.close()


# One citizen, three dossiers on one phone, one ID number, a receipt PIN each.
A, B, C = (f"000.00.18.H26-241129-000{n}" for n in (1, 2, 3))
PINS = {A: "739204", B: "518306", C: "264190"}
ID_DIGITS = "012345"  # the last six of 001190012345: proves all three


async def store_three(db: Path) -> None:
    await store_all(db, *(dossier(code, secret=pin) for code, pin in PINS.items()))


def failures(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT code_key, failures FROM secret_failure").fetchall()
    return {key[-4:]: count for key, count in rows}  # by sequence: {"0001": 2, ...}


async def test_the_pin_of_one_dossier_counts_nothing_on_the_others(db: Path) -> None:
    await store_three(db)
    opened = await SqliteLookup.open(db, clock=Clock())
    try:
        assert isinstance(opened, SecretGuard)
        for _ in range(10):
            views = await opened.full_any([A, B, C], PINS[A])
            assert [v.public.code for v in views] == [A]
            assert views[0].applicant_name == "Nguyễn Thị Lan"
        for code in (A, B, C):
            assert await opened.secret_locked(code) is False
        assert failures(db) == {}
        # The owner still proves B and C with their own PINs, or all three with the ID.
        assert [v.public.code for v in await opened.full_any([A, B, C], PINS[C])] == [C]
        all_three = await opened.full_any([C, A, B], f" {ID_DIGITS} ")
        assert [v.public.code for v in all_three] == [C, A, B]  # in the order asked
    finally:
        await opened.close()


async def test_a_wrong_secret_is_one_attempt_counted_once_on_each_dossier(db: Path) -> None:
    await store_three(db)
    opened = await SqliteLookup.open(db, clock=Clock())
    try:
        assert await opened.full_any([A, B, C], "000000") == []
        assert failures(db) == {"0001": 1, "0002": 1, "0003": 1}
        # Two spellings of A, an unknown code and a blank secret change nothing more.
        spelled = [A, "0000018H262411290001", B, C, "000.00.18.H26-241129-0009"]
        assert await opened.full_any(spelled, "000001") == []
        assert await opened.full_any([A, B, C], "  ") == []
        assert await opened.full_any([], "000002") == []
        assert failures(db) == {"0001": 2, "0002": 2, "0003": 2}
        # A right PIN clears its own count only: the others keep theirs, no more.
        assert [v.public.code for v in await opened.full_any([A, B, C], PINS[B])] == [B]
        assert failures(db) == {"0001": 2, "0003": 2}
    finally:
        await opened.close()


async def test_five_wrong_attempts_lock_every_dossier_checked(db: Path) -> None:
    await store_three(db)
    clock = Clock()
    opened = await SqliteLookup.open(db, clock=clock)
    try:
        for n in range(5):
            assert await opened.full_any([A, B, C], f"99999{n}") == []
        for code in (A, B, C):
            assert await opened.secret_locked(code) is True
        assert await opened.full_any([A, B, C], ID_DIGITS) == []  # locked: even the right one
        assert await opened.full_any([A, B, C], "999999") == []
        assert failures(db) == {"0001": 5, "0002": 5, "0003": 5}  # locked: no longer counted
        assert await opened.full(A, Proof(phone="0912345678")) is not None  # phone: unaffected
        clock.now += DAY_S
        assert len(await opened.full_any([A, B, C], ID_DIGITS)) == 3
        assert failures(db) == {}
    finally:
        await opened.close()


async def test_a_locked_dossier_is_skipped_while_the_others_still_prove(db: Path) -> None:
    await store_three(db)
    opened = await SqliteLookup.open(db, clock=Clock())
    try:
        for _ in range(5):
            assert await opened.full(A, WRONG_PIN) is None
        assert await opened.secret_locked(A) is True
        views = await opened.full_any([A, B, C], ID_DIGITS)
        assert [v.public.code for v in views] == [B, C]
        assert await opened.full_any([A, B, C], PINS[A]) == []  # A's PIN: A is locked
        assert failures(db) == {"0001": 5, "0002": 1, "0003": 1}  # A: neither counted nor cleared
        assert await opened.secret_locked(A) is True
    finally:
        await opened.close()


async def test_concurrent_attempts_at_several_dossiers_are_all_counted(db: Path) -> None:
    await store_three(db)
    clock = Clock()
    readers = [await SqliteLookup.open(db, clock=clock) for _ in range(3)]
    try:
        attempts = [
            readers[n % 3].full_any([A, B, C] if n % 2 else [C, B], f"{n:06d}")
            for n in range(100_000, 100_004)
        ]
        assert await asyncio.gather(*attempts, guess_at_a(readers[1])) == [[]] * 4 + [None]
        assert failures(db) == {"0001": 3, "0002": 4, "0003": 4}
        more = [readers[n % 3].full_any([A, B, C], f"{n:06d}") for n in range(200_000, 200_012)]
        assert await asyncio.gather(*more) == [[]] * 12
        assert failures(db) == {"0001": 5, "0002": 5, "0003": 5}
    finally:
        for opened in readers:
            await opened.close()


async def guess_at_a(opened: SqliteLookup) -> None:
    """A single-dossier guess racing the attempts at several: counted too."""
    assert await opened.full(A, WRONG_PIN) is None


async def test_full_any_without_a_writable_guard_proves_nothing(db: Path) -> None:
    await store_three(db)
    opened = await SqliteLookup.open(db)
    readonly = SqliteLookup(opened._db, {}, "", 5.0, guard=False)  # no counting of secrets
    try:
        assert await readonly.full_any([A, B, C], ID_DIGITS) == []
    finally:
        await opened.close()


async def test_unknown_code_is_never_locked(lookup: SqliteLookup) -> None:
    assert await lookup.secret_locked("000.00.18.H26-241129-0009") is False


async def test_a_missing_file_is_unavailable_unless_the_caller_may_create_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "typo" / "t.sqlite3"
    with pytest.raises(LookupUnavailable, match="does not exist: run `tracuu db init`"):
        await SqliteLookup.open(missing, create=False)
    assert not (tmp_path / "typo").exists()

    opened = await SqliteLookup.open(missing, create=True)
    await opened.close()
    assert missing.exists()
    assert "holds no dossiers" not in caplog.text  # just created: nothing to warn about


async def test_an_existing_file_without_dossiers_opens_with_a_warning(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await DossierStore.open(db)
    await store.close()
    opened = await SqliteLookup.open(db, create=False)
    try:
        assert await opened.by_code("000.00.18.H26-241129-0001") is None
    finally:
        await opened.close()
    warned = [r for r in caplog.records if "holds no dossiers" in r.getMessage()]
    assert [r.levelname for r in warned] == ["WARNING"]
    assert str(db) in warned[0].getMessage()

    caplog.clear()
    await store_all(db, dossier())
    opened = await SqliteLookup.open(db, create=False)
    await opened.close()
    assert "holds no dossiers" not in caplog.text
