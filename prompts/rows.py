"""The prompts' records in the database: jobs over a kernel.db Conn, run off the loop.

Every function here takes a `Conn` and is meant for Database.run()/read()/
run_blocking() (prompts/database.py), so it runs in the database's own thread
inside one transaction. A change to the manifest starts with `lock()`: the UPDATE
of the single generation row is the lock two gateways approving at once queue on
(PostgreSQL's row lock lasts to the commit), and its new value stamps what the
change made live. On PostgreSQL the same transaction NOTIFYs CHANNEL, which is
delivered only if it commits, so a materialiser never reads an uncommitted change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from kernel.db import Conn, Row, backend_of
from prompts.audio import FORMATS
from prompts.versions import Action, Event, FileInfo, PromptRecord, Source, Version, stored_state

CHANNEL = "tracuu_prompts"
ORIGINAL = "original"  # the staff's upload as received, beside the Asterisk formats

_VERSION_COLUMNS = (
    "prompt_id, number, source, state, created_at, text, duration_s, recorded_by, file_name,"
    " engine, voice, tts_key, gain_db, rms_dbfs, approved_at, approved_by, rolled_back_at,"
    " rolled_back_by, note"
)
_FORMATS_IN = ", ".join(f"'{fmt}'" for fmt in FORMATS)


@dataclass(frozen=True)
class LiveEntry:
    """What callers hear for one prompt, and at which generation that last changed."""

    prompt_id: str
    number: int
    generation: int
    files: dict[str, FileInfo]


def lock(conn: Conn) -> int:
    """Start a manifest change: take the generation row (waits for another writer), bump it."""
    generation = int(
        conn.fetchval(
            "UPDATE prompt_generation SET value = value + 1 WHERE name = 'manifest' RETURNING value"
        )
    )
    if backend_of(conn) == "postgresql":
        conn.fetchval("SELECT pg_notify(?, ?)", (CHANNEL, str(generation)))
    return generation


def generation(conn: Conn) -> int:
    return int(conn.fetchval("SELECT value FROM prompt_generation WHERE name = 'manifest'") or 0)


# ---- reading -------------------------------------------------------------------------


def _version(row: Row, files: dict[str, FileInfo]) -> Version:
    return Version(
        number=int(row["number"]),
        source=cast(Source, row["source"]),
        created_at=row["created_at"],
        text=row["text"],
        files=files,
        duration_s=float(row["duration_s"]),
        by=row["recorded_by"],
        file_name=row["file_name"],
        engine=row["engine"],
        voice=row["voice"],
        key=row["tts_key"],
        gain_db=float(row["gain_db"]),
        rms_dbfs=float(row["rms_dbfs"]),
        approved_at=row["approved_at"],
        approved_by=row["approved_by"],
        rolled_back_at=row["rolled_back_at"],
        rolled_back_by=row["rolled_back_by"],
        note=row["note"],
    )


def _event(row: Row) -> Event:
    return Event(
        row["at"], row["by_name"], cast(Action, row["action"]), int(row["number"]), row["note"]
    )


def load_records(conn: Conn, prompt_id: str | None = None) -> dict[str, PromptRecord]:
    """Every prompt's record (or one prompt's), with versions, live and history."""
    where, args = ("WHERE prompt_id = ?", (prompt_id,)) if prompt_id else ("", ())
    files: dict[tuple[str, int], dict[str, FileInfo]] = {}
    rows = conn.fetchall(
        f"SELECT prompt_id, number, format, sha256, size FROM prompt_audio {where}"
        + (" AND" if where else " WHERE")
        + f" format IN ({_FORMATS_IN})",
        args,
    )
    for row in rows:
        key = (row["prompt_id"], int(row["number"]))
        files.setdefault(key, {})[row["format"]] = FileInfo(row["sha256"], int(row["size"]))
    versions: dict[str, list[Version]] = {}
    for row in conn.fetchall(
        f"SELECT {_VERSION_COLUMNS} FROM prompt_version {where} ORDER BY prompt_id, number", args
    ):
        pid = row["prompt_id"]
        versions.setdefault(pid, []).append(_version(row, files.get((pid, int(row["number"])), {})))
    live = {
        row["prompt_id"]: int(row["number"])
        for row in conn.fetchall(f"SELECT prompt_id, number FROM prompt_live {where}", args)
    }
    history: dict[str, list[Event]] = {}
    for row in conn.fetchall(
        f"SELECT prompt_id, at, by_name, action, number, note FROM prompt_history {where}"
        " ORDER BY id",
        args,
    ):
        history.setdefault(row["prompt_id"], []).append(_event(row))
    ids = sorted(set(versions) | set(live) | set(history))
    return {
        pid: PromptRecord(
            pid, tuple(versions.get(pid, ())), live.get(pid), tuple(history.get(pid, ()))
        )
        for pid in ids
    }


def load_record(conn: Conn, prompt_id: str) -> PromptRecord:
    return load_records(conn, prompt_id).get(prompt_id) or PromptRecord(prompt_id)


def dynamic(conn: Conn) -> dict[str, str]:
    """Prompt id -> text of the free texts (txt_<hash>) and settings scripts known."""
    return {
        row["prompt_id"]: row["text"]
        for row in conn.fetchall("SELECT prompt_id, text FROM prompt_dynamic ORDER BY prompt_id")
    }


def live_since(conn: Conn, since: int) -> list[LiveEntry]:
    """The prompts whose live version changed after generation `since` (0: every one)."""
    entries = []
    for row in conn.fetchall(
        "SELECT prompt_id, number, generation FROM prompt_live WHERE generation > ?"
        " ORDER BY prompt_id",
        (since,),
    ):
        files = {
            r["format"]: FileInfo(r["sha256"], int(r["size"]))
            for r in conn.fetchall(
                "SELECT format, sha256, size FROM prompt_audio WHERE prompt_id = ? AND number = ?"
                f" AND format IN ({_FORMATS_IN})",
                (row["prompt_id"], row["number"]),
            )
        }
        entries.append(
            LiveEntry(row["prompt_id"], int(row["number"]), int(row["generation"]), files)
        )
    return entries


def audio(conn: Conn, prompt_id: str, number: int, formats: Iterable[str]) -> dict[str, bytes]:
    """Format -> the bytes of one version's files (those stored of `formats`)."""
    wanted = list(formats)
    marks = ", ".join("?" for _ in wanted)
    return {
        row["format"]: bytes(row["data"])
        for row in conn.fetchall(
            f"SELECT format, data FROM prompt_audio WHERE prompt_id = ? AND number = ?"
            f" AND format IN ({marks})",
            (prompt_id, number, *wanted),
        )
    }


