"""The dialplan in front of several gateways: asterisk/extensions.conf, walked with the
simulated Asterisk against real FastAGI servers on loopback.

What a caller hears when the first gateway is down (the second answers), when both
are (the apology, then a person), and that a working first gateway keeps its calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from ivr.server import AgiServer
from ivr.service import build_server
from lookup.sqlite import SqliteLookup
from peers.asterisk import SimulatedAsterisk
from tests.peers.dialplan import DIALPLAN, Dialplan, expression, parse
from tests.test_ivr_calls import MONDAY_10AM, lookup, settings

pytestmark = pytest.mark.no_store

__all__ = ["lookup"]  # the fixture

KEYS = "1 2411290002# _ _ _"  # a dossier's status, then silence until goodbye


@contextlib.asynccontextmanager
async def gateway(lookup: SqliteLookup, **agi_: int) -> AsyncIterator[AgiServer]:
    server = build_server(
        settings(**agi_), lookup, clock=lambda: MONDAY_10AM, available=lambda _: True
    )
    server._settings = server._settings.model_copy(update={"port": 0})
    await server.start()
    try:
        yield server
    finally:
        await server.stop(drain_s=1.0)


def closed_port() -> int:
    """A loopback port nobody listens on: a gateway that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def agi(port: int) -> str:
    return f"agi://127.0.0.1:{port}"


async def test_first_gateway_down_the_second_answers(lookup: SqliteLookup) -> None:
    down = closed_port()
    async with gateway(lookup) as second, asyncio.timeout(20):
        up = second.port
        walk = await Dialplan(TRACUU_AGI=agi(down), TRACUU_AGI_2=agi(up)).call(KEYS)
    assert walk.agi == [(f"127.0.0.1:{down}", "FAILURE"), (f"127.0.0.1:{up}", "SUCCESS")]
    assert walk.heard[:2] == ["ivr_welcome", "ivr_menu_main"]
    assert "status_processing" in walk.heard
    assert "ivr_service_unavailable" not in walk.heard
    # The agency parameters reach the second gateway as they would the first.
    assert walk.calls[0].commands  # a whole call ran there
    assert walk.ended == "hangup"


async def test_both_gateways_down_the_caller_hears_the_apology_then_a_person(
    lookup: SqliteLookup,
) -> None:
    first, second = closed_port(), closed_port()
    plan = Dialplan(TRACUU_AGI=agi(first), TRACUU_AGI_2=agi(second))
    async with asyncio.timeout(20):
        open_ = await plan.call(KEYS)
        closed = await plan.call(KEYS, office_open=False)
    assert [status for _, status in open_.agi] == ["FAILURE", "FAILURE"]
    assert open_.heard == ["ivr_service_unavailable"]
    assert open_.ended == "queue"
    assert closed.heard == [
        "ivr_service_unavailable", "ivr_officer_closed", "ivr_officer_hours", "ivr_goodbye",
    ]  # fmt: skip


async def test_a_working_first_gateway_keeps_its_calls(lookup: SqliteLookup) -> None:
    async with gateway(lookup) as first, gateway(lookup) as second, asyncio.timeout(20):
        port = first.port
        walk = await Dialplan(TRACUU_AGI=agi(port), TRACUU_AGI_2=agi(second.port)).call(KEYS)
    assert walk.agi == [(f"127.0.0.1:{port}", "SUCCESS")]
    assert "status_processing" in walk.heard


async def test_first_gateway_full_the_second_answers(lookup: SqliteLookup) -> None:
    async with gateway(lookup, max_calls=1) as first, gateway(lookup) as second:
        async with asyncio.timeout(20):
            # One caller holds the first gateway's only line (each prompt 0.2 s).
            holder = asyncio.create_task(
                SimulatedAsterisk("_ _ _", pace_s=0.2).call("127.0.0.1", first.port)
            )
            while first.active_calls < 1:
                await asyncio.sleep(0.01)
            up = second.port
            walk = await Dialplan(TRACUU_AGI=agi(first.port), TRACUU_AGI_2=agi(up)).call(KEYS)
            await holder
    assert [(a.endswith(str(up)), s) for a, s in walk.agi] == [
        (False, "SUCCESS"),
        (True, "SUCCESS"),
    ]
    assert walk.calls[0].variables == {"TRACUU_NEXT": "busy"}
    assert walk.heard[:2] == ["ivr_welcome", "ivr_menu_main"]  # no "all lines busy"
    assert "ivr_all_lines_busy" not in walk.heard


async def test_one_gateway_only_down_is_the_existing_fallback(lookup: SqliteLookup) -> None:
    down = closed_port()
    async with asyncio.timeout(20):
        walk = await Dialplan(TRACUU_AGI=agi(down)).call(KEYS)  # TRACUU_AGI_2 empty
    assert walk.agi == [(f"127.0.0.1:{down}", "FAILURE")]
    assert walk.heard == ["ivr_service_unavailable"]
    assert walk.ended == "queue"


async def test_a_caller_who_hangs_up_on_the_first_is_not_called_again(
    lookup: SqliteLookup,
) -> None:
    async with gateway(lookup) as first, gateway(lookup) as second, asyncio.timeout(20):
        walk = await Dialplan(TRACUU_AGI=agi(first.port), TRACUU_AGI_2=agi(second.port)).call("1 H")
    assert [status for _, status in walk.agi] == ["HANGUP"]
    assert walk.played == []


async def test_a_notification_call_fails_over_too(lookup: SqliteLookup) -> None:
    first, second = closed_port(), closed_port()
    async with asyncio.timeout(20):
        walk = await Dialplan(TRACUU_AGI=agi(first), TRACUU_AGI_2=agi(second)).call(
            context="tracuu-notify", TRACUU_NOTIFY="7"
        )
    assert [(a.split(":")[1], s) for a, s in walk.agi] == [
        (str(first), "FAILURE"), (str(second), "FAILURE"),
    ]  # fmt: skip
    assert walk.heard == ["ivr_service_unavailable"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"a" = "a"', True),
        ('"a" != "a"', False),
        ('"" = ""', True),
        ('"SUCCESS" = "SUCCESS" & "busy" = "busy"', True),
        ('"SUCCESS" = "SUCCESS" & "" = "busy"', False),
        ('"FAILURE" != "FAILURE" | "" = ""', True),
        ('"x" = "y" | "a" = "b" & "c" = "c"', False),
    ],
)
def test_the_walker_reads_expressions_as_asterisk_does(text: str, value: bool) -> None:
    assert expression(text) is value


def test_the_walker_understands_every_line_of_the_dialplan() -> None:
    globals_, contexts = parse(DIALPLAN.read_text("utf-8"))
    assert globals_["TRACUU_AGI_2"] == ""  # one gateway unless the province sets a second
    assert {"tracuu-inbound", "tracuu-officer", "tracuu-notify"} <= set(contexts)
