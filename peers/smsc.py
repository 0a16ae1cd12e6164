"""A small SMSC on loopback, for tests, benchmarks and demo mode.

Built on smpp.pdu3 (the codec vumi2 uses), not on the gateway's sms/pdu.py, so its
SMPP is checked against an independent implementation. PDUs are read by their
length prefix with readexactly. Behaviour comes from a Personality:
delivery receipts (delivered or failed, TLV and/or text, hex or decimal ids),
throttling (token bucket or a strict sliding second), slow responses, abrupt
disconnects, an SMSC-initiated unbind, TLS.
It records what it received; tests assert on that record in their own body.

Not a product SMSC: one bind at a time is the use case (later binds replace
the earlier one as the target of injected messages).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import itertools
import logging
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from peers import PeersExtraMissing

try:
    from smpp.pdu import constants
    from smpp.pdu import operations as ops
    from smpp.pdu import pdu_types as pt
    from smpp.pdu.pdu_encoding import DataCodingEncoder, PDUEncoder
except ModuleNotFoundError as missing:
    if (missing.name or "").partition(".")[0] != "smpp":
        raise
    raise PeersExtraMissing("the test SMSC (demo mode, tracuu sms text)") from None

log = logging.getLogger(__name__)

# GSM 03.38 basic table, written out again here on purpose: the SMSC must not
# share the gateway's codec, or a wrong table would pass its own test.
_GSM = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~",
            0x3E: "]", 0x40: "|", 0x65: "€"}  # fmt: skip
_GSM_IN = {ch: i for i, ch in enumerate(_GSM) if i != 0x1B}
_GSM_EXT_IN = {ch: i for i, ch in _GSM_EXT.items()}


def _gsm_text(data: bytes) -> str:
    out, esc = [], False
    for b in data:
        if esc:
            out.append(_GSM_EXT.get(b, " "))
            esc = False
        elif b == 0x1B:
            esc = True
        else:
            out.append(_GSM[b & 0x7F])
    return "".join(out)


def gsm_bytes(text: str) -> bytes:
    out = bytearray()
    for ch in text:
        if ch in _GSM_IN:
            out.append(_GSM_IN[ch])
        else:
            out += bytes((0x1B, _GSM_EXT_IN[ch]))
    return bytes(out)


@dataclass
class Personality:
    """How this SMSC behaves. Defaults: a polite, fast SMSC that sends receipts."""

    receipts: str | None = "delivered"  # "delivered" | "failed" | "expired" | None
    receipt_via: str = "both"  # "tlv" | "text" | "both"
    receipt_id_decimal: bool = False  # hex id in submit_sm_resp, decimal in the receipt
    receipt_before_resp: bool = False  # the receipt overtakes the submit_sm_resp
    submit_delay_s: float = 0.0  # each submit_sm_resp waits this long (responses in order)
    throttle_first: int = 0  # the first N submit_sm get ESME_RTHROTTLED
    syserr_first: int = 0  # the first N submit_sm get ESME_RSYSERR (a temporary error)
    queue_full_first: int = 0  # the first N submit_sm get ESME_RMSGQFUL (the SMSC's queue is full)
    max_tps: float | None = None  # beyond this (1-second window): ESME_RTHROTTLED
    # How max_tps is counted: "bucket" (token bucket, 100 ms burst) or "sliding" (at most
    # max_tps accepted submits in any sliding second, as strict operator SMSCs count).
    tps_counting: str = "bucket"
    tps_window_s: float = 1.0  # "sliding": the window max_tps is counted in
    reject_to: frozenset[str] = frozenset()  # destinations refused: ESME_RINVDSTADR
    drop_at: int | None = None  # abort the TCP connection on the Nth submit_sm (once)
    unbind_after: int | None = None  # send unbind after N submit_sm (answered)
    password: str | None = None  # if set, a bind with another password is refused
    answer_enquire_link: bool = True
    # Sent before bind_transceiver_resp (some SMSCs do): "deliver" = an MO deliver_sm
    # ("HS 000.00.18.H26-241129-0001" from 84900000009), "enquire" = an enquire_link.
    before_bind_resp: tuple[str, ...] = ()
    # How submit_sm_resp spells message ids: "hex", "hex0" (zero-padded upper-case hex,
    # 16 characters), "dec0" (zero-padded decimal, 20 characters). Receipts follow
    # receipt_id_decimal (plain decimal) or repeat the id as given.
    message_id_style: str = "hex"
    # submit_sm_resp and receipts packed with struct instead of smpp.pdu3 (incoming PDUs
    # are still decoded by pdu3). For benchmarks only: the tests keep pdu3 both ways, so
    # the gateway is always checked against an independent encoder there.
    fast_encoding: bool = False


@dataclass(frozen=True)
class Submitted:
    """One submit_sm as received."""

    destination: str
    source: str
    data_coding: int
    esm_class: int
    short_message: bytes
    message_id: str
    registered_delivery: int
    at: float
    # The system_id of the bind it came on: with several gateways bound at once, which
    # one sent it (the resilience record counts per gateway).
    system_id: str = ""

    @property
    def udh(self) -> tuple[int, int, int] | None:
        """(reference, total, seq) of an 8- or 16-bit concatenation header."""
        if not self.esm_class & 0x40:
            return None
        data = self.short_message
        header = data[1 : 1 + data[0]]
        i = 0
        while i + 1 < len(header):
            iei, size = header[i], header[i + 1]
            v = header[i + 2 : i + 2 + size]
            if iei == 0x00:
                return v[0], v[1], v[2]
            if iei == 0x08:
                return (v[0] << 8) | v[1], v[2], v[3]
            i += 2 + size
        return None

    @property
    def text(self) -> str:
        body = self.short_message
        if self.esm_class & 0x40:
            body = body[1 + body[0] :]
        if self.data_coding == 8:
            return body.decode("utf-16-be")
        if self.data_coding == 0:
            return _gsm_text(body)
        return body.decode("latin-1")


@dataclass
class Record:
    """Everything the SMSC saw, for the test body to assert on."""

    submits: list[Submitted] = field(default_factory=list)
    binds: list[tuple[str, str]] = field(default_factory=list)  # (command, system_id)
    unbinds_received: int = 0
    unbind_resps_received: int = 0
    enquire_links: int = 0
    throttled: int = 0
    deliver_resps: list[int] = field(default_factory=list)
    generic_nacks: list[tuple[int, int]] = field(default_factory=list)  # (sequence, status)
    responses: list[tuple[str, int, int]] = field(default_factory=list)  # (name, seq, status)
    connections: int = 0
    max_outstanding: int = 0  # most submit_sm received and not yet answered at once

    def texts_to(self, destination: str) -> list[str]:
        """Whole messages to one number: parts joined by their UDH, in arrival order."""
        out: list[str] = []
        groups: dict[tuple[int, int], dict[int, str]] = {}
        for s in self.submits:
            if s.destination != destination:
                continue
            udh = s.udh
            if udh is None:
                out.append(s.text)
                continue
            ref, total, seq = udh
            parts = groups.setdefault((ref, total), {})
            parts[seq] = s.text
            if len(parts) == total:
                out.append("".join(parts[i] for i in range(1, total + 1)))
                del groups[(ref, total)]
        return out


def _dc_int(data_coding: Any) -> int:
    return int(DataCodingEncoder()._encodeAsInt(data_coding))


def _raw_dc(value: int) -> pt.DataCoding:
    return pt.DataCoding(pt.DataCodingScheme.RAW, value)


class _Session:
    def __init__(self, smsc: TestSmsc, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:  # fmt: skip
        self.smsc, self.reader, self.writer = smsc, reader, writer
        self.codec = PDUEncoder()
        self.seq = itertools.count(1)
        self.pending: dict[int, asyncio.Future[int]] = {}
        self.bound = False
        self.system_id = ""
        self.closed = asyncio.Event()
        self.outstanding = 0
        self.unacked_receipts: dict[int, dict[str, Any]] = {}

    def send(self, pdu: Any) -> None:
        if not self.writer.is_closing():
            self.writer.write(self.codec.encode(pdu))

    async def run(self) -> None:
        try:
            while True:
                header = await self.reader.readexactly(4)
                (length,) = struct.unpack(">L", header)
                if not 16 <= length <= 65_536:
                    break
                body = await self.reader.readexactly(length - 4)
                pdu = self.codec.decode(io.BytesIO(header + body))
                if not await self.handle(pdu):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.closed.set()
            self.smsc.redeliver.extend(self.unacked_receipts.values())
            self.unacked_receipts.clear()
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("gateway gone"))
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    async def handle(self, pdu: Any) -> bool:
        p = self.smsc.personality
        rec = self.smsc.record
        name = pdu.id.name
        if name in ("bind_transceiver", "bind_transmitter", "bind_receiver"):
            system_id = pdu.params["system_id"].decode()
            rec.binds.append((name, system_id))
            self.system_id = system_id
            resp_cls = {"bind_transceiver": ops.BindTransceiverResp,
                        "bind_transmitter": ops.BindTransmitterResp,
                        "bind_receiver": ops.BindReceiverResp}[name]  # fmt: skip
            password = (pdu.params.get("password") or b"").decode()
            for early in p.before_bind_resp:
                self.send_early(early)
            if p.password is not None and password != p.password:
                self.send(resp_cls(seqNum=pdu.seqNum, status=pt.CommandStatus.ESME_RINVPASWD))
                return True
            self.send(resp_cls(seqNum=pdu.seqNum, system_id="TESTSMSC"))
            self.bound = True
            self.smsc._bound(self)
            waiting, self.smsc.redeliver = self.smsc.redeliver, []
            for fields in waiting:
                self.send_receipt_pdu(fields)
        elif name == "enquire_link":
            rec.enquire_links += 1
            await self.smsc._notify()
            if p.answer_enquire_link:
                self.send(ops.EnquireLinkResp(seqNum=pdu.seqNum))
        elif name == "unbind":
            rec.unbinds_received += 1
            self.send(ops.UnbindResp(seqNum=pdu.seqNum))
            await self.writer.drain()
            return False
        elif name == "unbind_resp":
            rec.unbind_resps_received += 1
            await self.smsc._notify()
            return False
        elif name == "generic_nack":
            rec.generic_nacks.append((pdu.seqNum, _status_int(pdu.status)))
            future = self.pending.pop(pdu.seqNum, None)
            if future is not None and not future.done():
                future.set_result(_status_int(pdu.status))
            await self.smsc._notify()
        elif name in ("deliver_sm_resp", "enquire_link_resp"):
            rec.responses.append((name, pdu.seqNum, _status_int(pdu.status)))
            receipt = self.unacked_receipts.pop(pdu.seqNum, None)
            if receipt is not None and _status_int(pdu.status) != 0:
                self.smsc.redeliver.append(receipt)
            future = self.pending.pop(pdu.seqNum, None)
            if future is not None and not future.done():
                future.set_result(_status_int(pdu.status))
        elif name == "submit_sm":
            return await self.submit(pdu)
        else:
            self.send(ops.GenericNack(seqNum=pdu.seqNum, status=pt.CommandStatus.ESME_RINVCMDID))
        return True

    def send_early(self, kind: str) -> None:
        seq = next(self.seq)
        if kind == "enquire":
            self.send(ops.EnquireLink(seqNum=seq))
            return
        self.send(ops.DeliverSM(
            seqNum=seq, source_addr="84900000009", destination_addr="8088",
            esm_class=pt.EsmClass(pt.EsmClassMode.DEFAULT, pt.EsmClassType.DEFAULT),
            data_coding=_raw_dc(0), short_message=b"HS 000.00.18.H26-241129-0001",
        ))  # fmt: skip

    async def submit(self, pdu: Any) -> bool:
        p, smsc = self.smsc.personality, self.smsc
        smsc.submit_count += 1
        n = smsc.submit_count
        if p.drop_at is not None and n == p.drop_at:
            self.writer.transport.abort()
            return False
        rec = self.smsc.record
        self.outstanding += 1
        rec.max_outstanding = max(rec.max_outstanding, self.outstanding)
        if p.submit_delay_s:
            # A slow SMSC answers each submit after a delay, without blocking the next one.
            asyncio.get_running_loop().call_later(p.submit_delay_s, self._answer, pdu, n)
        else:
            self._answer(pdu, n)
        return True

    def _answer(self, pdu: Any, n: int) -> None:
        p, rec, smsc = self.smsc.personality, self.smsc.record, self.smsc
        self.outstanding -= 1
        if self.writer.is_closing():
            return
        now = time.monotonic()
        destination = pdu.params["destination_addr"].decode()
        if n <= p.throttle_first or self._over_tps(now):
            rec.throttled += 1
            self.send(ops.SubmitSMResp(seqNum=pdu.seqNum, status=pt.CommandStatus.ESME_RTHROTTLED))
            return
        if n <= p.queue_full_first:
            rec.throttled += 1
            self.send(ops.SubmitSMResp(seqNum=pdu.seqNum, status=pt.CommandStatus.ESME_RMSGQFUL))
            return
        if n <= p.syserr_first:
            self.send(ops.SubmitSMResp(seqNum=pdu.seqNum, status=pt.CommandStatus.ESME_RSYSERR))
            return
        if destination in p.reject_to:
            self.send(ops.SubmitSMResp(seqNum=pdu.seqNum, status=pt.CommandStatus.ESME_RINVDSTADR))
            return
        number = next(smsc.ids)
        message_id = {
            "hex": format(number, "x"),
            "hex0": format(number, "016X"),
            "dec0": format(number, "020d"),
        }[p.message_id_style]
        reg = pdu.params.get("registered_delivery")
        no_receipt = "NO_SMSC_DELIVERY_RECEIPT_REQUESTED"
        registered = 1 if reg is not None and reg.receipt.name != no_receipt else 0
        submitted = Submitted(
            destination=destination,
            source=pdu.params["source_addr"].decode(),
            data_coding=_dc_int(pdu.params["data_coding"]),
            esm_class=_esm_int(pdu.params["esm_class"]),
            short_message=pdu.params.get("short_message") or b"",
            message_id=message_id,
            registered_delivery=registered,
            at=now,
            system_id=self.system_id,
        )
        rec.submits.append(submitted)
        if p.receipts and registered and p.receipt_before_resp:
            self.send_receipt(submitted, p.receipts)
        if p.fast_encoding:
            body = message_id.encode() + b"\0"
            self.writer.write(
                struct.pack(">LLLL", 16 + len(body), 0x80000004, 0, pdu.seqNum) + body
            )
        else:
            self.send(ops.SubmitSMResp(seqNum=pdu.seqNum, message_id=message_id))
        smsc._submitted()
        if p.receipts and registered and not p.receipt_before_resp:
            self.send_receipt(submitted, p.receipts)
        if p.unbind_after is not None and n == p.unbind_after:
            self.send(ops.Unbind(seqNum=next(self.seq)))

    def _over_tps(self, now: float) -> bool:
        """A token bucket of max_tps a second with a 100 ms burst, as most SMSC throughput
        limiters work; or, with tps_counting="sliding", a strict count of accepted submits
        in the last second (the strictest operator SMSCs)."""
        limit = self.smsc.personality.max_tps
        if limit is None:
            return False
        smsc = self.smsc
        if self.smsc.personality.tps_counting == "sliding":
            recent = smsc.accepted_at
            while recent and recent[0] <= now - self.smsc.personality.tps_window_s:
                recent.popleft()
            if len(recent) >= limit:
                return True
            recent.append(now)
            return False
        capacity = max(1.0, limit * 0.1)
        if smsc.tokens_at is None:
            smsc.tokens, smsc.tokens_at = capacity, now
        smsc.tokens = min(capacity, smsc.tokens + (now - smsc.tokens_at) * limit)
        smsc.tokens_at = now
        if smsc.tokens < 1.0:
            return True
        smsc.tokens -= 1.0
        return False

    def send_receipt(self, s: Submitted, outcome: str) -> None:
        p = self.smsc.personality
        stat, state = {
            "delivered": ("DELIVRD", pt.MessageState.DELIVERED),
            "failed": ("UNDELIV", pt.MessageState.UNDELIVERABLE),
            "expired": ("EXPIRED", pt.MessageState.EXPIRED),
        }[outcome]
        base = 10 if p.message_id_style == "dec0" else 16
        shown_id = str(int(s.message_id, base)) if p.receipt_id_decimal else s.message_id
        stamp = time.strftime("%y%m%d%H%M", time.gmtime())
        text = (f"id:{shown_id} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} "
                f"submit date:{stamp} done date:{stamp} stat:{stat} err:000 text:")  # fmt: skip
        params: dict[str, Any] = {}
        if p.receipt_via in ("tlv", "both"):
            params = {"receipted_message_id": shown_id, "message_state": state}
        body = text.encode() if p.receipt_via in ("text", "both") else b""
        fields = dict(
            source_addr=s.destination, destination_addr=s.source,
            esm_class=pt.EsmClass(pt.EsmClassMode.DEFAULT, pt.EsmClassType.SMSC_DELIVERY_RECEIPT),
            data_coding=_raw_dc(0), short_message=body, **params,
        )  # fmt: skip
        self.send_receipt_pdu(fields)

    def send_receipt_pdu(self, fields: dict[str, Any]) -> None:
        """Send a receipt; until its deliver_sm_resp says ESME_ROK it will be redelivered
        on the next bind, as SMSCs do (SMPP 3.4 §4.6.2: the SMSC keeps undelivered MTs)."""
        seq = next(self.seq)
        self.unacked_receipts[seq] = fields
        if self.smsc.personality.fast_encoding:
            self.writer.write(_packed_receipt(seq, fields))
        else:
            self.send(ops.DeliverSM(seqNum=seq, **fields))


def _packed_receipt(seq: int, fields: dict[str, Any]) -> bytes:
    """deliver_sm (SMPP 3.4 §4.6.1) for a receipt, packed by hand (fast_encoding)."""
    sm = fields["short_message"]
    body = b"".join((
        b"\0\x01\x01", fields["source_addr"].encode(), b"\0\x01\x01",
        fields["destination_addr"].encode(), b"\0", bytes((0x04, 0, 0)), b"\0\0",
        bytes((0, 0, 0, 0, len(sm))), sm,
    ))  # fmt: skip
    if "receipted_message_id" in fields:
        rid = fields["receipted_message_id"].encode() + b"\0"
        state = constants.message_state_name_map[fields["message_state"].name]
        body += struct.pack(">HH", 0x001E, len(rid)) + rid + struct.pack(">HHB", 0x0427, 1, state)
    return struct.pack(">LLLL", 16 + len(body), 0x00000005, 0, seq) + body


def _status_int(status: Any) -> int:
    """pdu3's CommandStatus enum member -> the SMPP command_status number."""
    return int(constants.command_status_name_map[status.name])


