"""The asyncio side of SMS: incoming rows -> replies in the outbox -> the link.

The link thread stores incoming messages and rings us (on_inbound); we answer
each stored message and queue the reply in the same transaction that marks it
handled, so a crash at any point neither loses a question nor answers it twice
(sms_message.inbound_id is unique). Other components queue messages through
send(), which rings the link's doorbell. Link state goes to the event bus.

This side uses its own synchronous SQLite connection: every statement is a
short local write in WAL mode, cheaper than a thread hop per row.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from gateway.settings import Settings
from kernel.bus import EventBus
from kernel.logs import mask_msisdn
from lookup.port import DossierLookup
from prompts.catalog import Catalog, load_catalog
from sms import commands, replies
from sms.address import is_phone_number
from sms.link import SmppLink
from sms.outbox import Outbox, migrate_file
from sms.replies import ReplyContext
from sms.responder import Answer, answer
from sms.settings import SmppSettings

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


def reply_context(settings: Settings, catalog: Catalog, today: date) -> ReplyContext:
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
        settings: Settings,
        lookup: DossierLookup,
        bus: EventBus | None = None,
        *,
        smpp: SmppSettings | None = None,
        catalog: Catalog | None = None,
        wall: Callable[[], float] = time.time,
        outbox_path: Path | None = None,
    ) -> None:
        self.settings = settings
        self.smpp = smpp or settings.smpp
        self.lookup = lookup
        self.bus = bus
        self.catalog = catalog or load_catalog()
        self.wall = wall
        # The SMS tables live in the dossier database unless told otherwise (`sms text`).
        self.database = outbox_path or Path(settings.sqlite_path)
        self.outbox: Outbox | None = None
        self.link: SmppLink | None = None
        self._inbound = asyncio.Event()
        self.replied = 0
        self.link_restarts = 0
        self._pruned_at = 0.0  # at the first turn, then every PRUNE_EVERY_S
        self.ready = asyncio.Event()
        self.link_state = ("down", "")  # the link's last (state, detail), e.g. for send-test
        self.bind_refused = ""  # why the SMSC refused the last bind ("" = it did not)

    async def run(self) -> None:
        """Run until cancelled; the link is unbound and joined on the way out."""
        await migrate_file(self.database)
        loop = asyncio.get_running_loop()
        self.outbox = Outbox.open(self.database)
        self.link = self._start_link(loop)
        self.ready.set()
        tick = min(5.0, self.settings.sms.reassembly_timeout_s / 4)
        try:
            self._inbound.set()  # rows stored before a crash are answered first
            while True:
                if not self.link.alive:
                    # The thread catches everything in its loop; if it died anyway, say so
                    # loudly and start another (the outbox keeps every message meanwhile).
                    self.link_restarts += 1
                    log.error("sms: the SMPP link thread died; restarting it")
                    self._publish("dead", "link thread died; restarted")
                    self.link.stop(0.0)  # joins the dead thread, closes its wake-up sockets
                    self.link = self._start_link(loop)
                try:
                    async with asyncio.timeout(tick):
                        await self._inbound.wait()
                except TimeoutError:
                    pass
                self._inbound.clear()
                try:
                    if self.wall() - self._pruned_at >= PRUNE_EVERY_S:
                        self.prune()
                    await self.handle_pending()
                except sqlite3.Error:
                    # The rows stay 'new' and are answered on the next tick.
                    log.exception("sms: database unavailable while answering; retrying")
        finally:
            await asyncio.to_thread(self.link.stop, 10.0)
            self.outbox.close()

    def prune(self) -> tuple[int, int]:
        """Retention (sms.retention_days): forget old texts and phone numbers."""
        assert self.outbox is not None
        now = self.wall()
        self._pruned_at = now
        days = self.settings.sms.retention_days
        if not days:
            return 0, 0
        with self.outbox.transaction():
            inbound, messages = self.outbox.prune(now - days * 86_400.0)
        if inbound or messages:
            log.info("sms retention: %d incoming and %d sent messages deleted", inbound, messages)
        return inbound, messages

    def _start_link(self, loop: asyncio.AbstractEventLoop) -> SmppLink:
        link = SmppLink(
            self.smpp,
            self.database,
            on_inbound=lambda: _call_soon(loop, self._inbound.set),
            on_state=lambda state, detail: _call_soon(loop, self._publish, state, detail),
        )
        link.start()
        return link

    def _publish(self, state: str, detail: str) -> None:
        self.link_state = (state, detail)
        if state == "refused":
            self.bind_refused = detail
        elif state == "up":
            self.bind_refused = ""
        if self.bus is not None:
            self.bus.publish("sms", {"link": state, "detail": detail}, key="link")

    async def handle_pending(self) -> int:
        """Answer every stored, unanswered message; expire incomplete multipart ones."""
        outbox = self.outbox
        assert outbox is not None
        now = self.wall()
        with outbox.transaction():
            outbox.expire_partials(now - self.settings.sms.reassembly_timeout_s, now)
        handled = 0
        while batch := outbox.pending_inbound(100):
            for inbound in batch:
                if not is_phone_number(inbound.msisdn, inbound.ton):
                    # Stored (the SMSC got its ESME_ROK), never answered.
                    with outbox.transaction():
                        outbox.mark_handled(inbound.id)
                    log.info("sms from a non-phone sender stored, not answered")
                    continue
                today = datetime.fromtimestamp(now, self.settings.zone).date()
                ctx = reply_context(self.settings, self.catalog, today)
                try:
                    reply = await answer(
                        inbound.body,
                        inbound.msisdn,
                        lookup=self.lookup,
                        outbox=outbox,
                        ctx=ctx,
                        settings=self.settings.sms,
                        now=now,
                    )
                except sqlite3.Error:
                    raise  # the database: the row stays 'new', retried next tick
                except Exception:
                    # A bug on one message must neither stop the pump nor come back
                    # every tick: the row is kept, the citizen gets "system busy".
                    log.exception("sms: could not answer incoming message %d", inbound.id)
                    outbox.rollback()
                    reply = Answer(replies.busy_reply(ctx), commands.Unrecognised(""))
                with outbox.transaction():
                    outbox.mark_handled(inbound.id)
                    if not reply.text:
                        continue  # a repeated refusal: answered by silence
                    outbox.enqueue(
                        inbound.msisdn,
                        reply.text,
                        kind="reply",
                        accents=self.settings.sms.accents,
                        now=now,
                        inbound_id=inbound.id,
                    )
                log.info("reply to %s queued", mask_msisdn(inbound.msisdn))
                handled += 1
            self.replied += len(batch)
            self.wake()
        return handled

    def wake(self) -> None:
        if self.link is not None:
            self.link.wake()

    def send(self, msisdn: str, text: str, *, kind: str, dedup_key: str | None = None,
             not_before: float = 0.0) -> int | None:  # fmt: skip
        """Queue one message (committed) and ring the link."""
        assert self.outbox is not None
        with self.outbox.transaction():
            message_id = self.outbox.enqueue(
                msisdn,
                text,
                kind=kind,
                accents=self.settings.sms.accents,
                now=self.wall(),
                not_before=not_before,
                dedup_key=dedup_key,
            )
        self.wake()
        return message_id


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: str) -> None:
    """From the link thread into the loop (a closed loop raises RuntimeError: ignored)."""
    loop.call_soon_threadsafe(callback, *args)
