"""The coverage report is exact; the start-up check warns; the CLI does the staff workflow."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

import pytest

import prompts.service as prompts_service
from gateway.cli import main
from gateway.runtime import Runtime
from gateway.settings import Settings
from ivr.available import LivePrompts
from ivr.settings import OfficeHours
from ivr.speech import Speech as VoiceSpeech
from kernel.bus import EventBus
from kernel.dsn import DatabaseUrl
from lookup.model import Changes, Dossier, Procedure, Status
from lookup.port import LookupUnavailable
from messages.parts import dynamic_prompt_id
from prompts.catalog import load_catalog
from prompts.coverage import Script, build_report
from prompts.inventory import inspect, scripts_for
from prompts.render import render_placeholders
from prompts.service import check, prepare
from prompts.settings import SoundsSettings
from prompts.store import Manifest, Store
from prompts.tts import EspeakSynthesizer, Speech
from prompts.versions import FileInfo, PromptRecord, Version
from tests.prompts_db import prompt_store
from tests.test_prompts_support import SCRIPTS, real_catalog_shape, small_catalog, speech

ALL_OK = dict.fromkeys(("alaw", "ulaw", "sln", "sln16", "wav"), "ok")


def test_build_report_is_exact_for_every_case() -> None:
    files = {"alaw": FileInfo("a" * 64, 10)}
    tts = Version(0, "tts", "t0", "old script", files, 1.25, engine="espeak-ng", key="k")
    rec = Version(1, "recording", "t1", "script b", files, 2.5, by="Lan", approved_at="t2")
    draft = Version(2, "recording", "t3", "script b", files, 2.0, by="Minh")
    records = {
        "a": PromptRecord("a", (tts,), live=0),
        "b": PromptRecord("b", (tts, rec, draft), live=1),
        "gone": PromptRecord("gone", (tts,), live=0),
    }
    scripts = [Script("a", "new script", "g"), Script("b", "script b", "g"), Script("c", "x", "g")]
    disk = {"b": {"wav": "missing", "alaw": "differs"}, "c": dict.fromkeys(ALL_OK, "missing")}

    report = build_report(scripts, records, disk)

    assert [r.to_dict() for r in report.rows] == [
        {
            "id": "a",
            "group": "g",
            "text": "new script",
            "source": "tts",
            "version": 0,
            "duration_s": 1.25,
            "files": ALL_OK,
            "complete": True,
            "stale": True,
            "drafts": [],
            "by": "espeak-ng",
        },
        {
            "id": "b",
            "group": "g",
            "text": "script b",
            "source": "recorded",
            "version": 1,
            "duration_s": 2.5,
            "files": {**ALL_OK, "wav": "missing", "alaw": "differs"},
            "complete": False,
            "stale": False,
            "drafts": [2],
            "by": "Lan",
        },
        {
            "id": "c",
            "group": "g",
            "text": "x",
            "source": "missing",
            "version": None,
            "duration_s": None,
            "files": dict.fromkeys(ALL_OK, "missing"),
            "complete": False,
            "stale": False,
            "drafts": [],
            "by": "",
        },
    ]
    assert report.missing == ("c",)
    assert report.incomplete == ("b",)
    assert report.stale == ("a",)
    assert report.orphans == ("gone",)
    assert not report.ok
    assert report.summary() == (
        "3 prompts: 1 recorded, 1 TTS placeholders, 1 missing; 1 with missing or damaged files; "
        "1 stale"
    )


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(tmp_path / "sounds"))
    monkeypatch.setenv("TRACUU_SOUNDS_ENGINE", "espeak")
    monkeypatch.setenv("TRACUU_DATABASE", str(tmp_path / "tracuu.sqlite3"))
    return Settings()


def _manifest(settings: Settings) -> Manifest:
    with prompt_store(settings.sounds.dir, settings.database) as store:
        return store.read()


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The prompts of `settings`: its database, its sounds directory."""
    with prompt_store(settings.sounds.dir, settings.database) as opened:
        yield opened


