"""HTTP backend: ask an existing one-stop system for a dossier by its code.

settings.lookup.http names the URL (`{code}` replaced by the URL-quoted
canonical code), how its JSON fields map onto ours (`field_map`, dotted paths)
and how its statuses map (`status_map`, on top of lookup.statuses). A 404 is
"no such dossier"; a timeout, another non-2xx status, a body that is not JSON
or lacks a required field is LookupUnavailable.

Privacy: the remote answer is turned into a PublicView. Name and phone are
read only when `field_map` names them, and only for full(): the phone is the
one second factor this backend can check (receipt PINs and ID numbers are
never fetched). Without a mapped phone, full() always answers None.

Codes: any text extract_code() finds a well-formed code in; a sequence
written shorter than 4 digits ("-1") is zero-padded to keypad_sequence_digits,
and an agency typed with O for 0 is asked in the configured spelling. Compact
keys (separators missing) cannot be asked remotely: InvalidCode.

Second factor: no secret is ever fetched, so secrets never prove here, and
nothing is counted or locked (secret_locked() is always False, full_any()
always empty); only the registered phone proves.

What a remote system cannot do here: search by phone and list changes; those
raise LookupUnavailable rather than pretend there is nothing. Procedures are
not served by this backend (procedure() is None, procedures() is empty).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import quote

import aiohttp

from lookup.codes import (
    MIN_SEQUENCE_DIGITS,
    DossierCode,
    InvalidCode,
    Reason,
    agency_spellings,
    code_query,
    parse_code,
    parse_keypad,
)
from lookup.dates import parse_date, parse_datetime
from lookup.model import Changes, Dossier, FullView, Procedure, PublicView
from lookup.phones import normalise_phone
from lookup.port import LookupUnavailable, Proof
from lookup.proof import proves_phone
from lookup.settings import HttpLookupSettings
from lookup.statuses import UnknownStatus, to_status

log = logging.getLogger(__name__)

REQUIRED = ("status", "received_on", "due_on")
OPTIONAL = (
    "code", "agency_id", "agency_name", "procedure_code", "procedure_name", "status_at",
    "rescheduled_on", "ready_on", "collection_place", "applicant_name", "applicant_phones",
)  # fmt: skip


class HttpLookup:
    """DossierLookup backed by a remote one-stop system's JSON API."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        settings: HttpLookupSettings,
        agencies: Mapping[str, str],
        collection_place: str,
        zone: tzinfo,
    ) -> None:
        self._session = session
        self._settings = settings
        self._agencies = {k.upper(): v for k, v in agencies.items()}
        self._collection_place = collection_place
        self._zone = zone

    @classmethod
    async def open(
        cls,
        settings: HttpLookupSettings,
        *,
        agencies: Mapping[str, str] | None = None,
        collection_place: str = "",
        zone: tzinfo = UTC,
    ) -> HttpLookup:
        if "{code}" not in settings.url_template:
            raise ValueError("lookup.http.url_template must contain {code}")
        headers = {"Accept": "application/json"}
        if settings.token.get_secret_value():
            headers["Authorization"] = f"Bearer {settings.token.get_secret_value()}"
        session = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=settings.timeout_s)
        )
        return cls(session, settings, agencies or {}, collection_place, zone)

    async def close(self) -> None:
        await self._session.close()

    async def by_code(self, code: str) -> PublicView | None:
        dossier = await self._fetch(self._remote_code(code))
        return None if dossier is None else dossier.public()

    async def by_keypad_digits(self, digits: str, *, any_agency: bool = False) -> list[PublicView]:
        """The configured agencies only, also for any_agency: the remote system is
        asked code by code and cannot say which agencies it holds."""
        del any_agency
        keyed = parse_keypad(digits)
        sequence = str(keyed.sequence_number).zfill(self._settings.keypad_sequence_digits)
        codes = [f"{agency}-{keyed.yymmdd}-{sequence}" for agency in self._agencies]
        # gather, not a TaskGroup: callers catch LookupUnavailable, not an ExceptionGroup.
        results = await asyncio.gather(
            *(self._fetch(code) for code in codes), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r.public() for r in results if isinstance(r, Dossier)]

    async def by_phone(self, phone: str) -> list[PublicView]:
        raise LookupUnavailable("the HTTP backend cannot search dossiers by phone")

    async def full(self, code: str, proof: Proof) -> FullView | None:
        dossier = await self._fetch(self._remote_code(code))
        if dossier is None or not proves_phone(dossier, proof.phone):
            return None
        return dossier.full()

    async def full_any(
        self, codes: Sequence[str], secret: str, *, guesser: str = ""
    ) -> list[FullView]:
        """Nothing: receipt PINs and ID numbers are never fetched, so no secret proves.

        Nothing is fetched or counted either (no lockout here; see secret_locked).
        A non-code raises the same InvalidCode as by_code.
        """
        for code in codes:
            self._remote_code(code)
        return []

    async def secret_locked(self, code: str, *, guesser: str = "") -> bool:
        """Never: this backend checks no secrets, so it counts none."""
        self._remote_code(code)  # the same InvalidCode as by_code for a non-code
        return False

    async def changed_since(self, cursor: str, limit: int = 1000) -> Changes:
        raise LookupUnavailable("the HTTP backend cannot list changed dossiers")

    async def procedure(self, procedure_code: str) -> Procedure | None:
        return None

    async def procedures(self, *, common_only: bool = False) -> list[Procedure]:
        return []

    def _remote_code(self, text: str) -> str:
        """The code to ask the remote system for, spelt the way offices print it."""
        query = code_query(text)
        if not isinstance(query, DossierCode):
            raise InvalidCode(Reason.MISSING_PART, "the remote system needs the code's separators")
        spellings = agency_spellings(query.agency)
        agency = next((a for a in spellings if a in self._agencies), spellings[-1])
        sequence = query.sequence
        if len(sequence) < MIN_SEQUENCE_DIGITS:
            sequence = sequence.zfill(self._settings.keypad_sequence_digits)
        return f"{agency}-{query.yymmdd}-{sequence}"

    async def _fetch(self, code: str) -> Dossier | None:
        url = self._settings.url_template.replace("{code}", quote(code, safe=""))
        try:
            async with asyncio.timeout(self._settings.timeout_s), self._session.get(url) as reply:
                if reply.status == 404:
                    return None
                if not 200 <= reply.status < 300:
                    raise LookupUnavailable(f"the one-stop system answered HTTP {reply.status}")
                body = await reply.content.read(self._settings.max_response_bytes + 1)
        except TimeoutError as exc:
            raise LookupUnavailable(
                f"the one-stop system did not answer within {self._settings.timeout_s} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise LookupUnavailable(f"cannot reach the one-stop system: {exc}") from exc
        if len(body) > self._settings.max_response_bytes:
            raise LookupUnavailable("the one-stop system's answer is too large")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LookupUnavailable(f"the one-stop system's answer is not JSON: {exc}") from exc
        return self._dossier(code, document)

    def _dossier(self, code: str, document: object) -> Dossier:
        fields = {name: self._field(document, name) for name in (*REQUIRED, *OPTIONAL)}
        missing = [name for name in REQUIRED if fields[name] in (None, "")]
        if missing:
            raise LookupUnavailable(f"the one-stop system's answer lacks {', '.join(missing)}")
        try:
            status = to_status(_scalar(fields["status"]), self._settings.status_map)
            received_on = parse_date(fields["received_on"], self._zone)
            due_on = parse_date(fields["due_on"], self._zone)
            rescheduled_on = _optional(
                fields["rescheduled_on"], lambda v: parse_date(v, self._zone)
            )
            ready_on = _optional(fields["ready_on"], lambda v: parse_date(v, self._zone))
            status_at = _optional(fields["status_at"], lambda v: parse_datetime(v, self._zone))
        except (UnknownStatus, ValueError, TypeError) as exc:
            raise LookupUnavailable(f"the one-stop system's answer is unusable: {exc}") from exc
        parsed = parse_code(code)
        agency_id = _text(fields["agency_id"]) or parsed.agency
        return Dossier(
            code=parsed.text,  # ours, not theirs: the code the citizen asked about
            agency_id=agency_id,
            agency_name=_text(fields["agency_name"]) or self._agencies.get(agency_id.upper(), ""),
            procedure_code=_text(fields["procedure_code"]),
            procedure_name=_text(fields["procedure_name"]),
            status=status,
            status_at=status_at,
            received_on=received_on,
            due_on=due_on,
            rescheduled_on=rescheduled_on,
            ready_on=ready_on,
            collection_place=_text(fields["collection_place"]) or self._collection_place,
            applicant_name=_text(fields["applicant_name"]),
            applicant_phones=_phones(fields["applicant_phones"]),
        )

    def _field(self, document: object, name: str) -> Any:
        path = self._settings.field_map.get(name)
        if path is None:
            # Unmapped personal fields are never read, not even by their own name.
            if name in ("applicant_name", "applicant_phones"):
                return None
            path = name
        value: Any = document
        for key in path.split("."):
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                return None
        return value


def _optional(value: Any, convert: Any) -> Any:
    return None if value in (None, "") else convert(value)


def _scalar(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UnknownStatus(f"{value!r} is not a status")
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _phones(value: Any) -> tuple[str, ...]:
    raw = value if isinstance(value, list) else str(value or "").replace(";", ",").split(",")
    phones = (normalise_phone(str(item)) for item in raw)
    return tuple(phone for phone in phones if phone)
