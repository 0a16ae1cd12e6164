"""The asyncio side of SMS: incoming rows -> replies in the outbox -> the link.

The link thread stores incoming messages and rings us (on_inbound); we answer
each stored message and queue the reply in the same transaction that marks it
handled, so a crash at any point neither loses a question nor answers it twice
(sms_message.inbound_id is unique). Other components queue messages through
send(), which rings the link's doorbell. Link state goes to the event bus.

Off the loop: every read and write of this side is a kernel.db job. A message
is answered in three steps: the sender's state read (one read job), the answer
composed on the loop (the lookup awaited there), then one write job that applies
what the policy decided, marks the message handled and queues the reply.
Retention deletes in slices of PRUNE_SLICE rows, one short write job each.
send() (the CLI's send-test and tests) is one write job too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from kernel.bus import EventBus
from kernel.db import Conn, Database, DatabaseError, Location
from kernel.logs import mask_msisdn
from lookup.port import DossierLookup
from prompts.catalog import Catalog, load_catalog
from sms import commands, replies
from sms.address import is_phone_number
from sms.incoming import Inbound
from sms.lease import LeaseSweeper
from sms.link import SmppLink
from sms.link_process import LinkProcess
from sms.outbox import COMPONENT, STEPS, Outbox
from sms.replies import ReplyContext
from sms.responder import Answer, answer
from sms.routes import OTHER, RouteBind, RouteFilter, Routes
from sms.senders import Deferred
from sms.settings import SmppSettings, SmsConfig

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0
PRUNE_SLICE = 2000  # rows per retention write job: other writers get the writer between


def reply_context(settings: SmsConfig, catalog: Catalog, today: date) -> ReplyContext:
    return ReplyContext(
        catalog=catalog,
        office=settings.office,
        today=today,
        accents=settings.sms.accents,
        short_code=settings.smpp.source_addr,
        max_parts=settings.sms.max_parts,
    )


class SmsPump:
    def __init__(
        self,
        settings: SmsConfig,
        lookup: DossierLookup,
        bus: EventBus | None = None,
        *,
        smpp: SmppSettings | None = None,
        catalog: Catalog | None = None,
        wall: Callable[[], float] = time.time,
        outbox_path: Path | None = None,
        db: Database | None = None,
        link_process: bool = False,
    ) -> None:
        """`db`: the process's Database (kernel.db) on the same file; None: its own.
        `link_process`: each bind's link in a worker process (sms/link_process.py, as
        the gateway runs it: settings.sms.link_mode), else a thread of this process."""
        self.settings = settings
        self.smpp = smpp or settings.smpp
        self.lookup = lookup
        self.bus = bus
        self.catalog = catalog or load_catalog()
        self.wall = wall
        # The SMS tables live in the dossier database unless told otherwise (`sms text`).
        self.database: Location = outbox_path or settings.database
        self.db = db
        self._own_db = db is None
        # One link per SMSC bind (sms/routes.py routes each number to one of them).
        self.binds = self.smpp.resolved_binds()
        self.routes = Routes(
            [RouteBind(b.name, frozenset(b.networks), b.default) for b, _ in self.binds]
        )
        self.link_process = link_process
        self.links: dict[str, SmppLink | LinkProcess] = {}
        self.bind_states: dict[str, tuple[str, str]] = {}
        self._inbound = asyncio.Event()
        self.replied = 0
        self.link_restarts = 0
        self._pruned_at = 0.0  # at the first turn, then every PRUNE_EVERY_S
        # Several instances on PostgreSQL: a dead one's parts in flight (sms/lease.py).
        self.leases: LeaseSweeper | None = None
        self.ready = asyncio.Event()
        self.link_state = ("down", "")  # the link's last (state, detail), e.g. for send-test
        self.bind_refused = ""  # why the SMSC refused the last bind ("" = it did not)

    async def run(self) -> None:
        """Run until cancelled; the link is unbound and joined on the way out."""
        if self.db is None:
            self.db = await Database.open(self.database)
        await self.db.migrate(COMPONENT, STEPS)
        if self.db.backend == "postgresql":
            self.leases = LeaseSweeper(self.db, self.smpp.lease_s, self.wall)
        loop = asyncio.get_running_loop()
        for bind, smpp in self.binds:
            self.links[bind.name] = self._start_link(loop, bind.name, smpp)
        self.ready.set()
        tick = min(5.0, self.settings.sms.reassembly_timeout_s / 4)
        try:
            self._inbound.set()  # rows stored before a crash are answered first
            while True:
                for (bind, smpp), link in zip(self.binds, list(self.links.values()), strict=True):
                    if link.alive:
                        continue
                    # The thread catches everything in its loop; if it died anyway, say so
                    # loudly and start another (the outbox keeps every message meanwhile).
                    self.link_restarts += 1
                    log.error("sms: the SMPP link thread (bind %s) died; restarting it", bind.name)
                    self._publish(bind.name, "dead", "link thread died; restarted")
                    link.stop(0.0)  # joins the dead thread, closes its wake-up sockets
                    self.links[bind.name] = self._start_link(loop, bind.name, smpp)
                self._publish_counters()
                try:
                    async with asyncio.timeout(tick):
                        await self._inbound.wait()
                except TimeoutError:
                    pass
                self._inbound.clear()
                try:
                    if self.wall() - self._pruned_at >= PRUNE_EVERY_S:
                        await self.prune()
                    await self.handle_pending()
                    if self.leases is not None and await self.leases.due():
                        self.wake()  # the parts taken over go out now
                except DatabaseError:
                    # The rows stay 'new' and are answered on the next tick.
                    log.exception("sms: database unavailable while answering; retrying")
        finally:
            # Every bind unbinds at once.
            await asyncio.gather(
                *(asyncio.to_thread(link.stop, 10.0) for link in self.links.values())
            )
            if self._own_db and self.db is not None:
                await self.db.close()

    async def prune(self) -> tuple[int, int]:
        """Retention (sms.retention_days): forget old texts and phone numbers, in slices."""
        db = self._db()
        now = self.wall()
        self._pruned_at = now
        days = self.settings.sms.retention_days
        if not days:
            return 0, 0
        older_than = now - days * 86_400.0
        inbound = messages = 0
        while True:
            some, many = await db.run(lambda c: Outbox(c).prune_slice(older_than, PRUNE_SLICE))
            inbound, messages = inbound + some, messages + many
            if some < PRUNE_SLICE and many < PRUNE_SLICE:
                break
        if inbound or messages:
            log.info("sms retention: %d incoming and %d sent messages deleted", inbound, messages)
        return inbound, messages

    @property
    def link(self) -> SmppLink | LinkProcess | None:
        """The first (or only) bind's link."""
        return next(iter(self.links.values()), None)

    def _start_link(
        self, loop: asyncio.AbstractEventLoop, name: str, smpp: SmppSettings
    ) -> SmppLink | LinkProcess:
        def route() -> RouteFilter | None:
            return self.routes.filter_for(name, self._available)

        link: SmppLink | LinkProcess
        if self.link_process:
            link = LinkProcess(
                smpp,
                # Where this process's Database really is (a test may have moved it).
                self.db.location if self.db is not None else self.database,
                on_inbound=self._inbound.set,
                on_state=lambda state, detail: self._publish(name, state, detail),
                available=lambda: {b.name: self._available(b.name) for b, _ in self.binds},
                binds=tuple(self.routes.binds) if len(self.binds) > 1 else (),
                name=name,
                receipt_scope=name if len(self.binds) > 1 else "",
                nice=self.settings.sms.link_nice,
                log_zone=self.settings.zone,
            )
            link.start()
            return link
        link = SmppLink(
            smpp,
            self.database,
            on_inbound=lambda: _call_soon(loop, self._inbound.set),
            on_state=lambda state, detail: _call_soon(loop, self._publish, name, state, detail),
            route=route if len(self.binds) > 1 else lambda: None,
            name=name,
            # One bind keeps SMSC ids as they are (rows from before an upgrade still match).
            receipt_scope=name if len(self.binds) > 1 else "",
        )
        link.start()
        return link

    def _available(self, name: str) -> bool:
        """Whether a bind sends now (read from the link threads: a dict lookup)."""
        link = self.links.get(name)
        return link is not None and link.state == "up"

    def _publish(self, name: str, state: str, detail: str) -> None:
        self.bind_states[name] = (state, detail)
        if state == "refused":
            self.bind_refused = detail
        elif state == "up":
            self.bind_refused = ""
        # Who owns which network may have changed: every link looks at the outbox again.
        for link in self.links.values():
            with contextlib.suppress(OSError):  # a link stopped meanwhile (shutdown)
                link.wake()
        states = [self.bind_states.get(b.name, ("down", ""))[0] for b, _ in self.binds]
        if len(self.binds) == 1:
            self.link_state = (state, detail)
        elif "up" in states:
            self.link_state = ("up", f"{states.count('up')} of {len(states)} binds up")
        else:
            self.link_state = (state, f"no bind up ({name}: {detail or state})")
        if self.bus is not None:
            link_state, link_detail = self.link_state
            self.bus.publish("sms", {"link": link_state, "detail": link_detail}, key="link")
            self._publish_counters()  # every bind: which networks each serves may change

    def bind_event(self, name: str) -> dict[str, object]:
        """One bind's state for the console's board and metrics (bus topic "sms")."""
        smpp = next(s for b, s in self.binds if b.name == name)
        bind = next(b for b, _ in self.binds if b.name == name)
        state, detail = self.bind_states.get(name, ("down", ""))
        link = self.links.get(name)
        owners = self.routes.owners(self._available)
        return {
            "bind": name,
            "state": state,  # connecting, up, throttled, down, refused, dead, stopped
            "detail": detail,
            "host": smpp.host,
            "port": smpp.port,
            "networks": list(bind.networks),
            # The default route: numbers of networks no bind names (sms/routes.py).
            "default": self.routes.preference(OTHER)[0] == name,
            "serving": sorted(k for k, owner in owners.items() if owner == name),
            "tps": smpp.tps,
            "window": smpp.window,
            "submitted": link.submitted if link else 0,
            "throttled": link.throttled if link else 0,
            "receipts": link.receipts if link else 0,
            "reconnects": link.reconnects if link else 0,
        }

    def _publish_counters(self) -> None:
        """Every tick: the binds' counters move without a state change."""
        if self.bus is None:
            return
        for name in self.links:
            self.bus.publish("sms", self.bind_event(name), key=f"bind:{name}")

    def _db(self) -> Database:
        if self.db is None:
            raise RuntimeError("the pump is not running (run() opens its database)")
        return self.db

    async def handle_pending(self) -> int:
        """Answer every stored, unanswered message; expire incomplete multipart ones."""
        db = self._db()
        now = self.wall()
        timeout_s = self.settings.sms.reassembly_timeout_s
        await db.run(lambda c: Outbox(c).expire_partials(now - timeout_s, now))
        handled = 0
        while batch := await db.read(lambda c: Outbox(c).pending_inbound(100)):
            for inbound in batch:
                if not is_phone_number(inbound.msisdn, inbound.ton):
                    # Stored (the SMSC got its ESME_ROK), never answered.
                    await db.run(functools.partial(_handled, inbound=inbound))
                    log.info("sms from a non-phone sender stored, not answered")
                    continue
                today = datetime.fromtimestamp(now, self.settings.zone).date()
                ctx = reply_context(self.settings, self.catalog, today)
                sender = await db.read(
                    functools.partial(Deferred.read, msisdn=inbound.msisdn, now=now)
                )
                try:
                    reply = await answer(
                        inbound.body,
                        inbound.msisdn,
                        lookup=self.lookup,
                        outbox=sender,
                        ctx=ctx,
                        settings=self.settings.sms,
                        now=now,
                    )
                except DatabaseError:
                    raise  # the database: the row stays 'new', retried next tick
                except Exception:
                    # A bug on one message must neither stop the pump nor come back
                    # every tick: the row is kept, the citizen gets "system busy".
                    log.exception("sms: could not answer incoming message %d", inbound.id)
                    sender.writes.clear()  # nothing of the failed answer is stored
                    reply = Answer(replies.busy_reply(ctx), commands.Unrecognised(""))
                await db.run(
                    functools.partial(
                        _handled, inbound=inbound, sender=sender, reply=reply.text,
                        accents=self.settings.sms.accents, now=now,
                    )
                )  # fmt: skip
                if reply.text:
                    log.info("reply to %s queued", mask_msisdn(inbound.msisdn))
                    handled += 1
            self.replied += len(batch)
            self.wake()
        return handled

    def wake(self) -> None:
        for link in self.links.values():
            link.wake()

    async def send(self, msisdn: str, text: str, *, kind: str, dedup_key: str | None = None,
                   not_before: float = 0.0) -> int | None:  # fmt: skip
        """Queue one message (committed, by a write job off the loop) and ring the link;
        None when dedup_key is already queued."""
        accents, now = self.settings.sms.accents, self.wall()
        message_id = await self._db().run(
            lambda conn: Outbox(conn).enqueue(
                msisdn, text, kind=kind, accents=accents, now=now, not_before=not_before,
                dedup_key=dedup_key,
            )
        )  # fmt: skip
        self.wake()
        return message_id


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: str) -> None:
    """From the link thread into the loop (a closed loop raises RuntimeError: ignored)."""
    loop.call_soon_threadsafe(callback, *args)


def _handled(
    conn: Conn,
    *,
    inbound: Inbound,
    sender: Deferred | None = None,
    reply: str = "",
    accents: bool = False,
    now: float = 0.0,
) -> None:
    """One incoming message answered, in one transaction: what the policy decided,
    the message marked handled, its reply queued (none: a repeated refusal)."""
    outbox = Outbox(conn)
    if sender is not None:
        sender.apply(outbox)
    outbox.mark_handled(inbound.id)
    if reply:
        outbox.enqueue(
            inbound.msisdn, reply, kind="reply", accents=accents, now=now, inbound_id=inbound.id
        )