def test_the_report_reads_the_disk_a_deleted_file_and_a_hand_placed_one(store: Store) -> None:
    render_placeholders(store, {"welcome": SCRIPTS["welcome"]}, EspeakSynthesizer())
    store.live_path("welcome", "ulaw").unlink()
    shutil.copyfile(store.live_path("welcome", "wav"), store.live_path("goodbye", "wav"))

    rows = {r.prompt_id: r for r in inspect(store, small_catalog()).rows}

    assert rows["welcome"].files == {**ALL_OK, "ulaw": "missing"}
    assert rows["goodbye"].source == "missing"
    assert rows["goodbye"].files == {**dict.fromkeys(ALL_OK, "missing"), "wav": "unmanaged"}
    assert rows["enter_code"].files == dict.fromkeys(ALL_OK, "missing")


def test_the_start_up_check_warns_loudly_about_missing_prompts(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    render_placeholders(store, {"welcome": SCRIPTS["welcome"]}, EspeakSynthesizer())
    with caplog.at_level(logging.INFO, logger="prompts.service"):
        report = check(settings, small_catalog())
    assert report.missing == ("enter_code", "goodbye")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        "VOICE PROMPTS MISSING: 2 of 3 have no audio, callers will hear silence or English there: "
        "enter_code, goodbye. Run `tracuu prompts render`."
    )


async def test_a_first_start_says_once_what_it_will_render_and_is_loud_only_about_what_failed(
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # An empty sounds directory: everything is missing until the start-up render.
    with caplog.at_level(logging.INFO, logger="prompts.service"):
        async with asyncio.timeout(60):
            report = await prepare(settings, _PagedLookup(), small_catalog())  # type: ignore[arg-type]
    assert report.ok
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    notices = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert notices == [
        "voice prompts: 3 of 3 have no audio yet; rendering 3 missing placeholders in the "
        "background"
    ]

    # The same first start where rendering fails (a new database, an empty sounds
    # directory): the loud error, with the ids, comes after it.
    caplog.clear()
    shutil.rmtree(settings.sounds.dir)
    settings = settings.model_copy(update={"database": DatabaseUrl(str(tmp_path / "new.sqlite3"))})
    monkeypatch.setattr(
        prompts_service,
        "shared_synthesizer",
        lambda *_a, **_k: EspeakSynthesizer(binary="/nonexistent/espeak-ng"),
    )
    with caplog.at_level(logging.INFO, logger="prompts.service"):
        async with asyncio.timeout(60):
            report = await prepare(settings, _PagedLookup(), small_catalog())  # type: ignore[arg-type]
    missing = [r.getMessage() for r in caplog.records if "VOICE PROMPTS MISSING" in r.getMessage()]
    assert len(missing) == 1
    assert "there: welcome, enter_code, goodbye, ivr_officer_hours, txt_" in missing[0]


GUIDED = Procedure(
    "1.001",
    "Đăng ký khai sinh",
    ("Tờ khai đăng ký khai sinh", "Giấy chứng sinh"),
    "Miễn lệ phí",  # not a amount: spoken as a free text
    "Ngay trong ngày làm việc",  # not "N ngày": a free text too
    common=True,
)


def _imported(seq: int, **more: Any) -> Dossier:
    values: dict[str, Any] = {
        "code": f"000.00.18.H26-241129-{seq:04d}",
        "agency_id": "000.00.18.H26",
        "procedure_code": "1.001",
        "procedure_name": "Đăng ký khai sinh",
        "status": Status.READY,
        "received_on": date(2024, 11, 29),
        "due_on": date(2024, 12, 2),
        **more,
    }
    return Dossier(**values)


class _PagedLookup:
    """Procedures, and dossiers changed since a cursor, two pages: what an import leaves."""

    PAGES: ClassVar[dict[str, Changes]] = {
        "": Changes(
            (_imported(1, collection_place="Tầng 2, nhà B", agency_name="UBND xã Mới"),),
            "p1",
            more=True,
        ),
        "p1": Changes((_imported(2, procedure_name="Cấp bản sao trích lục hộ tịch"),), "p2"),
        "p2": Changes((), "p2"),
    }

    def __init__(self) -> None:
        self.cursors: list[str] = []

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]:
        return [GUIDED]

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        self.cursors.append(cursor)
        return self.PAGES[cursor]


