"""Staff recordings: import an upload as a draft version, approve it, roll back.

An upload is an entry point, so it is checked before anything is stored: the
prompt id exists, the file is within the size cap, ffmpeg can decode it as audio
(WAV, MP3, OGG/Opus or WebM from a browser, M4A…), it is neither too short nor
too long, not silent and not clipped. A rejected upload raises `Rejected` with
the reason and leaves the store untouched. An accepted one is trimmed, levelled
and written in every Asterisk format under a temp name, then renamed into its
version directory; the original upload is kept beside it. Nothing goes live on
import: approving does, and rolling back restores an earlier version.
"""

from __future__ import annotations

import difflib
import logging
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prompts import audio
from prompts.audio import Rejected
from prompts.render import now_iso
from prompts.settings import SoundsSettings
from prompts.store import PROMPT_ID, Store, file_infos, make_dirs
from prompts.versions import PromptRecord, Refused, Version, add_recording, approve, rollback

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
        with store.transaction() as manifest:
            record = manifest.record(prompt_id)
            number = record.next_number
            target = store.version_dir(prompt_id, number)
            if target.exists():  # left by a process killed before it wrote the manifest
                shutil.rmtree(target)
            version = Version(
                number=number,
                source="recording",
                created_at=at or now_iso(),
                text=text,
                files=file_infos(tmp, prompt_id),
                duration_s=round(prepared.pcm.duration_s, 3),
                by=clean_name(by),
                file_name=name,
                gain_db=prepared.gain_db,
                rms_dbfs=round(prepared.rms_dbfs, 2),
            )
            tmp.rename(target)
            manifest.records[prompt_id] = add_recording(record, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("imported %s v%d from %s by %s", prompt_id, number, name, version.by)
    return Imported(prompt_id, version, levels, target / f"{prompt_id}.wav")


def _switch(
    store: Store, prompt_id: str, number: int, by: str, at: str | None, *, rule: str
) -> PromptRecord | Refused:
    when = at or now_iso()
    with store.transaction() as manifest:
        record = manifest.record(prompt_id)
        change = approve if rule == "approve" else rollback
        updated = change(record, number, by=clean_name(by), at=when)
        if isinstance(updated, Refused):
            return updated
        version = updated.live_version
        assert version is not None  # both rules set live to an existing version
        store.publish(prompt_id, version)
        manifest.records[prompt_id] = updated
    log.info("%s: v%d is live (%s by %s)", prompt_id, number, rule, by)
    return updated


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
