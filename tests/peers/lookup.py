"""A dossier store that is down: every query raises LookupUnavailable, as a real adapter
does when its database or remote system cannot answer. Shared by the IVR and SMS tests."""

from __future__ import annotations

from lookup.model import Changes, FullView, Procedure, PublicView
from lookup.port import LookupUnavailable, Proof


class DownLookup:
    """Implements lookup.port.DossierLookup; nothing ever answers."""

    async def by_code(self, code: str) -> PublicView | None:
        raise LookupUnavailable("down")

    async def by_keypad_digits(self, digits: str, *, any_agency: bool = False) -> list[PublicView]:
        raise LookupUnavailable("down")

    async def by_phone(self, phone: str) -> list[PublicView]:
        raise LookupUnavailable("down")

    async def full(self, code: str, proof: Proof) -> FullView | None:
        raise LookupUnavailable("down")

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        raise LookupUnavailable("down")

    async def procedure(self, procedure_code: str) -> Procedure | None:
        raise LookupUnavailable("down")

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]:
        raise LookupUnavailable("down")

    async def close(self) -> None:
        return None