async def test_start_up_renders_every_free_text_a_call_can_speak(settings: Settings) -> None:
    lookup = _PagedLookup()
    dossiers = prompts_service.DossierTexts()

    async with asyncio.timeout(60):
        report = await prepare(settings, lookup, real_catalog_shape(), dossiers)  # type: ignore[arg-type]

    assert report.ok
    assert lookup.cursors == ["", "p1"]  # paged to the end
    # What callers hear, checked the way a call checks it: the live files on disk.
    live = LivePrompts(settings.sounds.live_dir)
    missing: list[str] = []
    voice = VoiceSpeech(load_catalog(), settings.office, available=live, wanted=missing.append)
    today = date(2024, 12, 1)
    for dossier in (d for page in _PagedLookup.PAGES.values() for d in page.dossiers):
        answer = voice.answer(dossier.public(), today)
        assert answer.choice
        assert answer.status
    voice.answer(_imported(3, agency_name="").public(), today)  # configured place and name
    guide = voice.guide(GUIDED)
    assert guide.name == (dynamic_prompt_id("Đăng ký khai sinh"),)
    assert missing == []
    for text in (
        "Giấy chứng sinh",
        "Miễn lệ phí",
        "Ngay trong ngày làm việc",
        settings.office.hours,
        "Tầng 2, nhà B",
        "UBND xã Mới",
        "Cấp bản sao trích lục hộ tịch",
    ):
        assert live(dynamic_prompt_id(text)), text

    # The hours the flow and the dialplan say after "ivr_officer_closed", from the settings.
    assert live("ivr_officer_hours")
    manifest = await asyncio.to_thread(_manifest, settings)
    assert manifest.dynamic["ivr_officer_hours"] == (
        "Giờ làm việc là Thứ Hai đến Thứ Sáu, từ 7 giờ 30 đến 17 giờ, trừ ngày lễ."
    )

    # The next refresh reads only what changed since.
    saturdays = settings.model_copy(
        update={"agi": settings.agi.model_copy(update={"hours": (OfficeHours(weekdays=(5,)),)})}
    )
    await prompts_service.refresh_dynamic(saturdays, lookup, dossiers)  # type: ignore[arg-type]
    assert lookup.cursors == ["", "p1", "p2"]
    record = (await asyncio.to_thread(_manifest, settings)).record("ivr_officer_hours")
    assert record.placeholder is not None
    assert record.placeholder.text.startswith("Giờ làm việc là Thứ Bảy, từ 7 giờ 30")


