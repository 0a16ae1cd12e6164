"""Asterisk peers for the FastAGI tests.

The well-behaved peer is peers.asterisk.SimulatedAsterisk (it ships, because
`tracuu call` uses it). This module adds the misbehaving and scripted ones: a
connection that dies in the header, mid-command, or answers with the exact
res_agi.c error lines, and a server fixture that records what each route saw
so the test body does the asserting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from ivr.agi_wire import AgiChannel, Request
from ivr.server import AgiServer
from ivr.settings import AgiSettings
from peers.asterisk import agi_environment

ENV = agi_environment(
    script="ivr", params={"agency": "000.00.18.H26", "lang": "vi"}, caller="0912345678"
)


@dataclass
class Outcome:
    """What a route saw, filled in by the server side and asserted in the test body."""

    env: dict[str, str] = field(default_factory=dict)
    request: Request | None = None
    replies: list[object] = field(default_factory=list)
    error: BaseException | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


Script = Callable[[AgiChannel], Awaitable[list[object]]]


def recording_route(outcome: Outcome, script: Script) -> Callable[..., Awaitable[None]]:
    async def route(channel: AgiChannel, request: Request, env: dict[str, str]) -> None:
        outcome.env, outcome.request = env, request
        try:
            outcome.replies = await script(channel)
        except BaseException as exc:  # recorded for the test body, then re-raised
            outcome.error = exc
            raise
        finally:
            outcome.done.set()

    return route


@asynccontextmanager
async def agi_server(
    routes: dict[str, Callable[..., Awaitable[None]]], **settings: object
) -> AsyncIterator[AgiServer]:
    server = AgiServer(AgiSettings(port=1, **settings).model_copy(update={"port": 0}), routes)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(drain_s=1.0)


@dataclass(frozen=True)
class Then:
    """An answer in two writes: `first`, a pause, `then` (before the next command is read).

    run_agi's order on a hang-up: the interrupted command's reply, then "HANGUP" once
    ast_read() has found the channel gone, at the top of its loop.
    """

    first: bytes
    pause_s: float
    then: bytes


HUNG_UP_STREAM = Then(b"200 result=-1 endpos=4000\n", 0.0, b"HANGUP\n")
HUNG_UP_GET_DATA = Then(b"200 result=-1\n", 0.0, b"HANGUP\n")


async def raw_asterisk(
    port: int, send: bytes, answers: list[bytes | Then], *, close_after: bool = True
) -> list[str]:
    """Send `send` (usually ENV), then answer each command line with the next answer.

    Returns the command lines the server sent. An answer of b"" means: close the
    socket instead of replying (Asterisk going away mid-command). After the answers
    run out, commands are read (not answered) until the server closes or 1 s passes.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    commands: list[str] = []
    try:
        writer.write(send)
        await writer.drain()
        for answer in answers:
            line = await reader.readline()
            if not line:
                break
            commands.append(line.decode().strip())
            if answer == b"":
                break
            if isinstance(answer, Then):
                writer.write(answer.first)
                await writer.drain()
                await asyncio.sleep(answer.pause_s)
                writer.write(answer.then)
            else:
                writer.write(answer)
            await writer.drain()
        if not close_after:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    while line := await reader.readline():
                        commands.append(line.decode().strip())
    finally:
        writer.close()
        await writer.wait_closed()
    return commands
