"""What each PDU from the SMSC does to the outbox, and what we answer (no sockets).

The link thread (sms/link.py) reads PDUs and hands them here one batch at a
time; the batch is applied to the outbox in one transaction and only then
acknowledged: deliver_sm_resp ESME_ROK goes out once the incoming row is
committed, ESME_RX_T_APPN if the commit failed (the SMSC delivers again).
The answers come back as bytes for the link to write; the pacing signals
(accepted, throttled parts) come back as send times for the link's Pacer.

Faults (SMPP 3.4 §4.3): an unknown request gets generic_nack ESME_RINVCMDID
and the link goes on; a body we cannot read gets its response with the error
status the codec marked (ESME_RINVOPTPARSTREAM for a TLV cut short).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from kernel.db import DB_ERRORS
from kernel.logs import mask_msisdn
from sms import pdu as wire
from sms.address import to_msisdn
from sms.codec import (
    DC_GSM,
    ESM_RECEIPT,
    ESM_UDHI,
    decode_incoming,
    parse_receipt,
    to_default_alphabet,
)
from sms.outbox import Outbox, PartToSend
from sms.routes import RouteFilter
from sms.settings import SmppSettings

log = logging.getLogger("sms.link")  # one logger for the link, whichever module speaks


@dataclass
class InFlight:
    part: PartToSend
    sent_at: float
    leased_at: float = -1.0  # the link's clock at the claim or the last renew_leases()

    def __post_init__(self) -> None:
        if self.leased_at < 0:
            self.leased_at = self.sent_at


@dataclass
class Counters:
    """For tests, the console and benchmarks (read-only from other threads)."""

    submitted: int = 0
    throttled: int = 0
    receipts: int = 0
    reconnects: int = 0


class CountersView:
    """The link's counters as attributes, for the pump and the console: one link in a
    thread (SmppLink) and one in a worker process (LinkProcess) answer alike."""

    counters: Counters

    @property
    def submitted(self) -> int:
        return self.counters.submitted

    @property
    def throttled(self) -> int:
        return self.counters.throttled

    @property
    def receipts(self) -> int:
        return self.counters.receipts

    @property
    def reconnects(self) -> int:
        return self.counters.reconnects


@dataclass
class Batch:
    """What one batch of PDUs brought, for the link's loop."""

    accepted: list[float] = field(default_factory=list)  # send times of accepted parts
    throttled: list[float] = field(default_factory=list)  # send times of ESME_RTHROTTLED
    queue_full: bool = False  # ESME_RMSGQFUL: the SMSC wants a pause, whatever the rate
    inbound: bool = False
    enquire_answered: bool = False
    requeued: bool = False
    store_failed: bool = False
    unbound: bool = False  # the SMSC sent unbind (unbind_resp is in `replies`)
    replies: list[bytes] = field(default_factory=list)  # answers that need no commit
    acks: list[tuple[str, int, int]] = field(default_factory=list)  # (resp, seq, status)


