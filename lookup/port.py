"""The one lookup interface that voice, SMS and the web console query.

Adapters: lookup/sqlite.py (default), lookup/http.py (an existing one-stop
system), lookup/postgres.py. Every adapter raises LookupUnavailable, never a
driver's own exception, when it cannot answer; "no such dossier" is a value
(None or an empty list), not an error. Text that is not a code (by_code, full)
or not keypad digits (by_keypad_digits) raises lookup.codes.InvalidCode, a
ValueError whose `reason` says why; callers map the reason to Vietnamese.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lookup.model import Changes, FullView, Procedure, PublicView


class LookupUnavailable(Exception):
    """The dossier store cannot answer now (down, slow, or answered nonsense)."""


@dataclass(frozen=True, slots=True)
class Proof:
    """A second factor offered with a code: caller ID / SMS sender, or a secret."""

    phone: str | None = None  # E.164 of the caller or sender
    # The receipt PIN, or the last digits of the ID number (at least
    # settings.lookup.second_factor.min_id_digits, 6 by default). Wrong secrets
    # are counted per dossier and guesser and lock secret checks (lookup/lockout.py).
    secret: str | None = None
    # Who is guessing, for that count: the SMS sender (E.164), so one sender's
    # guesses never lock out the owner texting from another phone. "" (voice, whose
    # caller ID is too easily spoofed to tell guessers apart): one shared count.
    guesser: str = ""


class DossierLookup(Protocol):
    async def by_code(self, code: str) -> PublicView | None:
        """The public view of one dossier; `code` is any spelling lookup.codes accepts."""
        ...

    async def by_keypad_digits(self, digits: str, *, any_agency: bool = False) -> list[PublicView]:
        """Dossiers of the configured agencies matching keyed date+sequence digits.

        any_agency=True searches every agency in the database (an SMS short code
        serves them all); a backend that cannot list agencies (HTTP) searches
        the configured ones either way.
        """
        ...

    async def by_phone(self, phone: str) -> list[PublicView]:
        """Dossiers registered to a phone number (any form; normalised to E.164)."""
        ...

    async def full(self, code: str, proof: Proof) -> FullView | None:
        """The full view, only when `proof` matches the dossier; else None."""
        ...

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        """Dossiers updated after `cursor` ("" for the beginning), oldest first."""
        ...

    async def procedure(self, procedure_code: str) -> Procedure | None: ...

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]: ...

    async def close(self) -> None: ...


@runtime_checkable
class SecretGuard(Protocol):
    """Adapters that count wrong secrets (SQLite, PostgreSQL; HTTP: never locked).

    Not part of DossierLookup, so existing fakes keep type-checking; callers ask
    `isinstance(lookup, SecretGuard)` before telling a citizen to contact the office,
    or before checking one secret against several dossiers (full_any).
    """

    async def secret_locked(self, code: str, *, guesser: str = "") -> bool:
        """True while this guesser's wrong secrets have locked secret checks for this dossier.

        full() then answers None even for the right secret (like a wrong one);
        a registered phone still proves. False for an unknown code.
        """
        ...

    async def full_any(
        self, codes: Sequence[str], secret: str, *, guesser: str = ""
    ) -> list[FullView]:
        """Check ONE secret against several dossiers as ONE attempt (lookup/lockout.py).

        For a caller who proves themselves once for all the dossiers their
        number found. Locked dossiers are skipped (never proven, never counted).
        If the secret proves at least one, the full views of those it proves
        come back, in the order of `codes`, their counts are cleared, and
        nothing is counted on the others: the PIN of dossier A is no wrong
        guess at dossier B. If it proves none, each unlocked dossier counts
        exactly one failure, as the guess was aimed at all of them. Concurrent
        attempts are all counted. Unknown codes are ignored.

        A secret only, no Proof: the registered phone is deliberately not a
        proof here (callers use this where caller ID found the dossiers, and
        caller ID is spoofable), and a phone proof would not be counted anyway.
        """
        ...
