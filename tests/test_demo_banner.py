"""The demo's banner: a try-it call slow enough to watch, the test SMSC's real port."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from gateway.app import (
    DEMO_SMSC_EVENT,
    bound_agi_port,
    demo_banner,
    demo_smsc_port,
    tracuu_command,
)
from gateway.settings import Settings
from ivr.server import LISTENING_TOPIC
from kernel.bus import EventBus

pytestmark = pytest.mark.no_store


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    return Settings(demo=True)


def test_the_try_it_call_is_paced_so_the_console_shows_it(settings: Settings) -> None:
    banner = demo_banner(settings, 2775)
    call = next(line for line in banner.splitlines() if "call --server" in line)
    assert call.strip() == (
        'try: tracuu call --server 127.0.0.1:4573 --pace-ms 500 --keys "1 2411290002#"'
    )


def test_the_banner_names_the_port_the_test_smsc_really_listens_on(settings: Settings) -> None:
    banner = demo_banner(settings, 40123)
    assert "a test SMSC on SMPP 127.0.0.1:40123 (system_id tracuu, password demo;" in banner
    assert "TRACUU_SMS_DEMO_SMSC_PORT" in banner
    assert "did not start" in demo_banner(settings, None)


def test_a_real_smsc_is_named_instead(settings: Settings) -> None:
    real = settings.model_copy(
        update={"smpp": settings.smpp.model_copy(update={"host": "smsc.example", "port": 2776})}
    )
    assert "bound to the SMSC at smsc.example:2776" in demo_banner(real, None)


def test_the_demo_smsc_port_is_a_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_SMS_DEMO_SMSC_PORT", "2999")
    assert Settings().sms.demo_smsc_port == 2999


async def test_the_banner_waits_for_the_port_the_sms_component_publishes() -> None:
    bus = EventBus()

    async def sms_component_starts() -> None:
        await asyncio.sleep(0)
        bus.publish(DEMO_SMSC_EVENT[0], {"demo_smsc_port": 40124}, key=DEMO_SMSC_EVENT[1])

    async with asyncio.timeout(60):
        waiting = asyncio.create_task(demo_smsc_port(bus, timeout_s=60))
        await sms_component_starts()
        assert await waiting == 40124
        # Published before anyone asked: the bus keeps it.
        assert await demo_smsc_port(bus, timeout_s=60) == 40124
        assert await demo_smsc_port(EventBus(), timeout_s=0.01) is None


def test_tracuu_is_bare_only_when_path_finds_this_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert tracuu_command().endswith("tracuu")
    assert tracuu_command() != "tracuu"  # not on PATH: the path of this install

    (tmp_path / "tracuu").symlink_to(Path(sys.executable).parent / "tracuu")  # bootstrap's link
    assert tracuu_command() == "tracuu"


def test_with_agi_port_0_the_banner_names_the_port_fastagi_bound(settings: Settings) -> None:
    any_port = settings.model_copy(update={"agi": settings.agi.model_copy(update={"port": 0})})
    bus = EventBus()
    assert bound_agi_port(bus) is None  # not listening yet
    bus.publish(LISTENING_TOPIC, {"host": "127.0.0.1", "port": 40999}, key="agi")
    banner = demo_banner(any_port, 2775, agi_port=bound_agi_port(bus))
    assert "FastAGI on agi://127.0.0.1:40999/ivr" in banner
    assert "call --server 127.0.0.1:40999 " in banner
