"""The AMI side: one hardened connection, the line monitor, and outbound notification calls.

Owns the Asterisk Manager connection (panoramisk's protocol parser, with our
own decoding, reconnect and liveness), the live picture of the lines (channels
by state, who is in the IVR, who waits for an officer, totals) published on the
bus, and the Originate of notification calls. Fixes around panoramisk 1.4
(shared/domain/dependency-weak-spots.md):
- a multi-byte character split across two reads is decoded whole (row 7);
- actions in flight when the connection drops fail, they are never re-sent, so
  an Originate cannot go out twice (panoramisk queues them for re-sending);
- reconnect with exponential backoff and jitter, not a fixed 2 s;
- a Ping without an answer within ping_s means a half-open connection: reconnect;
- every action has a timeout; no fire-and-forget tasks: events are handled
  synchronously and the dialer's database work goes through one owned queue.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from panoramisk import actions as ami_actions
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message as _Message

from ivr.settings import AmiSettings
from ivr.store import IvrStore, NotifyCall
from kernel.bus import EventBus
from kernel.db import DatabaseError
from kernel.logs import mask_msisdn

log = logging.getLogger(__name__)

# panoramisk is untyped: the names we use, typed once, so Any stops here.
AmiMessage = Mapping[str, Any]
EOL = "\r\n"


class AmiError(Exception):
    """Base class for AMI failures."""


class AmiLoginFailed(AmiError):
    """Asterisk refused our username or secret."""


class AmiDisconnected(AmiError):
    """The connection dropped while an action waited for its answer."""


class Utf8AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's AMI protocol with an incremental UTF-8 decoder and no re-sending."""

    version: str | None
    closed: bool

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.encoding = "utf-8"
        # 1.4 decodes each TCP chunk on its own with errors="ignore": 'Nguyễn' split
        # across two reads came out as 'Nguyn'. The incremental decoder keeps the half.
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def data_received(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            banner, _, _ = text.partition(EOL)
            self.version = banner.partition("/")[2].strip()
        if self.queue:
            text = self.queue.popleft() + text
        blocks = text.split(EOL + EOL)
        self.queue.append(blocks.pop(-1))
        for block in blocks:
            message = _Message.from_line(block.strip())
            if message is not None:
                self.handle_message(message)

    def close(self) -> None:
        # 1.4 moves unanswered actions to a list that is re-sent after reconnecting,
        # which could dial a citizen twice. Fail them instead; the caller decides.
        for action in list(self.responses.values()):
            if not action.future.done():
                action.future.set_exception(AmiDisconnected("AMI connection lost"))
        self.responses.clear()
        if not self.closed:
            try:
                self.transport.close()
            finally:
                self.closed = True


class AmiClient:
    """One AMI login kept alive; `run()` reconnects until cancelled."""

    # What panoramisk's protocol expects of its factory.
    forgetable_actions: tuple[str, ...] = ()

    def __init__(
        self,
        settings: AmiSettings,
        *,
        on_event: Callable[[AmiMessage], None],
        on_connected: Callable[[], Awaitable[None]] | None = None,
        on_disconnected: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_event = on_event
        self._on_connected = on_connected
        self._on_disconnected = on_disconnected
        self._protocol: Utf8AmiProtocol | None = None
        self._lost = asyncio.Event()
        self.awaiting_actions: deque[Any] = deque()  # panoramisk fills it; we never send it
        self.connected = asyncio.Event()
        self.connections = 0  # successful logins, for tests and the console

    async def run(self) -> None:
        delay = self._settings.reconnect_min_s
        while True:
            logins = self.connections
            try:
                await self._session()
            except AmiLoginFailed:
                log.error("AMI login refused for user %s", self._settings.username)  # noqa: TRY400
            except (OSError, AmiError, TimeoutError) as exc:
                log.warning("AMI connection lost: %s", type(exc).__name__)
            if self.connections > logins:
                delay = self._settings.reconnect_min_s  # it worked for a while: start over
            # Exponential backoff with jitter, so a restarted Asterisk is not hit by every
            # client at the same instant.
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self._settings.reconnect_max_s)

    async def _session(self) -> None:
        loop = asyncio.get_running_loop()
        host = self._settings.host or "127.0.0.1"
        async with asyncio.timeout(self._settings.action_timeout_s):
            transport, protocol = await loop.create_connection(
                Utf8AmiProtocol, host, self._settings.port
            )
        protocol.factory = self
        self._protocol = protocol
        self._lost = asyncio.Event()
        try:
            reply = await self.action(
                {
                    "Action": "Login",
                    "Username": self._settings.username,
                    "Secret": self._settings.password.get_secret_value(),
                    "Events": "call,agent,dialplan",  # manager.conf read= classes
                }
            )
            if reply.get("Response") != "Success":
                raise AmiLoginFailed(str(reply.get("Message", "")))
            self.connections += 1
            log.info("AMI connected to %s:%s", host, self._settings.port)
            if self._on_connected is not None:
                await self._on_connected()  # resync first: "connected" means up to date
            self.connected.set()
            await self._keep_alive()
        finally:
            was_up = self.connected.is_set()
            self.connected.clear()
            if was_up and self._on_disconnected is not None:
                self._on_disconnected()
            self._protocol = None
            protocol.close()
            transport.close()

    async def _keep_alive(self) -> None:
        """Ping every ping_s; no answer in time means the peer is gone (half-open TCP)."""
        while True:
            try:
                async with asyncio.timeout(self._settings.ping_s):
                    await self._lost.wait()
                raise AmiDisconnected("AMI connection closed")
            except TimeoutError:
                pass
            try:
                await self.action({"Action": "Ping"}, timeout_s=self._settings.ping_s)
            except TimeoutError:
                log.warning("AMI Ping unanswered for %.0f s: reconnecting", self._settings.ping_s)
                raise

    async def action(
        self, fields: Mapping[str, Any], *, as_list: bool = False, timeout_s: float | None = None
    ) -> Any:
        """Send one action; its response (or, as_list, response and events) within a timeout."""
        protocol = self._protocol
        if protocol is None or protocol.closed:
            raise AmiDisconnected("not connected")
        # as_list is always a bool: left None, panoramisk waits for the OriginateResponse of
        # an async Originate (up to the ring time) before answering at all.
        action = ami_actions.Action(dict(fields), as_list=as_list)
        future: asyncio.Future[Any] = protocol.send(action, as_list=as_list)
        async with asyncio.timeout(timeout_s or self._settings.action_timeout_s):
            return await future

    # ---- called by panoramisk's protocol

    def dispatch(self, message: AmiMessage) -> None:
        try:
            self._on_event(message)
        except Exception:
            log.exception("AMI event handler failed on %s", message.get("Event"))

    def connection_lost(self, exc: object) -> None:
        self._lost.set()


# ---- the line monitor: pure state from events


@dataclass
class Channel:
    name: str
    state: str
    context: str = ""
    application: str = ""
    account: str = ""


@dataclass
class LineMonitor:
    """Channels by state, in the IVR, waiting for an officer; totals since start."""

    ivr_context: str = "tracuu-inbound"
    queue_context: str = "tracuu-officer"
    channels: dict[str, Channel] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)
    totals: Counter[str] = field(default_factory=Counter)
    synced: bool = False

    def handle(self, event: AmiMessage) -> bool:
        """Update from one event; True when the picture changed."""
        name = str(event.get("Event", ""))
        uid = str(event.get("Uniqueid", ""))
        if name == "Newchannel":
            self.channels[uid] = Channel(
                str(event.get("Channel", "")),
                str(event.get("ChannelStateDesc", "")),
                str(event.get("Context", "")),
                account=str(event.get("AccountCode", "")),
            )
            self.totals["channels"] += 1
            if event.get("Context") == self.ivr_context:
                self.totals["calls"] += 1
            return True
        channel = self.channels.get(uid)
        if name == "Newstate" and channel is not None:
            channel.state = str(event.get("ChannelStateDesc", channel.state))
            return True
        if name == "Newexten" and channel is not None:
            channel.context = str(event.get("Context", channel.context))
            channel.application = str(event.get("Application", channel.application))
            if channel.context == self.queue_context and channel.application == "Queue":
                self.totals["transferred"] += 1
            return True
        if name == "QueueCallerJoin":
            self.waiting.add(uid)
            return True
        if name == "QueueCallerLeave":
            self.waiting.discard(uid)
            return True
        if name == "Hangup":
            self.waiting.discard(uid)
            if self.channels.pop(uid, None) is not None:
                self.totals["hangups"] += 1
                return True
        return False

    def resync(self, listing: list[AmiMessage]) -> None:
        """Replace the picture with CoreShowChannels' answer (after a reconnect)."""
        self.channels = {
            str(e.get("Uniqueid", "")): Channel(
                str(e.get("Channel", "")),
                str(e.get("ChannelStateDesc", "")),
                str(e.get("Context", "")),
                str(e.get("Application", "")),
                str(e.get("AccountCode", "")),
            )
            for e in listing
            if e.get("Event") == "CoreShowChannel"
        }
        self.waiting &= set(self.channels)
        self.synced = True

    def snapshot(self) -> dict[str, Any]:
        live = self.channels.values()
        return {
            "channels": len(self.channels),
            "by_state": dict(Counter(c.state for c in live)),
            "in_ivr": sum(1 for c in live if c.application == "AGI"),
            "waiting": len(self.waiting),
            # Past the queue (QueueCallerLeave) but still in its context: bridged to an officer.
            "with_officer": sum(
                1
                for uid, c in self.channels.items()
                if c.context == self.queue_context and uid not in self.waiting
            ),
            "totals": dict(self.totals),
        }

    def has_account(self, account: str) -> bool:
        return any(c.account == account for c in self.channels.values())


