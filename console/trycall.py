"""Try a call, try an SMS: the real gateway answering a person at the console.

Try a call: a WebSocket from the browser's keypad. The console dials the FastAGI
server as Asterisk would (the simulator of `tracuu call`, peers/asterisk.py) and
hands every prompt to the browser, which plays the live recording (8 kHz WAV,
what callers hear) and shows its words; a key pressed while a prompt plays stops
it and is sent (barge-in), as Asterisk does for the prompt's escape digits.

Try an SMS: the exact reply of `tracuu sms reply` (sms/responder.py, nothing
stored), with its encoding (GSM-7 or UCS-2) and number of segments.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web

from console.access import requires
from console.layout import render
from console.roles import Role
from console.settings import ConsoleConfig
from ivr.available import LivePrompts
from ivr.cli import words_for
from kernel.db import Database
from lookup.port import DossierLookup, LookupUnavailable
from messages.voice import voice_texts
from peers.asterisk import CallRecord, Heard, SimulatedAsterisk

log = logging.getLogger(__name__)

PROMPT_ID = re.compile(r"[a-z0-9_]{1,80}")
MAX_WAIT_S = 30.0  # the longest a keypad wait or a prompt may hold a try-call
MAX_SMS_CHARS = 480


@dataclass(frozen=True)
class TryConfig:
    settings: ConsoleConfig
    lookup: DossierLookup
    agi_address: Callable[[], tuple[str, int]]  # where the FastAGI server listens now


TRY = web.AppKey("try", TryConfig)
# The console's Database (the gateway's one, kernel/db.py), or None: a console without
# one opens settings.database for the length of a request, as a tool of its own would.
TRY_DB = web.AppKey[Callable[[], Database | None]]("try_db")


def add_routes(
    app: web.Application, config: TryConfig, db: Callable[[], Database | None] = lambda: None
) -> None:
    app[TRY] = config
    app[TRY_DB] = db
    app.router.add_get("/try", page)
    app.router.add_get("/api/try/call", call_socket)
    app.router.add_get("/api/try/audio/{prompt}.wav", audio)
    app.router.add_post("/api/try/sms", try_sms)


@requires(Role.OPERATOR)
async def page(request: web.Request) -> web.Response:
    return await render(request, "try.html")


@requires(Role.OPERATOR)
async def audio(request: web.Request) -> web.StreamResponse:
    """A live prompt as callers hear it (the 8 kHz WAV Asterisk plays)."""
    prompt = request.match_info["prompt"]
    if not PROMPT_ID.fullmatch(prompt):
        raise web.HTTPNotFound
    path = request.app[TRY].settings.sounds.live_dir / f"{prompt}.wav"
    if not path.is_file():
        raise web.HTTPNotFound
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


# ---- try a call


class BrowserAsterisk(SimulatedAsterisk):
    """Asterisk's side of the call, with a person at a browser for ears and keypad."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], Awaitable[None]],
        say: Callable[[str], Awaitable[str]],
        available: Callable[[str], bool],
        **kwargs: Any,
    ) -> None:
        super().__init__("", exists=lambda name: available(name.removeprefix("tracuu/")), **kwargs)
        self._send, self._say = send, say
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._seq = 0

    def caller_hung_up(self) -> None:
        self.keys.hangup = True
        self.inbox.put_nowait({"type": "hangup"})

    async def _play(self, name: str, escapes: str) -> tuple[str, bool]:
        prompt = name.removeprefix("tracuu/")
        self._seq += 1
        seq = self._seq
        words = await self._say(prompt)
        if not self.exists(name):
            self.record.heard.append(Heard(name, missing=True))
            await self._send(
                {"type": "play", "seq": seq, "prompt": prompt, "words": words, "audio": None}
            )
            return "", False
        await self._send(
            {
                "type": "play",
                "seq": seq,
                "prompt": prompt,
                "words": words,
                "audio": f"/api/try/audio/{prompt}.wav",
                "escapes": escapes,
            }
        )
        while True:
            message = await self._next(MAX_WAIT_S)
            kind = message.get("type")
            if kind == "hangup" or message.get("timeout"):
                self.keys.hangup = kind == "hangup"
                self.record.heard.append(Heard(name))
                return "", True
            if kind == "key":
                key = str(message.get("key", ""))
                if key and key in escapes:  # barge-in: the prompt stops, the key counts
                    self.record.heard.append(Heard(name, interrupted_by=key))
                    await self._send({"type": "stop", "seq": seq})
                    return key, True
                continue  # res_agi.c drops keys the prompt does not take
            if kind == "ended" and message.get("seq") == seq:
                self.record.heard.append(Heard(name))
                return "", True

    async def _next(self, timeout_s: float) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout_s):
                return await self.inbox.get()
        except TimeoutError:
            return {"timeout": True}

    async def _key(self, timeout_s: float, *, announce: bool = True) -> str:
        """A key typed while the flow waits, or '' when the caller stays silent."""
        if announce:  # once per command: the browser shows "waiting for keys"
            await self._send({"type": "listen", "timeout_ms": int(timeout_s * 1000)})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (left := deadline - loop.time()) > 0:
            message = await self._next(left)
            if message.get("type") == "hangup":
                self.keys.hangup = True
                return ""
            if message.get("type") == "key":
                return str(message.get("key", ""))
        return ""

    async def _get_data(self, args: list[str]) -> bytes:
        if not args:
            return await super()._get_data(args)  # the usage block
        timeout_s = _timeout_s(args[1] if len(args) > 1 else "")
        max_digits = int(args[2]) if len(args) > 2 and args[2].isdigit() else 1024
        first, played = await self._play(args[0], "0123456789*#") if args[0] else ("", True)
        if not played:
            return b"200 result=-1\n"
        digits, key = "", first
        while True:
            if not key:
                key = await self._key(timeout_s, announce=not digits)
                if self.keys.hangup:
                    return b"200 result=-1\n"
                if not key:
                    return f"200 result={digits} (timeout)\n".encode()
            if key == "#":
                return f"200 result={digits}\n".encode()
            digits, key = digits + key, ""
            if len(digits) >= max_digits:
                return f"200 result={digits}\n".encode()

    async def _get_option(self, args: list[str]) -> bytes:
        if len(args) < 2:
            return await super()._get_option(args)
        key, played = await self._play(args[0], args[1])
        if not played:
            return b"200 result=-1 endpos=0\n"
        if not key:
            key = await self._key(_timeout_s(args[2] if len(args) > 2 else ""))
            key = key if key in args[1] else ""
        return f"200 result={ord(key) if key else 0} endpos=16000\n".encode()

    async def _wait_for_digit(self, args: list[str]) -> bytes:
        if len(args) != 1:
            return await super()._wait_for_digit(args)
        key = await self._key(_timeout_s(args[0]))
        return f"200 result={ord(key) if key else 0}\n".encode()


