"""The AMI side against a loopback Asterisk Manager peer: decoding, reconnect, resync,
half-open detection, and outbound calls that are never originated twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from panoramisk.ami_protocol import AMIProtocol

from ivr.ami_monitor import AmiMessage, AmiMonitor, Utf8AmiProtocol
from ivr.settings import AmiSettings
from ivr.store import IvrStore
from kernel.bus import EventBus
from tests.peers.ami import AmiPeer, event

NAME = "Nguyễn Văn A"


class Collector:
    """What panoramisk's protocol hands its factory: the events, in order."""

    forgetable_actions: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.events: list[AmiMessage] = []
        self.awaiting_actions: list[Any] = []

    def dispatch(self, message: AmiMessage) -> None:
        self.events.append(message)

    def connection_lost(self, exc: object) -> None:
        pass


class NullTransport(asyncio.Transport):
    def write(self, data: bytes | bytearray | memoryview) -> None:
        pass

    def close(self) -> None:
        pass


def feed(protocol: AMIProtocol, *chunks: bytes) -> list[AmiMessage]:
    collector = Collector()
    protocol.connection_made(NullTransport())
    protocol.factory = collector
    for chunk in chunks:
        protocol.data_received(chunk)
    return collector.events


def split_inside_a_character() -> tuple[bytes, bytes]:
    data = event("Newchannel", Channel="PJSIP/trunk-1", Uniqueid="1.1", CallerIDName=NAME)
    cut = data.index("ễ".encode()) + 1  # between the bytes of one character
    return data[:cut], data[cut:]


def test_a_character_split_across_two_reads_arrives_whole() -> None:
    events = feed(Utf8AmiProtocol(), *split_inside_a_character())
    assert [e["CallerIDName"] for e in events] == [NAME]


def test_panoramisk_alone_loses_it_which_is_why_the_decoder_is_ours() -> None:
    protocol = AMIProtocol()
    protocol.encoding = "utf8"  # as panoramisk's Manager configures it
    events = feed(protocol, *split_inside_a_character())
    assert [e["CallerIDName"] for e in events] == ["Nguyn Văn A"]


# ---- against the loopback peer

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội: within calling hours
VN = ZoneInfo("Asia/Ho_Chi_Minh")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def peer() -> AsyncIterator[AmiPeer]:
    peer = AmiPeer()
    yield peer
    await peer.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[IvrStore]:
    store = await IvrStore.open(tmp_path / "tracuu.sqlite3")
    yield store
    await store.close()


def ami_settings(port: int, **more: Any) -> AmiSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "password": "s3cret",
        "reconnect_min_s": 0.01,
        "reconnect_max_s": 0.05,
        "ping_s": 5.0,
        "notify_attempts": 2,
        "notify_retry_s": 60.0,
        **more,
    }
    return AmiSettings(**values)


async def running(monitor: AmiMonitor, *, dialer: bool = False) -> asyncio.Task[None]:
    """The monitor connected; the dialer's loop only when asked (tests tick it by hand)."""
    task = asyncio.create_task(monitor.run() if dialer else monitor.client.run())
    await monitor.client.connected.wait()
    return task