# ---- outbound notification calls

# OriginateResponse "Reason" (Asterisk's AST_CONTROL_* codes): what a failed attempt means.
NO_ANSWER_REASONS = {"0": "failed", "1": "hangup", "3": "no_answer", "5": "busy", "8": "congestion"}


def national(e164: str) -> str:
    """+84912345678 -> 0912345678, what a Vietnamese trunk dials."""
    return "0" + e164[3:] if e164.startswith("+84") else e164.lstrip("+")


class Dialer:
    """Originates due notification calls; at most one attempt in flight per notification.

    Before an Originate is sent its row is committed as 'originating'. The row
    leaves that state only on evidence: an OriginateResponse, the notify AGI route
    (the citizen answered), or, after a reconnect lost the response, no live
    channel with its account code once the ring time is long over.
    """

    def __init__(
        self,
        settings: AmiSettings,
        store: IvrStore,
        client: AmiClient,
        monitor: LineMonitor,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        zone: tzinfo = UTC,
        poll_s: float = 5.0,
    ) -> None:
        self._settings = settings
        self._zone = zone
        self._store = store
        self._client = client
        self._monitor = monitor
        self._clock = clock
        self._poll_s = poll_s
        self._results: asyncio.Queue[AmiMessage] = asyncio.Queue(maxsize=1000)
        self.originated = 0

    def on_event(self, event: AmiMessage) -> None:
        if event.get("Event") == "OriginateResponse" and str(event.get("ActionID", "")).startswith(
            "tracuu-notify/"
        ):
            try:
                self._results.put_nowait(event)
            except asyncio.QueueFull:
                log.error("dropped an OriginateResponse: the dialer is stuck")  # noqa: TRY400

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except DatabaseError:
                # A busy or broken database stops dialing for one round, not the monitor.
                log.exception("notification calls: database error")
            try:
                async with asyncio.timeout(self._poll_s):
                    event = await self._results.get()
                await self._result(event)
            except TimeoutError:
                pass

    async def tick(self) -> None:
        """One round: settle what the responses say, reconcile, originate what is due."""
        while not self._results.empty():
            await self._result(self._results.get_nowait())
        if not self._client.connected.is_set() or not self._monitor.synced:
            return
        await self._reconcile()
        if not self.calling_hours():
            return
        for row in await self._store.due(self._clock(), limit=10):
            await self._originate(row)

    def calling_hours(self) -> bool:
        local = self._clock().astimezone(self._zone).time()
        return self._settings.notify_window_start <= local < self._settings.notify_window_end

    async def _originate(self, row: NotifyCall) -> None:
        now = self._clock()
        action_id = f"tracuu-notify/{row.id}/{row.attempts + 1}"
        if not await self._store.mark_originating(row.id, action_id, now):
            return
        settings = self._settings
        fields = {
            "Action": "Originate",
            "ActionID": action_id,
            "Channel": settings.originate_channel.format(number=national(row.phone)),
            "Context": settings.originate_context,
            "Exten": "s",
            "Priority": "1",
            "Timeout": str(int(settings.originate_timeout_s * 1000)),
            "CallerID": settings.caller_id,
            "Account": f"notify-{row.id}",
            "Variable": f"TRACUU_NOTIFY={row.id}",
            "Async": "true",
        }
        log.info("originating notification %s to %s", row.id, mask_msisdn(row.phone))
        self.originated += 1
        try:
            reply = await self._client.action(fields)
        except (AmiError, TimeoutError) as exc:
            # Unknown whether Asterisk got it: stay 'originating'; _reconcile decides later.
            log.warning("Originate %s unconfirmed: %s", row.id, type(exc).__name__)
            return
        if reply.get("Response") != "Success":
            await self._retry(row.id, row.attempts + 1, "rejected")

    async def _result(self, event: AmiMessage) -> None:
        _, notify_id, attempt = str(event.get("ActionID", "")).split("/", 2)
        if event.get("Response") == "Success":
            # Answered: the notify route marks it done when the AGI connects.
            return
        reason = NO_ANSWER_REASONS.get(str(event.get("Reason", "0")), "failed")
        await self._retry(notify_id, int(attempt), reason)

    async def _retry(self, notify_id: str, attempts: int, reason: str) -> None:
        now = self._clock()
        if attempts >= self._settings.notify_attempts:
            await self._store.mark(
                notify_id, "failed", now, outcome=reason, only_from=("originating",)
            )
            log.info("notification %s failed after %d attempts (%s)", notify_id, attempts, reason)
            return
        backoff = self._settings.notify_retry_s * (2 ** (attempts - 1))
        await self._store.mark(
            notify_id,
            "pending",
            now,
            outcome=reason,
            next_at=now + timedelta(seconds=backoff),
            only_from=("originating",),
        )

    async def _reconcile(self) -> None:
        """Attempts whose response was lost (reconnect, restart): settle them on evidence."""
        now = self._clock()
        ring_over = timedelta(seconds=self._settings.originate_timeout_s + 30)
        for row in await self._store.in_state("originating"):
            if self._monitor.has_account(f"notify-{row.id}"):
                continue  # still ringing or talking
            if now - row.updated_at > ring_over:
                await self._retry(row.id, row.attempts, "no_response")


