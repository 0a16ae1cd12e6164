"""The lookup's tables (component "lookup"), as SQLite and PostgreSQL each write them.

Step n of one is step n of the other: a database of either kind at version n has
the same tables and columns. SQLite's keep their own storage (WITHOUT ROWID for
the two tables keyed by text); PostgreSQL's their own types (BIGSERIAL, BOOLEAN).
Steps are append-only: add a step to BOTH, never edit a released one.
"""

from __future__ import annotations

from kernel.db import Variants

SQLITE_STEPS = (
    """
    CREATE TABLE dossier (
        id INTEGER PRIMARY KEY,
        code TEXT NOT NULL,
        code_key TEXT NOT NULL UNIQUE,       -- lookup.codes.compact_key
        code_agency TEXT NOT NULL,           -- the agency part of the code
        code_date TEXT NOT NULL,             -- YYMMDD part of the code
        seq_num INTEGER NOT NULL,            -- sequence part, as a number
        agency_id TEXT NOT NULL,
        agency_name TEXT NOT NULL DEFAULT '',
        procedure_code TEXT NOT NULL DEFAULT '',
        procedure_name TEXT NOT NULL DEFAULT '',
        status INTEGER NOT NULL CHECK (status BETWEEN 1 AND 10),
        status_at TEXT,
        received_on TEXT NOT NULL,
        due_on TEXT NOT NULL,
        rescheduled_on TEXT,
        ready_on TEXT,
        collection_place TEXT NOT NULL DEFAULT '',
        applicant_name TEXT NOT NULL DEFAULT '',
        applicant_phones TEXT NOT NULL DEFAULT '',   -- E.164, comma-separated
        applicant_id_number TEXT NOT NULL DEFAULT '',
        applicant_address TEXT NOT NULL DEFAULT '',
        secret TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL,
        change_seq INTEGER NOT NULL
    );
    CREATE INDEX dossier_keypad ON dossier (code_date, seq_num);
    CREATE UNIQUE INDEX dossier_change ON dossier (change_seq);
    -- One B-tree serves by_phone and the import's deletes. No cascade: dossiers
    -- are never deleted here (a purge must delete their phones first).
    CREATE TABLE dossier_phone (
        phone TEXT NOT NULL,
        dossier_id INTEGER NOT NULL REFERENCES dossier (id),
        PRIMARY KEY (phone, dossier_id)
    ) WITHOUT ROWID;
    CREATE TABLE procedure (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        documents TEXT NOT NULL DEFAULT '[]',   -- JSON array of strings
        fee TEXT NOT NULL DEFAULT '',
        processing_time TEXT NOT NULL DEFAULT '',
        common INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX procedure_common ON procedure (common) WHERE common;
    """,
    """
    -- Wrong second-factor secrets per dossier (lookup/lockout.py); times in epoch seconds.
    CREATE TABLE secret_failure (
        code_key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        first_at REAL NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0
    );
    """,
    """
    -- Counted per dossier AND guesser (the SMS sender; '' for one shared count), so one
    -- stranger's guesses cannot lock out the owner. The old per-dossier counts are
    -- dropped: at worst a lock ends early.
    DROP TABLE secret_failure;
    CREATE TABLE secret_failure (
        code_key TEXT NOT NULL,
        guesser TEXT NOT NULL DEFAULT '',
        failures INTEGER NOT NULL,
        first_at REAL NOT NULL,
        locked_until REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (code_key, guesser)
    ) WITHOUT ROWID;
    """,
)

POSTGRES_STEPS = (
    """
    CREATE TABLE dossier (
        id BIGSERIAL PRIMARY KEY,
        code TEXT NOT NULL,
        code_key TEXT NOT NULL UNIQUE,
        code_agency TEXT NOT NULL,
        code_date TEXT NOT NULL,
        seq_num INTEGER NOT NULL,
        agency_id TEXT NOT NULL,
        agency_name TEXT NOT NULL DEFAULT '',
        procedure_code TEXT NOT NULL DEFAULT '',
        procedure_name TEXT NOT NULL DEFAULT '',
        status SMALLINT NOT NULL CHECK (status BETWEEN 1 AND 10),
        status_at TEXT,
        received_on TEXT NOT NULL,
        due_on TEXT NOT NULL,
        rescheduled_on TEXT,
        ready_on TEXT,
        collection_place TEXT NOT NULL DEFAULT '',
        applicant_name TEXT NOT NULL DEFAULT '',
        applicant_phones TEXT NOT NULL DEFAULT '',
        applicant_id_number TEXT NOT NULL DEFAULT '',
        applicant_address TEXT NOT NULL DEFAULT '',
        secret TEXT NOT NULL DEFAULT '',
        updated_at TEXT NOT NULL,
        change_seq BIGINT NOT NULL UNIQUE
    );
    CREATE INDEX dossier_keypad ON dossier (code_date, seq_num);
    CREATE TABLE dossier_phone (
        phone TEXT NOT NULL,
        dossier_id BIGINT NOT NULL REFERENCES dossier (id),
        PRIMARY KEY (phone, dossier_id)
    );
    CREATE TABLE procedure (
        code TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        documents TEXT NOT NULL DEFAULT '[]',
        fee TEXT NOT NULL DEFAULT '',
        processing_time TEXT NOT NULL DEFAULT '',
        common BOOLEAN NOT NULL DEFAULT FALSE
    );
    """,
    """
    CREATE TABLE secret_failure (
        code_key TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        first_at DOUBLE PRECISION NOT NULL,
        locked_until DOUBLE PRECISION NOT NULL DEFAULT 0
    );
    """,
    """
    -- Counted per dossier AND guesser (the SMS sender; '' for one shared count), so one
    -- stranger's guesses cannot lock out the owner (lookup/lockout.py).
    DROP TABLE secret_failure;
    CREATE TABLE secret_failure (
        code_key TEXT NOT NULL,
        guesser TEXT NOT NULL DEFAULT '',
        failures INTEGER NOT NULL,
        first_at DOUBLE PRECISION NOT NULL,
        locked_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        PRIMARY KEY (code_key, guesser)
    );
    """,
)

# For kernel.db's Database.migrate, whichever the backend.
STEPS = tuple(
    Variants(sqlite=s, postgresql=p) for s, p in zip(SQLITE_STEPS, POSTGRES_STEPS, strict=True)
)