async def stopped(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_line_use_is_tracked_and_published(peer: AmiPeer) -> None:
    port = await peer.start()
    bus = EventBus()
    monitor = AmiMonitor(ami_settings(port), bus)
    async with asyncio.timeout(60), bus.subscribe() as sub:
        task = await running(monitor)
        assert (await sub.get()).data["channels"] == 0  # the resync on login
        await peer.send(
            event(
                "Newchannel",
                Channel="PJSIP/trunk-1",
                Uniqueid="1.1",
                ChannelStateDesc="Ring",
                Context="tracuu-inbound",
                CallerIDName=NAME,
            )
            + event("Newstate", Uniqueid="1.1", ChannelStateDesc="Up")
            + event("Newexten", Uniqueid="1.1", Context="tracuu-inbound", Application="AGI")
        )
        states = [(await sub.get()).data for _ in range(3)]
        await peer.send(event("Hangup", Uniqueid="1.1", Cause="16"))
        after = (await sub.get()).data
        await stopped(task)
    assert states[-1]["by_state"] == {"Up": 1}
    assert states[-1]["in_ivr"] == 1
    assert after["channels"] == 0
    assert after["totals"] == {"channels": 1, "calls": 1, "hangups": 1}


async def test_reconnect_resyncs_the_channels_seen_during_the_outage(peer: AmiPeer) -> None:
    port = await peer.start()
    peer.channels["1.1"] = {
        "Channel": "PJSIP/trunk-1",
        "ChannelStateDesc": "Up",
        "Context": "tracuu-inbound",
        "Application": "AGI",
    }
    monitor = AmiMonitor(ami_settings(port), EventBus())
    async with asyncio.timeout(60):
        task = await running(monitor)
        assert set(monitor.lines.channels) == {"1.1"}
        # While we are cut off, 1.1 hangs up and 2.2 arrives; no events reach us.
        del peer.channels["1.1"]
        peer.channels["2.2"] = {
            "Channel": "PJSIP/trunk-2",
            "ChannelStateDesc": "Ring",
            "Context": "tracuu-inbound",
            "Application": "",
        }
        peer.drop()
        await peer.until(lambda: peer.logins == 2)
        await peer.until(
            lambda: sum(a.get("action") == "CoreShowChannels" for a in peer.actions) == 2
        )
        await monitor.client.connected.wait()
        await stopped(task)
    assert set(monitor.lines.channels) == {"2.2"}
    assert monitor.lines.channels["2.2"].state == "Ring"


async def test_the_bus_says_when_ami_is_lost_and_back(peer: AmiPeer) -> None:
    port = await peer.start()
    bus = EventBus()
    monitor = AmiMonitor(ami_settings(port), bus)
    async with asyncio.timeout(60), bus.subscribe() as sub:
        task = await running(monitor)
        assert (await sub.get()).data["connected"] is True  # logged in and resynced
        peer.drop()
        assert (await sub.get()).data["connected"] is False  # not the last good snapshot
        await peer.until(lambda: peer.logins == 2)
        assert (await sub.get()).data["connected"] is True
        await stopped(task)


async def test_unanswered_pings_mean_a_half_open_connection_and_a_reconnect(
    peer: AmiPeer,
) -> None:
    port = await peer.start()
    peer.answer_pings = False
    monitor = AmiMonitor(ami_settings(port, ping_s=0.02), EventBus())
    async with asyncio.timeout(60):
        task = await running(monitor)
        await peer.until(lambda: peer.logins >= 2)
        await stopped(task)
    assert peer.pings >= 1


async def test_a_wrong_secret_is_retried_with_backoff_not_in_a_hot_loop(peer: AmiPeer) -> None:
    port = await peer.start()
    peer.secret = "other"
    monitor = AmiMonitor(ami_settings(port), EventBus())
    async with asyncio.timeout(60):
        task = asyncio.create_task(monitor.run())
        await peer.until(lambda: sum(a.get("action") == "Login" for a in peer.actions) >= 3)
        await stopped(task)
    assert monitor.client.connections == 0
    assert not monitor.client.connected.is_set()


# ---- outbound notification calls


async def test_a_notification_is_originated_once_with_its_correlation(
    peer: AmiPeer, store: IvrStore
) -> None:
    port = await peer.start()
    clock = Clock()
    monitor = AmiMonitor(ami_settings(port), EventBus(), store, clock=clock, zone=VN)
    assert monitor.dialer is not None
    await store.add_notification(
        "n1", "+84912345678", "000.00.18.H26-241129-0001", "result_ready", T0
    )
    async with asyncio.timeout(60):
        task = await running(monitor)
        await monitor.dialer.tick()
        await monitor.dialer.tick()
        await stopped(task)
    assert len(peer.originates) == 1
    sent = peer.originates[0]
    assert sent["channel"] == "Local/0912345678@tracuu-dialout"
    assert sent["context"] == "tracuu-notify"
    assert sent["variable"] == "TRACUU_NOTIFY=n1"
    assert sent["account"] == "notify-n1"
    assert sent["actionid"] == "tracuu-notify/n1/1"
    row = await store.get("n1")
    assert row is not None
    assert (row.state, row.attempts) == ("originating", 1)


async def test_no_second_originate_after_a_reconnect_until_the_first_is_over(
    peer: AmiPeer, store: IvrStore
) -> None:
    port = await peer.start()
    peer.answer_originate = False  # Asterisk goes away before answering the Originate
    clock = Clock()
    monitor = AmiMonitor(ami_settings(port), EventBus(), store, clock=clock, zone=VN)
    assert monitor.dialer is not None
    await store.add_notification("n1", "+84912345678", "C-1", "result_ready", T0)
    async with asyncio.timeout(60):
        task = await running(monitor)
        ticking = asyncio.create_task(monitor.dialer.tick())
        await peer.until(lambda: len(peer.originates) == 1)
        # The call is ringing on Asterisk's side when the manager link drops.
        peer.channels["9.9"] = {
            "Channel": "Local/0912345678@tracuu-dialout-0001;1",
            "ChannelStateDesc": "Ringing",
            "AccountCode": "notify-n1",
        }
        peer.drop()
        await ticking  # the in-flight Originate failed; panoramisk would re-send it
        await peer.until(lambda: peer.logins == 2)
        await monitor.client.connected.wait()
        await monitor.dialer.tick()
        clock.now = T0 + timedelta(minutes=10)  # long after the ring time
        await monitor.dialer.tick()  # ...but its channel is still up: still not again
        originates_while_live = len(peer.originates)
        del peer.channels["9.9"]  # the call ends; we learn it at the next resync
        peer.drop()
        await peer.until(lambda: peer.logins == 3)
        await monitor.client.connected.wait()
        await monitor.dialer.tick()  # over and unanswered: a retry is scheduled, not sent
        originates_after_end = len(peer.originates)
        row = await store.get("n1")
        peer.answer_originate = True
        clock.now = T0 + timedelta(minutes=12)  # the retry's backoff is over
        await monitor.dialer.tick()
        await stopped(task)
    assert originates_while_live == 1
    assert originates_after_end == 1
    assert row is not None
    assert (row.state, row.outcome) == ("pending", "no_response")
    assert [o["actionid"] for o in peer.originates] == ["tracuu-notify/n1/1", "tracuu-notify/n1/2"]


async def test_busy_then_no_answer_gives_up_after_the_configured_attempts(
    peer: AmiPeer, store: IvrStore
) -> None:
    port = await peer.start()
    clock = Clock()
    monitor = AmiMonitor(ami_settings(port), EventBus(), store, clock=clock, zone=VN)
    assert monitor.dialer is not None
    await store.add_notification("n1", "+84912345678", "C-1", "result_ready", T0)
    async with asyncio.timeout(60):
        task = await running(monitor)
        await monitor.dialer.tick()
        await peer.send(
            event(
                "OriginateResponse",
                ActionID="tracuu-notify/n1/1",
                Response="Failure",
                Reason="5",
                Channel="Local/0912345678",
            )
        )
        await monitor.dialer._result(await monitor.dialer._results.get())
        busy = await store.get("n1")
        await monitor.dialer.tick()  # backoff not over: nothing
        clock.now = T0 + timedelta(seconds=61)
        await monitor.dialer.tick()
        await peer.send(
            event(
                "OriginateResponse",
                ActionID="tracuu-notify/n1/2",
                Response="Failure",
                Reason="3",
                Channel="Local/0912345678",
            )
        )
        await monitor.dialer._result(await monitor.dialer._results.get())
        clock.now = T0 + timedelta(hours=1)
        await monitor.dialer.tick()
        await stopped(task)
    assert busy is not None
    assert (busy.state, busy.outcome) == ("pending", "busy")
    assert busy.next_at == T0 + timedelta(seconds=60)
    final = await store.get("n1")
    assert final is not None
    assert (final.state, final.outcome, final.attempts) == ("failed", "no_answer", 2)
    assert len(peer.originates) == 2


async def test_a_notification_id_is_queued_only_once(store: IvrStore) -> None:
    assert await store.add_notification("n1", "+84912345678", "C-1", "result_ready", T0)
    assert not await store.add_notification("n1", "+84912345678", "C-1", "result_ready", T0)


ASTERISK = Path(__file__).parent.parent / "asterisk"


async def test_login_asks_for_exactly_the_event_classes_manager_conf_grants(
    peer: AmiPeer,
) -> None:
    port = await peer.start()
    monitor = AmiMonitor(ami_settings(port), EventBus())
    async with asyncio.timeout(60):
        task = await running(monitor)
        await stopped(task)
    login = next(a for a in peer.actions if a.get("action") == "Login")
    conf = (ASTERISK / "manager.conf").read_text(encoding="utf-8")
    granted = next(
        line.split("=", 1)[1].strip() for line in conf.splitlines() if line.startswith("read")
    )
    assert set(login["events"].split(",")) == set(granted.split(","))
    assert "s3cret" not in repr(monitor.client._settings)


async def test_an_unanswered_originate_times_out_and_is_not_sent_again(
    peer: AmiPeer, store: IvrStore
) -> None:
    port = await peer.start()
    peer.answer_originate = False  # Asterisk took it but its answer never comes
    clock = Clock()
    monitor = AmiMonitor(
        ami_settings(port, action_timeout_s=0.05), EventBus(), store, clock=clock, zone=VN
    )
    assert monitor.dialer is not None
    await store.add_notification("n1", "+84912345678", "C-1", "result_ready", T0)
    async with asyncio.timeout(60):
        task = await running(monitor)
        await monitor.dialer.tick()  # times out waiting for the answer
        await monitor.dialer.tick()
        clock.now = T0 + timedelta(seconds=30)  # still within the ring time
        await monitor.dialer.tick()
        await stopped(task)
    assert len(peer.originates) == 1
    row = await store.get("n1")
    assert row is not None
    assert row.state == "originating"


async def test_citizens_are_not_called_at_night(peer: AmiPeer, store: IvrStore) -> None:
    port = await peer.start()
    clock = Clock()
    clock.now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 22:00 in Hà Nội
    monitor = AmiMonitor(ami_settings(port), EventBus(), store, clock=clock, zone=VN)
    assert monitor.dialer is not None
    await store.add_notification("n1", "+84912345678", "C-1", "result_ready", clock.now)
    async with asyncio.timeout(60):
        task = await running(monitor)
        await monitor.dialer.tick()
        at_night = len(peer.originates)
        clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 08:00 the next morning
        await monitor.dialer.tick()
        await stopped(task)
    assert at_night == 0
    assert len(peer.originates) == 1
