"""Console accounts and the audit log, in the shared database (kernel/db.py).

Users sign in with a name and a password (Argon2id hash, console/passwords.py)
and hold one role (console/roles.py). `session_epoch` grows when a password is
changed or an account disabled: a session cookie names the epoch it was made
in, so every older session ends at once.

The audit log says who did what that matters later: approved or rolled back a
prompt, exported data, changed a user. Times are stored in UTC (ISO 8601) and
shown in the office's zone.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from console.roles import Role
from kernel.db import Conn, Database, IntegrityError, Location, Row, open_migrated

log = logging.getLogger(__name__)

COMPONENT = "console_accounts"
STEPS = (
    """
    CREATE TABLE console_user (
        id INTEGER PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,       -- the name, NFC and case-folded: what is matched
        name TEXT NOT NULL,               -- as typed when created
        role TEXT NOT NULL,               -- operator, editor, admin
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        session_epoch INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE console_audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,                 -- UTC, ISO 8601
        actor TEXT NOT NULL,              -- a user name, or "cli" / "api"
        action TEXT NOT NULL,             -- prompt.approve, export.stats_csv, user.add, ...
        target TEXT NOT NULL,
        detail TEXT NOT NULL,             -- JSON object
        client TEXT NOT NULL              -- the client address, "-" from the command line
    );
    CREATE INDEX console_audit_at ON console_audit (at);
    """,
)
MAX_NAME_LENGTH = 64


def _tidy(name: str) -> str:
    # NFC (a name typed on another keyboard is the same name), single inner spaces.
    return " ".join(unicodedata.normalize("NFC", name).split())


def login_key(name: str) -> str:
    return _tidy(name).casefold()


def check_name(name: str) -> str:
    """A user name as kept: people's names ("Nguyễn Thị Lan") are welcome."""
    name = _tidy(name)
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable() or "/" in name:
        raise ValueError(f"Tên đăng nhập cần 1–{MAX_NAME_LENGTH} ký tự, không có dấu /.")
    return name


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: Role
    disabled: bool
    session_epoch: int

    def can(self, role: Role) -> bool:
        return not self.disabled and self.role >= role


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, object]
    client: str


class UserExists(ValueError):
    """An account with that name exists already."""


class NoSuchUser(LookupError):
    """No account with that name."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_USER_COLUMNS = "id, name, role, disabled, session_epoch"


def _user(row: Row) -> User:
    return User(int(row[0]), str(row[1]), Role.parse(str(row[2])), bool(row[3]), int(row[4]))


class AccountStore:
    """Users and the audit log, through kernel/db.py (never blocking the loop)."""

    def __init__(self, db: Database, *, owned: bool = False) -> None:
        self._db = db
        self._owned = owned

    @classmethod
    async def open(cls, path: Location) -> AccountStore:
        """A store with a Database of its own (the command line, tests)."""
        return cls(await open_migrated(path, (COMPONENT, STEPS)), owned=True)

    @classmethod
    async def on(cls, db: Database) -> AccountStore:
        """A store on the process's Database (migrated here; closed by its owner)."""
        await db.migrate(COMPONENT, STEPS)
        return cls(db)

    async def close(self) -> None:
        if self._owned:
            await self._db.close()

    async def _write_one(self, sql: str, params: tuple[object, ...]) -> Row | None:
        """A write with RETURNING: on the writer, in its own transaction."""

        def job(conn: Conn) -> Row | None:
            return conn.fetchone(sql, params)

        return await self._db.run(job)

    # -- users ---------------------------------------------------------------

    async def add_user(self, name: str, role: Role, password_hash: str) -> User:
        name = check_name(name)
        now = _now()
        try:
            row = await self._write_one(
                "INSERT INTO console_user"
                " (login, name, role, password_hash, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) RETURNING " + _USER_COLUMNS,
                (login_key(name), name, role.key, password_hash, now, now),
            )
        except IntegrityError as exc:
            raise UserExists(f"Tài khoản {name} đã có.") from exc
        assert row is not None
        return _user(row)

    async def user(self, user_id: int) -> User | None:
        row = await self._db.fetchone(
            "SELECT " + _USER_COLUMNS + " FROM console_user WHERE id = ?", (user_id,)
        )
        return None if row is None else _user(row)

    async def by_name(self, name: str) -> tuple[User, str] | None:
        """The user and their password hash, for signing in."""
        row = await self._db.fetchone(
            "SELECT " + _USER_COLUMNS + ", password_hash FROM console_user WHERE login = ?",
            (login_key(name),),
        )
        return None if row is None else (_user(row), str(row[5]))

    async def users(self) -> list[User]:
        rows = await self._db.fetchall(
            "SELECT " + _USER_COLUMNS + " FROM console_user ORDER BY login"
        )
        return [_user(row) for row in rows]

    async def count_admins(self) -> int:
        count = await self._db.fetchval(
            "SELECT COUNT(*) FROM console_user WHERE role = ? AND disabled = 0", (Role.ADMIN.key,)
        )
        return int(count or 0)

    async def set_password(self, name: str, password_hash: str) -> User:
        """New password; every session of the user ends."""
        return await self._update(
            name,
            "password_hash = ?, session_epoch = session_epoch + 1",
            (password_hash,),
        )

    async def set_role(self, name: str, role: Role) -> User:
        return await self._update(name, "role = ?", (role.key,))

    async def set_disabled(self, name: str, disabled: bool) -> User:
        """Disabling ends every session of the user at once."""
        return await self._update(
            name, "disabled = ?, session_epoch = session_epoch + 1", (int(disabled),)
        )

    async def _update(self, name: str, assignments: str, values: tuple[object, ...]) -> User:
        row = await self._write_one(
            "UPDATE console_user SET " + assignments + ", updated_at = ? WHERE login = ?"
            " RETURNING " + _USER_COLUMNS,
            (*values, _now(), login_key(name)),
        )
        if row is None:
            raise NoSuchUser(f"Không có tài khoản {name}.")
        return _user(row)

    # -- audit log -----------------------------------------------------------

    async def audit(
        self,
        actor: str,
        action: str,
        target: str,
        detail: Mapping[str, object] | None = None,
        client: str = "-",
    ) -> None:
        await self._db.execute(
            "INSERT INTO console_audit (at, actor, action, target, detail, client)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                _now(),
                actor,
                action,
                target,
                json.dumps(dict(detail or {}), ensure_ascii=False),
                client,
            ),
        )
        log.info("audit: %s %s %s", actor, action, target)

    async def audit_log(self, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
        """Newest first."""
        rows = await self._db.fetchall(
            "SELECT id, at, actor, action, target, detail, client FROM console_audit"
            " WHERE id < ? ORDER BY id DESC LIMIT ?",
            (before_id if before_id is not None else 2**62, limit),
        )
        return [
            AuditEntry(
                int(row[0]),
                datetime.fromisoformat(str(row[1])),
                str(row[2]),
                str(row[3]),
                str(row[4]),
                json.loads(str(row[5])),
                str(row[6]),
            )
            for row in rows
        ]
