"""Several SMSC binds: settings, routing by network, failover, incoming on any bind.

Two test SMSCs (peers/smsc.py) on loopback stand for two operators; the gateway's
pump runs one link per bind over one outbox. Assertions are on what each SMSC
received: who got which text, and how many times.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from gateway.settings import Settings
from kernel.bus import EventBus
from lookup.sqlite import SqliteLookup
from peers.smsc import Personality, TestSmsc
from sms.outbox import Outbox
from sms.pump import SmsPump
from sms.settings import SmppSettings
from tests import stores
from tests.peers.smsc import seed

VIETTEL = "84961234567"
VIETTEL_OLD = "841691234567"  # stored before 2018: routed as 8439...
VINAPHONE = "84912345678"
MOBIFONE = "84901234567"
CODE = "000.00.18.H26-241129-0001"


def test_binds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "TRACUU_SMPP_BINDS",
        '[{"name": "viettel", "host": "10.0.0.1", "system_id": "vt", "networks": ["viettel"],'
        ' "tps": 50, "window": 20}, {"name": "vnpt", "host": "10.0.0.2", "default": true}]',
    )
    monkeypatch.setenv("TRACUU_SMPP_PASSWORDS", '{"viettel": "vt-secret"}')
    monkeypatch.setenv("TRACUU_SMPP_SOURCE_ADDR", "8099")
    monkeypatch.setenv("TRACUU_CONFIG", "/nonexistent.toml")
    smpp = Settings().smpp
    assert smpp.configured
    (viettel, vt), (vnpt, vn) = smpp.resolved_binds()
    assert (viettel.name, vt.host, vt.system_id, vt.tps, vt.window) == (
        "viettel", "10.0.0.1", "vt", 50.0, 20,
    )  # fmt: skip
    assert vt.password.get_secret_value() == "vt-secret"
    assert (vnpt.default, vn.host, vn.tps, vn.window) == (True, "10.0.0.2", 20.0, 10)
    assert vn.source_addr == vt.source_addr == "8099"  # [smpp] values are inherited
    assert "vt-secret" not in repr(smpp) + str(smpp.model_dump())


def test_one_smpp_bind_is_still_the_default_route() -> None:
    smpp = SmppSettings(host="10.0.0.9", system_id="tracuu", password=SecretStr("pw"))
    [(bind, link)] = smpp.resolved_binds()
    assert (bind.name, bind.default, link.host, link.system_id) == (
        "default", True, "10.0.0.9", "tracuu",
    )  # fmt: skip
    assert link.password.get_secret_value() == "pw"
    assert not SmppSettings().configured


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"binds": [{"name": "a", "host": "h", "networks": ["viettell"]}]}, "unknown networks"),
        ({"binds": [{"name": "a", "host": "h"}, {"name": "a", "host": "i"}]}, "repeat"),
        ({"binds": [{"name": "a", "host": "h"}], "passwords": {"b": "x"}}, "unknown SMPP binds"),
        ({"binds": [{"name": "a", "host": "h", "password": "x"}]}, "password"),  # env only
        ({"binds": [{"name": "Bad Name", "host": "h"}]}, "name"),
    ],
)
def test_bad_binds_stop_the_gateway(values: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        SmppSettings(**values)


# ------------------------------------------------------------ two SMSCs on loopback


@dataclass
class TwoOperators:
    viettel: TestSmsc
    other: TestSmsc
    pump: SmsPump
    bus: EventBus
    database: Path

    def outbox(self) -> Outbox:
        return Outbox.open(self.database)

    def states(self) -> dict[str, int]:
        outbox = self.outbox()
        try:
            return outbox.counts()
        finally:
            outbox.close()

    def uncertain(self) -> int:
        [(n,)] = stores.rows(self.database, "SELECT COUNT(*) FROM sms_part WHERE uncertain = 1")
        return int(n)


def bind(name: str, port: int, **more: Any) -> dict[str, Any]:
    return {"name": name, "host": "127.0.0.1", "port": port, "system_id": name, **more}


async def until(predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Poll, bounded: outbox rows change in the link threads, which signal nothing."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def two_operators(
    tmp_path: Path,
    viettel: Personality | None = None,
    *,
    viettel_up: bool = True,
    other: Personality | None = None,
) -> AsyncIterator[TwoOperators]:
    database = tmp_path / "tracuu.sqlite3"
    await seed(database, date.today())
    # Both test SMSCs count message ids from the same number, as two operators' may.
    async with TestSmsc(viettel) as smsc_a, TestSmsc(other) as smsc_b:
        port_a = smsc_a.port
        if not viettel_up:
            await smsc_a.close()
        smpp = SmppSettings(
            source_addr="8088",
            reconnect_min_s=0.05,
            reconnect_max_s=0.2,
            connect_timeout_s=2.0,
            tps=1000.0,
            binds=(bind("viettel", port_a, networks=["viettel"]), bind("other", smsc_b.port)),
            passwords={"viettel": SecretStr("a-pw"), "other": SecretStr("b-pw")},
        )
        settings = Settings(database=str(database), smpp=smpp)
        lookup = await SqliteLookup.open(database, collection_place="Bộ phận Một cửa")
        bus = EventBus()
        pump = SmsPump(settings, lookup, bus)
        task = asyncio.create_task(pump.run())
        try:
            async with asyncio.timeout(10):
                await pump.ready.wait()
                await smsc_b.wait_bound()
                if viettel_up:
                    await smsc_a.wait_bound()
                    await until(lambda: pump.bind_states.get("viettel", ("",))[0] == "up")
                await until(lambda: pump.bind_states.get("other", ("",))[0] == "up")
            yield TwoOperators(smsc_a, smsc_b, pump, bus, database)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                async with asyncio.timeout(15):
                    await task
            await lookup.close()


def destinations(smsc: TestSmsc) -> list[str]:
    return [s.destination for s in smsc.record.submits]


async def test_each_number_goes_to_its_networks_bind(tmp_path: Path) -> None:
    async with two_operators(tmp_path) as world:
        for number in (VIETTEL, VIETTEL_OLD, VINAPHONE, MOBIFONE):
            await world.pump.send(number, f"tin cho {number}", kind="test")
        await until(lambda: world.states() == {"delivered": 4})
        event = world.bus.latest[("sms", "bind:viettel")].data
    assert sorted(destinations(world.viettel)) == sorted([VIETTEL, VIETTEL_OLD])
    assert sorted(destinations(world.other)) == sorted([VINAPHONE, MOBIFONE])
    assert world.viettel.record.binds == [("bind_transceiver", "viettel")]
    assert world.other.record.binds == [("bind_transceiver", "other")]
    # What the console's board and metrics read for each bind.
    assert event["bind"] == "viettel"
    assert event["state"] in ("up", "stopped")
    assert event["networks"] == ["viettel"]
    assert event["serving"] == ["viettel"]
    assert event["port"] == world.viettel.port
    assert event["default"] is False  # "other" names no network: it is the default route
    assert world.bus.latest[("sms", "bind:other")].data["default"] is True


async def test_failover_while_a_bind_is_down_then_back(tmp_path: Path) -> None:
    async with two_operators(tmp_path, viettel_up=False) as world:
        # Viettel's SMSC is down: its numbers go out through the other bind.
        await world.pump.send(VIETTEL, "qua duong du phong", kind="test")
        await world.other.wait_submits(1)
        event = world.bus.latest[("sms", "bind:viettel")].data
        assert event["state"] != "up"
        assert event["serving"] == []
        assert "viettel" in world.bus.latest[("sms", "bind:other")].data["serving"]
        # It comes back on its address: Viettel's numbers go to it again.
        async with TestSmsc(port=world.viettel.port) as back:
            await back.wait_bound()
            await until(lambda: world.pump.bind_states["viettel"][0] == "up")
            await world.pump.send(VIETTEL, "da ve duong chinh", kind="test")
            await back.wait_submits(1)
            await until(lambda: world.states() == {"delivered": 2})
    assert destinations(world.other) == [VIETTEL]
    assert destinations(back) == [VIETTEL]
    assert [s.text for s in back.record.submits] == ["da ve duong chinh"]


async def test_a_receipt_matches_only_its_own_binds_message(tmp_path: Path) -> None:
    """Both SMSCs give their first message the same id; Viettel's is delivered, the
    other operator's fails: each message gets its own SMSC's verdict."""
    async with two_operators(tmp_path, other=Personality(receipts="failed")) as world:
        viettel = await world.pump.send(VIETTEL, "mot", kind="test")
        other = await world.pump.send(VINAPHONE, "hai", kind="test")
        await until(lambda: world.states() == {"delivered": 1, "failed": 1})
        states = dict(stores.rows(world.database, "SELECT id, state FROM sms_message"))
    [sent_a], [sent_b] = world.viettel.record.submits, world.other.record.submits
    assert sent_a.message_id == sent_b.message_id  # the collision this test is about
    assert states == {viettel: "delivered", other: "failed"}


async def test_while_an_smsc_queue_is_full_the_other_bind_carries_its_numbers(
    tmp_path: Path,
) -> None:
    async with two_operators(tmp_path, Personality(queue_full_first=1)) as world:
        await world.pump.send(VIETTEL, "hang doi day", kind="test")
        # Viettel's SMSC refuses it (queue full): its bind pauses, the other sends it.
        await world.other.wait_submits(1)
        assert world.viettel.record.throttled == 1
        # After the pause Viettel's bind is back and takes its numbers again.
        await until(lambda: world.pump.links["viettel"].state == "up")
        await world.pump.send(VIETTEL, "da het day", kind="test")
        await world.viettel.wait_submits(1)
        await until(lambda: world.states() == {"delivered": 2})
        throttled_seen = world.bus.latest[("sms", "bind:viettel")].data["throttled"]
    assert [s.text for s in world.other.record.submits] == ["hang doi day"]
    assert [s.text for s in world.viettel.record.submits] == ["da het day"]
    assert throttled_seen == 1


async def test_incoming_on_either_bind_is_answered_once(tmp_path: Path) -> None:
    async with two_operators(tmp_path) as world:
        assert await world.viettel.deliver(VINAPHONE, f"HS {CODE}") == 0
        assert await world.other.deliver(VIETTEL, f"HS {CODE}") == 0
        await until(lambda: world.states() == {"delivered": 2})
    # Each answer leaves through the bind of the asker's network.
    assert destinations(world.viettel) == [VIETTEL]
    assert destinations(world.other) == [VINAPHONE]
    for smsc in (world.viettel, world.other):
        [answer] = smsc.record.submits
        assert CODE in answer.text


async def test_a_batch_with_one_smsc_dropped_midway_is_sent_once(tmp_path: Path) -> None:
    """200 messages across networks; Viettel's SMSC drops its connection at its 40th
    submit_sm. Every message arrives; a part goes out twice only if the outbox marked
    it uncertain (sent, the answer lost with the connection: SMPP cannot tell)."""
    numbers = [f"849{6 + i % 2}{i:07d}" for i in range(200)]  # 096 Viettel, 097 Viettel
    numbers = [n if i % 3 else "849" + n[3:] for i, n in enumerate(numbers)]  # 091/0 others
    async with two_operators(tmp_path, Personality(drop_at=40)) as world:
        for i, number in enumerate(numbers):
            await world.pump.send(number, f"tin {i}", kind="test")
        await until(lambda: world.states() == {"delivered": 200}, timeout_s=30)
        uncertain = world.uncertain()
    sent = Counter(
        (s.destination, s.text)
        for smsc in (world.viettel, world.other)
        for s in smsc.record.submits
    )
    assert set(sent) == {(n, f"tin {i}") for i, n in enumerate(numbers)}
    twice = sum(count - 1 for count in sent.values())
    assert twice <= uncertain
    assert world.viettel.record.connections == 2  # it dropped once and came back
    # Nothing for another network went through Viettel's bind.
    assert all(d.startswith(("8496", "8497")) for d in destinations(world.viettel))


def test_the_demo_banner_names_every_bind() -> None:
    from gateway.app import demo_banner

    smpp = SmppSettings(binds=(bind("viettel", 2775), bind("vnpt", 2776)))
    said = demo_banner(Settings(smpp=smpp), None)
    assert "bound to the SMSCs at 127.0.0.1:2775, 127.0.0.1:2776" in said