class Dispatcher:
    """Applies PDUs to the outbox; owns the window of submit_sm awaiting their answer."""

    def __init__(
        self,
        settings: SmppSettings,
        outbox: Outbox,
        counters: Counters,
        wall: Callable[[], float],
        route: Callable[[], RouteFilter | None] = lambda: None,
        *,
        scope: str = "",
    ) -> None:
        self.settings = settings
        # With several binds: the numbers this one sends to now (sms/routes.py).
        self.route = route
        # With several binds: this bind's name, kept with each SMSC message id so a
        # receipt from one SMSC never matches another's part with the same id.
        self.scope = scope
        self.outbox = outbox
        self.counters = counters
        self.wall = wall
        self.inflight: dict[int, InFlight] = {}
        self.addressing = wire.Addressing(
            source_addr=settings.source_addr,
            source_ton=settings.source_ton,
            source_npi=settings.source_npi,
            dest_ton=settings.dest_ton,
            dest_npi=settings.dest_npi,
            registered_delivery=settings.registered_delivery,
        )

    # ------------------------------------------------------------ outgoing

    def claim(self, limit: int) -> list[PartToSend]:
        """Up to `limit` due parts, marked 'submitting' and committed before any byte leaves."""
        try:
            parts = self.outbox.claim(limit, self.wall(), self.route())
            self.outbox.commit()
            return parts
        except DB_ERRORS:
            self.outbox.rollback()
            log.exception("outbox unavailable; not sending for now")
            return []

    def submit(self, part: PartToSend, sequence: int, now: float) -> bytes:
        """The submit_sm for a claimed part; it joins the window."""
        payload = part.payload
        alphabet = self.settings.default_alphabet
        if part.data_coding == DC_GSM and alphabet != "gsm":
            payload = to_default_alphabet(payload, part.esm_class, alphabet)
        self.inflight[sequence] = InFlight(part, now)
        return wire.submit_sm(
            sequence, self.addressing, msisdn=part.msisdn, esm_class=part.esm_class,
            data_coding=part.data_coding, payload=payload,
        )  # fmt: skip

    def next_due(self) -> float | None:
        """Wall time of the next queued part, None if none; raises one of kernel.db.DB_ERRORS."""
        return self.outbox.next_due(self.route())

    def oldest_sent_at(self) -> float | None:
        return min((e.sent_at for e in self.inflight.values()), default=None)

    def renew_leases(self, now: float, after_s: float) -> int:
        """Parts in flight for `after_s` (the link's clock) or more since their claim or
        last renewal: their lease starts again (sms/lease.py). A link that is behind, its
        answers waiting unread in its socket (_keep_alive lets it be), is still their
        owner; without this another instance's sweep took them after lease_s and sent
        them again: duplicates beyond the one window the outbox allows for a dead link."""
        due = [e for e in self.inflight.values() if now - e.leased_at >= after_s]
        if not due:
            return 0
        try:
            self.outbox.renew([(e.part.message_id, e.part.seq) for e in due], self.wall())
            self.outbox.commit()
        except DB_ERRORS:
            self.outbox.rollback()
            log.warning("could not renew the lease of %d parts in flight", len(due))
            return 0
        for entry in due:
            entry.leased_at = now
        return len(due)

    def requeue_inflight(self) -> None:
        """The connection is gone: parts sent without an answer go back (uncertain)."""
        try:
            for entry in self.inflight.values():
                self.outbox.requeue(entry.part.message_id, entry.part.seq)
            self.outbox.commit()
        except DB_ERRORS:
            log.exception("could not requeue in-flight parts; recover() will at next start")
        self.inflight.clear()

    # ------------------------------------------------------------ incoming

    def handle(self, pdu: wire.Pdu, got: Batch) -> None:
        """Apply one PDU in the open transaction; answers go into `got`."""
        command = pdu.command
        if pdu.malformed:
            log.warning("malformed %s from the SMSC rejected: status %#x", command, pdu.malformed)
            if command in ("deliver_sm", "data_sm"):
                got.acks.append((f"{command}_resp", pdu.sequence, pdu.malformed))
            elif not pdu.is_response:
                got.replies.append(wire.response("generic_nack", pdu.sequence, pdu.malformed))
            return
        if command in ("submit_sm_resp", "generic_nack"):
            entry = self.inflight.pop(pdu.sequence, None)
            if entry is None:
                if command == "generic_nack":
                    log.warning("generic_nack %#x for sequence %s", pdu.status, pdu.sequence)
                return
            self._submit_result(entry, pdu, got)
        elif command in ("deliver_sm", "data_sm"):
            ok = self._incoming(pdu, got)
            got.acks.append((f"{command}_resp", pdu.sequence, wire.ROK if ok else wire.RETRY_LATER))
        elif command == "enquire_link":
            got.replies.append(wire.response("enquire_link_resp", pdu.sequence))
        elif command == "enquire_link_resp":
            got.enquire_answered = True
        elif command == "unbind":
            got.replies.append(wire.response("unbind_resp", pdu.sequence))
            got.unbound = True
        elif not pdu.is_response and pdu.command_id not in wire.NO_RESPONSE:
            # SMPP 3.4 §4.3: an unknown or unsupported request gets generic_nack RINVCMDID.
            log.warning("generic_nack for %s from the SMSC", command)
            got.replies.append(wire.response("generic_nack", pdu.sequence, wire.INVALID_COMMAND_ID))
        elif command != "unbind_resp":
            log.info("ignoring %s from the SMSC", command)

    def commit(self, got: Batch) -> list[bytes]:
        """Store what the batch brought, then the answers to send: ESME_ROK only once
        committed, a retry-later status if the commit failed (the SMSC delivers again)."""
        stored = True
        try:
            self.outbox.commit()
        except DB_ERRORS:
            self.outbox.rollback()
            stored = False
            got.inbound = False
            log.exception("could not store incoming SMS; the SMSC will retry them")
        acks = [wire.response(c, q, _ack_status(st, stored)) for c, q, st in got.acks]
        return got.replies + acks

    def _submit_result(self, entry: InFlight, pdu: wire.Pdu, got: Batch) -> None:
        s, part, status = self.settings, entry.part, pdu.status
        wall = self.wall()
        if status == wire.ROK:
            got.accepted.append(entry.sent_at)
            single = not part.esm_class & ESM_UDHI  # only split messages carry a UDH
            message_id = pdu.message_id.decode("latin-1")
            self.outbox.submitted(
                part.message_id, part.seq, message_id, wall, single=single, scope=self.scope
            )
        elif status in (wire.THROTTLED, wire.QUEUE_FULL):
            if status == wire.THROTTLED:
                got.throttled.append(entry.sent_at)
            else:
                got.queue_full = True
            self.counters.throttled += 1
            # Same queue position: the part goes out again first.
            self.outbox.retry(part.message_id, part.seq, status, None, wall)
        elif status in wire.TEMPORARY and part.attempts < s.max_attempts:
            delay = s.retry_delay_s * 2.0 ** (part.attempts - 1)
            self.outbox.retry(part.message_id, part.seq, status, wall + delay, wall)
            got.requeued = True
        else:
            reason = f"submit_sm_resp {status:#x} after {part.attempts} attempt(s)"
            log.warning("outbox %d part %d failed: %s", part.message_id, part.seq, reason)
            self.outbox.fail(part.message_id, part.seq, status, reason, wall)

    def _incoming(self, pdu: wire.Pdu, got: Batch) -> bool:
        """Store a deliver_sm (message or receipt) in the open transaction; False if not."""
        alphabet = self.settings.default_alphabet
        message_type = pdu.esm_class & 0x3C  # SMPP 3.4 §5.2.12
        payload = pdu.message_payload or None
        try:
            if message_type not in (0, ESM_RECEIPT) and not pdu.receipted_message_id:
                # SME acknowledgements, conversation abort, intermediate notifications:
                # acknowledged, never taken for a citizen's message.
                log.info("deliver_sm with esm_class %#x acknowledged, not stored", pdu.esm_class)
                return True
            if message_type == ESM_RECEIPT or pdu.receipted_message_id:
                text, _ = decode_incoming(
                    pdu.data_coding, 0, pdu.short_message, payload, alphabet=alphabet
                )
                receipted = (pdu.receipted_message_id or b"").decode("latin-1").strip("\0")
                receipt = parse_receipt(text, receipted or None, pdu.message_state)
                if receipt is None:
                    log.warning("unreadable delivery receipt ignored")
                    return True
                self.counters.receipts += 1
                if not self.outbox.apply_receipt(receipt, self.wall(), self.scope):
                    log.info("receipt for id %s kept until its submit_sm_resp", receipt.message_id)
                return True
            sar = None
            if pdu.sar_msg_ref_num is not None:
                sar = (pdu.sar_msg_ref_num, pdu.sar_total_segments or 0,
                       pdu.sar_segment_seqnum or 0)  # fmt: skip
            text, concat = decode_incoming(
                pdu.data_coding, pdu.esm_class, pdu.short_message, payload, sar,
                alphabet=alphabet,
            )  # fmt: skip
            msisdn = to_msisdn(pdu.source_addr.decode("latin-1"))
            stored = self.outbox.store_part_or_message(
                msisdn, text, concat, self.wall(), ton=pdu.source_ton
            )
            if stored is not None:
                got.inbound = True
            log.info("incoming SMS from %s stored", mask_msisdn(msisdn))
            return True
        except DB_ERRORS:
            log.exception("could not store an incoming SMS")
            got.store_failed = True
            return False


def _ack_status(status: int, stored: bool) -> int:
    """A deliver_sm_resp's status: ROK only once the batch is committed."""
    return wire.RETRY_LATER if status == wire.ROK and not stored else status
