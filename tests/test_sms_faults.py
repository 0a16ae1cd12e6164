"""The SMPP link against an SMSC that misbehaves (QA H1, H3, M1, L9, L10, L11).

Each test scripts the test SMSC (smpp.pdu3) or sends it raw bytes, then asserts in
its own body what the SMSC received back, what the outbox stored and what the
citizen got. Waits are bounded (TestSmsc.wait_for, `until`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from sms.dispatch import Batch, Dispatcher
from sms.link import SmppLink
from sms.outbox import migrate_file
from sms.pdu import Pdu
from tests import stores
from tests.peers.smsc import Personality, World, smpp_settings, sms_world
from tests.test_sms_link import CODE, PUBLIC_READY, STRANGER, states, until

SEQ = 9000  # sequence numbers the tests give their raw PDUs


def raw(command_id: int, body: bytes = b"", sequence: int = SEQ, status: int = 0) -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


def deliver_body(source: bytes, text: bytes, *, ton: int = 1, esm_class: int = 0) -> bytes:
    return (
        b"\0" + bytes((ton, 1)) + source + b"\0" + b"\x00\x00" + b"8088\0"
        + bytes((esm_class, 0, 0)) + b"\0\0" + b"\x00\x00" + b"\x00\x00"
        + bytes((len(text),)) + text
    )  # fmt: skip


def inbound(world: World) -> list[tuple[str, str]]:
    return stores.rows(world.database, "SELECT msisdn, body FROM sms_inbound ORDER BY id")


async def test_unknown_command_gets_generic_nack_and_the_link_goes_on(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        smsc = world.smsc
        # An SMPP 5 / vendor request the gateway does not know, then a known response
        # id with a body it never asked for: nacked / ignored, and nothing else changes.
        status = await smsc.send_raw(raw(0x00000111, b"vendor"), answer_to=SEQ)
        await smsc.send_raw(raw(0x80000103, b"x\0", sequence=SEQ + 1))
        reply = await smsc.deliver(STRANGER, f"HS {CODE}")
        await smsc.wait_submits(1)
        alive = world.pump.link is not None and world.pump.link.alive
    assert status == 0x03  # ESME_RINVCMDID
    assert smsc.record.generic_nacks == [(SEQ, 0x03)]
    assert reply == 0
    assert smsc.record.texts_to(STRANGER) == [PUBLIC_READY]
    assert smsc.record.connections == 1
    assert alive


async def test_command_length_under_16_reconnects(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        smsc = world.smsc
        await smsc.send_raw(struct.pack(">LL", 8, 0x15))
        await smsc.wait_for(lambda: len(smsc.record.binds) == 2)
        assert await smsc.deliver(STRANGER, f"HS {CODE}") == 0
        await smsc.wait_submits(1)
        alive = world.pump.link is not None and world.pump.link.alive
    assert smsc.record.connections == 2
    assert smsc.record.texts_to(STRANGER) == [PUBLIC_READY]
    assert alive


async def test_huge_command_length_reconnects(tmp_path: Path) -> None:
    async with sms_world(tmp_path) as world:
        smsc = world.smsc
        await smsc.send_raw(struct.pack(">LLLL", 0x7FFFFFFF, 5, 0, SEQ))
        await smsc.wait_for(lambda: len(smsc.record.binds) == 2)
        assert await smsc.deliver(STRANGER, f"HS {CODE}") == 0
        await smsc.wait_submits(1)
    assert smsc.record.texts_to(STRANGER) == [PUBLIC_READY]


async def test_truncated_payload_tlv_is_rejected_not_half_read(tmp_path: Path) -> None:
    body = deliver_body(b"84987000222", b"HS 1") + struct.pack(">HH", 0x0424, 50) + b"ab"
    async with sms_world(tmp_path) as world:
        smsc = world.smsc
        status = await smsc.send_raw(raw(0x00000005, body), answer_to=SEQ)
        cut = deliver_body(b"84987000222", b"HS 1")[:-3]  # sm_length runs past the PDU
        cut_status = await smsc.send_raw(raw(0x00000005, cut, SEQ + 1), answer_to=SEQ + 1)
        assert await smsc.deliver(STRANGER, f"HS {CODE}") == 0
        await smsc.wait_submits(1)
    assert status == 0xC0  # ESME_RINVOPTPARSTREAM, in deliver_sm_resp
    assert cut_status == 0x02  # ESME_RINVCMDLEN
    assert ("deliver_sm_resp", SEQ, 0xC0) in smsc.record.responses
    assert inbound(world) == [(STRANGER, f"HS {CODE}")]  # nothing from the broken ones
    assert smsc.record.texts_to(STRANGER) == [PUBLIC_READY]
    assert smsc.record.connections == 1


@pytest.mark.parametrize("esm_class", [0x08, 0x10, 0x18, 0x20])
async def test_non_mo_esm_classes_are_acknowledged_not_answered(
    tmp_path: Path, esm_class: int
) -> None:
    body = deliver_body(b"84987000222", f"HS {CODE}".encode(), esm_class=esm_class)
    async with sms_world(tmp_path) as world:
        status = await world.smsc.send_raw(raw(0x00000005, body), answer_to=SEQ)
        assert await world.smsc.deliver(STRANGER, f"HS {CODE}") == 0  # a real one after
        await world.smsc.wait_submits(1)
    assert status == 0
    assert inbound(world) == [(STRANGER, f"HS {CODE}")]
    assert [s.destination for s in world.smsc.record.submits] == [STRANGER]


async def test_deliver_before_bind_resp_is_stored_then_acknowledged(tmp_path: Path) -> None:
    personality = Personality(before_bind_resp=("enquire", "deliver"))
    async with sms_world(tmp_path, personality) as world:
        smsc = world.smsc
        await smsc.wait_submits(1)
        await until(world, lambda w: states(w) == {"delivered": 1})
    assert smsc.record.binds == [("bind_transceiver", "tracuu")]  # bound at the first try
    assert smsc.record.connections == 1
    assert ("enquire_link_resp", 1, 0) in smsc.record.responses
    assert ("deliver_sm_resp", 2, 0) in smsc.record.responses
    assert inbound(world) == [("84900000009", f"HS {CODE}")]
    assert smsc.record.texts_to("84900000009") == [PUBLIC_READY]


async def test_refused_bind_is_not_taken_for_bound(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sms.link")
    personality = Personality(password="right-pw", before_bind_resp=("enquire",))
    async with sms_world(tmp_path, personality) as world:
        smsc = world.smsc
        await smsc.wait_for(lambda: len(smsc.record.binds) >= 2)
        link = world.pump.link
        assert link is not None
        state = link.state
    assert state != "up"
    assert not smsc.bound
    assert ("enquire_link_resp", 1, 0) in smsc.record.responses  # answered meanwhile
    assert "smpp bound" not in caplog.text
    assert "bind refused by 127.0.0.1" in caplog.text
    assert "RINVPASWD" in caplog.text
    assert "secret-pw" not in caplog.text  # the password the gateway sent


@pytest.mark.parametrize(
    ("style", "decimal", "via"),
    [
        ("hex0", True, "text"),  # 00000000 1A2B0000 -> id:439025664
        ("hex0", True, "tlv"),
        ("hex0", False, "text"),  # the same padded id back
        ("dec0", False, "tlv"),  # 000...0439025664 -> the same, padded
        ("dec0", True, "text"),  # padded decimal -> plain decimal
        ("dec0", True, "both"),
    ],
)
async def test_padded_message_ids_match_their_receipts(
    tmp_path: Path, style: str, decimal: bool, via: str
) -> None:
    personality = Personality(message_id_style=style, receipt_id_decimal=decimal, receipt_via=via)
    async with sms_world(tmp_path, personality) as world:
        await world.pump.send(STRANGER, "xin chao", kind="test")
        await until(world, lambda w: states(w) == {"delivered": 1})
    [(smsc_id,)] = stores.rows(world.database, "SELECT smsc_id FROM sms_part")
    assert stores.rows(world.database, "SELECT COUNT(*) FROM sms_orphan_receipt") == [(0,)]
    assert smsc_id == ("1a2b0000" if style == "hex0" else "439025664")


async def test_stop_returns_promptly_while_the_bind_goes_unanswered(tmp_path: Path) -> None:
    database = tmp_path / "s.sqlite3"
    await migrate_file(database)
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        conn, _ = server.accept()
        accepted.append(conn)  # reads nothing, answers nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    # The bind would wait 10 minutes for its answer; the stop's join, a minute at most
    # (it returns as soon as the thread ends: no stopwatch, the same at any load).
    settings = smpp_settings(server.getsockname()[1], connect_timeout_s=600.0)
    link = SmppLink(settings, database)
    try:
        link.start()
        async with asyncio.timeout(60):
            while not accepted or link.state != "connecting":
                await asyncio.sleep(0.01)
        await asyncio.to_thread(link.stop, 60.0)
    finally:
        server.close()
        for conn in accepted:
            conn.close()
    assert not link.alive  # the stop cut the bind's wait short


async def test_a_dead_link_thread_is_restarted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []
    real = SmppLink._open_outbox

    def dies_once(self: SmppLink) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug nobody foresaw")
        return real(self)

    monkeypatch.setattr(SmppLink, "_open_outbox", dies_once)
    async with sms_world(tmp_path, sms={"reassembly_timeout_s": 0.2}) as world:
        assert await world.smsc.deliver(STRANGER, f"HS {CODE}") == 0
        await world.smsc.wait_submits(1)
        restarts = world.pump.link_restarts
    assert restarts == 1
    assert "smpp link thread died" in caplog.text
    assert "restarting it" in caplog.text
    assert world.smsc.record.texts_to(STRANGER) == [PUBLIC_READY]


async def test_latin1_default_alphabet_both_ways(tmp_path: Path) -> None:
    async with sms_world(tmp_path, default_alphabet="latin1") as world:
        smsc = world.smsc
        await world.pump.send(STRANGER, "a@b_c$ d", kind="test")
        await smsc.wait_submits(1)
        # An MO in the SMSC's Latin-1: '_' is 0x5F there (GSM would read it as '§').
        text = f"HS_{CODE}".encode("latin-1")
        assert await smsc.deliver(STRANGER, short_message=text, data_coding=0) == 0
        await smsc.wait_submits(2)
    first = smsc.record.submits[0]
    assert (first.data_coding, first.short_message) == (0, b"a@b_c$ d")
    assert inbound(world) == [(STRANGER, f"HS_{CODE}")]
    assert smsc.record.submits[1].short_message == PUBLIC_READY.encode("latin-1")


async def test_non_phone_senders_are_stored_not_answered(tmp_path: Path) -> None:
    from smpp.pdu import pdu_types as pt

    async with sms_world(tmp_path) as world:
        smsc = world.smsc
        statuses = [
            await smsc.deliver("Viettel", f"HS {CODE}"),  # alphanumeric sender
            await smsc.deliver("9029", f"HS {CODE}"),  # a short code
            await smsc.deliver("", f"HS {CODE}"),  # no address at all (L9)
            await smsc.deliver(  # digits, but declared alphanumeric (TON 5)
                "84987000333", f"HS {CODE}", source_addr_ton=pt.AddrTon.ALPHANUMERIC
            ),
            await smsc.deliver(STRANGER, f"HS {CODE}"),  # a citizen: answered
        ]
        await smsc.wait_submits(1)
        await until(world, lambda w: len(inbound(w)) == 5)
        new = "SELECT COUNT(*) FROM sms_inbound WHERE state = 'new'"
        await until(world, lambda w: stores.rows(w.database, new) == [(0,)])
        tons = stores.rows(world.database, "SELECT sender_ton FROM sms_inbound ORDER BY id")
    assert statuses == [0, 0, 0, 0, 0]
    assert [s.destination for s in smsc.record.submits] == [STRANGER]
    assert [m for m, _ in inbound(world)] == ["Viettel", "9029", "", "84987000333", STRANGER]
    assert tons[3] == (5,)


async def test_retention_deletes_old_texts_and_numbers(tmp_path: Path) -> None:
    from sms.outbox import Outbox

    database = tmp_path / "tracuu.sqlite3"  # the file sms_world uses
    await migrate_file(database)
    now = time.time()
    old, recent = now - 91 * 86_400, now - 89 * 86_400
    outbox = Outbox.open(database)
    with outbox.transaction():
        for at, number in ((old, "84900000001"), (recent, "84900000002")):
            inbound_id = outbox.store_part_or_message(number, f"HS {CODE}", None, at)
            assert inbound_id is not None
            outbox.mark_handled(inbound_id)
            message_id = outbox.enqueue(number, "tra loi", kind="reply", accents=False, now=at)
            assert message_id is not None
            outbox.fail(message_id, 1, 0x0B, "rejected", at)
        outbox.enqueue("84900000003", "cho gui", kind="reminder", accents=False, now=old,
                       not_before=now + 3600)  # fmt: skip  # still queued: kept
        outbox.set_state("refused:84900000001", repr(old))
        outbox.set_opt_out("84900000001", True, old)  # consent is kept
    outbox.close()
    async with sms_world(tmp_path, sms={"retention_days": 90}) as world:
        gone = "SELECT COUNT(*) FROM sms_inbound WHERE msisdn = '84900000001'"
        await until(world, lambda w: stores.rows(w.database, gone) == [(0,)])
        database = world.database
        messages = stores.rows(database, "SELECT msisdn, state FROM sms_message ORDER BY id")
        parts = stores.rows(database, "SELECT COUNT(*) FROM sms_part")
        kept_inbound = stores.rows(database, "SELECT msisdn FROM sms_inbound")
        state = stores.rows(database, "SELECT key FROM sms_state WHERE key LIKE 'refused:%'")
        optout = stores.rows(database, "SELECT msisdn FROM sms_optout")
    assert messages == [("84900000002", "failed"), ("84900000003", "queued")]
    assert parts == [(2,)]
    assert kept_inbound == [("84900000002",)]
    assert state == []
    assert optout == [("84900000001",)]


async def test_a_bug_on_one_message_answers_busy_and_the_pump_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sms.pump
    from sms.responder import answer as real_answer

    async def flaky(body: str, *args: object, **kwargs: object) -> object:
        if body == "boom":
            raise KeyError("a bug")
        return await real_answer(body, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sms.pump, "answer", flaky)
    async with sms_world(tmp_path) as world:
        assert await world.smsc.deliver(STRANGER, "boom") == 0
        assert await world.smsc.deliver("84987000444", f"HS {CODE}") == 0
        await world.smsc.wait_submits(2)
    assert world.smsc.record.texts_to(STRANGER) == [
        "He thong tra cuu dang ban. Ong/Ba vui long thu lai sau it phut."
    ]
    assert world.smsc.record.texts_to("84987000444") == [PUBLIC_READY]
    assert "could not answer incoming message 1" in caplog.text
    assert inbound(world)[0] == (STRANGER, "boom")  # kept


async def test_an_unexpected_error_in_the_loop_reconnects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real = Dispatcher.handle
    raised: list[int] = []

    def once(self: Dispatcher, pdu: Pdu, got: Batch) -> None:
        if not raised and pdu.command == "deliver_sm":
            raised.append(1)
            raise ZeroDivisionError("a bug in dispatch")
        real(self, pdu, got)

    monkeypatch.setattr(Dispatcher, "handle", once)
    async with sms_world(tmp_path) as world:
        smsc = world.smsc
        with pytest.raises(ConnectionError):  # dropped before the deliver_sm_resp
            await smsc.deliver(STRANGER, f"HS {CODE}", timeout_s=5)
        await smsc.wait_for(lambda: len(smsc.record.binds) == 2)
        assert await smsc.deliver(STRANGER, f"HS {CODE}") == 0  # the SMSC's retry
        await smsc.wait_submits(1)
        alive = world.pump.link is not None and world.pump.link.alive
    assert alive
    assert world.pump.link_restarts == 0  # the thread itself recovered
    assert "smpp link failed unexpectedly; reconnecting" in caplog.text
    assert "ZeroDivisionError: a bug in dispatch" in caplog.text  # with its traceback
    assert smsc.record.texts_to(STRANGER) == [PUBLIC_READY]
