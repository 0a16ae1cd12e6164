"""The second-factor rules every lookup backend shares (the lockout counting aside).

A caller proves a dossier with a phone registered to it (any spelling), or a
secret: the receipt PIN, or enough trailing digits of the ID number. Database
backends count wrong secrets around `proves_secret` (lookup/lockout.py); the
HTTP backend, which never fetches secrets, uses `proves_phone` alone.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable, Sequence

from lookup.codes import compact_key
from lookup.lockout import DEFAULT_POLICY, SecretPolicy
from lookup.model import Dossier
from lookup.phones import normalise_phone
from lookup.port import Proof

MIN_ID_DIGITS = DEFAULT_POLICY.min_id_digits  # trailing ID digits a secret needs, by default


def proves(dossier: Dossier, proof: Proof, *, min_id_digits: int = MIN_ID_DIGITS) -> bool:
    """The second-factor rule, shared by every backend (without the lockout).

    Proof holds when the phone (any spelling) is one registered to the dossier,
    or the secret equals the receipt PIN, or it is the last `min_id_digits` or
    more digits of the ID number. Every candidate is compared in constant time.
    Database backends count wrong secrets around proves_secret (lookup/lockout.py).
    """
    by_phone = proves_phone(dossier, proof.phone)
    by_secret = proves_secret(dossier, (proof.secret or "").strip(), min_id_digits)
    return by_phone or by_secret


def proves_phone(dossier: Dossier, phone: str | None) -> bool:
    """The phone (any spelling) is one registered to the dossier."""
    matched = False
    e164 = normalise_phone(phone) if phone else None
    if e164 is not None:
        for registered in dossier.applicant_phones:
            matched |= hmac.compare_digest(registered.encode(), e164.encode())
    return matched


def proves_secret(dossier: Dossier, secret: str, min_id_digits: int = MIN_ID_DIGITS) -> bool:
    """The receipt PIN, or at least `min_id_digits` trailing digits of the ID number."""
    matched = False
    if secret:
        if dossier.secret:
            matched |= hmac.compare_digest(dossier.secret.encode(), secret.encode())
        id_number = dossier.applicant_id_number
        if secret.isdigit() and min_id_digits <= len(secret) <= len(id_number):
            matched |= hmac.compare_digest(id_number[-len(secret) :].encode(), secret.encode())
    return matched


async def secret_checks(
    find: Callable[[str], Awaitable[Dossier | None]],
    codes: Sequence[str],
    secret: str,
    policy: SecretPolicy,
) -> tuple[dict[str, Dossier], dict[str, Callable[[], bool]]]:
    """For full_any: the dossiers by compact key, and for each "does the secret prove it?".

    Unknown codes are left out; two spellings of one dossier are one dossier.
    """
    dossiers: dict[str, Dossier] = {}
    for code in codes:
        dossier = await find(code)
        if dossier is not None:
            dossiers.setdefault(compact_key(dossier.code), dossier)
    return dossiers, {
        key: functools.partial(proves_secret, dossier, secret, policy.min_id_digits)
        for key, dossier in dossiers.items()
    }
