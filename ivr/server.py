"""The FastAGI server: accepts Asterisk's connections and hands each call to its route.

Owns connection limits and lifetimes: its own accept loop (at most SETUP_SLOTS
connections still sending their header; a flood waits in the listen queue), the
bounded header read, routing by AGI script path (`agi://host:4573/ivr?agency=hn`
-> route "ivr" with its parameters), the cap on concurrent calls, what a failed
call leaves for the dialplan, and a graceful shutdown. Knows nothing about menus.

What the dialplan finds in ${TRACUU_NEXT} (settings.agi.next_variable) after AGI():
  officer  - the flow wants a person: go to the officer queue
  goodbye  - the flow said goodbye: hang up
  busy     - every line is in use: play "all lines busy" (asterisk/extensions.conf)
  (empty)  - anything else (fault, shutdown, unknown route): fallback message + queue
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from contextlib import suppress
from functools import partial

from ivr.agi_wire import (
    AgiChannel,
    AgiCommandRejected,
    AgiConnection,
    AgiError,
    AgiProtocolError,
    CallerHungUp,
    Request,
    parse_request,
)
from ivr.settings import AgiSettings

log = logging.getLogger(__name__)

# Connections still sending their agi_* block, at most; more wait in the listen queue.
SETUP_SLOTS = 32
LISTEN_BACKLOG = 511  # the kernel caps it at net.core.somaxconn

# Bus topic (key "agi") with {"host", "port"} the server actually bound: with
# agi.port = 0 the kernel picks the port, and try-a-call must dial that one.
LISTENING_TOPIC = "agi_listening"

Route = Callable[[AgiChannel, Request, dict[str, str]], Awaitable[None]]


class AgiServer:
    """Serves FastAGI routes on one TCP port until stopped."""

    def __init__(self, settings: AgiSettings, routes: Mapping[str, Route]) -> None:
        self._settings = settings
        self._routes = dict(routes)
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._setup_slots = asyncio.Semaphore(SETUP_SLOTS)
        self.in_setup = 0  # connections still sending their header
        self.peak_in_setup = 0
        self._connections: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.active_calls = 0
        self.refused_busy = 0
        self._closing = False
        self._protocol = partial(AgiConnection, settings.header_bytes)

    @property
    def port(self) -> int:
        assert self._sock is not None, "not started"
        port: int = self._sock.getsockname()[1]
        return port

    @property
    def connections(self) -> int:
        """Open connections, calls or not yet (headers still arriving)."""
        return len(self._connections)

    async def idle(self) -> None:
        """Return once no connection is open (for drains, benchmarks and tests)."""
        await self._idle.wait()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self._settings.host, self._settings.port
        family, kind, proto, _, address = (
            await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        # Each accepted socket's protocol; limit bounds every read (header, reply line).
        self._protocol = partial(AgiConnection, self._settings.header_bytes)
        self._accepting = asyncio.create_task(self._accept_loop(sock), name="agi-accept")
        log.info("FastAGI listening on %s:%s", host, self.port)

    async def stop(self, drain_s: float | None = None) -> None:
        """Stop accepting; let live calls finish for drain_s, then hand them to the dialplan."""
        if self._sock is None:
            return
        self._closing = True
        if self._accepting is not None:
            self._accepting.cancel()
            with suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        self._sock.close()
        drain = self._settings.drain_s if drain_s is None else drain_s
        live = set(self._connections)
        if live:
            log.info("waiting up to %.0f s for %d live call(s)", drain, len(live))
            _done, pending = await asyncio.wait(live, timeout=drain) if drain > 0 else ((), live)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5.0)
        self._sock = None

    async def _accept_loop(self, sock: socket.socket) -> None:
        """Accept while fewer than SETUP_SLOTS connections are still sending their header.

        A flood (an Asterisk restart dropping every call, a port scan) then waits in the
        kernel's listen queue instead of being taken in whole, so one loop iteration never
        holds more than a few dozen new connections and live calls keep their pace.
        """
        loop = asyncio.get_running_loop()
        while True:
            await self._setup_slots.acquire()
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:  # EMFILE, ECONNABORTED: keep serving the calls we have
                self._setup_slots.release()
                log.warning("accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            except BaseException:
                self._setup_slots.release()
                raise
            self.in_setup += 1
            self.peak_in_setup = max(self.peak_in_setup, self.in_setup)
            task = asyncio.create_task(self._connection(conn))
            self._connections.add(task)
            self._idle.clear()

    async def _connection(self, conn: socket.socket) -> None:
        """One connection, from accept to close: its header, then the call.

        Written flat on purpose: this coroutine sits at the bottom of every call's stack
        for the whole call, so the call runs in it (no layer between it and the route)
        and nothing here is a closure (no cells, no function object per call for the
        garbage collector to walk while the call is in flight).
        """
        task = asyncio.current_task()
        assert task is not None
        channel: AgiChannel | None = None
        try:
            try:
                loop = asyncio.get_running_loop()
                _, protocol = await loop.connect_accepted_socket(self._protocol, sock=conn)
                channel = AgiChannel(
                    protocol, timeout_s=self._settings.command_timeout_s, loop=loop
                )
                env = await channel.read_environment(self._settings.header_timeout_s)
            except (CallerHungUp, AgiProtocolError, TimeoutError, ConnectionError) as exc:
                log.info("connection dropped before the call began: %s", type(exc).__name__)
                return
            finally:
                self.in_setup -= 1
                self._setup_slots.release()
            request = parse_request(env)
            uniqueid = env.get("agi_uniqueid", "?")
            route = self._routes.get(request.script)
            if route is None:
                log.error("call %s: no route for AGI script %r", uniqueid, request.script)
                return  # TRACUU_NEXT stays empty: the dialplan's fallback takes over
            if self._closing or self.active_calls >= self._settings.max_calls:
                # Answered cheaply, so a flood costs one command each; the dialplan plays
                # "all lines busy" and offers the officer queue (asterisk/extensions.conf).
                self.refused_busy += 1
                log.warning("call %s refused: %d calls in progress", uniqueid, self.active_calls)
                with suppress(AgiError, TimeoutError, OSError):
                    await channel.run(f"SET VARIABLE {self._settings.next_variable} busy")
                return
            self.active_calls += 1
            try:
                await route(channel, request, env)
            except CallerHungUp:
                log.info("call %s: caller hung up", uniqueid)
            except asyncio.CancelledError:
                # Shutdown after the drain time: the call goes back to the dialplan, whose
                # fallback says so and offers the officer queue; nothing is left mid-air.
                log.warning("call %s handed back to the dialplan at shutdown", uniqueid)
                raise
            except (AgiCommandRejected, AgiProtocolError) as exc:
                log.error("call %s: AGI fault: %s", uniqueid, exc)  # noqa: TRY400 - no traceback needed
            except TimeoutError:
                log.error("call %s: no reply from Asterisk in time", uniqueid)  # noqa: TRY400
            except Exception:
                log.exception("call %s: failed; handed back to the dialplan", uniqueid)
            finally:
                self.active_calls -= 1
        except OSError as exc:  # the connection died while being set up
            log.info("connection dropped before the call began: %s", type(exc).__name__)
        finally:
            if channel is not None:
                await channel.close()
            else:
                conn.close()
            self._connections.discard(task)
            if not self._connections:
                self._idle.set()
