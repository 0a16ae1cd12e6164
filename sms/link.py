"""The SMPP link: one thread owns one smpplib client and its own outbox connection.

smpplib is blocking and has no locks (send_pdu, read_pdu and the sequence
counter share one socket), so exactly one thread ever touches the client. It
runs a select([socket, wakeup]) loop and our own PDU dispatch, because
smpplib's read_once neither answers an SMSC unbind nor drops the bind.

The outbox (SQLite) is the truth. Unlike the house-style sketch, this thread
writes its own state transitions through its own connection instead of
round-tripping each one to asyncio: a part is marked 'submitting' and
committed before its bytes leave, a submit_sm_resp or receipt is committed in
one batch per loop turn, and deliver_sm_resp ESME_ROK goes out only after the
incoming row is committed (ESME_RX_T_APPN if the commit fails, so the SMSC
retries). asyncio learns about new incoming rows and link state through
loop.call_soon_threadsafe callbacks; it rings wake() after queueing messages.

Flow control: a window of outstanding submit_sm, a token bucket counted per
part (tps), and a global pause on ESME_RTHROTTLED / ESME_RMSGQFUL during which
nothing is sent; the refused part goes back into the same ordered queue.

What is left of smpplib: the client object (socket holder, sequence counter,
_recv_exact). Connect (non-blocking, interrupted by stop()), bind_transceiver
(read until *its* response; a deliver_sm or enquire_link that comes first is
handled normally), every PDU we send and every PDU we read are ours.

Faults (SMPP 3.4 §4.3): an unknown request gets generic_nack ESME_RINVCMDID and
the link goes on; a body we cannot read gets its response with an error status
(ESME_RINVOPTPARSTREAM for a TLV cut short); a command_length outside 16..MAX_PDU
gets generic_nack ESME_RINVCMDLEN and the connection is dropped (the stream
cannot be resynchronised). Anything unexpected in the loop is logged with its
traceback and followed by a reconnect with backoff; the pump restarts the thread
should it die anyway.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import select
import socket
import sqlite3
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions

from kernel.logs import mask_msisdn
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
from sms.settings import SmppSettings

log = logging.getLogger(__name__)

# smpplib is untyped: the constants we use, named and typed once here.
ROK: int = smpplib.consts.SMPP_ESME_ROK
RETRY_LATER: int = smpplib.consts.SMPP_ESME_RX_T_APPN
THROTTLED: int = smpplib.consts.SMPP_ESME_RTHROTTLED
QUEUE_FULL: int = smpplib.consts.SMPP_ESME_RMSGQFUL
# Worth another try later (SMPP 3.4 §5.1.3 leaves the class to the ESME; Kannel/Vumi agree).
TEMPORARY: frozenset[int] = frozenset(
    {
        smpplib.consts.SMPP_ESME_RSYSERR,
        smpplib.consts.SMPP_ESME_RSUBMITFAIL,
        QUEUE_FULL,
        THROTTLED,
        RETRY_LATER,
    }
)
_LINK_ERRORS = (
    smpplib.exceptions.ConnectionError,  # smpplib's own class, not the builtin
    smpplib.exceptions.PDUError,
    OSError,
    sqlite3.OperationalError,
)
INVALID_COMMAND_LENGTH = 0x02  # ESME_RINVCMDLEN
INVALID_COMMAND_ID = 0x03  # ESME_RINVCMDID
INVALID_TLV_STREAM = 0xC0  # ESME_RINVOPTPARSTREAM
MAX_READ_BATCH = 256  # PDUs handled per loop turn before their commit
STOP_DRAIN_S = 2.0  # on shutdown, wait this long for outstanding responses


class SmscUnbound(Exception):
    """The SMSC sent unbind (we answered unbind_resp); reconnect after backoff."""


class LinkDead(Exception):
    """A request went unanswered for response_timeout_s: the TCP link is half-open."""


class BindRefused(Exception):
    """The SMSC answered bind_transceiver with an error status (wrong password, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(_status_name(status))
        self.status = status


class BadFraming(smpplib.exceptions.PDUError):  # type: ignore[misc]
    """A command_length outside 16..MAX_PDU: the stream cannot be trusted any more."""


class _Stopping(Exception):
    """stop() was called while connecting or binding."""


@dataclass
class _InFlight:
    part: PartToSend
    sent_at: float


class SmppLink:
    """Start with start(); stop(timeout) unbinds cleanly and joins the thread."""

    def __init__(
        self,
        settings: SmppSettings,
        database: Path | str,
        *,
        on_inbound: Callable[[], None] = lambda: None,
        on_state: Callable[[str, str], None] = lambda state, detail: None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if not settings.host:
            raise ValueError("no SMPP host configured")
        self._settings = settings
        self._database = database
        self._on_inbound = on_inbound
        self._on_state = on_state
        self._clock = clock
        self._wall = wall
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="smpp-link", daemon=True)
        self.state = "down"
        # Counters for tests, the console and benchmarks (read-only from other threads).
        self.submitted = 0
        self.throttled = 0
        self.receipts = 0
        self.reconnects = 0

    # ------------------------------------------------------------ any thread

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Doorbell: the outbox has new rows."""
        with contextlib.suppress(BlockingIOError):  # already ringing
            self._wake_w.send(b"\0")

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self.wake()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("smpp link thread did not stop within %.1f s", timeout_s)
        else:
            self._wake_r.close()
            self._wake_w.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------ link thread

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        with contextlib.suppress(RuntimeError):  # the event loop is gone during shutdown
            self._on_state(state, detail)

    def _run(self) -> None:
        try:
            outbox = self._open_outbox()
            if outbox is None:
                return
            try:
                self._reconnect_loop(outbox)
            finally:
                outbox.close()
        except Exception:
            # Logged with its traceback here; the pump sees alive == False and restarts it.
            log.exception("smpp link thread died")
        finally:
            self._set_state("stopped")

    def _open_outbox(self) -> Outbox | None:
        """The link's own connection; retried with backoff until the file opens (or stop)."""
        delay = self._settings.reconnect_min_s
        while not self._stop.is_set():
            try:
                outbox = Outbox.open(self._database)
                try:
                    recovered = outbox.recover()
                    outbox.commit()
                except BaseException:
                    outbox.close()
                    raise
            except sqlite3.Error:
                log.exception("smpp link: outbox unavailable; retrying in %.1f s", delay)
                self._set_state("down", "outbox unavailable")
                self._stop.wait(delay)
                delay = min(delay * 2, self._settings.reconnect_max_s)
                continue
            if recovered:
                log.warning(
                    "%d message parts were mid-submit at the last stop: resending", recovered
                )
            return outbox
        return None

    def _connect(self, client: Any) -> None:
        """TCP connect without blocking stop(): a non-blocking connect that the wake-up
        socket interrupts, bounded by connect_timeout_s; then TLS if configured."""
        s = self._settings
        family, kind, proto, _, address = socket.getaddrinfo(
            s.host or "", s.port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            self._await_connected(sock, address)
            sock.settimeout(s.connect_timeout_s)
            # Small PDUs must not wait for Nagle's algorithm (a 40 ms stall each time
            # it meets the peer's delayed ACK).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if client._ssl_context is not None:
                sock = client._ssl_context.wrap_socket(sock)
        except BaseException:
            sock.close()
            raise
        client._socket = sock
        client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN

    def _await_connected(self, sock: socket.socket, address: Any) -> None:
        s = self._settings
        sock.setblocking(False)
        error = sock.connect_ex(address)
        deadline = self._clock() + s.connect_timeout_s
        while error in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise TimeoutError(f"connect to {s.host}:{s.port} timed out")
            readable, writable, failed = select.select(
                [self._wake_r], [sock], [sock], min(remaining, 1.0)
            )
            if self._stop.is_set():
                raise _Stopping()
            if readable:
                self._drain_wakeup()  # the outbox is read anyway once bound
            if writable or failed:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            raise ConnectionRefusedError(error, os.strerror(error))

    def _bind(self, client: Any, outbox: Outbox, inflight: dict[int, _InFlight]) -> None:
        """bind_transceiver (SMPP 3.4 §4.1.5), encoded here; read until *its* response.

        smpplib's bind takes whatever PDU comes first as the answer. An SMSC may send a
        deliver_sm or enquire_link before bind_transceiver_resp: those go through the
        normal dispatch (a deliver_sm is stored, then acknowledged).
        """
        s = self._settings
        sequence = int(client.next_sequence())
        body = b"".join(
            (
                _c_octets(s.system_id, 16),
                _c_octets(s.password.get_secret_value(), 9),
                _c_octets(s.system_type, 13),
                bytes((0x34, 0, 0)),  # interface_version 3.4, addr_ton, addr_npi
                b"\0",  # address_range: any
            )
        )
        _send_all(client, [_RawPdu("bind_transceiver", 0x00000009, sequence, body).generate()])
        sock = client._socket
        deadline = self._clock() + s.connect_timeout_s
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise LinkDead(f"no bind_transceiver_resp within {s.connect_timeout_s:.0f} s")
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            readable = [sock] if pending else [sock, self._wake_r]
            ready = readable if pending else select.select(readable, [], [], min(remaining, 1.0))[0]
            if self._stop.is_set():
                raise _Stopping()
            if self._wake_r in ready:
                self._drain_wakeup()
            if sock not in ready:
                continue
            pdu = self._read_or_nack(client)
            answers = ("bind_transceiver_resp", "generic_nack")
            if pdu.sequence == sequence and pdu.command in answers:
                if pdu.status != ROK:
                    raise BindRefused(int(pdu.status))
                client.state = smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX
                return
            self._handle_alone(client, pdu, outbox, inflight)

    def _handle_alone(
        self, client: Any, pdu: _Pdu, outbox: Outbox, inflight: dict[int, _InFlight]
    ) -> bool:
        """One PDU outside the serve loop (before the bind answer, while unbinding):
        dispatched, committed, then acknowledged. True if it was an SMSC unbind."""
        got, acks = _Batch(), list[tuple[str, int, int]]()
        unbound = self._dispatch(client, pdu, outbox=outbox, inflight=inflight, got=got, acks=acks)
        self._commit_then_ack(client, outbox, got, acks)
        return unbound

    def _commit_then_ack(
        self, client: Any, outbox: Outbox, got: _Batch, acks: list[tuple[str, int, int]]
    ) -> None:
        """Store what the PDUs brought, then answer them: ESME_ROK only once committed,
        a retry-later status if the commit failed (the SMSC delivers again)."""
        stored = True
        try:
            outbox.commit()
        except sqlite3.Error:
            outbox.rollback()
            stored = False
            log.exception("could not store incoming SMS; the SMSC will retry them")
        if acks:
            _send_all(client, [_response(c, q, _ack_status(st, stored)) for c, q, st in acks])
        if stored and got.inbound:
            self._on_inbound()

    def _reconnect_loop(self, outbox: Outbox) -> None:
        s = self._settings
        delay = s.reconnect_min_s
        while not self._stop.is_set():
            client = self._client()
            inflight: dict[int, _InFlight] = {}
            try:
                self._set_state("connecting")
                self._connect(client)
                self._bind(client, outbox, inflight)
                log.info("smpp bound to %s:%d as %s", s.host, s.port, s.system_id)
                self._set_state("up")
                delay = s.reconnect_min_s
                self._serve(client, outbox, inflight)
            except _Stopping:
                pass
            except BindRefused as exc:
                # No traceback: the status says it all (the password is never logged).
                log.error(  # noqa: TRY400
                    "smpp bind refused by %s:%d as %s: %s", s.host, s.port, s.system_id, exc
                )
                self._set_state("refused", bind_refusal(exc.status))
            except (*_LINK_ERRORS, SmscUnbound, LinkDead) as exc:
                log.warning("smpp link down: %s %s", type(exc).__name__, exc)
            except Exception:
                # A bug or a PDU nobody foresaw must not leave the gateway without a link:
                # log it with its traceback and reconnect after the backoff.
                log.exception("smpp link failed unexpectedly; reconnecting")
            finally:
                self._drop(client, outbox, inflight)
            if self._stop.is_set():
                break
            self.reconnects += 1
            self._set_state("down", f"retry in {delay:.0f} s")
            # Full jitter keeps a fleet of gateways from reconnecting in lockstep.
            self._stop.wait(random.uniform(delay / 2, delay))
            delay = min(delay * 2, s.reconnect_max_s)

    def _client(self) -> Any:
        s = self._settings
        context = None
        if s.tls:
            context = ssl.create_default_context()
            if not s.tls_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        return smpplib.client.Client(
            s.host,
            s.port,
            timeout=s.connect_timeout_s,
            allow_unknown_opt_params=True,
            ssl_context=None if context is None else _NamedContext(context, s.host or ""),
        )

    def _drop(self, client: Any, outbox: Outbox, inflight: dict[int, _InFlight]) -> None:
        """Parts sent without an answer go back (uncertain); the socket is closed."""
        try:
            for entry in inflight.values():
                outbox.requeue(entry.part.message_id, entry.part.seq)
            outbox.commit()
        except sqlite3.Error:
            log.exception("could not requeue in-flight parts; recover() will at next start")
        inflight.clear()
        try:
            # Our reader does not track smpplib's bind state; the drop is logged above.
            client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
            client.disconnect()
        except Exception:  # closing a broken socket may fail in many ways
            log.debug("disconnect failed", exc_info=True)

    def _serve(self, client: Any, outbox: Outbox, inflight: dict[int, _InFlight]) -> None:
        s = self._settings
        sock = client._socket  # no public handle; caktus' smpp-gateway selects on it too
        last_io = self._clock()
        enquire: tuple[int, float] | None = None
        pause_until = 0.0
        pause_s = s.throttle_pause_s
        bucket = _Bucket(s.tps, self._clock())
        stopping_at: float | None = None
        idle_until = 0.0  # nothing due in the outbox before this (refreshed by the doorbell)
        while True:
            now = self._clock()
            if self._stop.is_set() and stopping_at is None:
                stopping_at = now
            if stopping_at is not None and (not inflight or now - stopping_at > STOP_DRAIN_S):
                self._unbind(client, outbox, inflight)
                return
            # Send what the window, the bucket and any throttle pause allow.
            wait_send: float | None = None
            if stopping_at is None and now >= pause_until and now >= idle_until:
                free = s.window - len(inflight)
                allowed = min(free, bucket.available(now))
                if allowed > 0:
                    parts = self._claim(outbox, allowed)
                    wire = []
                    for part in parts:
                        pdu = self._submit_pdu(client, part)
                        inflight[pdu.sequence] = _InFlight(part, now)
                        wire.append(pdu.generate())
                        bucket.take()
                    if wire:
                        _send_all(client, wire)  # one write for the batch
                        self.submitted += len(wire)
                    if parts:
                        last_io = now
                    if len(parts) < allowed:
                        idle_until = self._next_due(outbox, now)
                        wait_send = max(0.0, idle_until - now)
                    else:
                        wait_send = 0.0 if free > len(parts) else None
                elif free > 0:
                    wait_send = bucket.wait_s(now)
            elif now < pause_until:
                wait_send = pause_until - now
            elif stopping_at is None:
                wait_send = max(0.0, idle_until - now)
            # A request without an answer for too long: the link is dead.
            oldest = min((e.sent_at for e in inflight.values()), default=None)
            if oldest is not None and now - oldest > s.response_timeout_s:
                raise LinkDead(f"no submit_sm_resp for {s.response_timeout_s:.0f} s")
            if enquire is not None and now - enquire[1] > s.response_timeout_s:
                raise LinkDead(f"no enquire_link_resp for {s.response_timeout_s:.0f} s")
            if enquire is None and now - last_io >= s.enquire_link_s:
                pdu = _RawPdu("enquire_link", 0x00000015, int(client.next_sequence()))
                _send_all(client, [pdu.generate()])
                enquire = (pdu.sequence, now)
                last_io = now
            timeout = s.enquire_link_s - (now - last_io)
            if wait_send is not None:
                timeout = min(timeout, wait_send)
            if stopping_at is not None:
                timeout = min(timeout, 0.1)
            timeout = max(0.0, min(timeout, 1.0))
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            ready = [sock] if pending else select.select([sock, self._wake_r], [], [], timeout)[0]
            if self._wake_r in ready:
                self._drain_wakeup()
                idle_until = 0.0
            if sock in ready:
                last_io = self._clock()
                got = self._read_batch(client, sock, outbox, inflight)
                if got.enquire_answered:
                    enquire = None
                if got.requeued:
                    idle_until = 0.0  # a part is due again later: recompute the next due time
                if got.throttled:
                    pause_until = self._clock() + pause_s
                    pause_s = min(pause_s * 2, 30.0)
                    idle_until = 0.0
                elif got.accepted:
                    pause_s = s.throttle_pause_s

    def _claim(self, outbox: Outbox, limit: int) -> list[PartToSend]:
        try:
            parts = outbox.claim(limit, self._wall())
            outbox.commit()  # 'submitting' is durable before any byte leaves
            return parts
        except sqlite3.Error:
            outbox.rollback()
            log.exception("outbox unavailable; not sending for now")
            return []

    def _next_due(self, outbox: Outbox, now: float) -> float:
        try:
            due = outbox.next_due()
        except sqlite3.Error:
            return now + 1.0
        if due is None:
            return now + 3600.0  # until the doorbell rings
        return now + max(0.0, due - self._wall())

    def _submit_pdu(self, client: Any, part: PartToSend) -> _RawPdu:
        s = self._settings
        sequence = int(client.next_sequence())
        payload = part.payload
        if part.data_coding == DC_GSM and s.default_alphabet != "gsm":
            payload = to_default_alphabet(payload, part.esm_class, s.default_alphabet)
        # SMPP 3.4 §4.4.1, encoded here: smpplib's generic PDU builder costs more CPU than
        # the rest of the hot path together. The tests check these bytes with smpp.pdu3.
        body = b"".join(
            (
                b"\0",  # service_type: SMSC default
                bytes((s.source_ton, s.source_npi)),
                s.source_addr.encode("ascii", "replace")[:20] + b"\0",
                bytes((s.dest_ton, s.dest_npi)),
                part.msisdn.encode("ascii", "replace")[:20] + b"\0",
                bytes((part.esm_class, 0, 0)),  # esm_class, protocol_id, priority_flag
                b"\0\0",  # schedule_delivery_time, validity_period: immediate, default
                bytes((1 if s.registered_delivery else 0, 0, part.data_coding, 0)),
                bytes((len(payload),)),
                payload,
            )
        )
        return _RawPdu("submit_sm", 0x00000004, sequence, body)

    def _drain_wakeup(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _read_batch(
        self, client: Any, sock: Any, outbox: Outbox, inflight: dict[int, _InFlight]
    ) -> _Batch:
        """Read what is waiting, apply it in one transaction, then acknowledge."""
        got = _Batch()
        acks: list[tuple[str, int, int]] = []  # (response, sequence, status if stored)
        unbound = False
        for _ in range(MAX_READ_BATCH):
            pdu = self._read_or_nack(client)
            if self._dispatch(client, pdu, outbox=outbox, inflight=inflight, got=got, acks=acks):
                unbound = True
                break
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            if not pending and not select.select([sock], [], [], 0)[0]:
                break
        self._commit_then_ack(client, outbox, got, acks)
        if unbound:
            raise SmscUnbound("the SMSC unbound")
        return got

    def _dispatch(
        self,
        client: Any,
        pdu: Any,
        *,
        outbox: Outbox,
        inflight: dict[int, _InFlight],
        got: _Batch,
        acks: list[tuple[str, int, int]],
    ) -> bool:
        """Handle one PDU; True when the SMSC unbound (unbind_resp already sent)."""
        command = pdu.command
        if pdu.malformed:
            log.warning("malformed %s from the SMSC rejected: status %#x", command, pdu.malformed)
            if command in ("deliver_sm", "data_sm"):
                acks.append((f"{command}_resp", int(pdu.sequence), pdu.malformed))
            elif not pdu.command_id & 0x80000000:
                _respond(client, "generic_nack", int(pdu.sequence), pdu.malformed)
            return False
        if command in ("submit_sm_resp", "generic_nack"):
            entry = inflight.pop(int(pdu.sequence), None)
            if entry is None:
                if command == "generic_nack":
                    log.warning("generic_nack %#x for sequence %s", pdu.status, pdu.sequence)
                return False
            self._submit_result(outbox, entry.part, int(pdu.status), pdu, got)
        elif command in ("deliver_sm", "data_sm"):
            ok = self._incoming(outbox, pdu, got)
            acks.append((f"{command}_resp", int(pdu.sequence), ROK if ok else RETRY_LATER))
        elif command == "enquire_link":
            _respond(client, "enquire_link_resp", int(pdu.sequence))
        elif command == "enquire_link_resp":
            got.enquire_answered = True
        elif command == "unbind":
            _respond(client, "unbind_resp", int(pdu.sequence))
            return True
        elif not pdu.command_id & 0x80000000 and pdu.command_id not in _NO_RESPONSE:
            # SMPP 3.4 §4.3: an unknown or unsupported request gets generic_nack RINVCMDID.
            log.warning("generic_nack for %s from the SMSC", command)
            _respond(client, "generic_nack", int(pdu.sequence), INVALID_COMMAND_ID)
        elif command != "unbind_resp":
            log.info("ignoring %s from the SMSC", command)
        return False

    def _submit_result(
        self, outbox: Outbox, part: PartToSend, status: int, pdu: Any, got: _Batch
    ) -> None:
        s = self._settings
        wall = self._wall()
        if status == ROK:
            got.accepted = True
            single = not part.esm_class & ESM_UDHI  # only split messages carry a UDH
            outbox.submitted(part.message_id, part.seq, _text(pdu.message_id), wall, single=single)
        elif status in (THROTTLED, QUEUE_FULL):
            got.throttled = True
            self.throttled += 1
            # Same queue position: the part goes out again first once the pause ends.
            outbox.retry(part.message_id, part.seq, status, None, wall)
        elif status in TEMPORARY and part.attempts < s.max_attempts:
            delay = s.retry_delay_s * 2.0 ** (part.attempts - 1)
            outbox.retry(part.message_id, part.seq, status, wall + delay, wall)
            got.requeued = True
        else:
            reason = f"submit_sm_resp {status:#x} after {part.attempts} attempt(s)"
            log.warning("outbox %d part %d failed: %s", part.message_id, part.seq, reason)
            outbox.fail(part.message_id, part.seq, status, reason, wall)

    def _incoming(self, outbox: Outbox, pdu: Any, got: _Batch) -> bool:
        """Store a deliver_sm (message or receipt) in the open transaction; False if not."""
        esm_class = int(pdu.esm_class or 0)
        data_coding = int(pdu.data_coding or 0)
        short = _bytes(pdu.short_message)
        payload = _bytes(getattr(pdu, "message_payload", None)) or None
        alphabet = self._settings.default_alphabet
        message_type = esm_class & 0x3C  # SMPP 3.4 §5.2.12
        try:
            if message_type not in (0, ESM_RECEIPT) and not pdu.receipted_message_id:
                # SME acknowledgements, conversation abort, intermediate notifications:
                # acknowledged, never taken for a citizen's message.
                log.info("deliver_sm with esm_class %#x acknowledged, not stored", esm_class)
                return True
            if message_type == ESM_RECEIPT or getattr(pdu, "receipted_message_id", None):
                text, _ = decode_incoming(data_coding, 0, short, payload, alphabet=alphabet)
                receipt = parse_receipt(
                    text,
                    _text(getattr(pdu, "receipted_message_id", None)) or None,
                    getattr(pdu, "message_state", None),
                )
                if receipt is None:
                    log.warning("unreadable delivery receipt ignored")
                    return True
                self.receipts += 1
                if not outbox.apply_receipt(receipt, self._wall()):
                    log.info("receipt for id %s kept until its submit_sm_resp", receipt.message_id)
                return True
            sar = None
            if getattr(pdu, "sar_msg_ref_num", None) is not None:
                sar = (
                    int(pdu.sar_msg_ref_num),
                    int(pdu.sar_total_segments or 0),
                    int(pdu.sar_segment_seqnum or 0),
                )
            text, concat = decode_incoming(
                data_coding, esm_class, short, payload, sar, alphabet=alphabet
            )
            msisdn = to_msisdn(_text(pdu.source_addr))
            ton = int(pdu.source_ton)
            stored = outbox.store_part_or_message(msisdn, text, concat, self._wall(), ton=ton)
            if stored is not None:
                got.inbound = True
            log.info("incoming SMS from %s stored", mask_msisdn(msisdn))
            return True
        except sqlite3.Error:
            log.exception("could not store an incoming SMS")
            got.store_failed = True
            return False

    def _unbind(self, client: Any, outbox: Outbox, inflight: dict[int, _InFlight]) -> None:
        """Clean shutdown: unbind and read until unbind_resp (bounded)."""
        try:
            unbind = _RawPdu("unbind", 0x00000006, int(client.next_sequence()))
            _send_all(client, [unbind.generate()])
            deadline = self._clock() + STOP_DRAIN_S
            sock = client._socket
            while self._clock() < deadline:
                if not select.select([sock], [], [], max(0.0, deadline - self._clock()))[0]:
                    break
                pdu = self._read_or_nack(client)
                if pdu.command == "unbind_resp":
                    break
                self._handle_alone(client, pdu, outbox, inflight)  # late answers still count
        except _LINK_ERRORS:  # OSError covers socket timeouts
            pass
        log.info("smpp unbound")

    def _read_or_nack(self, client: Any) -> _Pdu:
        """_read_pdu; on broken framing a generic_nack ESME_RINVCMDLEN goes out first
        (SMPP 3.4 §4.3), then BadFraming drops the connection: we cannot resynchronise."""
        try:
            return _read_pdu(client)
        except BadFraming as exc:
            log.error("smpp: %s; dropping the connection", exc)  # noqa: TRY400
            with contextlib.suppress(Exception):
                _respond(client, "generic_nack", 0, INVALID_COMMAND_LENGTH)
            raise


@dataclass
class _Batch:
    accepted: bool = False
    throttled: bool = False
    inbound: bool = False
    enquire_answered: bool = False
    requeued: bool = False
    store_failed: bool = False


class _Bucket:
    """Paces parts at `rate` a second (a GCRA-style schedule, not a burst bucket).

    Each part takes the next slot 1/rate after the previous one, so no sliding
    one-second window ever holds more than rate + 1 parts (SMSCs that count
    per second throttle anything more). A loop that wakes a little late may
    catch up its owed slots; after an idle spell the schedule restarts from now.
    """

    CATCH_UP_S = 0.05

    def __init__(self, rate: float, now: float) -> None:
        self.interval = 1.0 / rate
        self.next = now

    def available(self, now: float) -> int:
        if now < self.next:
            return 0
        if now - self.next > self.CATCH_UP_S:
            self.next = now  # idle, not late: no burst
        return int((now - self.next) / self.interval) + 1

    def take(self) -> None:
        self.next += self.interval

    def wait_s(self, now: float) -> float:
        return max(0.0, self.next - now)


# ---------------------------------------------------------------- our PDU reader
# PDUs are read here rather than by smpplib's read_pdu: its generic
# parser was most of the link's CPU, it rejects or truncates some TLVs (a string TLV
# without its NUL loses a character), and we need only these few PDUs (SMPP 3.4 §4).
_COMMANDS = {
    0x80000000: "generic_nack",
    0x80000004: "submit_sm_resp",
    0x00000005: "deliver_sm",
    0x00000103: "data_sm",
    0x00000006: "unbind",
    0x80000006: "unbind_resp",
    0x00000015: "enquire_link",
    0x80000015: "enquire_link_resp",
    0x80000009: "bind_transceiver_resp",
}
_TLV_STRINGS = {0x001E: "receipted_message_id"}
_TLV_OCTETS = {0x0424: "message_payload"}
_TLV_INTS = {
    0x0427: "message_state",
    0x020C: "sar_msg_ref_num",
    0x020E: "sar_total_segments",
    0x020F: "sar_segment_seqnum",
}
MAX_PDU = 70_000  # a deliver_sm with a 64 KiB message_payload, and then some
# Requests that take no response (SMPP 3.4 §4.12.1: alert_notification).
_NO_RESPONSE = frozenset({0x00000102})


class _Pdu:
    """A received PDU: the fields our dispatch uses, named as smpplib names them."""

    def __init__(self, command: str, status: int, sequence: int, command_id: int = 0) -> None:
        self.command, self.status, self.sequence = command, status, sequence
        self.command_id = command_id
        self.malformed = 0  # an error status for a body we could not read (framing was fine)
        self.message_id = b""
        self.source_ton = 0
        self.source_addr = b""
        self.esm_class = 0
        self.data_coding = 0
        self.short_message = b""
        self.message_payload: bytes | None = None
        self.receipted_message_id: bytes | None = None
        self.message_state: int | None = None
        self.sar_msg_ref_num: int | None = None
        self.sar_total_segments: int | None = None
        self.sar_segment_seqnum: int | None = None


class _BadTlv(Exception):
    """A TLV whose length runs past the end of the PDU."""


def _cstring(body: bytes, pos: int) -> tuple[bytes, int]:
    end = body.find(b"\0", pos)
    if end < 0:
        raise smpplib.exceptions.PDUError("unterminated C-octet string")
    return body[pos:end], end + 1


def _read_pdu(client: Any) -> _Pdu:
    """One PDU. command_length is checked before anything else is read (a length under 16
    announces no header to wait for); a body we cannot parse is marked `malformed`."""
    (length,) = struct.unpack(">L", client._recv_exact(4))  # ConnectionError on EOF
    if not 16 <= length <= MAX_PDU:
        raise BadFraming(f"PDU length {length} out of range")
    command_id, status, sequence = struct.unpack(">LLL", client._recv_exact(12))
    body = client._recv_exact(length - 16) if length > 16 else b""
    name = _COMMANDS.get(command_id, f"command {command_id:#x}")
    pdu = _Pdu(name, status, sequence, command_id)
    try:
        if pdu.command == "submit_sm_resp" and body:
            pdu.message_id = body.split(b"\0", 1)[0]
        elif pdu.command in ("deliver_sm", "data_sm"):
            _parse_message(pdu, body)
    except _BadTlv:
        pdu.malformed = INVALID_TLV_STREAM
    except (IndexError, struct.error, smpplib.exceptions.PDUError):
        pdu.malformed = INVALID_COMMAND_LENGTH  # mandatory fields run past command_length
    return pdu


def _parse_message(pdu: _Pdu, body: bytes) -> None:
    """deliver_sm (SMPP 3.4 §4.6.1) or data_sm (§4.7.1) body, then its TLVs."""
    _, pos = _cstring(body, 0)  # service_type
    pdu.source_ton = body[pos]
    pos += 2  # source_addr_ton, source_addr_npi
    pdu.source_addr, pos = _cstring(body, pos)
    pos += 2  # dest_addr_ton, dest_addr_npi
    _, pos = _cstring(body, pos)  # destination_addr
    pdu.esm_class = body[pos]
    if pdu.command == "data_sm":
        pdu.data_coding = body[pos + 2]  # after registered_delivery
        pos += 3
    else:
        pos += 3  # esm_class, protocol_id, priority_flag
        _, pos = _cstring(body, pos)  # schedule_delivery_time
        _, pos = _cstring(body, pos)  # validity_period
        pos += 2  # registered_delivery, replace_if_present_flag
        pdu.data_coding = body[pos]
        sm_length = body[pos + 2]  # after sm_default_msg_id
        pos += 3
        if pos + sm_length > len(body):
            raise IndexError("short_message runs past the PDU")
        pdu.short_message = body[pos : pos + sm_length]
        pos += sm_length
    while pos < len(body):
        if pos + 4 > len(body):
            raise _BadTlv("a TLV header cut short")
        tag, size = struct.unpack_from(">HH", body, pos)
        if pos + 4 + size > len(body):
            # SMPP 3.4 §5.1.3 ESME_RINVOPTPARSTREAM: rejected whole, never half-read.
            raise _BadTlv(f"TLV {tag:#06x} of {size} octets runs past the PDU")
        value = body[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if tag in _TLV_STRINGS:
            setattr(pdu, _TLV_STRINGS[tag], value.split(b"\0", 1)[0])
        elif tag in _TLV_OCTETS:
            setattr(pdu, _TLV_OCTETS[tag], value)
        elif tag in _TLV_INTS and value:
            setattr(pdu, _TLV_INTS[tag], int.from_bytes(value, "big"))


class _NamedContext:
    """smpplib calls ssl_context.wrap_socket(sock) without server_hostname, which a
    verifying context refuses (check_hostname); this adds the host name."""

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        self._context, self._host = context, host

    def wrap_socket(self, sock: socket.socket) -> ssl.SSLSocket:
        return self._context.wrap_socket(sock, server_hostname=self._host)


class _RawPdu:
    """A PDU we encoded ourselves, in the shape smpplib's send_pdu expects."""

    def __init__(self, command: str, command_id: int, sequence: int, body: bytes = b"",
                 status: int = ROK) -> None:  # fmt: skip
        self.command, self.sequence = command, sequence
        self._bytes = struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body

    def generate(self) -> bytes:
        return self._bytes


# Responses we send (SMPP 3.4 §5.1.2.1): command_id and body (message_id unused: empty).
_RESPONSES = {
    "deliver_sm_resp": (0x80000005, b"\0"),
    "data_sm_resp": (0x80000103, b"\0"),
    "enquire_link_resp": (0x80000015, b""),
    "unbind_resp": (0x80000006, b""),
    "generic_nack": (0x80000000, b""),
}


def _ack_status(status: int, stored: bool) -> int:
    """A deliver_sm_resp's status: ROK only once the batch is committed."""
    return RETRY_LATER if status == ROK and not stored else status


def _c_octets(value: str, size: int) -> bytes:
    """A C-octet string of at most `size` octets, NUL included (SMPP 3.4 §3.1)."""
    return value.encode("ascii", "replace")[: size - 1] + b"\0"


_STATUS_NAMES = {
    value: name
    for name, value in vars(smpplib.consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}


# SMPP 3.4 §5.1.3: the bind answers an operator can act on.
_BIND_ADVICE = {
    "ESME_RINVPASWD": "wrong system_id/password",
    "ESME_RINVSYSID": "wrong system_id/password",
    "ESME_RALYBND": "already bound (another session uses this system_id)",
    "ESME_RBINDFAIL": "bind failed at the SMSC",
    "ESME_RINVSYSTYP": "wrong system_type",
}


def bind_refusal(status: int) -> str:
    """A refused bind for a person: "wrong system_id/password (ESME_RINVPASWD)"."""
    name = _STATUS_NAMES.get(status, "").removeprefix("SMPP_") or f"status {status:#04x}"
    advice = _BIND_ADVICE.get(name)
    return f"{advice} ({name})" if advice else name


def _status_name(status: int) -> str:
    name = _STATUS_NAMES.get(status, "unknown")
    return f"status {status:#04x} ({name.removeprefix('SMPP_')})"


def _response(command: str, sequence: int, status: int = ROK) -> bytes:
    command_id, body = _RESPONSES[command]
    return _RawPdu(command, command_id, sequence, body, status).generate()


def _respond(client: Any, command: str, sequence: int, status: int = ROK) -> None:
    """Send a response PDU carrying the request's sequence number and status."""
    _send_all(client, [_response(command, sequence, status)])


def _send_all(client: Any, pdus: list[bytes]) -> None:
    """Write PDUs in one system call (smpplib's send_pdu writes one at a time)."""
    try:
        client._socket.sendall(b"".join(pdus))
    except OSError as exc:
        raise smpplib.exceptions.ConnectionError() from exc


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("latin-1").strip("\x00")
    return str(value)


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, str):
        return value.encode("latin-1")
    return bytes(value)