def _esm_int(esm: Any) -> int:
    value = 0
    value |= {"DEFAULT": 0, "DATAGRAM": 1, "FORWARD": 2, "STORE_AND_FORWARD": 3}.get(
        esm.mode.name, 0
    )
    for feature in esm.gsmFeatures:
        value |= {"UDHI_INDICATOR_SET": 0x40, "SET_REPLY_PATH": 0x80}.get(feature.name, 0)
    return value


class TestSmsc:
    """Start with `async with TestSmsc(personality) as smsc:`; port 0 picks a free port."""

    __test__ = False  # not a pytest class

    def __init__(self, personality: Personality | None = None, host: str = "127.0.0.1",
                 port: int = 0, tls: ssl.SSLContext | None = None) -> None:  # fmt: skip
        self.personality = personality or Personality()
        self.tls = tls  # SMPP over TLS (a server context), as some operators require
        self.record = Record()
        self.host, self.port = host, port
        self.ids = itertools.count(0x1A2B0000)
        self.submit_count = 0
        self.tokens = 0.0
        self.tokens_at: float | None = None
        self.accepted_at: collections.deque[float] = collections.deque()  # "sliding" counting
        self.redeliver: list[dict[str, Any]] = []  # receipts never acknowledged
        self._server: asyncio.Server | None = None
        self._sessions: set[_Session] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._current: _Session | None = None
        self._bound_event = asyncio.Event()
        self._changed = asyncio.Condition()
        self.on_submit: Callable[[], None] | None = None
        self._waiting = 0  # coroutines in wait_for: only then is every submit announced

    async def __aenter__(self) -> TestSmsc:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.record.connections += 1
        session = _Session(self, reader, writer)
        self._sessions.add(session)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            if task is not None:
                self._tasks.discard(task)
            if self._current is session:
                # Another gateway still bound on the account takes the injected messages,
                # as a real SMSC delivers to any bind of the account.
                others = [s for s in self._sessions if s.bound and not s.closed.is_set()]
                self._current = others[-1] if others else None
                if self._current is None:
                    self._bound_event.clear()
            await self._notify()

    def _bound(self, session: _Session) -> None:
        self._current = session
        self._bound_event.set()
        asyncio.get_running_loop().create_task(self._notify())

    def _submitted(self) -> None:
        if self.on_submit is not None:
            self.on_submit()
        if self._waiting:
            asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 60.0) -> None:
        """Wait (bounded) until predicate() holds; re-checked on every SMSC event."""
        self._waiting += 1
        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(predicate)
        finally:
            self._waiting -= 1

    async def wait_bound(self, timeout_s: float = 60.0) -> None:
        async with asyncio.timeout(timeout_s):
            await self._bound_event.wait()

    async def wait_submits(self, count: int, timeout_s: float = 60.0) -> None:
        await self.wait_for(lambda: len(self.record.submits) >= count, timeout_s)

    async def wait_disconnected(self, timeout_s: float = 60.0) -> None:
        await self.wait_for(lambda: self._current is None, timeout_s)

    @property
    def bound(self) -> bool:
        return self._current is not None

    @property
    def bound_ids(self) -> list[str]:
        """The system_ids bound now (several gateways may share the SMSC)."""
        return sorted(s.system_id for s in self._sessions if s.bound and not s.closed.is_set())

    async def deliver(
        self,
        source: str,
        text: str | None = None,
        *,
        destination: str = "8088",
        data_coding: int | None = None,
        short_message: bytes | None = None,
        esm_class: int = 0,
        timeout_s: float = 60.0,
        **tlvs: Any,
    ) -> int:
        """Send one MO deliver_sm to the bound gateway; return deliver_sm_resp's status."""
        await self.wait_bound(timeout_s)
        session = self._current
        assert session is not None
        if short_message is None:
            assert text is not None
            try:
                short_message, coding = gsm_bytes(text), 0
            except KeyError:
                short_message, coding = text.encode("utf-16-be"), 8
            data_coding = coding if data_coding is None else data_coding
        features = [pt.EsmClassGsmFeatures.UDHI_INDICATOR_SET] if esm_class & 0x40 else []
        seq = next(session.seq)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        session.pending[seq] = future
        session.send(ops.DeliverSM(
            seqNum=seq, source_addr=source, destination_addr=destination,
            esm_class=pt.EsmClass(pt.EsmClassMode.DEFAULT, pt.EsmClassType.DEFAULT, features),
            data_coding=_raw_dc(data_coding or 0), short_message=short_message, **tlvs,
        ))  # fmt: skip
        async with asyncio.timeout(timeout_s):
            status = await future
        self.record.deliver_resps.append(status)
        return status

    async def send_raw(self, data: bytes, *, answer_to: int | None = None,
                       timeout_s: float = 60.0) -> int | None:  # fmt: skip
        """Write bytes as they are (broken PDUs, unknown commands) to the bound gateway;
        with `answer_to` (a sequence number), wait for the response status to it."""
        await self.wait_bound(timeout_s)
        session = self._current
        assert session is not None
        future: asyncio.Future[int] | None = None
        if answer_to is not None:
            future = asyncio.get_running_loop().create_future()
            session.pending[answer_to] = future
        session.writer.write(data)
        if future is None:
            return None
        async with asyncio.timeout(timeout_s):
            return await future

    async def unbind(self, timeout_s: float = 60.0) -> None:
        """SMSC-initiated unbind (e.g. maintenance); the gateway must answer it."""
        session = self._current
        assert session is not None
        session.send(ops.Unbind(seqNum=next(session.seq)))
        async with asyncio.timeout(timeout_s):
            await session.closed.wait()

    def drop(self) -> None:
        """Abrupt disconnect of the current bind (no unbind)."""
        if self._current is not None:
            self._current.writer.transport.abort()