def _timeout_s(raw: str) -> float:
    """An AGI timeout in ms (absent or negative: wait long), bounded for the browser."""
    try:
        ms = int(raw)
    except ValueError:
        return 5.0
    return MAX_WAIT_S if ms < 0 else min(ms / 1000, MAX_WAIT_S)


@requires(Role.OPERATOR)
async def call_socket(request: web.Request) -> web.WebSocketResponse:
    config = request.app[TRY]
    socket = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096)
    await socket.prepare(request)
    first = await socket.receive_json(timeout=30)
    caller = re.sub(r"[^0-9+]", "", str(first.get("caller", "")))[:15] or "0912345678"
    settings = config.settings
    shared = request.app[TRY_DB]()
    words = await words_for(settings, CallRecord(), None, db=shared)
    with contextlib.suppress(LookupUnavailable):
        words.add_texts(voice_texts(await config.lookup.procedures(), ()))
    available = LivePrompts(settings.sounds.live_dir)

    async def say(prompt: str) -> str:
        if words.of(prompt) is None and prompt.startswith("txt_"):
            # Rendered since the call began (a dossier's place, an agency's name).
            for prompt_id, text in (await _dynamic_texts(settings, shared)).items():
                words.add(prompt_id, text)
        return words.say(prompt)

    async def send(message: dict[str, Any]) -> None:
        if not socket.closed:
            await socket.send_json(message)

    peer = BrowserAsterisk(
        send,
        say,
        available,
        caller=caller,
        uniqueid=f"try.{int(time.time() * 1000)}",
        max_commands=1000,
    )
    host, port = config.agi_address()
    listening = asyncio.create_task(_listen(socket, peer))
    try:
        record = await peer.call(host, port, timeout_s=15 * 60)
    except OSError as exc:
        log.warning("try-a-call: cannot reach the FastAGI server at %s:%d: %s", host, port, exc)
        await send({"type": "end", "reason": "unreachable"})
    else:
        await send({"type": "end", "reason": record.ended})
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
    await socket.close()
    return socket


