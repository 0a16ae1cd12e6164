"""Staff recordings: import an upload as a draft version, approve it, roll back.

An upload is an entry point, so it is checked before anything is stored: the
prompt id exists, the file is within the size cap, ffmpeg can decode it as audio
(WAV, MP3, OGG/Opus or WebM from a browser, M4A…), it is neither too short nor
too long, not silent and not clipped. A rejected upload raises `Rejected` with
the reason and leaves the store untouched. An accepted one is trimmed, levelled
and written in every Asterisk format under a temp name, then stored in the
database with the original upload as the next draft version (one transaction:
two gateways importing at once get two numbers) and renamed into this machine's
version directory. Nothing goes live on import: approving does, and rolling
back restores an earlier version; both change the manifest in one transaction
and then write the live files here (other gateways follow, prompts/materialise.py).
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from kernel.db import Conn
from prompts import audio, rows
from prompts.audio import Rejected
from prompts.render import now_iso
from prompts.settings import SoundsSettings
from prompts.store import PROMPT_ID, Store, check_id, file_infos, make_dirs
from prompts.versions import (
    FileInfo,
    PromptRecord,
    Refused,
    Version,
    add_recording,
    approve,
    rollback,
)

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w.\- ()]+")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")


def safe_file_name(name: str) -> str:
    """The last path component, NFC, without control or shell-special characters, ≤ 80 chars."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C")
    base = _UNSAFE.sub("_", base).strip(" .")
    if len(base) > 80:
        stem, dot, suffix = base.rpartition(".")
        base = stem[: 79 - len(suffix)] + dot + suffix if dot and len(suffix) <= 5 else base[:80]
    return base or "upload"


def clean_name(name: str) -> str:
    """A person's name as given with --by: printable, one line, ≤ 60 characters."""
    text = " ".join("".join(" " if unicodedata.category(c)[0] == "C" else c for c in name).split())
    return text[:60]


@dataclass(frozen=True)
class Imported:
    prompt_id: str
    version: Version
    levels: audio.Levels  # of the upload as received
    listen: Path  # the 8 kHz WAV a caller will hear, to listen to before approving


def _known(prompt_id: str, scripts: Mapping[str, str]) -> str:
    if prompt_id in scripts:
        return scripts[prompt_id]
    close = difflib.get_close_matches(prompt_id, list(scripts), n=3)
    hint = (
        f"; did you mean {', '.join(close)}?" if close else "; `tracuu prompts status` lists them"
    )
    raise Rejected(f"unknown prompt id {prompt_id!r}{hint}")


def import_recording(
    store: Store,
    settings: SoundsSettings,
    scripts: Mapping[str, str],
    prompt_id: str,
    upload: Path,
    *,
    by: str,
    file_name: str | None = None,
    at: str | None = None,
) -> Imported:
    """Check, process and store an upload as the next draft version of `prompt_id`."""
    text = _known(prompt_id, scripts)
    if not PROMPT_ID.fullmatch(prompt_id):
        raise Rejected(f"{prompt_id!r} cannot be a file name")
    try:
        size = upload.stat().st_size
    except FileNotFoundError:
        raise Rejected(f"{upload} does not exist") from None
    if not upload.is_file():
        raise Rejected(f"{upload} is not a file")
    if size == 0:
        raise Rejected("the file is empty (0 bytes)")
    if size > settings.max_upload_bytes:
        raise Rejected(
            f"the file is {size / 1e6:.1f} MB; the limit is {settings.max_upload_bytes / 1e6:g} MB"
        )
    pcm = audio.decode(upload, max_s=settings.max_recording_s, ffmpeg=settings.ffmpeg)
    levels = audio.measure(pcm)
    audio.check(levels, min_s=settings.min_recording_s, max_s=settings.max_recording_s)
    prepared = audio.prepare(pcm, levels)

    name = safe_file_name(file_name or upload.name)
    suffix = Path(name).suffix.lower()
    parent = store.root / "versions" / prompt_id
    make_dirs(parent)
    tmp = Path(tempfile.mkdtemp(prefix=".import.", dir=parent))
    try:
        audio.write_formats([audio.Job(prepared, tmp, prompt_id)], ffmpeg=settings.ffmpeg)
        shutil.copyfile(upload, tmp / f"original{suffix if _SUFFIX.fullmatch(suffix) else '.bin'}")
        tmp.chmod(0o755)
        files = file_infos(tmp, prompt_id)
        original = next(tmp.glob("original.*"))
        blobs = {f: (info, (tmp / f"{prompt_id}.{f}").read_bytes()) for f, info in files.items()}
        raw = original.read_bytes()
        blobs[rows.ORIGINAL] = (FileInfo(hashlib.sha256(raw).hexdigest(), len(raw)), raw)
        when = at or now_iso()

        def job(conn: Conn) -> Version:
            generation = rows.lock(conn)
            record = rows.load_record(conn, prompt_id)
            version = Version(
                number=record.next_number,
                source="recording",
                created_at=when,
                text=text,
                files=files,
                duration_s=round(prepared.pcm.duration_s, 3),
                by=clean_name(by),
                file_name=name,
                gain_db=prepared.gain_db,
                rms_dbfs=round(prepared.rms_dbfs, 2),
            )
            rows.put_audio(conn, prompt_id, version.number, blobs)
            rows.save(conn, record, add_recording(record, version), generation, when)
            return version

        version = store.db.run(job)
        number = version.number
        target = store.version_dir(prompt_id, number)
        if target.exists():  # left by an earlier database (a test, a restore): ours now
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("imported %s v%d from %s by %s", prompt_id, number, name, version.by)
    return Imported(prompt_id, version, levels, target / f"{prompt_id}.wav")


def _switch(
    store: Store, prompt_id: str, number: int, by: str, at: str | None, *, rule: str
) -> PromptRecord | Refused:
    when = at or now_iso()
    change = approve if rule == "approve" else rollback

    def job(conn: Conn) -> PromptRecord | Refused:
        generation = rows.lock(conn)  # a second approver waits here for this commit
        record = rows.load_record(conn, prompt_id)
        updated = change(record, number, by=clean_name(by), at=when)
        if isinstance(updated, Refused):
            return updated
        rows.save(conn, record, updated, generation, when)
        return updated

    check_id(prompt_id)
    outcome = store.db.run(job)
    if isinstance(outcome, Refused):
        return outcome
    version = outcome.live_version
    assert version is not None  # both rules set live to an existing version
    store.publish(prompt_id, version)  # here at once; other gateways follow the generation
    log.info("%s: v%d is live (%s by %s)", prompt_id, number, rule, by)
    return outcome


def approve_version(
    store: Store, prompt_id: str, number: int, *, by: str, at: str | None = None
) -> PromptRecord | Refused:
    """Make recorded version `number` live."""
    return _switch(store, prompt_id, number, by, at, rule="approve")


def rollback_version(
    store: Store, prompt_id: str, number: int, *, by: str, at: str | None = None
) -> PromptRecord | Refused:
    """Make an earlier version live again (0 = the TTS placeholder)."""
    return _switch(store, prompt_id, number, by, at, rule="rollback")