async def _serve_forever(args: Any) -> None:
    """`python -m peers.smsc`: a standalone SMSC; prints its port, then answers
    'stats' on stdin with a JSON line (used by bench/sms_bench.py). EOF stops it."""
    import json
    import sys

    personality = Personality(
        submit_delay_s=args.submit_delay,
        max_tps=args.max_tps,
        tps_counting=args.tps_counting,
        receipts=None if args.no_receipts else "delivered",
        password=args.password,
        fast_encoding=args.fast_encoding,
    )
    async with TestSmsc(personality, host=args.host, port=args.port) as smsc:
        print(f"listening {smsc.host} {smsc.port}", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            if line.strip() == b"stats":
                submits = smsc.record.submits
                print(json.dumps({
                    "submits": len(submits),
                    "throttled": smsc.record.throttled,
                    "first_at": submits[0].at if submits else None,
                    "last_at": submits[-1].at if submits else None,
                    "max_outstanding": smsc.record.max_outstanding,
                    "most_in_a_second": most_in_a_second([x.at for x in submits]),
                }), flush=True)  # fmt: skip


def most_in_a_second(times: list[float]) -> int:
    """The largest number of accepted submits in any sliding second [t, t + 1)."""
    most, start = 0, 0
    for end, at in enumerate(times):  # in arrival order
        while times[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="tracuu test SMSC (smpp.pdu3) on loopback")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--submit-delay", type=float, default=0.0, help="seconds per submit_sm")
    parser.add_argument("--max-tps", type=float, default=None, help="throttle above this")
    parser.add_argument("--tps-counting", choices=["bucket", "sliding"], default="bucket",
                        help="how --max-tps is counted")  # fmt: skip
    parser.add_argument("--no-receipts", action="store_true")
    parser.add_argument("--password", default=None, help="require this bind password")
    parser.add_argument("--fast-encoding", action="store_true", help="benchmarks: pack responses")
    asyncio.run(_serve_forever(parser.parse_args()))


if __name__ == "__main__":
    main()
