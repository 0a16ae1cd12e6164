"""The SMPP link and pump against the test SMSC (smpp.pdu3) on loopback.

Each test scripts the SMSC's personality, drives traffic, and asserts in its
own body on what the SMSC recorded and what the outbox stored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernel.db import BlockingConnection
from sms.codec import gsm_encode
from sms.pdu import bind_refusal
from tests import stores
from tests.peers.smsc import CITIZEN, Personality, World, sms_world

CODE = "000.00.18.H26-241129-0001"
STRANGER = "84987000111"
PUBLIC_READY = (
    "Ho so 000.00.18.H26-241129-0001 da co ket qua. Moi Ong/Ba den nhan tai Bo phan Mot cua."
)


def states(world: World) -> dict[str, int]:
    outbox = world.outbox()
    try:
        return outbox.counts()
    finally:
        outbox.close()


async def until(world: World, predicate: Callable[[World], bool], timeout_s: float = 60.0) -> None:
    """Poll the database, bounded, until predicate(world) holds.

    Outbox rows change in the link thread, which signals nothing to the test:
    a short bounded poll is the honest way to wait for a committed state.
    """
    async with asyncio.timeout(timeout_s):
        while not predicate(world):
            await asyncio.sleep(0.01)


async def test_lookup_by_sms_replies_and_receipt_delivers(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        status = await world.smsc.deliver(STRANGER, f"HS {CODE}")
        await world.smsc.wait_submits(1)
        await until(world, lambda w: states(w) == {"delivered": 1})
    assert status == 0
    [reply] = world.smsc.record.submits
    assert reply.destination == STRANGER
    assert reply.source == "8088"
    assert reply.data_coding == 0
    assert reply.registered_delivery == 1
    assert reply.text == PUBLIC_READY
    assert len(PUBLIC_READY) <= 160
    assert world.smsc.record.binds == [("bind_transceiver", "tracuu")]
    assert world.smsc.record.unbinds_received == 1  # clean unbind on shutdown


async def test_registered_sender_gets_the_name_stranger_does_not(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        await world.smsc.deliver(CITIZEN, f"hs {CODE}")
        await world.smsc.deliver(STRANGER, f"HS {CODE} 000000")
        await world.smsc.wait_submits(2)
    assert world.smsc.record.texts_to(CITIZEN) == ["Nguyen Thi Lan: " + PUBLIC_READY]
    [stranger] = world.smsc.record.texts_to(STRANGER)
    assert "Nguyen" not in stranger
    assert stranger.startswith("Ma bi mat khong dung")


async def test_accented_reply_is_ucs2_nfc(tmp_path: Path) -> None:
    async with sms_world(tmp_path, sms={"accents": True}) as world:
        await world.smsc.deliver(STRANGER, f"Tra cứu {CODE}")  # arrives as UCS-2
        await world.smsc.wait_submits(1)
    parts = world.smsc.record.submits
    assert [p.data_coding for p in parts] == [8, 8, 8]
    [text] = world.smsc.record.texts_to(STRANGER)
    assert text == (
        "Hồ sơ 000.00.18.H26-241129-0001, thủ tục Đăng ký khai sinh, đã có kết quả."
        " Mời Ông/Bà đến nhận tại Bộ phận Một cửa."
        " Giờ làm việc: Thứ Hai đến Thứ Sáu, 7 giờ 30 đến 17 giờ."
    )
    assert unicodedata.is_normalized("NFC", text)


async def test_multipart_mo_8bit_16bit_and_sar(tmp_path: Path) -> None:
    first, second = gsm_encode("HS 000.00.18.H26-"), gsm_encode("241129-0001")
    udh8 = [bytes((5, 0, 3, 9, 2, seq)) for seq in (1, 2)]
    udh16 = [bytes((6, 8, 4, 1, 2, 2, seq)) for seq in (1, 2)]
    async with sms_world(tmp_path) as world:
        smsc = world.smsc
        # 8-bit reference, parts out of order; then a 16-bit reference.
        for number, header, body in (
            ("84900000001", udh8[1], second),
            ("84900000001", udh8[0], first),
            ("84900000002", udh16[0], first),
            ("84900000002", udh16[1], second),
        ):
            status = await smsc.deliver(
                number, short_message=header + body, data_coding=0, esm_class=0x40
            )
            assert status == 0
        # SAR TLVs.
        for seq, body in ((1, first), (2, second)):
            assert await smsc.deliver("84900000003", short_message=body, data_coding=0,
                                      sar_msg_ref_num=77, sar_total_segments=2,
                                      sar_segment_seqnum=seq) == 0  # fmt: skip
        await smsc.wait_submits(3)
    for number in ("84900000001", "84900000002", "84900000003"):
        assert smsc.record.texts_to(number) == [PUBLIC_READY]


async def test_message_payload_tlv(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        await world.smsc.deliver(STRANGER, short_message=b"", data_coding=1,
                                 message_payload=f"HS {CODE}".encode())  # fmt: skip
        await world.smsc.wait_submits(1)
    assert world.smsc.record.texts_to(STRANGER) == [PUBLIC_READY]


async def test_failed_receipt_with_decimal_id_marks_failed(tmp_path: Path) -> None:
    personality = Personality(receipts="failed", receipt_via="text", receipt_id_decimal=True)
    async with sms_world(tmp_path, personality) as world:
        await world.pump.send(STRANGER, "xin chao", kind="test")
        await until(world, lambda w: states(w) == {"failed": 1})
    outbox = world.outbox()
    [row] = outbox.recent()
    assert row.error == "UNDELIV err:000"


async def test_a_queued_message_is_written_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sms.outgoing import Outgoing

    threads: list[threading.Thread] = []
    enqueue = Outgoing.enqueue

    def spy(self: Outgoing, *args: Any, **kwargs: Any) -> int | None:
        threads.append(threading.current_thread())
        return enqueue(self, *args, **kwargs)

    monkeypatch.setattr(Outgoing, "enqueue", spy)
    async with sms_world(tmp_path) as world:
        await world.pump.send(STRANGER, "xin chao", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 1})
    assert threads
    assert threading.main_thread() not in threads  # the event loop's thread
    assert world.smsc.record.texts_to(STRANGER) == ["xin chao"]


async def test_long_reply_parts_each_receipted(tmp_path: Path) -> None:
    text = "Thong bao. " * 40  # 440 characters: 3 GSM parts
    async with sms_world(tmp_path) as world:
        message_id = await world.pump.send(STRANGER, text, kind="test")
        await until(world, lambda w: states(w) == {"delivered": 1})
    submits = world.smsc.record.submits
    assert [s.udh for s in submits] == [(message_id, 3, 1), (message_id, 3, 2), (message_id, 3, 3)]
    assert world.smsc.record.texts_to(STRANGER) == [text]


async def test_throttling_pauses_and_keeps_order(tmp_path: Path) -> None:
    personality = Personality(throttle_first=3)
    async with sms_world(tmp_path, personality, throttle_pause_s=0.05, window=1) as world:
        for i in range(6):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await world.smsc.wait_submits(6)
        await until(world, lambda w: states(w) == {"delivered": 6})
        throttled = world.pump.link.throttled if world.pump.link else 0
    assert world.smsc.record.throttled == 3
    assert throttled == 3
    assert world.smsc.record.texts_to(STRANGER) == [f"tin {i}" for i in range(6)]


async def test_window_bounds_outstanding_submits(tmp_path: Path) -> None:
    personality = Personality(submit_delay_s=0.05)
    async with sms_world(tmp_path, personality, window=4) as world:
        for i in range(20):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await world.smsc.wait_submits(20)
    assert world.smsc.record.max_outstanding == 4
    assert sorted(world.smsc.record.texts_to(STRANGER)) == sorted(f"tin {i}" for i in range(20))


async def test_permanent_error_fails_without_retry(tmp_path: Path) -> None:
    personality = Personality(reject_to=frozenset({STRANGER}))
    async with sms_world(tmp_path, personality) as world:
        await world.pump.send(STRANGER, "xin chao", kind="test")
        await until(world, lambda w: states(w) == {"failed": 1})
    assert world.smsc.submit_count == 1
    assert world.smsc.record.submits == []


async def test_smsc_unbind_is_answered_then_rebind(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        await world.smsc.wait_bound()
        await world.smsc.unbind()
        await world.smsc.wait_for(lambda: len(world.smsc.record.binds) == 2)
        await world.smsc.deliver(STRANGER, f"HS {CODE}")
        await world.smsc.wait_submits(1)
    assert world.smsc.record.unbind_resps_received == 1
    assert world.smsc.record.texts_to(STRANGER) == [PUBLIC_READY]


async def test_abrupt_disconnect_loses_nothing(tmp_path: Path) -> None:
    personality = Personality(drop_at=3)
    async with sms_world(tmp_path, personality, window=1) as world:
        for i in range(6):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 6})
    texts = world.smsc.record.texts_to(STRANGER)
    assert texts == [f"tin {i}" for i in range(6)]  # the dropped one was never accepted
    assert world.smsc.record.connections == 2


async def test_enquire_link_when_idle(tmp_path: Path) -> None:
    async with sms_world(tmp_path, enquire_link_s=0.05) as world:
        await world.smsc.wait_for(lambda: world.smsc.record.enquire_links >= 3)


# A store that refuses every incoming text, in each backend's own trigger language.
BREAK_INBOUND = {
    "sqlite": [
        "CREATE TRIGGER no_inbound BEFORE INSERT ON sms_inbound"
        " BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
        "CREATE TRIGGER no_inbound BEFORE INSERT ON sms_inbound"
        " FOR EACH ROW EXECUTE FUNCTION disk_full()",
    ],
}
MEND_INBOUND = {
    "sqlite": "DROP TRIGGER no_inbound",
    "postgresql": "DROP TRIGGER no_inbound ON sms_inbound",
}


async def test_store_failure_answers_retry_later(tmp_path: Path) -> None:
    backend = "postgresql" if stores.ON_POSTGRES else "sqlite"
    async with sms_world(tmp_path) as world:
        await world.smsc.wait_bound()
        for statement in BREAK_INBOUND[backend]:
            stores.execute(world.database, statement)
        refused = await world.smsc.deliver(STRANGER, f"HS {CODE}")
        stores.execute(world.database, MEND_INBOUND[backend])
        accepted = await world.smsc.deliver(STRANGER, f"HS {CODE}")  # the SMSC's retry
        await world.smsc.wait_submits(1)
    assert refused == 0x64  # ESME_RX_T_APPN
    assert accepted == 0
    assert world.smsc.record.texts_to(STRANGER) == [PUBLIC_READY]


async def test_temporary_errors_are_retried_then_given_up(tmp_path: Path) -> None:
    personality = Personality(syserr_first=2)
    async with sms_world(tmp_path, personality, retry_delay_s=0.01, max_attempts=3) as world:
        await world.pump.send(STRANGER, "lan 1", kind="test")  # refused twice, third try accepted
        await until(world, lambda w: states(w) == {"delivered": 1})
    assert world.smsc.submit_count == 3
    assert world.smsc.record.texts_to(STRANGER) == ["lan 1"]

    personality = Personality(syserr_first=10)
    async with sms_world(tmp_path / "b", personality, retry_delay_s=0.01, max_attempts=3) as world:
        await world.pump.send(STRANGER, "lan 2", kind="test")
        await until(world, lambda w: states(w) == {"failed": 1})
    assert world.smsc.submit_count == 3
    outbox = world.outbox()
    [row] = outbox.recent()
    outbox.close()
    assert row.error == "submit_sm_resp 0x8 after 3 attempt(s)"


async def test_incomplete_multipart_is_answered_after_the_timeout(tmp_path: Path) -> None:
    async with sms_world(tmp_path, sms={"reassembly_timeout_s": 0.2}) as world:
        header = bytes((5, 0, 3, 42, 2, 1))
        status = await world.smsc.deliver(
            STRANGER, short_message=header + gsm_encode("HS 000.00.18.H26-"), esm_class=0x40,
            data_coding=0,
        )  # fmt: skip
        await world.smsc.wait_for(lambda: bool(world.smsc.record.texts_to(STRANGER)))
    assert status == 0
    assert world.smsc.record.texts_to(STRANGER) == [
        "Ma so ho so chua day du. Ong/Ba vui long kiem tra lai ma so tren giay hen tra ket qua."
    ]
    assert stores.rows(world.database, "SELECT body, complete FROM sms_inbound") == [
        ("HS 000.00.18.H26-", 0)
    ]


async def test_receipt_before_submit_resp_is_kept_and_applied(tmp_path: Path) -> None:
    personality = Personality(receipt_before_resp=True, receipt_id_decimal=True)
    async with sms_world(tmp_path, personality) as world:
        for i in range(3):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 3})
    assert stores.rows(world.database, "SELECT COUNT(*) FROM sms_orphan_receipt") == [(0,)]


async def test_expired_receipt_marks_expired(tmp_path: Path) -> None:
    async with sms_world(tmp_path, Personality(receipts="expired", receipt_via="tlv")) as world:
        await world.pump.send(STRANGER, "xin chao", kind="test")
        await until(world, lambda w: states(w) == {"expired": 1})


async def test_unanswered_enquire_link_means_a_dead_link(tmp_path: Path) -> None:
    personality = Personality(answer_enquire_link=False)
    async with sms_world(
        tmp_path, personality, enquire_link_s=0.05, response_timeout_s=0.2
    ) as world:
        await world.smsc.wait_for(lambda: world.smsc.record.connections >= 2)
        await world.smsc.wait_bound()
        await world.smsc.deliver(STRANGER, f"HS {CODE}")  # the new bind works
        await world.smsc.wait_submits(1)
    assert world.smsc.record.texts_to(STRANGER) == [PUBLIC_READY]


async def test_bench_smsc_fast_encoding_still_delivers(tmp_path: Path) -> None:
    """The benchmark's SMSC packs its responses by hand: same outcome as pdu3's."""
    async with sms_world(tmp_path, Personality(fast_encoding=True), window=5) as world:
        for i in range(12):
            await world.pump.send(STRANGER, f"tin {i}", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 12})
    assert world.smsc.record.texts_to(STRANGER) == [f"tin {i}" for i in range(12)]


@pytest.mark.parametrize(
    ("status", "said"),
    [
        (0x0E, "wrong system_id/password (ESME_RINVPASWD)"),
        (0x0F, "wrong system_id/password (ESME_RINVSYSID)"),
        (0x05, "already bound (another session uses this system_id) (ESME_RALYBND)"),
        (0x58, "ESME_RTHROTTLED"),
        (0x4242, "status 0x4242"),
    ],
)
def test_bind_refusal_is_said_for_an_operator(status: int, said: str) -> None:
    assert bind_refusal(status) == said


async def test_the_link_logs_under_one_stable_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not smpplib's smpp.Client.<object id>: one name to filter on, and at any level
    no password, full number or message text."""
    caplog.set_level(logging.DEBUG)
    async with sms_world(tmp_path) as world:
        await world.pump.send(STRANGER, "xin chao ban", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 1})
    from_link = [r for r in caplog.records if r.threadName.startswith("smpp-link 127.0.0.1:")]
    assert {r.name for r in from_link} == {"sms.link"}
    said = "\n".join(r.getMessage() for r in from_link)
    assert "smpp bound to 127.0.0.1" in said
    assert "smpp disconnected from 127.0.0.1" in said
    assert not [r for r in caplog.records if r.name.startswith("smpp")]
    for secret in (STRANGER, "xin chao ban", "secret-pw"):
        assert secret not in caplog.text


