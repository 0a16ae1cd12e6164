"""The prompts in the database: several gateways hear one truth.

Two gateways are two Stores on one database (this test's SQLite file, or its
PostgreSQL schema in the PG pass), each with its own sounds directory, as two
machines each with their Asterisk. What a caller hears is the file Asterisk plays
from a gateway's sounds directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.db import Database
from prompts import rows
from prompts.audio import FORMATS
from prompts.database import PromptDb, migrate
from prompts.history import describe
from prompts.legacy import import_json
from prompts.materialise import Materialiser, follow
from prompts.recordings import approve_version, import_recording, rollback_version
from prompts.render import render_placeholders
from prompts.settings import SoundsSettings
from prompts.store import Manifest, Store
from prompts.tts import EspeakSynthesizer
from prompts.versions import Event, FileInfo, PromptRecord, Version, state
from tests.test_prompts_support import SCRIPTS, speech

WELCOME = "welcome"


@pytest.fixture
def gateways(tmp_path: Path, store_url: str) -> Iterator[tuple[Store, Store]]:
    """Two gateways on one database, each with its own Database object and sounds."""
    a_db, b_db = PromptDb.open(store_url), PromptDb.open(store_url)
    try:
        yield (
            Store(tmp_path / "a" / "sounds", tmp_path / "a" / "store", a_db),
            Store(tmp_path / "b" / "sounds", tmp_path / "b" / "store", b_db),
        )
    finally:
        a_db.close()
        b_db.close()


@pytest.fixture(scope="module")
def takes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("takes")
    return speech(root / "take1.wav", rate=140), speech(root / "take2.wav", rate=170)


def _heard(store: Store, prompt_id: str = WELCOME) -> bytes:
    """What a caller of this gateway's Asterisk hears (the 8 kHz WAV it plays)."""
    return store.live_path(prompt_id, "wav").read_bytes()


def _version_wav(store: Store, number: int, prompt_id: str = WELCOME) -> bytes:
    blobs = store.db.run(lambda conn: rows.audio(conn, prompt_id, number, ("wav",)))
    return blobs["wav"]


async def _until_heard(store: Store, expected: bytes) -> None:
    path = store.live_path(WELCOME, "wav")
    while not (path.is_file() and path.read_bytes() == expected):
        await asyncio.sleep(0.05)


async def test_an_approval_on_one_gateway_is_what_callers_of_the_other_hear(
    gateways: tuple[Store, Store], takes: tuple[Path, Path], store_url: str
) -> None:
    a, b = gateways
    sounds = SoundsSettings(dir=a.live_dir.parent.parent)
    await asyncio.to_thread(
        render_placeholders, a, {WELCOME: SCRIPTS[WELCOME]}, EspeakSynthesizer()
    )
    database = await Database.open(store_url)  # gateway B's running process
    try:
        await migrate(database)
        following = Materialiser(Store(b.live_dir.parent.parent, b.root, PromptDb(database)))
        async with asyncio.timeout(60):
            task = asyncio.create_task(follow(database, following, poll_s=0.05))
            try:
                placeholder = await asyncio.to_thread(_version_wav, a, 0)
                await _until_heard(b, placeholder)  # B wrote A's placeholder, not its own

                # Gateway A's studio: record two takes, approve the second.
                for take in takes:
                    await asyncio.to_thread(
                        import_recording, a, sounds, SCRIPTS, WELCOME, take, by="Lan"
                    )
                await asyncio.to_thread(approve_version, a, WELCOME, 2, by="Hoa")
                approved = await asyncio.to_thread(_version_wav, a, 2)
                assert _heard(a) == approved
                await _until_heard(b, approved)

                # Rolled back on A: B's callers hear the placeholder again.
                await asyncio.to_thread(rollback_version, a, WELCOME, 0, by="Hoa")
                assert _heard(a) == placeholder
                await _until_heard(b, placeholder)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    finally:
        await database.close()
    # Every format, byte for byte, on both machines; no temp file left for Asterisk to see.
    for fmt in FORMATS:
        assert a.live_path(WELCOME, fmt).read_bytes() == b.live_path(WELCOME, fmt).read_bytes()
    assert sorted(p.name for p in b.live_dir.iterdir()) == sorted(
        f"{WELCOME}.{fmt}" for fmt in FORMATS
    )
    record = await asyncio.to_thread(b.record, WELCOME)
    assert [state(record, n) for n in (0, 1, 2)] == ["live", "draft", "rolled_back"]