async def _listen(socket: web.WebSocketResponse, peer: BrowserAsterisk) -> None:
    """The browser's keys, prompt ends and hang-up, until it goes (then: hung up)."""
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                break
            with contextlib.suppress(ValueError):
                data = json.loads(message.data)
                if data.get("type") == "hangup":
                    peer.caller_hung_up()
                elif data.get("type") in ("key", "ended"):
                    peer.inbox.put_nowait(data)
    finally:
        peer.caller_hung_up()  # the tab closed, or the call is over: nobody listens


async def _dynamic_texts(settings: ConsoleConfig, db: Database | None) -> dict[str, str]:
    from prompts.database import dynamic_texts

    return await dynamic_texts(settings.database if db is None else db)


@asynccontextmanager
async def _database(request: web.Request) -> AsyncIterator[Database]:
    """The console's Database, else one of this request's own on settings.database."""
    shared = request.app[TRY_DB]()
    if shared is not None:
        yield shared
        return
    own = await Database.open(request.app[TRY].settings.database)
    try:
        yield own
    finally:
        await own.close()


# ---- try an SMS


@requires(Role.OPERATOR)
async def try_sms(request: web.Request) -> web.Response:
    from prompts.catalog import load_catalog
    from sms.codec import DC_GSM, DC_UCS2, choose_coding, split_text
    from sms.outbox import COMPONENT, STEPS
    from sms.pump import reply_context
    from sms.responder import answer
    from sms.senders import Deferred

    config = request.app[TRY]
    settings = config.settings
    body = await request.json()
    text = str(body.get("text", ""))[:MAX_SMS_CHARS]
    sender = re.sub(r"[^0-9]", "", str(body.get("sender", "")))
    if sender.startswith("0"):
        sender = "84" + sender[1:]
    if not 9 <= len(sender) <= 15 or not text.strip():
        return web.json_response(
            {"error": "Cần số điện thoại người gửi và nội dung tin nhắn."}, status=400
        )
    now = time.time()
    async with _database(request) as db:
        await db.migrate(COMPONENT, STEPS)
        # The sender's state read off the loop, as the SMS side's pump does (sms/pump.py).
        state = await db.read(functools.partial(Deferred.read, msisdn=sender, now=now))
    ctx = reply_context(settings, load_catalog(), datetime.now(settings.zone).date())
    result = await answer(
        text,
        sender,
        lookup=config.lookup,
        outbox=state,
        ctx=ctx,
        settings=settings.sms,
        now=now,
        record=False,  # a try changes nothing: no rate-limit count, no opt-out
    )
    sent, ucs2 = choose_coding(result.text, accents=settings.sms.accents)
    segments = split_text(sent, DC_UCS2 if ucs2 else DC_GSM) if sent else []
    return web.json_response(
        {
            "reply": sent,
            "encoding": "UCS-2" if ucs2 else "GSM-7",
            "segments": len(segments),
            "characters": len(sent),
            "refused": result.refused,
        }
    )
