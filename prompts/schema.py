"""The prompts' tables: versions, their audio, the live manifest, history, generation.

Portable SQL (kernel/db.py): the same steps on SQLite and PostgreSQL (BLOB is
BYTEA there, INTEGER BIGINT). Append-only: never edit a released step.

- prompt_version: every version of every prompt, who made and approved it, its
  state (placeholder, draft, approved, rolled_back) and a note.
- prompt_audio: the Asterisk-ready files of each version (alaw, ulaw, sln, sln16,
  8 kHz wav) and the staff's original upload, with checksums: the one copy every
  gateway materialises its sounds directory from (prompts/materialise.py).
- prompt_live: the manifest, prompt id -> the version callers hear, and the
  generation at which that last changed (a materialiser asks "what changed since
  the generation I wrote?").
- prompt_history: who did what, when.
- prompt_dynamic: the free texts (txt_<hash> prompts) the answers speak.
- prompt_generation: one row whose UPDATE every manifest change starts with. Its
  row lock serialises manifest writers across gateways on PostgreSQL (SQLite's
  writer is one at a time anyway), and its value tells materialisers what is new.
- prompt_import: the legacy JSON manifests imported (prompts/legacy.py), once.
"""

from __future__ import annotations

COMPONENT = "prompts"

STEPS: tuple[str, ...] = (
    """
    CREATE TABLE prompt_version (
        prompt_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        source TEXT NOT NULL,
        state TEXT NOT NULL,
        created_at TEXT NOT NULL,
        text TEXT NOT NULL,
        duration_s REAL NOT NULL,
        recorded_by TEXT NOT NULL DEFAULT '',
        file_name TEXT NOT NULL DEFAULT '',
        engine TEXT NOT NULL DEFAULT '',
        voice TEXT NOT NULL DEFAULT '',
        tts_key TEXT NOT NULL DEFAULT '',
        gain_db REAL NOT NULL DEFAULT 0,
        rms_dbfs REAL NOT NULL DEFAULT 0,
        approved_at TEXT,
        approved_by TEXT NOT NULL DEFAULT '',
        rolled_back_at TEXT,
        rolled_back_by TEXT NOT NULL DEFAULT '',
        note TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (prompt_id, number)
    );
    CREATE TABLE prompt_audio (
        prompt_id TEXT NOT NULL,
        number INTEGER NOT NULL,
        format TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (prompt_id, number, format)
    );
    CREATE TABLE prompt_live (
        prompt_id TEXT PRIMARY KEY,
        number INTEGER NOT NULL,
        generation INTEGER NOT NULL,
        changed_at TEXT NOT NULL
    );
    CREATE INDEX prompt_live_generation ON prompt_live (generation);
    CREATE TABLE prompt_history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        prompt_id TEXT NOT NULL,
        at TEXT NOT NULL,
        by_name TEXT NOT NULL,
        action TEXT NOT NULL,
        number INTEGER NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX prompt_history_prompt ON prompt_history (prompt_id, id);
    CREATE TABLE prompt_dynamic (
        prompt_id TEXT PRIMARY KEY,
        text TEXT NOT NULL
    );
    CREATE TABLE prompt_generation (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    INSERT INTO prompt_generation (name, value) VALUES ('manifest', 0);
    CREATE TABLE prompt_import (
        source TEXT PRIMARY KEY,
        imported_at TEXT NOT NULL,
        prompts INTEGER NOT NULL
    );
    """,
)
