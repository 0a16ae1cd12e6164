"""What a citizen reads: replies and policy (rate limit, opt-out, second factor).

Runs sms.responder.answer against a real SQLite dossier store with the demo's
fixed dossiers, and asserts the exact SMS text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from gateway.settings import OfficeSettings
from lookup import demo
from lookup.model import Changes, FullView, Procedure, PublicView
from lookup.port import LookupUnavailable, Proof
from lookup.sqlite import DossierStore, SqliteLookup
from prompts.catalog import load_catalog
from sms import codec, replies
from sms.outbox import Outbox, migrate_file
from sms.replies import ReplyContext
from sms.responder import answer
from sms.settings import SmsSettings

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
    named = "Kinh chao Ong/Ba Nguyen Thi Lan. " + READY_PUBLIC
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


class DownLookup:
    """A DossierLookup whose store is down (every query raises LookupUnavailable)."""

    async def by_code(self, code: str) -> PublicView | None:
        raise LookupUnavailable("down")

    async def by_keypad_digits(self, digits: str) -> list[PublicView]:
        raise LookupUnavailable("down")

    async def by_phone(self, phone: str) -> list[PublicView]:
        raise LookupUnavailable("down")

    async def full(self, code: str, proof: Proof) -> FullView | None:
        raise LookupUnavailable("down")

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        raise LookupUnavailable("down")

    async def procedure(self, procedure_code: str) -> Procedure | None:
        raise LookupUnavailable("down")

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]:
        raise LookupUnavailable("down")

    async def close(self) -> None:
        return None


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


LOCKED = (
    "Ma bi mat cua ho so nay da bi khoa do nhap sai nhieu lan. Vui long lien he Bo phan Mot cua."
)
WRONG = "Ma bi mat khong dung nen chi hien thi tinh trang ho so. " + READY_PUBLIC


async def test_wrong_secrets_until_locked_then_contact_the_office(
    world: tuple[SqliteLookup, Path],
) -> None:
    # SecretPolicy: the 5th wrong secret locks secret checks for this dossier.
    answers = [await ask(world, f"HS {CODE} MK 11111{i}") for i in range(5)]
    assert answers == [WRONG] * 4 + [LOCKED]
    assert await ask(world, f"HS {CODE} 739204") == LOCKED  # even the right one, now
    assert await ask(world, f"HS {CODE}") == READY_PUBLIC  # without a secret: public
    assert len(LOCKED) <= 160
    assert codec.fits_gsm(LOCKED)


async def test_secret_spellings_and_non_secrets(world: tuple[SqliteLookup, Path]) -> None:
    named = "Kinh chao Ong/Ba Nguyen Thi Lan. " + READY_PUBLIC
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
