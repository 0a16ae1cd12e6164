"""Outbox family 3: what the SMS policy remembers of each sender (sms_optout,
sms_lookup_log) and small named values (sms_state: the reminder cursor, a
sender's last refusal and 'quiet' marks). Runs inside the caller's transaction."""

from __future__ import annotations

from typing import Protocol

from kernel.db import Conn


class Senders:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    def opted_out(self, msisdn: str) -> bool:
        found = self._conn.fetchone("SELECT 1 FROM sms_optout WHERE msisdn = ?", (msisdn,))
        return found is not None

    def set_opt_out(self, msisdn: str, out: bool, now: float) -> None:
        if out:
            self._conn.execute(
                "INSERT INTO sms_optout (msisdn, at) VALUES (?, ?)"
                " ON CONFLICT (msisdn) DO UPDATE SET at = excluded.at",
                (msisdn, now),
            )
        else:
            self._conn.execute("DELETE FROM sms_optout WHERE msisdn = ?", (msisdn,))

    def opted_out_among(self, numbers: set[str]) -> set[str]:
        if not numbers:
            return set()
        found: set[str] = set()
        listed = sorted(numbers)
        for i in range(0, len(listed), 500):
            chunk = listed[i : i + 500]
            rows = self._conn.fetchall(
                f"SELECT msisdn FROM sms_optout WHERE msisdn IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.update(r[0] for r in rows)
        return found

    def lookups_since(self, msisdn: str, since: float) -> int:
        return int(
            self._conn.fetchval(
                "SELECT COUNT(*) FROM sms_lookup_log WHERE msisdn = ? AND at >= ?", (msisdn, since)
            )
        )

    def log_lookup(self, msisdn: str, now: float) -> None:
        self._conn.execute("INSERT INTO sms_lookup_log (msisdn, at) VALUES (?, ?)", (msisdn, now))
        # Keep the table small: nothing older than a day is ever counted.
        self._conn.execute("DELETE FROM sms_lookup_log WHERE at < ?", (now - 86_400,))

    def get_state(self, key: str, default: str = "") -> str:
        value = self._conn.fetchval("SELECT value FROM sms_state WHERE key = ?", (key,))
        return default if value is None else str(value)

    def set_state(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO sms_state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class SenderStore(Protocol):
    """What the responder (sms/responder.py) reads and writes of one sender."""

    def opted_out(self, msisdn: str) -> bool: ...
    def set_opt_out(self, msisdn: str, out: bool, now: float) -> None: ...
    def lookups_since(self, msisdn: str, since: float) -> int: ...
    def log_lookup(self, msisdn: str, now: float) -> None: ...
    def get_state(self, key: str, default: str = "") -> str: ...
    def set_state(self, key: str, value: str) -> None: ...
    def cancel_queued_to(self, msisdn: str, kind: str, reason: str, now: float) -> int: ...


class Deferred:
    """A SenderStore for answering one SMS on the event loop without touching the
    database there: the sender's state is read beforehand (one read job), and the
    writes are recorded and applied later, in the same write job that marks the
    message handled and queues its reply (`apply`), so they commit together."""

    def __init__(
        self, msisdn: str, opted_out: bool, lookups: list[float], states: dict[str, str]
    ) -> None:
        self._msisdn = msisdn
        self._opted_out = opted_out
        self._lookups = lookups
        self._states = states
        self.writes: list[tuple[str, tuple[object, ...]]] = []

    @classmethod
    def read(cls, conn: Conn, *, msisdn: str, now: float) -> Deferred:
        senders = Senders(conn)
        lookups = conn.fetchall(
            "SELECT at FROM sms_lookup_log WHERE msisdn = ? AND at >= ?", (msisdn, now - 86_400)
        )
        states = conn.fetchall(
            "SELECT key, value FROM sms_state WHERE key IN (?, ?)",
            (f"refused:{msisdn}", f"quiet:{msisdn}"),
        )
        return cls(
            msisdn,
            senders.opted_out(msisdn),
            [float(r[0]) for r in lookups],
            {str(k): str(v) for k, v in states},
        )

    def _own(self, msisdn: str) -> None:
        if msisdn != self._msisdn:
            raise ValueError("a Deferred store answers for its one sender only")

    def opted_out(self, msisdn: str) -> bool:
        self._own(msisdn)
        return self._opted_out

    def lookups_since(self, msisdn: str, since: float) -> int:
        self._own(msisdn)
        return sum(1 for at in self._lookups if at >= since)

    def get_state(self, key: str, default: str = "") -> str:
        if key not in (f"refused:{self._msisdn}", f"quiet:{self._msisdn}"):
            raise ValueError(f"a Deferred store does not hold {key!r}")
        return self._states.get(key, default)

    def set_opt_out(self, msisdn: str, out: bool, now: float) -> None:
        self._own(msisdn)
        self.writes.append(("set_opt_out", (msisdn, out, now)))

    def log_lookup(self, msisdn: str, now: float) -> None:
        self._own(msisdn)
        self.writes.append(("log_lookup", (msisdn, now)))

    def set_state(self, key: str, value: str) -> None:
        self.writes.append(("set_state", (key, value)))

    def cancel_queued_to(self, msisdn: str, kind: str, reason: str, now: float) -> int:
        self._own(msisdn)
        self.writes.append(("cancel_queued_to", (msisdn, kind, reason, now)))
        return 0  # counted when applied; the responder does not read it

    def apply(self, store: SenderStore) -> None:
        """The recorded writes, in order, inside the caller's write transaction."""
        for name, args in self.writes:
            getattr(store, name)(*args)
