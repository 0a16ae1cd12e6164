"""Map other systems' status vocabularies onto the national codes 1..10.

Accepted, in this order:

1. numbers: 4, "4", "04", " 10 ";
2. the portal's text codes (also OpenCPS's). The domain notes list them as
   "receiving, new, denied, processing, waiting, paying, cancelled, unresolved,
   releasing, done" for the same set as codes 1..10. Positions 3..10 match
   their meanings exactly (denied = refused, waiting = supplement, releasing =
   result ready, ...), so the list is read positionally: receiving = 1
   (submitted online, waiting to be received) and new = 2 (newly received),
   even though "new" alone might suggest 1;
3. the national labels (Status.label) and common provincial labels, matched
   without regard to case, diacritics, NFC/NFD, đ/d or punctuation.

"Quá hạn" (overdue) and its kin are timeliness, not a status: they are refused
with a message that says so. Callers may pass extra mappings (e.g. an HTTP
backend's `status_map`), which win over the built-in ones.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from lookup.model import STATUS_LABELS, Status


class UnknownStatus(ValueError):
    """A status value that maps onto none of the national codes."""


def fold(text: str) -> str:
    """Lower-case, no diacritics, đ -> d, punctuation to spaces, single spaces."""
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    bare = bare.replace("đ", "d").replace("Đ", "D").lower()
    return " ".join(re.sub(r"[^0-9a-z]+", " ", bare).split())


PORTAL_CODES: dict[str, Status] = {
    "receiving": Status.NEW,
    "new": Status.RECEIVED,
    "denied": Status.REFUSED,
    "processing": Status.PROCESSING,
    "waiting": Status.SUPPLEMENT,
    "paying": Status.PAYMENT,
    "cancelled": Status.WITHDRAWN,
    "canceled": Status.WITHDRAWN,
    "unresolved": Status.STOPPED,
    "releasing": Status.READY,
    "done": Status.RETURNED,
}

# Labels seen in provincial systems, beyond the national ones (which are added below).
_PROVINCIAL: dict[str, Status] = {
    "Chờ tiếp nhận": Status.NEW,
    "Mới": Status.NEW,
    "Hồ sơ mới": Status.NEW,
    "Đã tiếp nhận": Status.RECEIVED,
    "Tiếp nhận": Status.RECEIVED,
    "Mới tiếp nhận": Status.RECEIVED,
    "Từ chối": Status.REFUSED,
    "Từ chối tiếp nhận": Status.REFUSED,
    "Không tiếp nhận": Status.REFUSED,
    "Đang giải quyết": Status.PROCESSING,
    "Đang thụ lý": Status.PROCESSING,
    "Đang xử lý hồ sơ": Status.PROCESSING,
    "Chuyển xử lý": Status.PROCESSING,
    "Chờ bổ sung": Status.SUPPLEMENT,
    "Bổ sung hồ sơ": Status.SUPPLEMENT,
    "Yêu cầu bổ sung": Status.SUPPLEMENT,
    "Yêu cầu bổ sung hồ sơ": Status.SUPPLEMENT,
    "Chờ thực hiện nghĩa vụ tài chính": Status.PAYMENT,
    "Chờ nộp phí": Status.PAYMENT,
    "Chờ thanh toán": Status.PAYMENT,
    "Chờ nộp lệ phí": Status.PAYMENT,
    "Rút hồ sơ": Status.WITHDRAWN,
    "Đã rút hồ sơ": Status.WITHDRAWN,
    "Công dân rút hồ sơ": Status.WITHDRAWN,
    "Hủy": Status.WITHDRAWN,
    "Đã hủy": Status.WITHDRAWN,
    "Tạm dừng": Status.STOPPED,
    "Dừng giải quyết": Status.STOPPED,
    # A dossier handed back without a result, after it had been received.
    "Trả lại hồ sơ": Status.STOPPED,
    "Chờ trả kết quả": Status.READY,
    "Đã có kết quả": Status.READY,
    "Có kết quả": Status.READY,
    "Đã giải quyết": Status.READY,
    "Đã xử lý": Status.READY,
    "Chờ nhận kết quả": Status.READY,
    "Đã trả": Status.RETURNED,
    "Đã trả kết quả": Status.RETURNED,
    "Trả kết quả": Status.RETURNED,
    # In provincial exports "Hoàn thành" is the final state, after the hand-over.
    "Hoàn thành": Status.RETURNED,
    "Kết thúc": Status.RETURNED,
    "Đã hoàn thành": Status.RETURNED,
}

LABELS: dict[str, Status] = {
    **{fold(text): status for text, status in _PROVINCIAL.items()},
    **{fold(label): status for status, label in STATUS_LABELS.items()},
    **{fold(status.name): status for status in Status},
}

# Timeliness words people put in a status column; they say nothing about progress.
_TIMELINESS = {fold(t) for t in ("Quá hạn", "Trễ hạn", "Đúng hạn", "Trước hạn", "Sớm hạn")}


def says_timeliness(text: str) -> bool:
    """'Quá hạn', 'Đúng hạn', ...: words on lateness, not on the dossier's progress."""
    return fold(text) in _TIMELINESS


def to_status(value: int | str | Status, extra: Mapping[str, int] | None = None) -> Status:
    """Map a number, portal code or label onto a Status; raise UnknownStatus otherwise."""
    if isinstance(value, Status):
        return value
    if isinstance(value, bool):  # bool is an int; True is not status 1
        raise UnknownStatus(f"{value!r} is not a status")
    if isinstance(value, int):
        return _numeric(value, str(value))
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        raise UnknownStatus("empty status")
    if extra:
        for key, code in extra.items():
            if key == text or fold(key) == fold(text):
                return _numeric(code, text)
    if text.isascii() and text.isdigit():
        return _numeric(int(text), text)
    key = fold(text)
    if key in PORTAL_CODES:
        return PORTAL_CODES[key]
    if key in LABELS:
        return LABELS[key]
    if key in _TIMELINESS:
        raise UnknownStatus(
            f"{value!r} says whether a dossier is late, not how far it has progressed"
        )
    raise UnknownStatus(f"{value!r} is not a known dossier status")


def _numeric(number: int, shown: str) -> Status:
    try:
        return Status(number)
    except ValueError:
        raise UnknownStatus(f"{shown!r} is not a status code 1-10") from None
