"""The SMPP link: the one thread that owns the socket to the SMSC.

One thread owns one TCP (or TLS) socket and its own outbox connection. It runs
a select([socket, doorbell]) loop: it connects (non-blocking, interrupted by
stop()), binds as a transceiver, sends what the window and the Pacer allow,
reads PDUs, and unbinds on the way out. What the PDUs mean lives elsewhere:

- sms/pdu.py       bytes <-> PDUs (pure)
- sms/dispatch.py  what a PDU does to the outbox, and the answer (store, then
                   acknowledge; no sockets)
- sms/pacing.py    how many parts may leave now (pure: the loop passes `now`)

We own the socket outright instead of going through smpplib: by the end
smpplib was a socket holder we reached into (`_socket`, `_recv_exact`,
`_ssl_context`), a sequence counter and a constants table, while every PDU
was already encoded and read here (its generic PDU code was over half of the
link's CPU, its read_once neither answers an SMSC unbind nor drops the bind,
its bind takes whatever PDU comes first as the answer, it has no locks, logs
PDUs with passwords and texts at DEBUG under `smpp.Client.<id>`).

The outbox (SQLite) is the truth. A part is marked 'submitting' and committed
before its bytes leave, a batch of responses and receipts is committed once
per loop turn, and deliver_sm_resp ESME_ROK goes out only after the incoming
row is committed. asyncio learns about new incoming rows and link state
through the on_inbound/on_state callbacks; it rings wake() after queueing.
Other processes cannot ring: an idle link asks the outbox watch (PRAGMA
data_version) every half second whether anyone wrote.

Faults: a command_length outside 16..MAX_PDU gets generic_nack ESME_RINVCMDLEN
and the connection is dropped (the stream cannot be resynchronised).
Anything unexpected in the loop is logged with its traceback and followed by
a reconnect with backoff; the pump restarts the thread should it die anyway.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kernel.db import DB_ERRORS, Location, is_postgres
from sms import pdu as wire
from sms.dispatch import Batch, Counters, CountersView, Dispatcher
from sms.outbox import Outbox
from sms.outbox_watch import WATCH_S, OutboxWatch, outbox_watch
from sms.pacing import Pacer
from sms.pdu import BadFraming, bind_refusal
from sms.routes import RouteFilter
from sms.settings import SmppSettings

log = logging.getLogger(__name__)

STABLE_BIND_S = 10.0  # a bind that lasted this long resets the reconnect backoff
MAX_READ_BATCH = 256  # PDUs handled per loop turn before their commit
STOP_DRAIN_S = 2.0  # on shutdown, wait this long for outstanding responses
# Parts in flight renew their lease this many times within lease_s (PostgreSQL, several
# instances: sms/lease.py), so only an instance that stopped running loses them.
LEASE_RENEWALS = 3
RECV_BYTES = 65_536


class LinkClosed(ConnectionError):
    """The SMSC closed the TCP connection (or a write to it failed)."""


class SmscUnbound(Exception):
    """The SMSC sent unbind (we answered unbind_resp); reconnect after backoff."""


class LinkDead(Exception):
    """A request went unanswered for response_timeout_s: the TCP link is half-open."""


class BindRefused(Exception):
    """The SMSC answered bind_transceiver with an error status (wrong password, ...)."""

    def __init__(self, status: int) -> None:
        super().__init__(wire.status_name(status))
        self.status = status


class _Stopping(Exception):
    """stop() was called while connecting or binding."""


# LinkClosed is an OSError; a store that fails (either backend) drops the link too.
_LINK_ERRORS: tuple[type[Exception], ...] = (OSError, wire.PduError, *DB_ERRORS)
_LINK_DOWN: tuple[type[Exception], ...] = (*_LINK_ERRORS, SmscUnbound, LinkDead)
_UNBIND_ENDS: tuple[type[Exception], ...] = (*_LINK_ERRORS, SmscUnbound)


class _Connection:
    """The socket and what has been read from it but not yet framed."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = wire.PduReader()
        self.sequences = wire.Sequences()

    def send(self, data: bytes) -> None:
        """Everything in one system call (PDUs of a batch are joined by the caller)."""
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise LinkClosed(f"write failed: {exc}") from exc

    def buffered(self) -> bool:
        """Bytes are waiting that select() will not report: a whole PDU read along with
        an earlier one, or TLS records already decrypted."""
        if self.reader.whole:
            return True
        return isinstance(self.sock, ssl.SSLSocket) and self.sock.pending() > 0

    def fill(self) -> None:
        """One read of what the socket has; EOF raises LinkClosed."""
        try:
            data = self.sock.recv(RECV_BYTES)
        except (ssl.SSLWantReadError, BlockingIOError):
            return  # a TLS record not yet whole
        if not data:
            raise LinkClosed("the SMSC closed the connection")
        self.reader.feed(data)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


