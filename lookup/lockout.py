"""Second-factor secrets and their lockout: the rule every database backend applies.

A code is guessable, and the secret that unlocks the applicant's name is short
(a receipt PIN, or trailing digits of the ID number). So wrong secrets are
counted per dossier AND per guesser (lookup.port.Proof.guesser: the SMS
sender): `max_failures` within `window_s` lock that guesser's secret checks
for that dossier for `lockout_s`, across restarts (the count lives in the
database, table secret_failure, keyed by code_key and guesser). One
stranger's guesses therefore never lock out the owner texting the right
secret from another phone; the per-sender SMS rate limit bounds how fast any
one sender can guess. Voice passes no guesser (caller ID is too easily
spoofed to tell guessers apart), so its callers share one count per dossier.
While locked, even the right secret is answered like a wrong one; callers
can ask adapters `secret_locked(code, guesser=...)` to say so, next to the
public status (which the code alone reveals anyway). A correct secret clears
the count. Proof by the registered phone is not a secret and is never locked.

One secret may be checked against several dossiers at once (a caller's
"your dossiers", where caller ID found them and the secret must prove the
caller): that is one attempt, settled by `attempt_many`. If it proves any
unlocked dossier, those are proven and cleared and the others are left
alone (a citizen keying the PIN of dossier A is no guesser at B); if it
proves none, every unlocked dossier checked counts one failure, since the
guess was aimed at all of them.

Pure: no I/O, no clock (callers pass `now`, epoch seconds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

Key = TypeVar("Key")

DAY_S = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class SecretPolicy:
    """How secrets are checked; from settings.lookup.second_factor."""

    min_id_digits: int = 6  # trailing ID digits accepted as a secret (10**6 guesses, not 10**4)
    max_failures: int = 5
    window_s: float = DAY_S
    lockout_s: float = DAY_S


DEFAULT_POLICY = SecretPolicy()


@dataclass(frozen=True, slots=True)
class Failures:
    """A dossier's wrong secrets: how many since `first_at`, and any lock."""

    count: int
    first_at: float
    locked_until: float = 0.0  # 0: not locked


def is_locked(failures: Failures | None, now: float) -> bool:
    return failures is not None and failures.locked_until > now


def after_failure(failures: Failures | None, now: float, policy: SecretPolicy) -> Failures:
    """The count after one more wrong secret; the lock starts at the max_failures-th."""
    fresh = (
        failures is None
        or now - failures.first_at >= policy.window_s
        or 0.0 < failures.locked_until <= now  # a lock that ran out starts a new count
    )
    if fresh:
        count, first_at = 1, now
    else:
        assert failures is not None
        count, first_at = failures.count + 1, failures.first_at
    locked_until = now + policy.lockout_s if count >= policy.max_failures else 0.0
    return Failures(count, first_at, locked_until)


@dataclass(frozen=True, slots=True)
class Attempt(Generic[Key]):
    """One secret checked against several dossiers: what it proved, what to store."""

    proven: frozenset[Key]
    # The records to write: None clears a dossier's count, Failures replaces it.
    changes: Mapping[Key, Failures | None]


def attempt_many(
    prior: Mapping[Key, Failures | None],
    proves: Callable[[Key], bool],
    now: float,
    policy: SecretPolicy,
) -> Attempt[Key]:
    """Settle one secret checked against every dossier in `prior` as ONE attempt.

    Locked dossiers are skipped: never checked, never changed. `proves` runs on
    every unlocked dossier, not stopping at the first match (every proven one
    is wanted). Some proven: their counts are cleared, the others are left
    unchanged. None proven: every unlocked dossier counts one failure. With a
    single dossier this is exactly the rule `full` applies.
    """
    unlocked = [key for key, failures in prior.items() if not is_locked(failures, now)]
    proven = frozenset([key for key in unlocked if proves(key)])
    changes: dict[Key, Failures | None]
    if proven:
        changes = dict.fromkeys(proven)
    else:
        changes = {key: after_failure(prior[key], now, policy) for key in unlocked}
    return Attempt(proven, changes)
