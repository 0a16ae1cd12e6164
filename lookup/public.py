"""The public view as JSON and as Vietnamese text (CLI, console, API).

Built from a PublicView only, so no personal field can slip in. Pure: the
caller passes `today` for the overdue flag.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from lookup.model import PublicView


def as_json(view: PublicView, today: date) -> dict[str, Any]:
    """One JSON object; dates in ISO form, absent ones null."""
    timeliness = view.timeliness()
    return {
        "code": view.code,
        "status": int(view.status),
        "status_label": view.status.label,
        "received_on": view.received_on.isoformat(),
        "due_on": view.due_on.isoformat(),
        "rescheduled_on": _iso(view.rescheduled_on),
        "effective_due_on": view.effective_due.isoformat(),
        "ready_on": _iso(view.ready_on),
        "overdue": view.is_overdue(today),
        "timeliness": None if timeliness is None else timeliness.value,
        "procedure": view.procedure_name,
        "procedure_code": view.procedure_code,
        "agency": view.agency_name,
        "agency_id": view.agency_id,
        "collection_place": view.collection_place,
    }


def as_text(view: PublicView, today: date) -> str:
    """Labelled lines in Vietnamese, for a person at a terminal."""
    lines = [
        ("Mã hồ sơ", view.code),
        ("Thủ tục", view.procedure_name or "—"),
        ("Cơ quan", view.agency_name or view.agency_id),
        ("Trạng thái", f"{view.status.label} ({int(view.status)})"),
        ("Ngày tiếp nhận", _vn(view.received_on)),
        ("Ngày hẹn trả", _vn(view.due_on)),
    ]
    if view.rescheduled_on is not None:
        lines.append(("Ngày hẹn trả mới", _vn(view.rescheduled_on)))
    if view.ready_on is not None:
        lines.append(("Ngày có kết quả", _vn(view.ready_on)))
    if view.collection_place:
        lines.append(("Nơi nhận kết quả", view.collection_place))
    if view.is_overdue(today):
        lines.append(("Ghi chú", "Hồ sơ đã quá hạn giải quyết"))
    timeliness = view.timeliness()
    if timeliness is not None:
        lines.append(("Kết quả trả", timeliness.value))
    width = max(len(label) for label, _ in lines)
    return "\n".join(f"{label.ljust(width)}: {value}" for label, value in lines)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _vn(value: date) -> str:
    return f"{value:%d/%m/%Y}"
