"""An Asterisk Manager Interface peer on loopback, speaking AMI as Asterisk 22 does.

Banner, Login (Success + FullyBooted, or Error then close), Ping/Pong,
CoreShowChannels as an event list, Originate answered "successfully queued"
with the OriginateResponse sent when the test says so. Tests steer it (drop
the connection, stop answering pings, hold an Originate) and wait on
`until()`, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

EOL = "\r\n"


def block(**headers: str) -> bytes:
    return ("".join(f"{k}: {v}{EOL}" for k, v in headers.items()) + EOL).encode()


def event(name: str, **headers: str) -> bytes:
    return block(Event=name, **headers)


@dataclass
class AmiPeer:
    username: str = "tracuu"
    secret: str = "s3cret"
    answer_pings: bool = True
    answer_originate: bool = True
    channels: dict[str, dict[str, str]] = field(default_factory=dict)
    logins: int = 0
    pings: int = 0
    originates: list[dict[str, str]] = field(default_factory=list)
    actions: list[dict[str, str]] = field(default_factory=list)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _server: asyncio.Server | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._tasks:  # each connection's handler sees its EOF and ends
            await asyncio.wait(self._tasks, timeout=5.0)

    def drop(self) -> None:
        """Close every connection, as a restarting Asterisk does."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(predicate)

    async def send(self, data: bytes) -> None:
        for writer in self._writers:
            writer.write(data)
            await writer.drain()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                fields: dict[str, str] = {}
                for line in raw.decode().split(EOL):
                    name, sep, value = line.partition(": ")
                    if sep:
                        fields[name.lower()] = value
                self.actions.append(fields)
                await self._answer(fields, writer)
                await self._notify()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
            await self._notify()

    async def _answer(self, fields: dict[str, str], writer: asyncio.StreamWriter) -> None:
        action = fields.get("action", "").lower()
        action_id = fields.get("actionid", "")
        if action == "login":
            if fields.get("username") == self.username and fields.get("secret") == self.secret:
                self.logins += 1
                writer.write(
                    block(Response="Success", ActionID=action_id, Message="Authentication accepted")
                    + event("FullyBooted", Privilege="system,all", Status="Fully Booted")
                )
            else:
                writer.write(
                    block(Response="Error", ActionID=action_id, Message="Authentication failed")
                )
                await writer.drain()
                writer.close()
                return
        elif action == "ping":
            self.pings += 1
            if self.answer_pings:
                writer.write(
                    block(
                        Response="Success",
                        ActionID=action_id,
                        Ping="Pong",
                        Timestamp="1732860000.000000",
                    )
                )
        elif action == "coreshowchannels":
            out = block(
                Response="Success",
                ActionID=action_id,
                EventList="start",
                Message="Channels will follow",
            )
            for uid, channel in self.channels.items():
                out += event("CoreShowChannel", ActionID=action_id, Uniqueid=uid, **channel)
            out += event(
                "CoreShowChannelsComplete",
                ActionID=action_id,
                EventList="Complete",
                ListItems=str(len(self.channels)),
            )
            writer.write(out)
        elif action == "originate":
            self.originates.append(fields)
            if self.answer_originate:
                writer.write(
                    block(
                        Response="Success",
                        ActionID=action_id,
                        Message="Originate successfully queued",
                    )
                )
        else:
            writer.write(
                block(Response="Error", ActionID=action_id, Message="Invalid/unknown command")
            )
        await writer.drain()