# ---- writing (after lock()) ----------------------------------------------------------


def put_audio(
    conn: Conn, prompt_id: str, number: int, blobs: Mapping[str, tuple[FileInfo, bytes]]
) -> None:
    """Replace one version's stored files (a re-rendered placeholder keeps number 0)."""
    conn.execute("DELETE FROM prompt_audio WHERE prompt_id = ? AND number = ?", (prompt_id, number))
    conn.executemany(
        "INSERT INTO prompt_audio (prompt_id, number, format, sha256, size, data)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            (prompt_id, number, fmt, info.sha256, info.bytes, data)
            for fmt, (info, data) in blobs.items()
        ],
    )


def _version_params(prompt_id: str, v: Version) -> tuple[Any, ...]:
    return (
        prompt_id,
        v.number,
        v.source,
        stored_state(v),
        v.created_at,
        v.text,
        float(v.duration_s),
        v.by,
        v.file_name,
        v.engine,
        v.voice,
        v.key,
        float(v.gain_db),
        float(v.rms_dbfs),
        v.approved_at,
        v.approved_by,
        v.rolled_back_at,
        v.rolled_back_by,
        v.note,
    )


_UPSERT_VERSION = (
    f"INSERT INTO prompt_version ({_VERSION_COLUMNS})"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (prompt_id, number) DO UPDATE SET"
    " source = excluded.source, state = excluded.state, created_at = excluded.created_at,"
    " text = excluded.text, duration_s = excluded.duration_s,"
    " recorded_by = excluded.recorded_by, file_name = excluded.file_name,"
    " engine = excluded.engine, voice = excluded.voice, tts_key = excluded.tts_key,"
    " gain_db = excluded.gain_db, rms_dbfs = excluded.rms_dbfs,"
    " approved_at = excluded.approved_at, approved_by = excluded.approved_by,"
    " rolled_back_at = excluded.rolled_back_at, rolled_back_by = excluded.rolled_back_by,"
    " note = excluded.note"
)


def save(
    conn: Conn, before: PromptRecord, after: PromptRecord, at_generation: int, changed_at: str
) -> bool:
    """Write what differs between two records of one prompt; True when callers now hear
    something else (the live version, or the audio of the live version, changed)."""
    pid = after.prompt_id
    changed = [v for v in after.versions if before.version(v.number) != v]
    if changed:
        conn.executemany(_UPSERT_VERSION, [_version_params(pid, v) for v in changed])
    fresh = after.history[len(before.history) :]
    if fresh:
        conn.executemany(
            "INSERT INTO prompt_history (prompt_id, at, by_name, action, number, note)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(pid, e.at, e.by, e.action, e.number, e.note) for e in fresh],
        )
    heard_changed = after.live is not None and (
        after.live != before.live or after.live_version != before.live_version
    )
    if heard_changed:
        conn.execute(
            "INSERT INTO prompt_live (prompt_id, number, generation, changed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (prompt_id) DO UPDATE SET"
            " number = excluded.number, generation = excluded.generation,"
            " changed_at = excluded.changed_at",
            (pid, after.live, at_generation, changed_at),
        )
    return heard_changed


def put_dynamic(conn: Conn, scripts: Mapping[str, str]) -> None:
    """Remember free texts (id -> text); a known id keeps its text (the id is its hash)."""
    conn.executemany(
        "INSERT INTO prompt_dynamic (prompt_id, text) VALUES (?, ?)"
        " ON CONFLICT (prompt_id) DO UPDATE SET text = excluded.text",
        sorted(scripts.items()),
    )
