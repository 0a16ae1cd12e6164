"""The version rules of one prompt, as pure functions over frozen records.

Version 0 is the TTS placeholder (re-rendered when the script changes). Every
staff import is a new version 1, 2, … and starts as a draft; approving a version
makes it live; rolling back makes an earlier version live again: the placeholder
or one that was approved before, and the recording it replaces is marked rolled
back (it may be approved again). A refused change is a `Refused` value with the
reason, never an exception. No I/O and no clock: callers pass `at`. Who did what
is a list of `Event`s (prompts/history.py words them for people).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Source = Literal["tts", "recording"]
FORMAT_VERSION = 1  # of the (legacy) manifest file
Action = Literal["placeholder", "imported", "approved", "rolled_back", "note"]


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Version:
    number: int
    source: Source
    created_at: str  # ISO 8601, UTC
    text: str  # the catalog script when it was made (a recording may go stale)
    files: dict[str, FileInfo]  # format -> checksum; never mutated once stored
    duration_s: float
    by: str = ""  # who imported a recording
    file_name: str = ""  # the uploaded file's (sanitised) name
    engine: str = ""  # TTS engine and voice
    voice: str = ""
    key: str = ""  # TTS cache key
    gain_db: float = 0.0
    rms_dbfs: float = 0.0  # after levelling
    approved_at: str | None = None
    approved_by: str = ""
    # Set when a roll back took this recording off the air; cleared by approving it again.
    rolled_back_at: str | None = None
    rolled_back_by: str = ""
    note: str = ""  # what the staff say about this take


@dataclass(frozen=True)
class Event:
    """One line of a prompt's history: who did what to which version, when (ISO 8601 UTC).

    `note`: free text; for "note" events (imported from the old JSON manifest) the line
    as it was written then."""

    at: str
    by: str
    action: Action
    number: int
    note: str = ""


@dataclass(frozen=True)
class PromptRecord:
    prompt_id: str
    versions: tuple[Version, ...] = ()
    live: int | None = None  # the version whose files are in the sounds directory
    history: tuple[Event, ...] = field(default=())  # oldest first

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.number == number), None)

    @property
    def live_version(self) -> Version | None:
        return None if self.live is None else self.version(self.live)

    @property
    def placeholder(self) -> Version | None:
        return self.version(0)

    @property
    def next_number(self) -> int:
        return max((v.number for v in self.versions), default=0) + 1


@dataclass(frozen=True)
class Refused:
    reason: str


def state(record: PromptRecord, number: int) -> str:
    """live, approved (earlier, may be rolled back to), rolled_back (taken off the air by
    a roll back, may be approved again), draft, or placeholder."""
    version = record.version(number)
    if version is None:
        raise KeyError(number)
    if record.live == number:
        return "live"
    if version.source == "tts":
        return "placeholder"
    if not version.approved_at:
        return "draft"
    return "rolled_back" if version.rolled_back_at else "approved"


def stored_state(version: Version) -> str:
    """The state a version keeps whether or not it is live (the database's `state`)."""
    if version.source == "tts":
        return "placeholder"
    if not version.approved_at:
        return "draft"
    return "rolled_back" if version.rolled_back_at else "approved"


def _log(record: PromptRecord, at: str, by: str, action: Action, number: int) -> tuple[Event, ...]:
    return (*record.history, Event(at, by or "?", action, number))


def set_placeholder(record: PromptRecord, version: Version) -> tuple[PromptRecord, bool]:
    """Store a (re-)rendered placeholder as version 0; returns (record, goes live now).

    It goes live only where nothing else is: a live recording stays live.
    """
    if version.number != 0 or version.source != "tts":
        raise ValueError("a placeholder is version 0 from TTS")
    others = tuple(v for v in record.versions if v.number != 0)
    goes_live = record.live in (None, 0)
    same = record.placeholder == version  # re-published after damage: nothing new to log
    updated = replace(
        record,
        versions=(version, *others),
        live=0 if goes_live else record.live,
        history=record.history
        if same
        else _log(record, version.created_at, version.engine, "placeholder", 0),
    )
    return updated, goes_live


def add_recording(record: PromptRecord, version: Version) -> PromptRecord:
    """A new draft; its number must be the next one."""
    if version.source != "recording" or version.number != record.next_number:
        raise ValueError(f"the next recording is version {record.next_number}")
    if version.approved_at is not None:
        raise ValueError("a new recording is a draft")
    return replace(
        record,
        versions=(*record.versions, version),
        history=_log(record, version.created_at, version.by, "imported", version.number),
    )


def approve(record: PromptRecord, number: int, *, by: str, at: str) -> PromptRecord | Refused:
    """Make a recorded version live (and remember it was approved)."""
    version = record.version(number)
    if version is None:
        return Refused(f"{record.prompt_id} has no version {number}")
    if version.source != "recording":
        return Refused(f"version {number} is the TTS placeholder; use rollback to go back to it")
    if record.live == number:
        return Refused(f"version {number} of {record.prompt_id} is already live")
    approved = replace(
        version,
        approved_at=version.approved_at or at,
        approved_by=by,
        rolled_back_at=None,
        rolled_back_by="",
    )
    return replace(
        record,
        versions=tuple(approved if v.number == number else v for v in record.versions),
        live=number,
        history=_log(record, at, by, "approved", number),
    )


def rollback(record: PromptRecord, number: int, *, by: str, at: str) -> PromptRecord | Refused:
    """Make an earlier version live again: the placeholder or a version approved before."""
    version = record.version(number)
    if version is None:
        return Refused(f"{record.prompt_id} has no version {number}")
    if record.live == number:
        return Refused(f"version {number} of {record.prompt_id} is already live")
    if record.live is not None and number > record.live:
        return Refused(f"version {number} is newer than the live one (v{record.live}); approve it")
    if version.source == "recording" and version.approved_at is None:
        return Refused(f"version {number} was never approved; listen to it and approve it instead")
    replaced = record.live_version
    versions = record.versions
    if replaced is not None and replaced.source == "recording":
        off = replace(replaced, rolled_back_at=at, rolled_back_by=by)
        versions = tuple(off if v.number == replaced.number else v for v in versions)
    return replace(
        record,
        versions=versions,
        live=number,
        history=_log(record, at, by, "rolled_back", number),
    )
