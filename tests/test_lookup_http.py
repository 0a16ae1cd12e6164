"""The HTTP backend against a real local aiohttp server (loopback only)."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from lookup.codes import InvalidCode
from lookup.http import HttpLookup
from lookup.model import Status
from lookup.port import LookupUnavailable, Proof, SecretGuard
from lookup.settings import HttpLookupSettings

pytestmark = pytest.mark.no_store

ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
# An OpenCPS-like answer: nested, Vietnamese field names, epoch milliseconds.
REMOTE = {
    "data": {
        "MaHoSo": "000.00.18.H26-241129-0001",
        "TrangThai": "releasing",
        "NgayTiepNhan": "29/11/2024 08:15:00",
        "NgayHenTra": 1733158800000,  # 2024-12-03 00:00 in Hà Nội
        "NgayHenTraMoi": "",
        "TenThuTuc": "Đăng ký khai sinh",
        "MaThuTuc": "1.001193",
        "NoiTraKetQua": "Quầy số 3",
        "ChuHoSo": "Nguyễn Thị Lan",
        "SoDienThoai": "0912 345 678",
        "DiaChi": "12 Hàng Bài",
        "SoCCCD": "001190012345",
    }
}
FIELD_MAP = {
    "status": "data.TrangThai",
    "received_on": "data.NgayTiepNhan",
    "due_on": "data.NgayHenTra",
    "rescheduled_on": "data.NgayHenTraMoi",
    "procedure_name": "data.TenThuTuc",
    "procedure_code": "data.MaThuTuc",
    "collection_place": "data.NoiTraKetQua",
}


class Remote:
    """What the fake one-stop system saw, and a gate that holds slow answers."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.auth: list[str | None] = []
        self.release = asyncio.Event()


REMOTE_KEY = web.AppKey("remote", Remote)