@dataclass
class _Bound:
    """The serve loop's state for one bind."""

    last_io: float  # the last PDU either way (enquire_link after enquire_link_s of silence)
    pause_s: float  # the next queue-full pause (doubling)
    pause_until: float = 0.0
    enquire_at: float | None = None  # our enquire_link awaiting its answer
    stopping_at: float | None = None
    idle_until: float = 0.0  # nothing due in the outbox before this (doorbell, watch)
    watched_at: float = 0.0


class SmppLink(CountersView):
    """Start with start(); stop(timeout) unbinds cleanly and joins the thread."""

    def __init__(
        self,
        settings: SmppSettings,
        database: Location,
        *,
        on_inbound: Callable[[], None] = lambda: None,
        on_state: Callable[[str, str], None] = lambda state, detail: None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        watch: Callable[[], OutboxWatch] | None = None,
        route: Callable[[], RouteFilter | None] = lambda: None,
        name: str = "",
        receipt_scope: str = "",
    ) -> None:
        if not settings.host:
            raise ValueError("no SMPP host configured")
        self._settings = settings
        self._database = database
        self._on_inbound = on_inbound
        self._on_state = on_state
        self._clock = clock
        self._wall = wall
        self._make_watch = watch or (lambda: outbox_watch(database))
        self._route = route  # several binds: what this one claims (sms/routes.py)
        self._leases = is_postgres(database)  # other instances sweep parts claimed long ago
        self.name = name
        self._receipt_scope = receipt_scope  # several binds: ids are kept per bind
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        thread_name = f"smpp-link {settings.host}:{settings.port} {name}".rstrip()
        self._thread = threading.Thread(target=self._run, name=thread_name, daemon=True)
        self.state = "down"
        self.counters = Counters()
        # Kept across reconnects: the SMSC counts per account, not per connection.
        self.pacer = Pacer(settings.tps, clock())

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
                dispatcher = Dispatcher(
                    self._settings,
                    outbox,
                    self.counters,
                    self._wall,
                    self._route,
                    scope=self._receipt_scope,
                )
                self._reconnect_loop(dispatcher)
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
                    # PostgreSQL: other gateway instances may be submitting right now;
                    # only parts whose lease ran out (a dead instance's) are resent.
                    lease_s = self._settings.lease_s
                    recovered = outbox.recover(
                        self._wall() - lease_s if is_postgres(self._database) else None
                    )
                    outbox.commit()
                except BaseException:
                    outbox.close()
                    raise
            except DB_ERRORS:
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

    def _reconnect_loop(self, dispatcher: Dispatcher) -> None:
        s = self._settings
        delay = s.reconnect_min_s
        while not self._stop.is_set():
            conn: _Connection | None = None
            bound_at: float | None = None
            try:
                self._set_state("connecting")
                conn = self._connect()
                self._bind(conn, dispatcher)
                log.info("smpp bound to %s:%d as %s", s.host, s.port, s.system_id)
                self._set_state("up")
                bound_at = self._clock()
                self._serve(conn, dispatcher)
            except _Stopping:
                pass
            except BindRefused as exc:
                # No traceback: the status says it all (the password is never logged).
                log.error(  # noqa: TRY400
                    "smpp bind refused by %s:%d as %s: %s", s.host, s.port, s.system_id, exc
                )
                self._set_state("refused", bind_refusal(exc.status))
            except _LINK_DOWN as exc:
                log.warning("smpp link down: %s %s", type(exc).__name__, exc)
            except Exception:
                # A bug or a PDU nobody foresaw must not leave the gateway without a link:
                # log it with its traceback and reconnect after the backoff.
                log.exception("smpp link failed unexpectedly; reconnecting")
            finally:
                dispatcher.requeue_inflight()
                if conn is not None:
                    conn.close()
                    log.info("smpp disconnected from %s:%d", s.host, s.port)
            if self._stop.is_set():
                break
            if bound_at is not None and self._clock() - bound_at >= STABLE_BIND_S:
                delay = s.reconnect_min_s
            # else the backoff goes on doubling: a bind that fails at once (the outbox down
            # through a PostgreSQL restart: 1,499 binds in 4 minutes) must not become a
            # bind storm at the operator's SMSC.
            self.counters.reconnects += 1
            self._set_state("down", f"retry in {delay:.0f} s")
            # Full jitter keeps a fleet of gateways from reconnecting in lockstep.
            self._stop.wait(random.uniform(delay / 2, delay))
            delay = min(delay * 2, s.reconnect_max_s)

    # ------------------------------------------------------------ connect and bind

    def _connect(self) -> _Connection:
        """TCP connect without blocking stop(): a non-blocking connect that the wake-up
        socket interrupts, bounded by connect_timeout_s; then TLS if configured."""
        s = self._settings
        family, kind, proto, _, address = socket.getaddrinfo(
            s.host or "", s.port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            self._await_connected(sock, address)
            sock.settimeout(s.connect_timeout_s)  # bounds a write to a stuck peer
            # Small PDUs must not wait for Nagle's algorithm (a 40 ms stall each time
            # it meets the peer's delayed ACK).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if s.tls:
                context = ssl.create_default_context()
                if not s.tls_verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock, server_hostname=s.host)
        except BaseException:
            sock.close()
            raise
        return _Connection(sock)

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

    def _bind(self, conn: _Connection, dispatcher: Dispatcher) -> None:
        """bind_transceiver (SMPP 3.4 §4.1.5); read until *its* response.

        An SMSC may send a deliver_sm or enquire_link before bind_transceiver_resp:
        those go through the normal dispatch (a deliver_sm is stored, then acknowledged).
        """
        s = self._settings
        sequence = conn.sequences.next()
        password = s.password.get_secret_value()
        conn.send(wire.bind_transceiver(sequence, s.system_id, password, s.system_type))
        deadline = self._clock() + s.connect_timeout_s
        while True:
            while (pdu := self._next_pdu(conn)) is not None:
                answers = ("bind_transceiver_resp", "generic_nack")
                if pdu.sequence == sequence and pdu.command in answers:
                    if pdu.status != wire.ROK:
                        raise BindRefused(pdu.status)
                    return
                self._handle_alone(conn, dispatcher, pdu)
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise LinkDead(f"no bind_transceiver_resp within {s.connect_timeout_s:.0f} s")
            if conn.buffered():
                ready: list[Any] = [conn.sock]
            else:
                wait = [conn.sock, self._wake_r]
                ready = select.select(wait, [], [], min(remaining, 1.0))[0]
            if self._stop.is_set():
                raise _Stopping()
            if self._wake_r in ready:
                self._drain_wakeup()
            if conn.sock in ready:
                conn.fill()

    def _handle_alone(self, conn: _Connection, dispatcher: Dispatcher, pdu: wire.Pdu) -> None:
        """One PDU outside the serve loop (before the bind answer, while unbinding):
        dispatched, committed, then acknowledged. An SMSC unbind ends the session."""
        got = Batch()
        dispatcher.handle(pdu, got)
        self._commit_then_ack(conn, dispatcher, got)
        if got.unbound:
            raise SmscUnbound("the SMSC unbound")

    def _commit_then_ack(self, conn: _Connection, dispatcher: Dispatcher, got: Batch) -> None:
        answers = dispatcher.commit(got)
        if answers:
            conn.send(b"".join(answers))
        if got.inbound:
            self._on_inbound()

    def _next_pdu(self, conn: _Connection) -> wire.Pdu | None:
        """The next whole PDU already read; on broken framing a generic_nack
        ESME_RINVCMDLEN goes out first (SMPP 3.4 §4.3), then BadFraming drops the
        connection: we cannot resynchronise."""
        try:
            return conn.reader.next()
        except BadFraming as exc:
            log.error("smpp: %s; dropping the connection", exc)  # noqa: TRY400
            with contextlib.suppress(Exception):
                conn.send(wire.response("generic_nack", 0, wire.INVALID_COMMAND_LENGTH))
            raise

    # ------------------------------------------------------------ bound

    def _serve(self, conn: _Connection, dispatcher: Dispatcher) -> None:
        """Bound: send what is due and allowed, keep the link alive, read; until stop()."""
        bound = _Bound(last_io=self._clock(), pause_s=self._settings.throttle_pause_s)
        watch = self._make_watch()
        bound.watched_at = self._clock()
        try:
            while True:
                now = self._clock()
                if self._stop.is_set() and bound.stopping_at is None:
                    bound.stopping_at = now
                if bound.stopping_at is not None and (
                    not dispatcher.inflight or now - bound.stopping_at > STOP_DRAIN_S
                ):
                    self._unbind(conn, dispatcher)
                    return
                if bound.idle_until > now and now - bound.watched_at >= WATCH_S:
                    bound.watched_at = now
                    if watch.changed():  # another process queued something
                        bound.idle_until = 0.0
                if self.state == "throttled" and now >= bound.pause_until:
                    self._set_state("up")  # the pause is over: this bind takes its share again
                wait_send = self._send_due(conn, dispatcher, bound, now)
                if self._leases:
                    dispatcher.renew_leases(now, self._settings.lease_s / LEASE_RENEWALS)
                self._keep_alive(conn, dispatcher, bound, now)
                if self._wait(conn, bound, now, wait_send):
                    bound.last_io = self._clock()
                    self._absorb(self._read_batch(conn, dispatcher), bound)
        finally:
            watch.close()

    def _send_due(
        self, conn: _Connection, dispatcher: Dispatcher, bound: _Bound, now: float
    ) -> float | None:
        """Send what the window, the pacer and any queue-full pause allow; how long until
        more could go (None: when an answer frees the window)."""
        if bound.stopping_at is not None:
            return None
        if now < bound.pause_until:
            return bound.pause_until - now
        if now < bound.idle_until:
            return bound.idle_until - now
        free = self._settings.window - len(dispatcher.inflight)
        allowed = min(free, self.pacer.available(now))
        if allowed <= 0:
            return self.pacer.wait_s(now) if free > 0 else None
        parts = dispatcher.claim(allowed)
        if parts:
            # The claim's commit takes a varying while: the pacer counts the moment the
            # bytes leave, as the SMSC will.
            sent_at = self._clock()
            out = [dispatcher.submit(p, conn.sequences.next(), sent_at) for p in parts]
            self.pacer.sent(sent_at, len(parts))
            conn.send(b"".join(out))  # one write for the batch
            self.counters.submitted += len(parts)
            bound.last_io = sent_at
        if len(parts) < allowed:
            bound.idle_until = self._next_due(dispatcher, now)
            return max(0.0, bound.idle_until - now)
        return 0.0 if free > len(parts) else None

    def _keep_alive(
        self, conn: _Connection, dispatcher: Dispatcher, bound: _Bound, now: float
    ) -> None:
        """enquire_link after enquire_link_s of silence; a request unanswered for
        response_timeout_s means a half-open link (LinkDead)."""
        s = self._settings
        oldest = dispatcher.oldest_sent_at()
        limit = s.response_timeout_s
        late = oldest is not None and now - oldest > limit
        late_enquire = bound.enquire_at is not None and now - bound.enquire_at > limit
        if (late or late_enquire) and self._answers_waiting(conn):
            # The answers are here, unread: this link is behind (its database slow), the
            # SMSC is not. Declaring it dead would resend every part in flight: duplicates.
            return
        if late:
            raise LinkDead(f"no submit_sm_resp for {limit:.0f} s")
        if late_enquire:
            raise LinkDead(f"no enquire_link_resp for {limit:.0f} s")
        if bound.enquire_at is None and now - bound.last_io >= s.enquire_link_s:
            conn.send(wire.encode(wire.ENQUIRE_LINK, conn.sequences.next()))
            bound.enquire_at = bound.last_io = now

    @staticmethod
    def _answers_waiting(conn: _Connection) -> bool:
        """PDUs read but not handled, or bytes the kernel holds for us."""
        return conn.buffered() or bool(select.select([conn.sock], [], [], 0)[0])

    def _wait(self, conn: _Connection, bound: _Bound, now: float, wait_send: float | None) -> bool:
        """Wait for the SMSC, the doorbell or the next thing to do; True if PDUs wait."""
        timeout = self._settings.enquire_link_s - (now - bound.last_io)
        if wait_send is not None:
            timeout = min(timeout, wait_send)
        if bound.stopping_at is not None:
            timeout = min(timeout, 0.1)
        timeout = max(0.0, min(timeout, WATCH_S))  # the outbox watch looks twice a second
        if conn.buffered():
            return True
        ready = select.select([conn.sock, self._wake_r], [], [], timeout)[0]
        if self._wake_r in ready:
            self._drain_wakeup()
            bound.idle_until = 0.0
        return conn.sock in ready

    def _absorb(self, got: Batch, bound: _Bound) -> None:
        """What a batch of PDUs means for the pace and the loop."""
        now = self._clock()
        if got.enquire_answered:
            bound.enquire_at = None
        for sent_at in got.accepted:
            self.pacer.accepted(sent_at, now)
        for sent_at in got.throttled:
            self.pacer.throttled(sent_at, now)
        if got.requeued or got.throttled:
            # A part is due again (a refused one first in line): look at the queue again.
            bound.idle_until = 0.0
        if got.queue_full:
            # The SMSC's queue is full, whatever our rate: wait (doubling).
            paused = f"SMSC queue full; pause {bound.pause_s:.0f} s"
            bound.pause_until = now + bound.pause_s
            bound.pause_s = min(bound.pause_s * 2, 30.0)
            bound.idle_until = 0.0
            # Other binds take this one's numbers meanwhile (sms/routes.py).
            self._set_state("throttled", paused)
        elif got.accepted:
            bound.pause_s = self._settings.throttle_pause_s

    def _next_due(self, dispatcher: Dispatcher, now: float) -> float:
        try:
            due = dispatcher.next_due()
        except DB_ERRORS:
            return now + 1.0
        if due is None:
            return now + 3600.0  # until the doorbell rings or the watch sees a write
        return now + max(0.0, due - self._wall())

    def _drain_wakeup(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _read_batch(self, conn: _Connection, dispatcher: Dispatcher) -> Batch:
        """Read what is waiting, apply it in one transaction, then acknowledge."""
        got = Batch()
        if not conn.reader.whole:
            conn.fill()
        for _ in range(MAX_READ_BATCH):
            pdu = self._next_pdu(conn)
            if pdu is None:
                if not conn.buffered():
                    break
                conn.fill()
                continue
            dispatcher.handle(pdu, got)
            if got.unbound:
                break
        self._commit_then_ack(conn, dispatcher, got)
        if got.unbound:
            raise SmscUnbound("the SMSC unbound")
        return got

    def _unbind(self, conn: _Connection, dispatcher: Dispatcher) -> None:
        """Clean shutdown: unbind and read until unbind_resp (bounded)."""
        try:
            conn.send(wire.encode(wire.UNBIND, conn.sequences.next()))
            deadline = self._clock() + STOP_DRAIN_S
            while self._clock() < deadline:
                pdu = self._next_pdu(conn)
                if pdu is None:
                    wait = max(0.0, deadline - self._clock())
                    if not conn.buffered() and not select.select([conn.sock], [], [], wait)[0]:
                        break
                    conn.fill()
                    continue
                if pdu.command == "unbind_resp":
                    break
                self._handle_alone(conn, dispatcher, pdu)  # late answers still count
        except _UNBIND_ENDS:  # OSError covers socket timeouts
            pass
        log.info("smpp unbound")
