"""What a citizen reads: replies and policy (rate limit, opt-out, second factor).

Runs sms.responder.answer against a real SQLite dossier store with the demo's
fixed dossiers, and asserts the exact SMS text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import pytest

from kernel.office import OfficeSettings
from lookup import demo
from lookup.model import FullView, Procedure, PublicView, Status
from lookup.sqlite import DossierStore, SqliteLookup
from prompts.catalog import load_catalog
from sms import codec, replies
from sms.outbox import Outbox, migrate_file
from sms.replies import ReplyContext
from sms.responder import answer
from sms.settings import SmsSettings
from tests.peers.lookup import DownLookup

TODAY = date.today()
CATALOG = load_catalog()
CODE = "000.00.18.H26-241129-0001"
OWNER = "84912345678"
STRANGER = "84987000111"


def ctx(accents: bool = False) -> ReplyContext:
    return ReplyContext(catalog=CATALOG, office=OfficeSettings(), today=TODAY, accents=accents)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[SqliteLookup, Path]]:
    database = tmp_path / "r.sqlite3"
    store = await DossierStore.open(database)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.upsert_procedures(demo.procedures())
    await store.close()
    await migrate_file(database)
    lookup = await SqliteLookup.open(database, collection_place="Bộ phận Một cửa")
    yield lookup, database
    await lookup.close()


async def ask(world: tuple[SqliteLookup, Path], text: str, *, sender: str = STRANGER,
              accents: bool = False, **limits: int) -> str:  # fmt: skip
    lookup, database = world
    outbox = Outbox.open(database)
    try:
        result = await answer(
            text, sender, lookup=lookup, outbox=outbox, ctx=ctx(accents),
            settings=SmsSettings(**limits), now=time.time(),
        )  # fmt: skip
        outbox.commit()
        return result.text
    finally:
        outbox.close()


READY_PUBLIC = f"Ho so {CODE} da co ket qua. Moi Ong/Ba den nhan tai Bo phan Mot cua."


async def test_code_only_answer_is_public(world: tuple[SqliteLookup, Path]) -> None:
    assert await ask(world, f"HS {CODE}") == READY_PUBLIC


async def test_owner_phone_or_secret_unlocks_the_name(world: tuple[SqliteLookup, Path]) -> None:
    named = "Nguyen Thi Lan: " + READY_PUBLIC
    assert await ask(world, f"HS {CODE}", sender=OWNER) == named
    assert await ask(world, f"HS {CODE} 739204") == named  # receipt PIN
    assert await ask(world, f"HS {CODE} 999999") == (
        "Ma bi mat khong dung nen chi hien thi tinh trang ho so. " + READY_PUBLIC
    )


async def test_no_personal_data_without_second_factor(world: tuple[SqliteLookup, Path]) -> None:
    for dossier in demo.fixed_dossiers(TODAY):
        text = await ask(world, f"HS {dossier.code}")
        assert dossier.code in text
        personal = [dossier.applicant_name, dossier.applicant_id_number, "Hang Bai", "0912345678"]
        assert not any(codec.unaccent(p) in text for p in personal), text
        assert not any(p in text for p in personal), text


async def test_other_answers_exact(world: tuple[SqliteLookup, Path]) -> None:
    syntax = "De tra cuu ho so, soan tin: HS <ma ho so> gui 8088. Vi du: HS " + CODE + "."
    assert await ask(world, "HD") == syntax
    assert await ask(world, "xin chao") == "Tin nhan chua dung cu phap. " + syntax
    assert await ask(world, "HS 000.00.18.H26-241129-0099") == (
        "Khong tim thay ho so 000.00.18.H26-241129-0099."
        " Ong/Ba vui long kiem tra lai ma so tren giay hen tra ket qua."
    )
    assert (await ask(world, "HS 123")).startswith("Ma so ho so chua day du.")
    assert await ask(world, "TT 9.999999") == (
        "Khong tim thay thu tuc 9.999999."
        " De xem huong dan thu tuc, soan TT va ma hoac ten thu tuc. Vi du: TT khai sinh."
    )
    procedure = demo.procedures()[0]
    guidance = await ask(world, f"TT {procedure.code}")
    assert guidance.startswith("Thu tuc Dang ky khai sinh.")


TT_SYNTAX = "De xem huong dan thu tuc, soan TT va ma hoac ten thu tuc. Vi du: TT khai sinh."


async def test_tt_alone_gets_the_tt_syntax(world: tuple[SqliteLookup, Path]) -> None:
    assert await ask(world, "TT") == TT_SYNTAX
    assert await ask(world, "thủ tục:") == TT_SYNTAX


@pytest.mark.parametrize(
    "text", ["TT khai sinh", "tt Khai Sinh", "Thủ tục khai sinh", "TT KHAI SINH."]
)
async def test_tt_name_with_one_match_gets_its_guidance(
    world: tuple[SqliteLookup, Path], text: str
) -> None:
    assert await ask(world, text) == await ask(world, "TT 1.001193")
    assert (await ask(world, text)).startswith("Thu tuc Dang ky khai sinh.")


async def test_tt_name_with_several_matches_lists_codes_in_one_segment(
    world: tuple[SqliteLookup, Path],
) -> None:
    # Common procedures first (by code), at most three; full names while they fit.
    text = await ask(world, "TT đăng ký")
    assert text == (
        "Co nhieu thu tuc phu hop: 1.000894 Dang ky ket hon; 1.001193 Dang ky khai sinh;"
        " 1.000656 Dang ky khai tu. Soan TT va ma thu tuc de xem huong dan."
    )
    assert codec.part_count(text, accents=False) == 1
    assert await ask(world, "TT chung thuc") == (
        # The full names are 163 characters: the typed words are dropped.
        "Co nhieu thu tuc phu hop: 2.000815 ban sao tu ban chinh;"
        " 2.000884 chu ky trong cac giay to, van ban."
        " Soan TT va ma thu tuc de xem huong dan."
    )


def test_tt_long_names_are_shortened_to_one_segment() -> None:
    long = [
        Procedure("1.000001", "Cấp giấy chứng nhận quyền sử dụng đất lần đầu cho hộ gia đình"),
        Procedure("1.000002", "Cấp đổi giấy chứng nhận quyền sử dụng đất do bị hư hỏng, rách nát"),
        Procedure("1.000003", "Cấp lại giấy chứng nhận quyền sử dụng đất do bị mất"),
    ]
    # The typed words go first, then the names are cut to the same number of words.
    assert replies.procedure_choices_reply(long, "giay chung nhan", ctx()) == (
        "Co nhieu thu tuc phu hop: 1.000001 Cap quyen su dung; 1.000002 Cap doi quyen su;"
        " 1.000003 Cap lai quyen su. Soan TT va ma thu tuc de xem huong dan."
    )


async def test_tt_several_matches_accented_fit_two_ucs2_segments(
    world: tuple[SqliteLookup, Path],
) -> None:
    text = await ask(world, "TT đăng ký", accents=True)
    assert text == (
        "Có nhiều thủ tục phù hợp: 1.000894 kết hôn; 1.001193 khai sinh; 1.000656 khai tử."
        " Soạn TT và mã thủ tục để xem hướng dẫn."
    )
    assert codec.part_count(text, accents=True) == 2  # the fixed words alone exceed 70


async def test_tt_name_with_no_match_gets_the_syntax(world: tuple[SqliteLookup, Path]) -> None:
    assert await ask(world, "TT ho chieu") == "Khong tim thay thu tuc ho chieu. " + TT_SYNTAX


async def test_accented_reply_is_nfc_ucs2(world: tuple[SqliteLookup, Path]) -> None:
    text = await ask(world, f"HS {CODE}", accents=True)
    assert text.startswith(f"Hồ sơ {CODE}, thủ tục Đăng ký khai sinh, đã có kết quả.")
    assert codec.choose_coding(text, accents=True) == (text, True)


async def test_rate_limit_survives_restart(world: tuple[SqliteLookup, Path]) -> None:
    for _ in range(3):
        assert await ask(world, f"HS {CODE}", lookups_per_hour=3) == READY_PUBLIC
    refusal = (
        "So dien thoai nay da tra cuu qua nhieu lan."
        " Vui long thu lai sau hoac lien he Bo phan Mot cua."
    )
    assert await ask(world, f"HS {CODE}", lookups_per_hour=3) == refusal
    assert await ask(world, "HS 1", lookups_per_hour=3) == ""  # refused again: no reply this hour
    assert await ask(world, "HD", lookups_per_hour=3) == ""  # every reply kind counts (QA M5)
    assert await ask(world, f"HS {CODE}", sender=OWNER, lookups_per_hour=3) != refusal  # per sender
    # `ask` opens a new connection each time: the count lives in the database.


async def test_opt_out_and_in_persist_and_cancel_queued(world: tuple[SqliteLookup, Path]) -> None:
    _, database = world
    outbox = Outbox.open(database)
    outbox.enqueue(OWNER, "nhac", kind="reminder", accents=False, now=1.0)
    outbox.commit()
    outbox.close()
    assert await ask(world, "TU CHOI", sender=OWNER) == (
        "Ong/Ba da ngung nhan tin nhan nhac ve ho so. De nhan lai, soan DK gui 8088."
    )
    outbox = Outbox.open(database)
    assert outbox.opted_out(OWNER)
    [reminder] = outbox.recent()
    assert (reminder.state, reminder.error) == ("failed", "opted out")
    outbox.close()
    assert await ask(world, "dk", sender=OWNER) == "Ong/Ba se nhan lai tin nhan nhac ve ho so."
    outbox = Outbox.open(database)
    assert not outbox.opted_out(OWNER)
    outbox.close()


async def test_store_down_gives_busy_reply(world: tuple[SqliteLookup, Path],
                                           caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    _, database = world
    outbox = Outbox.open(database)
    caplog.set_level(logging.INFO)
    result = await answer(
        f"HS {CODE}", STRANGER, lookup=DownLookup(), outbox=outbox, ctx=ctx(),
        settings=SmsSettings(), now=time.time(),
    )  # fmt: skip
    outbox.close()
    assert result.text == codec.unaccent(CATALOG["system_busy"].written)
    assert STRANGER not in caplog.text
    assert "down" not in result.text


def test_fit_cuts_long_text_to_max_parts() -> None:
    long = "Giay to: " + "; ".join(f"ban sao so {i}" for i in range(200))
    cut = replies.fit(long, accents=False, max_parts=2)
    assert cut.endswith("...")
    assert len(codec.split_text(cut, codec.DC_GSM)) == 2
    assert replies.fit("ngan", accents=False, max_parts=1) == "ngan"


def test_any_text_gets_a_sendable_reply(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Property: whatever a citizen sends, answer() returns a non-empty GSM-7 reply
    of at most max_parts segments, and never raises."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    loop = asyncio.new_event_loop()
    database = tmp_path_factory.mktemp("prop") / "p.sqlite3"

    async def setup() -> SqliteLookup:
        store = await DossierStore.open(database)
        await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
        await store.close()
        await migrate_file(database)
        return await SqliteLookup.open(database)

    lookup = loop.run_until_complete(setup())
    outbox = Outbox.open(database)
    texts = st.one_of(
        st.text(max_size=300),
        st.builds(
            lambda k, c: f"{k} {c}",
            st.sampled_from(["HS", "TT", "tra cứu", ""]),
            st.text(alphabet="0123456789.-HhAG ", max_size=40),
        ),
    )

    @settings(max_examples=300, deadline=None)
    @given(texts)
    def check(text: str) -> None:
        result = loop.run_until_complete(
            answer(
                text,
                STRANGER,
                lookup=lookup,
                outbox=outbox,
                ctx=ctx(),
                settings=SmsSettings(lookups_per_hour=10**6, lookups_per_day=10**6),
                now=time.time(),
                record=False,
            )
        )
        assert result.text.strip()
        assert codec.fits_gsm(result.text)
        assert len(codec.split_text(result.text, codec.DC_GSM)) <= 4

    try:
        check()
    finally:
        outbox.close()
        loop.run_until_complete(lookup.close())
        loop.close()


LOCKED = "Ma bi mat tam bi khoa do nhap sai nhieu lan. " + READY_PUBLIC
WRONG = "Ma bi mat khong dung nen chi hien thi tinh trang ho so. " + READY_PUBLIC


async def test_wrong_secrets_lock_only_the_guesser_and_never_hide_the_status(
    world: tuple[SqliteLookup, Path],
) -> None:
    # Issue 12: the 5th wrong secret locks THIS sender's secret checks for this dossier;
    # the reply keeps the public status (the code alone gives it to anyone), and the
    # owner texting the right PIN from another phone is not locked out.
    answers = [await ask(world, f"HS {CODE} MK 11111{i}") for i in range(5)]
    assert answers == [WRONG] * 4 + [LOCKED]
    assert await ask(world, f"HS {CODE} 739204") == LOCKED  # even the right one, now
    assert await ask(world, f"HS {CODE}") == READY_PUBLIC  # without a secret: public
    other_phone = "84936000222"
    assert await ask(world, f"HS {CODE} 739204", sender=other_phone) == (
        "Nguyen Thi Lan: " + READY_PUBLIC
    )
    assert codec.part_count(LOCKED, accents=False) == 1
    assert codec.fits_gsm(LOCKED)
    lookup, _ = world
    assert await lookup.secret_locked(CODE, guesser="+" + STRANGER) is True
    assert await lookup.secret_locked(CODE, guesser="+" + other_phone) is False
    assert await lookup.secret_locked(CODE) is False  # voice's shared count: untouched


async def test_secret_spellings_and_non_secrets(world: tuple[SqliteLookup, Path]) -> None:
    named = "Nguyen Thi Lan: " + READY_PUBLIC
    for text in (f"HS {CODE} MK 739204", f"HS {CODE} mã bí mật 739204", f"HS {CODE},739204",
                 f"hs ma so {CODE} 739204"):  # fmt: skip
        assert await ask(world, text) == named, text
    assert await ask(world, f"HS {CODE} 45") == READY_PUBLIC  # never "not found <code> 45"


async def test_two_codes_answer_the_first_and_say_so(world: tuple[SqliteLookup, Path]) -> None:
    text = await ask(world, f"HS {CODE} 000.00.18.H26-241129-0002")
    assert text == READY_PUBLIC + " Moi tin nhan chi tra cuu duoc mot ma ho so."
    assert codec.part_count(text, accents=False) == 1


async def test_date_and_sequence_without_agency(world: tuple[SqliteLookup, Path]) -> None:
    # Two demo agencies have a 241129-0001: both codes, nothing else about either.
    assert await ask(world, "HS 241129-0001") == (
        "Co nhieu ho so trung ngay va so thu tu nay: 000.00.18.H26-241129-0001,"
        " 000.00.19.H26-241129-0001. Vui long soan tin voi ma so ho so day du."
    )
    assert (await ask(world, "HS 241129-0002")).startswith(
        "Ho so 000.00.18.H26-241129-0002"
    )  # one match: its answer
    assert await ask(world, "HS 241129-0099") == (
        "Khong tim thay ho so 241129-0099."
        " Ong/Ba vui long kiem tra lai ma so tren giay hen tra ket qua."
    )


async def test_not_understood_once_then_quiet(world: tuple[SqliteLookup, Path]) -> None:
    first = await ask(world, "Auto-reply: I am out of office")
    assert first.startswith("Tin nhan chua dung cu phap.")
    assert await ask(world, "Auto-reply: I am out of office") == ""  # no ping-pong
    assert (await ask(world, "HD")).startswith("De tra cuu ho so")  # help still answered


# ---------------------------------------------------------------- one segment (QA item 2)

LONG_NAME = "Tôn Thất Nguyễn Hoàng Minh Khuê"
LONG_PLACE = (
    "Quầy số 3, Bộ phận tiếp nhận và trả kết quả, Ủy ban nhân dân quận Hoàn Kiếm, thành phố Hà Nội"
)
HUGE_PLACE = (
    "Quầy số 12 tầng 2, Trung tâm Phục vụ hành chính công tỉnh Thừa Thiên Huế,"
    " số 1 Lê Lai, phường Vĩnh Ninh, thành phố Huế, tỉnh Thừa Thiên Huế"
)
FIXED_TODAY = date(2024, 12, 2)
FIXED_CODE = "000.00.18.H26-241129-0001"


def a_view(status: Status, **changes: object) -> PublicView:
    base = PublicView(
        code=FIXED_CODE, agency_id="000.00.18.H26", agency_name="UBND phường Cửa Nam",
        procedure_code="1.001193", procedure_name="Đăng ký khai sinh", status=status,
        status_at=datetime(2024, 12, 1, 9, 30), received_on=date(2024, 11, 29),
        due_on=date(2024, 12, 5), rescheduled_on=None, ready_on=date(2024, 12, 1),
        collection_place="",
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def fixed_ctx(accents: bool = False, place: str = "Bộ phận Một cửa") -> ReplyContext:
    office = OfficeSettings(collection_place=place)
    return ReplyContext(catalog=CATALOG, office=office, today=FIXED_TODAY, accents=accents)


def test_named_answer_greets_once_by_name() -> None:
    text = replies.full_reply(FullView(a_view(Status.READY), "Nguyễn Văn An", ()), fixed_ctx())
    assert text == (
        f"Nguyen Van An: Ho so {FIXED_CODE} da co ket qua. Moi Ong/Ba den nhan tai Bo phan Mot cua."
    )
    assert text.count("Ong/Ba") == 1


def test_long_name_and_new_date_fit_one_segment() -> None:
    # "Kinh chao Ong/Ba <name>. …" was 167 characters: two parts.
    view = a_view(Status.PROCESSING, rescheduled_on=date(2024, 12, 12))
    text = replies.full_reply(FullView(view, LONG_NAME, ()), fixed_ctx())
    assert text == (
        f"Ton That Nguyen Hoang Minh Khue: Ho so {FIXED_CODE} dang duoc giai quyet."
        " Hen tra ket qua moi ngay 12/12/2024. Thanh that xin loi Ong/Ba."
    )
    assert codec.part_count(text, accents=False) == 1


def test_long_name_on_a_late_dossier_drops_the_greeting_not_the_date() -> None:
    view = a_view(Status.PROCESSING, due_on=date(2024, 11, 30))
    text = replies.full_reply(FullView(view, LONG_NAME, ()), fixed_ctx())
    assert text == (
        f"Ho so {FIXED_CODE} dang duoc giai quyet. Hen tra ket qua ngay 30/11/2024,"
        " nay da qua han. Thanh that xin loi Ong/Ba."
    )


def test_long_name_with_a_short_answer_keeps_the_greeting() -> None:
    view = a_view(Status.PROCESSING)
    text = replies.full_reply(FullView(view, LONG_NAME, ()), fixed_ctx())
    assert text == (
        f"Ton That Nguyen Hoang Minh Khue: Ho so {FIXED_CODE} dang duoc giai quyet."
        " Hen tra ket qua ngay 05/12/2024."
    )


def test_long_place_is_abbreviated_to_fit_one_segment() -> None:
    view = a_view(Status.READY, collection_place=LONG_PLACE)
    expected = (
        f"Ho so {FIXED_CODE} da co ket qua."
        " Moi Ong/Ba den nhan tai Quay so 3, BP TN&TKQ, UBND Q. Hoan Kiem, TP Ha Noi."
    )
    assert replies.full_reply(FullView(view, LONG_NAME, ()), fixed_ctx()) == expected
    assert replies.status_reply(view, fixed_ctx()) == expected  # as written: 185 characters
    # The office's own place is abbreviated the same way.
    office_place = fixed_ctx(place=LONG_PLACE)
    assert replies.full_reply(FullView(a_view(Status.READY), LONG_NAME, ()), office_place) == (
        expected
    )


def test_a_place_too_long_even_abbreviated_is_cut_at_a_word() -> None:
    view = a_view(Status.READY, collection_place=HUGE_PLACE)
    text = replies.full_reply(FullView(view, LONG_NAME, ()), fixed_ctx())
    assert text == (
        f"Ho so {FIXED_CODE} da co ket qua."
        " Moi Ong/Ba den nhan tai Quay so 12 tang 2, TT PVHCC tinh Thua Thien Hue, so 1 Le..."
    )
    assert codec.part_count(text, accents=False) == 1


def test_wrong_secret_notice_shortens_before_the_place() -> None:
    view = a_view(Status.READY, collection_place=LONG_PLACE)
    assert replies.secret_wrong_reply(view, fixed_ctx()) == (
        f"Ma bi mat khong dung. Ho so {FIXED_CODE} da co ket qua."
        " Moi Ong/Ba den nhan tai Quay so 3, BP TN&TKQ, UBND Q. Hoan Kiem, TP Ha Noi."
    )
    overdue = a_view(Status.PROCESSING, due_on=date(2024, 11, 30))
    assert replies.secret_wrong_reply(overdue, fixed_ctx()) == (
        f"Ma bi mat khong dung. Ho so {FIXED_CODE} dang duoc giai quyet."
        " Hen tra ket qua ngay 30/11/2024, nay da qua han. Thanh that xin loi Ong/Ba."
    )


@pytest.mark.parametrize(
    "place", ["", "Bộ phận Một cửa UBND phường Cửa Nam", LONG_PLACE, HUGE_PLACE]
)
@pytest.mark.parametrize("status", list(Status))
def test_every_named_unaccented_answer_fits_one_segment(status: Status, place: str) -> None:
    for rescheduled in (None, date(2024, 12, 12)):
        for today in (FIXED_TODAY, date(2024, 12, 20)):
            view = a_view(status, collection_place=place, rescheduled_on=rescheduled)
            context = dataclasses.replace(fixed_ctx(), today=today)
            full = replies.full_reply(FullView(view, LONG_NAME, ()), context)
            wrong = replies.secret_wrong_reply(view, context, fee="1.500.000 đồng")
            for text in (full, wrong):
                assert codec.part_count(text, accents=False) == 1, (len(text), text)
                assert FIXED_CODE in text
                if status in (Status.RECEIVED, Status.PROCESSING):
                    assert f"{view.effective_due:%d/%m/%Y}" in text, text


def test_ucs2_named_answer_stays_within_max_parts_uncut() -> None:
    view = a_view(Status.READY, collection_place=HUGE_PLACE)
    context = dataclasses.replace(fixed_ctx(accents=True), max_parts=3)
    text = replies.full_reply(FullView(view, LONG_NAME, ()), context)
    assert codec.part_count(text, accents=True) <= 3
    assert not text.endswith("...")
    assert "đã có kết quả" in text
    greeted = replies.full_reply(FullView(a_view(Status.READY), "Nguyễn Văn An", ()), context)
    assert greeted.startswith(f"Nguyễn Văn An: Hồ sơ {FIXED_CODE}, thủ tục Đăng ký khai sinh,")