def test_a_draft_recorded_on_one_gateway_can_be_listened_to_on_the_other(
    gateways: tuple[Store, Store], takes: tuple[Path, Path]
) -> None:
    a, b = gateways
    sounds = SoundsSettings(dir=a.live_dir.parent.parent)
    done = import_recording(a, sounds, SCRIPTS, WELCOME, takes[0], by="Lan")
    version = b.record(WELCOME).version(1)
    assert version is not None
    listen = b.local_file(WELCOME, version)
    assert listen.read_bytes() == done.listen.read_bytes()
    assert not b.live_dir.exists()  # a draft goes nowhere Asterisk plays


def test_two_gateways_importing_at_once_get_two_versions(
    gateways: tuple[Store, Store], takes: tuple[Path, Path]
) -> None:
    """Without the manifest lock both would take number 1 and one import would be lost."""
    a = gateways[0]
    sounds = SoundsSettings(dir=a.live_dir.parent.parent)
    start = threading.Barrier(2)
    numbers: list[int] = []

    def imports(store: Store, take: Path) -> None:
        start.wait(10)
        numbers.append(
            import_recording(store, sounds, SCRIPTS, WELCOME, take, by="x").version.number
        )

    pairs = zip(gateways, takes, strict=True)
    threads = [threading.Thread(target=imports, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(numbers) == [1, 2]
    record = a.record(WELCOME)
    assert [v.number for v in record.versions] == [1, 2]
    assert [e.number for e in record.history] == sorted(numbers)


def test_two_gateways_approving_at_once_leave_one_consistent_manifest(
    gateways: tuple[Store, Store], takes: tuple[Path, Path]
) -> None:
    a, b = gateways
    sounds = SoundsSettings(dir=a.live_dir.parent.parent)
    for take in takes:
        import_recording(a, sounds, SCRIPTS, WELCOME, take, by="Lan")
    before = a.db.run(rows.generation)
    start = threading.Barrier(2)

    def approves(store: Store, number: int) -> None:
        start.wait(10)
        approve_version(store, WELCOME, number, by=f"gateway {number}")

    pairs = zip(gateways, (1, 2), strict=True)
    threads = [threading.Thread(target=approves, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    record = b.record(WELCOME)
    approvals = [e for e in record.history if e.action == "approved"]
    assert sorted(e.number for e in approvals) == [1, 2]  # both recorded, neither lost
    assert record.live == approvals[-1].number  # the later commit is what callers hear
    assert a.db.run(rows.generation) == before + 2
    # Whatever each gateway wrote last, the next sync makes it the database's choice.
    for store in gateways:
        Materialiser(store).sync()
        assert _heard(store) == _version_wav(store, record.live)


# --- from an installation of before: the JSON manifest ---------------------------------


def _legacy_installation(sounds: Path) -> tuple[Manifest, dict[str, bytes]]:
    """What tracuu wrote before the database: files and <store>/manifest.json."""
    store_dir = sounds / ".tracuu"
    audio: dict[str, bytes] = {}

    def files(directory: Path, name: str, tag: bytes) -> dict[str, FileInfo]:
        directory.mkdir(parents=True, exist_ok=True)
        infos = {}
        for fmt in FORMATS:
            data = tag + fmt.encode() * 50
            (directory / f"{name}.{fmt}").write_bytes(data)
            infos[fmt] = FileInfo(hashlib.sha256(data).hexdigest(), len(data))
            audio[f"{tag.decode()}.{fmt}"] = data
        return infos

    tts = Version(
        0, "tts", "2026-11-01T08:00:00+00:00", SCRIPTS[WELCOME],
        files(store_dir / "tts" / "k0", "audio", b"tts"), 2.0,
        engine="espeak-ng", voice="vi", key="k0",
    )  # fmt: skip
    take = Version(
        1, "recording", "2026-11-02T08:00:00+00:00", SCRIPTS[WELCOME],
        files(store_dir / "versions" / WELCOME / "1", WELCOME, b"rec"), 2.5,
        by="Lan", file_name="lan.wav",
        approved_at="2026-11-02T09:00:00+00:00", approved_by="Hoa",
    )  # fmt: skip
    (store_dir / "versions" / WELCOME / "1" / "original.wav").write_bytes(b"RIFF original")
    record = PromptRecord(
        WELCOME,
        (tts, take),
        live=1,
        history=(
            Event("2026-11-01T08:00:00+00:00", "espeak-ng", "placeholder", 0),
            Event("2026-11-02T08:00:00+00:00", "Lan", "imported", 1),
            Event("2026-11-02T09:00:00+00:00", "Hoa", "approved", 1),
        ),
    )
    manifest = Manifest({WELCOME: record}, {"txt_abc": "Quầy số 3"})
    (store_dir / "manifest.json").write_bytes(manifest.to_json())
    return manifest, audio


def test_an_old_json_manifest_is_imported_once_and_kept_as_a_backup(
    tmp_path: Path, store_url: str
) -> None:
    sounds = tmp_path / "sounds"
    manifest, audio = _legacy_installation(sounds)
    old = (sounds / ".tracuu" / "manifest.json").read_bytes()
    db = PromptDb.open(store_url)
    try:
        store = Store(sounds, sounds / ".tracuu", db)
        done = import_json(store)
        assert done is not None
        assert (done.prompts, done.kept, done.missing_audio) == (1, 0, ())
        # The file is kept, untouched, under a name nothing reads or writes.
        assert not store.manifest_path.exists()
        assert (sounds / ".tracuu" / "manifest.json.imported").read_bytes() == old

        record = store.record(WELCOME)
        assert record == manifest.record(WELCOME)
        assert store.read().dynamic == {"txt_abc": "Quầy số 3"}
        assert [describe(e) for e in record.history] == [
            "espeak-ng: tạo giọng máy tạm (v0)",
            "Lan: nhập bản thu v1 (bản nháp)",
            "Hoa: duyệt v1: người gọi nghe bản này",
        ]
        original = db.run(lambda conn: rows.audio(conn, WELCOME, 1, (rows.ORIGINAL,)))
        assert original == {rows.ORIGINAL: b"RIFF original"}

        # Callers keep hearing the approved recording, now written from the database.
        store.live_path(WELCOME, "wav").parent.mkdir(parents=True, exist_ok=True)
        store.live_path(WELCOME, "wav").write_bytes(b"a file edited by hand")
        assert Materialiser(store).sync().written == [WELCOME]
        assert _heard(store) == audio["rec.wav"]

        # Once: a second start (or the file put back) changes nothing.
        generation = db.run(rows.generation)
        (sounds / ".tracuu" / "manifest.json").write_bytes(old)
        assert import_json(store) is None
        assert db.run(rows.generation) == generation
        assert store.record(WELCOME) == record
    finally:
        db.close()


def test_an_import_interrupted_half_way_finishes_without_doubling(
    tmp_path: Path, store_url: str
) -> None:
    sounds = tmp_path / "sounds"
    manifest, _ = _legacy_installation(sounds)
    db = PromptDb.open(store_url)
    try:
        store = Store(sounds, sounds / ".tracuu", db)
        # A first run died after writing the prompt, before marking the import done.
        db.run(
            lambda conn: rows.save(
                conn, PromptRecord(WELCOME), manifest.record(WELCOME), rows.lock(conn), "t"
            )
        )
        done = import_json(store)
        assert done is not None
        assert (done.prompts, done.kept) == (0, 1)
        assert len(store.record(WELCOME).history) == 3
    finally:
        db.close()


def test_an_asterisk_host_without_a_gateway_syncs_its_sounds_with_the_cli(
    tmp_path: Path,
    store_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first `tracuu prompts` command of an old installation imports it; on another
    host `tracuu prompts sync` writes what callers must hear, and only what differs."""
    from gateway.cli import main

    _, audio = _legacy_installation(tmp_path / "gateway")
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_DATABASE", store_url)
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(tmp_path / "gateway"))
    assert main(["prompts", "sync"]) == 0  # imports the old manifest, writes its sounds
    assert (tmp_path / "gateway" / ".tracuu" / "manifest.json.imported").is_file()

    asterisk = tmp_path / "asterisk-b" / "sounds"
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(asterisk))
    capsys.readouterr()
    assert main(["prompts", "sync"]) == 0
    assert capsys.readouterr().out.endswith(
        ": 1 prompts written from the database (generation 1), 0 failed\n"
    )
    for fmt in FORMATS:
        assert (asterisk / "vi" / "tracuu" / f"{WELCOME}.{fmt}").read_bytes() == audio[f"rec.{fmt}"]
    assert main(["prompts", "sync"]) == 0
    assert ": 0 prompts written" in capsys.readouterr().out


def test_an_old_manifest_naming_a_lost_file_is_imported_and_reported_not_fatal(
    tmp_path: Path, store_url: str
) -> None:
    sounds = tmp_path / "sounds"
    _legacy_installation(sounds)
    (sounds / ".tracuu" / "versions" / WELCOME / "1" / f"{WELCOME}.sln16").unlink()
    db = PromptDb.open(store_url)
    try:
        store = Store(sounds, sounds / ".tracuu", db)
        done = import_json(store)
        assert done is not None
        assert done.missing_audio == (f"{WELCOME} v1",)
        # The start-up render says which prompt cannot be played, and goes on.
        result = render_placeholders(
            store, {WELCOME: SCRIPTS[WELCOME]}, EspeakSynthesizer(binary="/nonexistent")
        )
        assert result.failed == {WELCOME: f"{WELCOME} v1: no sln16 file in the database"}
        assert Materialiser(store).sync().failed == {
            WELCOME: f"{WELCOME} v1: no sln16 file in the database"
        }
    finally:
        db.close()
