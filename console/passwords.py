"""Password hashing with Argon2id (argon2-cffi), off the event loop.

Each hash costs ~64 MiB and tens of milliseconds of CPU by design; run on the
loop it would be dead air on every call in progress, so it runs in a worker
thread, and at most two at once so a flood of sign-ins cannot take the memory.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
_HASHER = PasswordHasher()  # argon2-cffi's defaults: RFC 9106's low-memory profile


@functools.cache
def _dummy() -> str:
    """Verified when the account does not exist, so "no such user" takes as long as
    "wrong password" and the timing tells a guesser nothing. Made at the first such
    check, in its worker thread: at import it was a 218 ms stall of the loop at start."""
    return _HASHER.hash("not a password of anyone")


class WeakPassword(ValueError):
    """The password is too short to be kept."""


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Mật khẩu cần ít nhất {MIN_LENGTH} ký tự.")


class Passwords:
    """Hashes and checks passwords in worker threads, at most `slots` at once."""

    def __init__(self, slots: int = 2, hasher: PasswordHasher | None = None) -> None:
        self._slots = asyncio.Semaphore(slots)  # one per app: bound to its event loop
        # Tests pass a cheap hasher; a hash names its own parameters, so verify() reads any.
        self._hasher = hasher or _HASHER

    async def hash(self, password: str) -> str:
        check_strength(password)
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored` (None: no such account; still costs a hash)."""
        async with self._slots:
            return await asyncio.to_thread(_verify, stored, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_password_blocking(password: str) -> str:
    """For the command line, which has no event loop to protect."""
    check_strength(password)
    return _HASHER.hash(password)