class AmiMonitor:
    """Wires the client, the monitor, the dialer and the bus; `run()` until cancelled."""

    def __init__(
        self,
        settings: AmiSettings,
        bus: EventBus,
        store: IvrStore | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        zone: tzinfo = UTC,
    ) -> None:
        self.lines = LineMonitor()
        self.bus = bus
        self.client = AmiClient(
            settings,
            on_event=self._event,
            on_connected=self._resync,
            on_disconnected=self._lost,
        )
        self._up = False  # logged in and resynced: what the console's /readyz reports
        self.dialer = (
            Dialer(settings, store, self.client, self.lines, clock=clock, zone=zone)
            if store
            else None
        )

    def _event(self, event: AmiMessage) -> None:
        if self.dialer is not None:
            self.dialer.on_event(event)
        if self.lines.handle(event):
            self._publish()

    async def _resync(self) -> None:
        self.lines.synced = False
        listing = await self.client.action({"Action": "CoreShowChannels"}, as_list=True)
        self.lines.resync(list(listing) if isinstance(listing, list) else [])
        self._up = True
        self._publish()

    def _lost(self) -> None:
        # The last snapshot stays on the bus for late readers: without this it would
        # go on saying "connected" through an outage.
        self._up = False
        self._publish()

    def _publish(self) -> None:
        self.bus.publish("lines", {**self.lines.snapshot(), "connected": self._up}, key="asterisk")

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self.client.run())
            if self.dialer is not None:
                tasks.create_task(self.dialer.run())
