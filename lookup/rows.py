"""How a dossier is stored by every database backend: its columns and row mapping.

SQLite and PostgreSQL keep the same `dossier` table; this module is the one
place that turns a Dossier into stored values and a stored row back into a Dossier.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import Any, Protocol

from lookup.codes import DossierCode, parse_code
from lookup.model import Dossier, Status
from lookup.phones import normalise_phone

BY_PHONE_LIMIT = 50  # a phone with more dossiers than this is an office, not a citizen

COLUMNS = (
    *("code", "code_key", "code_agency", "code_date", "seq_num", "agency_id", "agency_name"),
    *("procedure_code", "procedure_name", "status", "status_at", "received_on", "due_on"),
    *("rescheduled_on", "ready_on", "collection_place", "applicant_name", "applicant_phones"),
    *("applicant_id_number", "applicant_address", "secret", "updated_at", "change_seq"),
)
# A re-import of the same data changes nothing, so it must not look like a change.
COMPARED = [c for c in COLUMNS if c not in ("code_key", "updated_at", "change_seq")]


class StoredRow(Protocol):
    """What sqlite3.Row and asyncpg.Record have in common: values by column name."""

    def __getitem__(self, column: str) -> Any: ...


def dossier_from_row(row: StoredRow, agencies: Mapping[str, str], collection_place: str) -> Dossier:
    """A stored row (sqlite3.Row or asyncpg.Record: both map column names) as a Dossier.

    A row without an agency name takes the configured one; without a collection
    place, the office's.
    """
    agency_name = row["agency_name"] or agencies.get(
        row["agency_id"].upper(), agencies.get(row["code_agency"], "")
    )
    return Dossier(
        code=row["code"],
        agency_id=row["agency_id"],
        agency_name=agency_name,
        procedure_code=row["procedure_code"],
        procedure_name=row["procedure_name"],
        status=Status(row["status"]),
        status_at=_datetime(row["status_at"]),
        received_on=date.fromisoformat(row["received_on"]),
        due_on=date.fromisoformat(row["due_on"]),
        rescheduled_on=_date(row["rescheduled_on"]),
        ready_on=_date(row["ready_on"]),
        collection_place=row["collection_place"] or collection_place,
        applicant_name=row["applicant_name"],
        applicant_phones=tuple(p for p in row["applicant_phones"].split(",") if p),
        applicant_id_number=row["applicant_id_number"],
        applicant_address=row["applicant_address"],
        secret=row["secret"],
        updated_at=_datetime(row["updated_at"]),
    )


def dossier_row(dossier: Dossier, now_iso: str) -> list[Any]:
    """The values stored for a dossier, in COLUMNS order up to updated_at."""
    parsed: DossierCode = parse_code(dossier.code)
    phones = []
    for raw in dossier.applicant_phones:
        e164 = normalise_phone(raw)
        if e164 is not None and e164 not in phones:
            phones.append(e164)
    date_part = parsed.yymmdd
    return [
        f"{parsed.agency}-{date_part}-{parsed.sequence}",
        f"{parsed.agency.replace('.', '')}{date_part}{parsed.sequence}",  # compact key
        parsed.agency,
        date_part,
        parsed.sequence_number,
        (dossier.agency_id or parsed.agency).upper(),
        dossier.agency_name,
        dossier.procedure_code,
        dossier.procedure_name,
        int(dossier.status),
        _iso(dossier.status_at),
        dossier.received_on.isoformat(),
        dossier.due_on.isoformat(),
        _iso(dossier.rescheduled_on),
        _iso(dossier.ready_on),
        dossier.collection_place,
        dossier.applicant_name,
        ",".join(phones),
        dossier.applicant_id_number,
        dossier.applicant_address,
        dossier.secret,
        now_iso if dossier.updated_at is None else dossier.updated_at.isoformat(),
    ]  # id and change_seq: assigned inside the write transaction


def batches(items: Iterable[Dossier], size: int) -> Iterator[list[Dossier]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _datetime(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