async def test_a_prompt_a_call_wanted_is_rendered_from_the_bus(settings: Settings) -> None:
    bus = EventBus()
    text = "Nhà văn hoá tổ dân phố số 5"
    live = LivePrompts(settings.sounds.live_dir, miss_rescan_s=0.0)
    assert not live(dynamic_prompt_id(text))

    async with asyncio.timeout(60):
        task = asyncio.create_task(prompts_service.render_wanted(settings, bus, gather_s=0.05))
        await asyncio.sleep(0)  # subscribed
        bus.publish("prompt_wanted", {"text": text})
        while not live(dynamic_prompt_id(text)):
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    manifest = await asyncio.to_thread(_manifest, settings)
    assert manifest.dynamic[dynamic_prompt_id(text)] == text


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["prompts", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_staff_workflow_through_the_cli(
    settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prompt_id = next(iter(load_catalog())).id
    take = speech(tmp_path / "take 1.wav")

    code, out, err = _cli(capsys, "import", prompt_id, str(take), "--by", "Lan")
    assert code == 0
    assert err.endswith(f"imported {prompt_id} v1 from take 1.wav by Lan\n")  # the log line
    assert out.splitlines()[0].startswith(f"{prompt_id} v1: draft, ")
    listen = Path(out.splitlines()[1].removeprefix("listen: "))
    assert listen.is_file()
    assert listen.read_bytes()[:4] == b"RIFF"

    code, _, err = _cli(capsys, "rollback", prompt_id, "0")
    assert code == 1
    assert err == f"tracuu prompts rollback: {prompt_id} has no version 0\n"
    assert _cli(capsys, "approve", prompt_id, "1", "--by", "Hoa")[:2] == (
        0,
        f"{prompt_id}: v1 is live\n",
    )

    code, out, _ = _cli(capsys, "status", "--json")
    status = json.loads(out)
    assert code == 2  # the other prompts have no audio yet
    row = next(r for r in status["prompts"] if r["id"] == prompt_id)
    assert (row["source"], row["version"], row["by"], row["complete"]) == (
        "recorded",
        1,
        "Lan",
        True,
    )
    assert status["summary"]["recorded"] == 1

    code, out, _ = _cli(capsys, "versions", prompt_id)
    assert code == 0
    assert out.splitlines()[0].startswith("v1   live ")
    assert "Lan from take 1.wav" in out

    code, _, err = _cli(capsys, "import", prompt_id, str(tmp_path / "missing.wav"))
    assert code == 1
    assert err.endswith("missing.wav does not exist\n")


def test_export_script_lists_every_prompt_with_its_note(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_catalog()
    code, out, _ = _cli(capsys, "export-script", "--csv")
    assert code == 0
    assert out.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(out.removeprefix("\ufeff"))))
    assert rows[0] == ["prompt_id", "group", "script", "note", "live"]
    assert [r[:4] for r in rows[1:]] == [
        [p.id, p.group, p.text, p.note] for p in catalog if p.group != "sms"
    ]
    assert {r[4] for r in rows[1:]} == {"missing"}

    code, out, _ = _cli(capsys, "export-script")
    first = next(iter(catalog))
    assert out.startswith("Kịch bản thu âm")  # for the staff who record: Vietnamese
    assert f"1. [{first.id}] (người gọi đang nghe: chưa có)\n   {first.text}\n" in out
    assert f"   Ghi chú: {first.note}\n" in out


def test_import_into_the_real_settings_honours_the_size_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(tmp_path / "sounds"))
    monkeypatch.setenv("TRACUU_SOUNDS_MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("TRACUU_DATABASE", str(tmp_path / "tracuu.sqlite3"))
    prompt_id = next(iter(load_catalog())).id
    code, _, err = _cli(capsys, "import", prompt_id, str(speech(tmp_path / "a.wav")))
    assert code == 1
    assert "refused: the file is 0.2 MB; the limit is 0.001 MB" in err
    assert SoundsSettings(dir=tmp_path).store_dir == tmp_path / ".tracuu"


@pytest.mark.slow
@pytest.mark.sqlite_only(
    "the prompts create the SQLite file the dossier look-up then finds empty; with the stores"
    " sent to PostgreSQL no dossier file exists, so there is nothing to read dynamic texts from"
)
def test_cli_render_covers_the_whole_catalog_then_costs_nothing(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACUU_DATABASE", str(tmp_path / "no-data.sqlite3"))
    code, out, err = _cli(capsys, "render", "--engine", "espeak")
    total = len([p for p in load_catalog() if p.group != "sms"])  # SMS wording is not spoken
    tail = "0 recorded, 0 repaired, 0 failed\n"
    first, dynamic = out.splitlines(keepends=True)
    assert (code, first) == (
        0,
        f"placeholders: {total} rendered, 0 from cache, 0 unchanged, {tail}",
    )
    # The prompts made the database; it has no dossiers (said loudly): only the settings'
    # texts (office name, collection place, hours) are dynamic prompts.
    assert dynamic.startswith("dynamic prompts: 5 rendered, ")
    assert "holds no dossiers" in err
    # Again: nothing to make. The 6 texts of the settings are prompts now like the catalog's.
    known = total + 6
    code, out, _ = _cli(capsys, "render", "--engine", "espeak")
    assert out.splitlines(keepends=True) == [
        f"placeholders: 0 rendered, 0 from cache, {known} unchanged, {tail}",
        f"dynamic prompts: 0 rendered, 0 from cache, 5 unchanged, {tail}",
    ]
    code, out, _ = _cli(capsys, "status")
    assert code == 0
    assert out.startswith(f"{known} prompts: 0 recorded, {known} TTS placeholders, 0 missing;")
    assert check(Settings()).ok  # the gateway's start-up check on the same database


def test_cli_render_and_status_cover_the_texts_the_dossiers_need(
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lookup.sqlite import DossierStore
    from tests.test_ivr_calls import DOSSIERS, PROCEDURES

    async def fill() -> None:
        store = await DossierStore.open(tmp_path / "tracuu.sqlite3")
        await store.upsert_dossiers(DOSSIERS)
        await store.upsert_procedures(PROCEDURES)
        await store.close()

    asyncio.run(fill())
    monkeypatch.setenv("TRACUU_DATABASE", str(tmp_path / "tracuu.sqlite3"))
    monkeypatch.setattr("prompts.catalog.load_catalog", real_catalog_shape)  # a small catalog
    needed = dynamic_prompt_id("Đăng ký khai sinh")  # the dossiers' procedure name

    # The catalog alone rendered (what `render` used to do): calls would still fall back.
    prompts_service.render_missing(Settings(), "espeak")
    code, out, _ = _cli(capsys, "status", "--json")
    rows = {r["id"]: r for r in json.loads(out)["prompts"]}
    assert code == 2
    assert rows[needed]["source"] == "missing"

    code, out, _ = _cli(capsys, "render", "--engine", "espeak")
    assert code == 0
    assert "dynamic prompts: " in out
    code, out, _ = _cli(capsys, "status", "--json")
    rows = {r["id"]: r for r in json.loads(out)["prompts"]}
    assert code == 0
    assert rows[needed]["source"] == "tts"
    assert LivePrompts(Settings().sounds.live_dir)(needed)


class _Lookup:
    """The one DossierLookup method the prompts component uses; tells the test it was asked."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]:
        self.asked.set()
        return []

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        raise LookupUnavailable("like the HTTP backend")


async def test_an_unwritable_sounds_directory_is_logged_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(blocker / "sounds"))
    monkeypatch.setenv("TRACUU_SOUNDS_REFRESH_S", "0.01")
    monkeypatch.setenv("TRACUU_DATABASE", str(tmp_path / "tracuu.sqlite3"))
    settings = Settings()
    lookup = _Lookup()
    runtime = Runtime(settings, lookup, EventBus())  # type: ignore[arg-type]

    async with asyncio.timeout(30):
        task = asyncio.create_task(prompts_service.run(runtime))
        await lookup.asked.wait()  # still running, and refreshing: the failure was not fatal
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    failures = [r for r in caplog.records if r.name == "prompts.service" and r.levelno >= 40]
    assert failures[0].getMessage() == (
        "voice prompts could not be prepared; run `tracuu prompts status`"
    )
    assert isinstance(failures[0].exc_info[1], NotADirectoryError)  # type: ignore[index]


def test_a_stop_request_ends_rendering_early_and_keeps_what_is_done(store: Store) -> None:
    stop = threading.Event()

    class StopsAfterOne:
        engine, voice = "espeak-ng", "vi@150wpm"

        def synthesize(self, text: str) -> Speech:
            speech = EspeakSynthesizer().synthesize(text)
            stop.set()  # shutdown arrives while the first prompt is being spoken
            return speech

    result = render_placeholders(store, SCRIPTS, StopsAfterOne(), stop=stop)

    # Two synthesis workers: the third prompt is only taken once one of them is done,
    # and by then the stop is set.
    assert len(result.rendered) + len(result.failed) == len(SCRIPTS)
    assert len(result.rendered) >= 1
    assert len(result.failed) >= 1
    assert set(result.failed.values()) == {"stopped before synthesis (shutting down)"}
    assert all(store.live_path(pid, "wav").is_file() for pid in result.rendered)


def test_approving_a_recording_of_an_older_script_warns(
    settings: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prompt = next(iter(load_catalog()))
    assert _cli(capsys, "import", prompt.id, str(speech(tmp_path / "a.wav")))[0] == 0
    # The catalog changed after the recording: simulate by editing what was recorded.
    with prompt_store(settings.sounds.dir, settings.database) as store:
        store.db.run(
            lambda conn: conn.execute(
                "UPDATE prompt_version SET text = ? WHERE prompt_id = ? AND number = 1",
                ("Kịch bản cũ.", prompt.id),
            )
        )

    code, out, err = _cli(capsys, "approve", prompt.id, "1")

    assert (code, out) == (0, f"{prompt.id}: v1 is live\n")
    assert err.endswith(
        f"warning: v1 speaks an older script; the catalog now says: {prompt.text}\n"
    )
    code, out, _ = _cli(capsys, "status", "--json")
    row = next(r for r in json.loads(out)["prompts"] if r["id"] == prompt.id)
    assert (row["source"], row["stale"]) == ("recorded", True)


def test_sms_wording_is_not_a_voice_prompt_to_record(store: Store) -> None:
    """The SMS-only phrases are written, never spoken: no placeholder, no recording asked."""
    catalog = load_catalog()
    texts_only = {p.id for p in catalog if p.group == "sms"}
    assert "sms_opted_out" in texts_only

    scripts = scripts_for(store.read())
    listed = {s.id for s in scripts}

    assert not listed & texts_only
    assert "ivr_welcome" in listed
    assert {r.prompt_id for r in inspect(store, scripts).rows}.isdisjoint(texts_only)