async def handler(request: web.Request) -> web.StreamResponse:
    remote = request.app[REMOTE_KEY]
    code = request.match_info["code"]
    remote.paths.append(request.path_qs)
    remote.auth.append(request.headers.get("Authorization"))
    sequence = code.rsplit("-", 1)[-1]
    if code == "000.00.18.H26-241129-0001":
        return web.json_response(REMOTE)
    if code == "000.00.19.H26-241129-0001":
        body = json.loads(json.dumps(REMOTE))
        body["data"]["TrangThai"] = "Đang giải quyết"
        return web.json_response(body)
    if sequence == "0500":
        return web.Response(status=500, text="Internal error")
    if sequence == "0503":
        return web.Response(status=503)
    if sequence == "0200":
        return web.Response(text="<html>not json</html>", content_type="text/html")
    if sequence == "0201":
        return web.json_response({"data": {"TrangThai": 4}})  # no dates
    if sequence == "0202":
        body = json.loads(json.dumps(REMOTE))
        body["data"]["TrangThai"] = "Quá hạn"
        return web.json_response(body)
    if sequence == "0203":
        return web.json_response(
            {"data": {"TrangThai": 4, "NgayTiepNhan": "hôm qua", "NgayHenTra": "01/12/2024"}}
        )
    if sequence == "0204":
        return web.json_response(["a", "list"])
    if sequence == "0205":
        return web.Response(body=b"x" * 2000, content_type="application/json")
    if sequence == "0999":
        async with asyncio.timeout(10):  # bounded even if the client never gives up
            await remote.release.wait()
        return web.json_response(REMOTE)
    return web.Response(status=404)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Remote]]:
    remote = Remote()
    app = web.Application()
    app[REMOTE_KEY] = remote
    app.router.add_get("/api/hoso/{code}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/api/hoso/{{code}}?lang=vi", remote
    remote.release.set()
    await runner.cleanup()


def settings(url: str, **extra: object) -> HttpLookupSettings:
    options: dict[str, object] = {"field_map": FIELD_MAP, "timeout_s": 2.0, **extra}
    return HttpLookupSettings(url_template=url, **options)


@pytest.fixture
async def lookup(server: tuple[str, Remote]) -> AsyncIterator[HttpLookup]:
    opened = await HttpLookup.open(
        settings(server[0]),
        agencies={"000.00.18.H26": "UBND phường Cửa Nam", "000.00.19.H26": "UBND phường Hoàn Kiếm"},
        collection_place="Bộ phận Một cửa",
        zone=ZONE,
    )
    yield opened
    await opened.close()


async def test_found_dossier_becomes_a_public_view(
    lookup: HttpLookup, server: tuple[str, Remote]
) -> None:
    view = await lookup.by_code("000.00.18.h26 – 241129 – 0001")
    assert view is not None
    assert view.code == "000.00.18.H26-241129-0001"
    assert view.status is Status.READY
    assert view.received_on == date(2024, 11, 29)
    assert view.due_on == date(2024, 12, 3)  # epoch ms read in the office's zone
    assert view.rescheduled_on is None
    assert view.procedure_name == "Đăng ký khai sinh"
    assert view.agency_name == "UBND phường Cửa Nam"
    assert view.collection_place == "Quầy số 3"
    # The canonical code, URL-quoted, in the configured template.
    assert server[1].paths == ["/api/hoso/000.00.18.H26-241129-0001?lang=vi"]
    assert server[1].auth == [None]


async def test_not_found_is_none(lookup: HttpLookup) -> None:
    assert await lookup.by_code("000.00.18.H26-241129-0404") is None


async def test_invalid_code_never_reaches_the_remote(
    lookup: HttpLookup, server: tuple[str, Remote]
) -> None:
    with pytest.raises(InvalidCode):
        await lookup.by_code("000.00.18.H26-240231-0001")
    assert server[1].paths == []


@pytest.mark.parametrize(
    ("sequence", "why"),
    [
        ("0500", "HTTP 500"),
        ("0503", "HTTP 503"),
        ("0200", "not JSON"),
        ("0201", "lacks received_on, due_on"),
        ("0202", "unusable"),
        ("0203", "unusable"),
        ("0204", "lacks status"),
    ],
)
async def test_bad_answers_are_unavailable(lookup: HttpLookup, sequence: str, why: str) -> None:
    with pytest.raises(LookupUnavailable, match=why):
        await lookup.by_code(f"000.00.18.H26-241129-{sequence}")


async def test_too_large_answer_is_unavailable(server: tuple[str, Remote]) -> None:
    opened = await HttpLookup.open(settings(server[0], max_response_bytes=1000))
    try:
        with pytest.raises(LookupUnavailable, match="too large"):
            await opened.by_code("000.00.18.H26-241129-0205")
    finally:
        await opened.close()


async def test_slow_answer_times_out(server: tuple[str, Remote]) -> None:
    opened = await HttpLookup.open(settings(server[0], timeout_s=0.2))
    try:
        with pytest.raises(LookupUnavailable, match=r"did not answer within 0\.2 s"):
            await opened.by_code("000.00.18.H26-241129-0999")
    finally:
        await opened.close()


async def test_unreachable_system_is_unavailable() -> None:
    opened = await HttpLookup.open(settings("http://127.0.0.1:9/{code}"))  # discard port
    try:
        with pytest.raises(LookupUnavailable, match="cannot reach"):
            await opened.by_code("000.00.18.H26-241129-0001")
    finally:
        await opened.close()


async def test_keypad_asks_for_each_configured_agency(
    lookup: HttpLookup, server: tuple[str, Remote]
) -> None:
    views = await lookup.by_keypad_digits("2411291")
    assert [(v.code, v.status) for v in views] == [
        ("000.00.18.H26-241129-0001", Status.READY),
        ("000.00.19.H26-241129-0001", Status.PROCESSING),
    ]
    assert sorted(server[1].paths) == [
        "/api/hoso/000.00.18.H26-241129-0001?lang=vi",
        "/api/hoso/000.00.19.H26-241129-0001?lang=vi",
    ]


async def test_keypad_with_one_agency_down_is_unavailable(server: tuple[str, Remote]) -> None:
    opened = await HttpLookup.open(
        settings(server[0]), agencies={"000.00.18.H26": "A", "000.00.19.H26": "B"}
    )
    try:
        with pytest.raises(LookupUnavailable, match="HTTP 500"):
            await opened.by_keypad_digits("2411290500")  # sequence 0500 answers 500
    finally:
        await opened.close()


async def test_status_map_wins(server: tuple[str, Remote]) -> None:
    opened = await HttpLookup.open(settings(server[0], status_map={"releasing": 10}))
    try:
        view = await opened.by_code("000.00.18.H26-241129-0001")
        assert view is not None
        assert view.status is Status.RETURNED
    finally:
        await opened.close()


async def test_token_is_sent_as_bearer(server: tuple[str, Remote]) -> None:
    opened = await HttpLookup.open(settings(server[0], token="t0k3n"))
    try:
        await opened.by_code("000.00.18.H26-241129-0001")
    finally:
        await opened.close()
    assert server[1].auth == ["Bearer t0k3n"]


async def test_full_needs_a_mapped_phone(lookup: HttpLookup, server: tuple[str, Remote]) -> None:
    # Not mapped: personal fields are never read, so no second factor can succeed.
    assert await lookup.full("000.00.18.H26-241129-0001", Proof(phone="0912345678")) is None
    mapped = {**FIELD_MAP, "applicant_phones": "data.SoDienThoai", "applicant_name": "data.ChuHoSo"}
    opened = await HttpLookup.open(HttpLookupSettings(url_template=server[0], field_map=mapped))
    try:
        full = await opened.full("000.00.18.H26-241129-0001", Proof(phone="+84912345678"))
        assert full is not None
        assert full.applicant_name == "Nguyễn Thị Lan"
        assert await opened.full("000.00.18.H26-241129-0001", Proof(phone="0987654321")) is None
        # ID numbers are never fetched, so a secret cannot prove anything here.
        assert await opened.full("000.00.18.H26-241129-0001", Proof(secret="2345")) is None
        view = await opened.by_code("000.00.18.H26-241129-0001")
        assert "Nguyễn" not in repr(view)
        assert "912345678" not in repr(view)
    finally:
        await opened.close()


async def test_what_a_remote_cannot_do_is_said(lookup: HttpLookup) -> None:
    with pytest.raises(LookupUnavailable, match="by phone"):
        await lookup.by_phone("0912345678")
    with pytest.raises(LookupUnavailable, match="changed"):
        await lookup.changed_since("")
    assert await lookup.procedure("1.001193") is None
    assert await lookup.procedures() == []


async def test_template_without_placeholder_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\{code\}"):
        await HttpLookup.open(HttpLookupSettings(url_template="http://127.0.0.1/x"))


def test_status_at_and_dates_of_other_shapes() -> None:
    from lookup.dates import parse_date, parse_datetime

    assert parse_date("2024-11-29") == date(2024, 11, 29)
    assert parse_date("29/11/2024") == date(2024, 11, 29)
    assert parse_date("29-11-2024 17:30") == date(2024, 11, 29)
    assert parse_datetime("2024-11-29T17:30:00Z", ZONE) == datetime(
        2024, 11, 30, 0, 30, tzinfo=ZONE
    )
    assert parse_date(1733158800, ZONE) == date(2024, 12, 3)  # epoch seconds
    with pytest.raises(ValueError, match="dd/mm/yyyy"):
        parse_date("31/02/2024x")
    with pytest.raises(ValueError):
        parse_date("31/02/2024")


async def test_written_spellings_ask_the_remote_for_the_printed_code(
    lookup: HttpLookup, server: tuple[str, Remote]
) -> None:
    # QA H2 and L1: filler words, a short sequence, O typed for 0 all reach the same dossier.
    for typed in (
        "HS so 000.00.18.H26-241129-0001",
        "000.00.18.H26-241129-1",
        "OOO.OO.18.H26-241129-OOO1",
    ):
        view = await lookup.by_code(typed)
        assert view is not None
        assert view.code == "000.00.18.H26-241129-0001"
    assert set(server[1].paths) == {"/api/hoso/000.00.18.H26-241129-0001?lang=vi"}


async def test_no_secret_is_checked_so_none_is_locked(lookup: HttpLookup) -> None:
    for _ in range(6):
        assert await lookup.full("000.00.18.H26-241129-0001", Proof(secret="012345")) is None
    assert await lookup.secret_locked("000.00.18.H26-241129-0001") is False


async def test_one_secret_against_several_dossiers_proves_none_and_fetches_nothing(
    lookup: HttpLookup, server: tuple[str, Remote]
) -> None:
    assert isinstance(lookup, SecretGuard)
    codes = ["000.00.18.H26-241129-0001", "000.00.19.H26-241129-0001"]
    for _ in range(6):
        assert await lookup.full_any(codes, "012345") == []
    assert await lookup.secret_locked(codes[0]) is False
    assert server[1].paths == []  # secrets are never fetched, so nothing is asked
    with pytest.raises(InvalidCode):
        await lookup.full_any(["HS 241129-0001"], "012345")
