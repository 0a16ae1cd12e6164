"""Operations endpoints: the OpenAPI document, /readyz, /metrics."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import cast

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate
from pydantic import SecretStr

from console.app import create_app
from console.ops import OpsConfig
from console.roles import Role
from console.settings import HttpSettings
from kernel.bus import EventBus
from kernel.histogram import LatencyHistogram
from kernel.looplag import LoopLagMonitor
from lookup import demo
from lookup.port import DossierLookup
from lookup.sqlite import DossierStore, SqliteLookup
from lookup.timed import TimedLookup
from tests.console_auth import cheap_passwords, sign_in
from tests.test_console_security import make_app

TODAY = date(2026, 11, 29)
SCRAPE_TOKEN = "prometheus-scrape-token-0123456789"
BEARER = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}
OPS_PATHS = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
async def database(tmp_path: Path) -> Path:
    path = tmp_path / "tracuu.sqlite3"
    store = await DossierStore.open(path)
    await store.upsert_dossiers(demo.fixed_dossiers(TODAY))
    await store.close()
    return path


@pytest.fixture
async def lookup(database: Path) -> AsyncIterator[SqliteLookup]:
    opened = await SqliteLookup.open(database)
    yield opened
    await opened.close()


async def test_the_openapi_document_is_valid_and_names_every_api_route(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    client: TestClient = await aiohttp_client(make_app(lookup, database))
    spec = await (await client.get("/api/openapi.json")).json()
    validate(spec)  # raises on anything that is not OpenAPI 3.1
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for route in client.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = str(info.get("path") or info.get("formatter") or "")
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", path)
        if route.method != "HEAD" and (path.startswith("/api/") or path in OPS_PATHS):
            served.add((route.method, path))
    assert documented == served


async def test_ready_when_the_database_answers_and_not_when_it_does_not(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    app = create_app(
        lookup,
        bus,
        lambda: TODAY,
        database=database,
        ops_config=OpsConfig(smpp_configured=True),
    )
    client = await aiohttp_client(cheap_passwords(app))
    waiting = await client.get("/readyz")
    assert waiting.status == 503
    assert await waiting.json() == {
        "ready": False,
        "checks": {"database": "ok", "smpp": "not bound (no state yet)"},
    }
    bus.publish("sms", {"link": "up", "detail": ""}, key="link")
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["ready"] is True
    await lookup.close()
    down = await client.get("/readyz")
    assert down.status == 503
    assert (await down.json())["checks"]["database"].startswith("unreachable")
    assert (await client.get("/healthz")).status == 200  # alive all the same


async def test_not_ready_while_ami_is_configured_but_lost(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    app = create_app(
        lookup, bus, lambda: TODAY, database=database, ops_config=OpsConfig(ami_configured=True)
    )
    client = await aiohttp_client(cheap_passwords(app))
    assert (await (await client.get("/readyz")).json())["checks"]["ami"] == "not connected"
    bus.publish("lines", {"channels": 2, "connected": True}, key="asterisk")
    assert (await client.get("/readyz")).status == 200
    bus.publish("lines", {"channels": 2, "connected": False}, key="asterisk")
    lost = await client.get("/readyz")
    assert lost.status == 503
    assert (await lost.json())["checks"] == {"database": "ok", "ami": "not connected"}


async def test_metrics_in_prometheus_text_format(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    bus = EventBus()
    latency = LatencyHistogram()
    lag = LoopLagMonitor()
    lag.start()
    timed = cast(DossierLookup, TimedLookup(lookup, latency))
    app = create_app(
        timed,
        bus,
        lambda: TODAY,
        database=database,
        ops_config=OpsConfig(loop_lag=lag, lookup_latency=latency, smpp_configured=True),
        http=HttpSettings(metrics_token=SecretStr(SCRAPE_TOKEN)),
    )
    client = await aiohttp_client(cheap_passwords(app))
    bus.publish("ivr_call", {"uniqueid": "1.1", "stage": "code", "caller": "091****678"}, key="1.1")
    bus.publish(
        "lines", {"channels": 5, "in_ivr": 2, "waiting": 1, "with_officer": 1}, key="asterisk"
    )
    bus.publish("sms", {"link": "up"}, key="link")
    bus.publish(
        "sms",
        {"bind": "viettel", "reconnects": 2, "throttled": 3, "submitted": 9},
        key="bind:viettel",
    )
    for _ in range(31):  # the 31st is held back by the public rate limit
        await client.get("/api/dossiers/000.00.18.H26-241129-0001")
    try:
        response = await client.get("/metrics", headers=BEARER)
    finally:
        lag.stop()
    text = await response.text()
    assert response.status == 200
    assert response.content_type == "text/plain"
    for line in (
        'tracuu_calls_in_progress{step="code"} 1.0',
        'tracuu_lines{where="in_use"} 5.0',
        'tracuu_lines{where="waiting"} 1.0',
        "tracuu_smpp_up 1.0",
        'tracuu_smpp_reconnects_total{bind="viettel"} 2.0',
        'tracuu_smpp_throttled_total{bind="viettel"} 3.0',
        'tracuu_throttled_requests_total{kind="public_lookup"} 1.0',
        'tracuu_lookup_seconds_count{method="by_code"} 30.0',
    ):
        assert line in text, line
    assert re.search(r"^tracuu_event_loop_lag_seconds \d", text, re.M)
    assert re.search(r"^tracuu_event_loop_lag_ticks_seconds_count \d", text, re.M)
    assert "091****678" not in text  # counts and states only


async def test_metrics_refuse_a_stranger_and_serve_the_scraper_and_an_operator(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(
        lookup,
        EventBus(),
        lambda: TODAY,
        database=database,
        http=HttpSettings(metrics_token=SecretStr(SCRAPE_TOKEN)),
    )
    client: TestClient = await aiohttp_client(cheap_passwords(app))
    stranger = await client.get("/metrics", allow_redirects=False)
    assert stranger.status == 401
    assert stranger.headers["WWW-Authenticate"] == "Bearer"  # not a redirect to /login
    assert "tracuu_" not in await stranger.text()
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status == 401
    assert "tracuu_" not in await wrong.text()
    scraped = await client.get("/metrics", headers=BEARER)
    assert scraped.status == 200
    assert "tracuu_calls_in_progress" in await scraped.text()
    await sign_in(client, Role.OPERATOR)
    seen = await client.get("/metrics")
    assert seen.status == 200
    assert "tracuu_calls_in_progress" in await seen.text()


async def test_metrics_without_a_configured_token_take_no_bearer(
    aiohttp_client, lookup: SqliteLookup, database: Path
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(lookup, EventBus(), lambda: TODAY, database=database)
    client: TestClient = await aiohttp_client(cheap_passwords(app))
    assert (await client.get("/metrics", headers={"Authorization": "Bearer "})).status == 401
    assert (await client.get("/metrics", headers=BEARER)).status == 401
    assert (await client.get("/healthz")).status == 200  # liveness stays public
    assert (await client.get("/readyz")).status in (200, 503)  # so do readiness probes