async def test_a_link_behind_its_database_does_not_resend_answered_parts(tmp_path: Path) -> None:
    """The province bench (one gateway, PostgreSQL, a loaded machine) saw 46 parts sent
    twice: the link, stuck on its database, found a part sent longer ago than
    response_timeout_s, called the SMSC dead and resent it, while the SMSC's answer
    sat unread in the link's own socket. A late answer already received is no outage."""
    personality = Personality(submit_delay_s=0.6)  # the first answer comes after 0.6 s
    response_timeout_s = 3.0
    async with sms_world(tmp_path, personality, response_timeout_s=response_timeout_s) as world:
        outbox = world.outbox()
        try:  # the second message falls due while the first is unanswered
            outbox.enqueue(STRANGER, "tin 2", kind="test", accents=False, now=time.time(),
                           not_before=time.time() + 0.3)  # fmt: skip
            outbox.commit()
        finally:
            outbox.close()
        await world.pump.send(STRANGER, "tin 1", kind="test")
        await world.smsc.wait_for(lambda: world.smsc.submit_count >= 1)
        held = threading.Event()

        def hold_the_write_lock() -> None:
            # The link's claim of "tin 2" waits for this lock, past the response
            # timeout of "tin 1", whose answer arrives meanwhile. SQLite: the database's
            # one write lock; PostgreSQL: the parts table's, against every writer.
            conn = BlockingConnection.open(world.database)
            try:
                conn.begin()
                if stores.ON_POSTGRES:
                    conn.execute("LOCK TABLE sms_part IN EXCLUSIVE MODE")
                held.set()
                # Held until the SMSC has answered "tin 1" and the response timeout is
                # over after that: by then the answer waits in the link's socket and the
                # part is overdue, however late the machine let each side run.
                for _ in range(6000):
                    if world.smsc.record.submits:
                        break
                    time.sleep(0.01)
                time.sleep(response_timeout_s + 0.5)
                conn.commit()
            finally:
                conn.close()

        async with asyncio.timeout(120):
            await asyncio.to_thread(hold_the_write_lock)
            await until(world, lambda w: states(w) == {"delivered": 2}, timeout_s=60)
    assert held.is_set()
    assert sorted(world.smsc.record.texts_to(STRANGER)) == ["tin 1", "tin 2"]  # each once
    assert world.smsc.record.connections == 1  # the link was never called dead
