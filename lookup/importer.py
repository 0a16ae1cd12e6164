"""Import dossiers from one-stop systems' exports: CSV or .xlsx.

Headers are matched without regard to case, diacritics or punctuation, in
Vietnamese as real exports write them ("Mã hồ sơ", "Ngày hẹn trả", "Chủ hồ sơ /
Người nộp", "Số CCCD", ...) or in English snake_case ("code", "due_on", ...).
Title rows above the header are skipped: the header is the first row, among
the first ten, that has a code column. Columns we do not know are reported and
ignored.

A bad row is reported with its line number and reason and the rest of the file
still goes in; rows are upserted by code. A code repeated in the file (in any
spelling) is warned about with both line numbers, and the later row is kept.
Report.messages() gives rejections and warnings in line order. CSV files may
be UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text") or
Windows-1258 (cp1258); a file that is not UTF-8 is read as cp1258 and the
summary says so.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lookup.codes import InvalidCode, Reason, compact_key, parse_code
from lookup.dates import parse_date, parse_datetime
from lookup.model import Dossier, Status
from lookup.phones import normalise_phone
from lookup.statuses import UnknownStatus, fold, says_timeliness, to_status

if TYPE_CHECKING:
    from lookup.factory import DossierWriter

HEADER_SCAN_ROWS = 10

# Our field -> header spellings (folded with lookup.statuses.fold). First match wins,
# so "Mã hồ sơ" beats "Số hồ sơ" when an export has both.
_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "ma ho so", "ma so ho so", "ma hs", "so ho so", "so hs", "ma"),
    "procedure_name": ("procedure", "procedure name", "ten thu tuc", "thu tuc",
                       "ten thu tuc hanh chinh", "thu tuc hanh chinh", "linh vuc thu tuc"),
    "procedure_code": ("procedure code", "ma thu tuc", "ma tthc", "ma thu tuc hanh chinh"),
    "received_on": ("received on", "received", "ngay tiep nhan", "ngay nhan", "ngay nhan ho so",
                    "ngay nop"),
    "due_on": ("due on", "due", "ngay hen tra", "ngay hen tra ket qua", "han giai quyet",
               "han xu ly"),
    "rescheduled_on": ("rescheduled on", "rescheduled", "ngay hen tra moi", "ngay hen lai",
                       "ngay hen tra lai", "gia han den"),
    "ready_on": ("ready on", "ngay co ket qua", "ngay xu ly xong", "ngay hoan thanh xu ly"),
    "returned_on": ("returned on", "ngay tra ket qua", "ngay tra", "ngay hoan thanh"),
    "status_at": ("status at", "ngay cap nhat", "ngay cap nhat trang thai", "updated at"),
    "status": ("status", "trang thai", "tinh trang", "trang thai ho so", "tinh trang ho so"),
    "applicant_name": ("applicant", "applicant name", "name", "chu ho so", "nguoi nop",
                       "chu ho so nguoi nop", "ten nguoi nop", "ho ten", "ho va ten",
                       "ten chu ho so", "nguoi dung ten", "ho ten nguoi nop",
                       "ho va ten nguoi nop", "nguoi nop ho so", "ten nguoi nop ho so",
                       "ten cong dan", "ho ten cong dan"),
    "phones": ("phone", "phones", "applicant phone", "so dien thoai", "dien thoai", "sdt",
               "so dt", "dien thoai lien he"),
    "address": ("address", "applicant address", "dia chi", "dia chi thuong tru",
                "dia chi lien he"),
    "id_number": ("id number", "applicant id number", "so cccd", "cccd", "so cmnd", "cmnd",
                  "so cccd cmnd", "cccd cmnd", "so dinh danh", "so giay to tuy than"),
    "collection_place": ("collection place", "noi tra ket qua", "noi nhan ket qua",
                         "dia diem tra ket qua"),
    "agency_id": ("agency id", "ma co quan", "ma don vi"),
    "agency_name": ("agency", "agency name", "co quan", "don vi", "ten don vi", "ten co quan",
                    "co quan tiep nhan", "don vi tiep nhan"),
    "secret": ("secret", "pin", "ma pin", "ma bi mat", "ma tra cuu"),
}  # fmt: skip
_BY_HEADER = {
    spelling: (name, rank)
    for name, spellings in _HEADERS.items()
    for rank, spelling in enumerate(spellings)
}
_PHONE_SPLIT = re.compile(r"[;,/|\n]")

# The reasons are read by the office worker who exported the file: in Vietnamese,
# naming a date column as the exports head it, never our field names.
_DATE_LABELS = {
    "received_on": "Ngày tiếp nhận",
    "due_on": "Ngày hẹn trả",
    "rescheduled_on": "Ngày hẹn trả mới",
    "ready_on": "Ngày có kết quả",
    "returned_on": "Ngày trả kết quả",
    "status_at": "Ngày cập nhật trạng thái",
}
_CODE_REASONS = {
    Reason.EMPTY: "mã trống",
    Reason.TOO_LONG: "mã quá dài",
    Reason.BAD_CHARACTER: "có ký tự không thể có trong mã",
    Reason.MISSING_PART: "thiếu phần: mã gồm ba phần cơ quan-YYMMDD-số thứ tự",
    Reason.EXTRA_PART: "thừa phần: mã chỉ gồm ba phần cơ quan-YYMMDD-số thứ tự",
    Reason.BAD_AGENCY: "phần mã cơ quan không đúng",
    Reason.BAD_DATE: "phần ngày (YYMMDD) không phải ngày có thật",
    Reason.BAD_SEQUENCE: "số thứ tự không đúng (chữ số, khác 0)",
}


class UnreadableFile(Exception):
    """The file as a whole cannot be read (not a row problem)."""


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: str


@dataclass
class Report:
    """What an import did, for the summary the CLI prints."""

    read: int = 0
    stored: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[Rejected] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    encoding: str = ""

    def messages(self) -> list[tuple[int, str, str]]:
        """(line, "rejected" | "warning", reason), in line order (a line's rejection first)."""
        return sorted(
            [(r.line, "rejected", r.reason) for r in self.rejected]
            + [(w.line, "warning", w.reason) for w in self.warnings],
            key=lambda item: (item[0], item[1] != "rejected"),
        )


@dataclass(frozen=True, slots=True)
class Table:
    """Rows as (line number, {field: cell}), plus what was learnt reading the file."""

    rows: list[tuple[int, dict[str, Any]]]
    ignored_columns: list[str]
    encoding: str


def read_table(path: Path) -> Table:
    """Read a .csv or .xlsx export into named fields."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _table(_xlsx_rows(path), "xlsx")
    if suffix in (".csv", ".txt", ".tsv"):
        text, encoding = decode(path.read_bytes())
        return _table(_csv_rows(text), encoding)
    raise UnreadableFile(f"{path.name}: chỉ nhập được tệp .csv và .xlsx")


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was read in; Vietnamese text comes back NFC."""
    if data.startswith(b"\xef\xbb\xbf"):
        text, encoding = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, encoding = data.decode("utf-16"), "utf-16"
    else:
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            # Windows-1258 writes tones as combining marks; NFC below composes them.
            text, encoding = data.decode("cp1258", errors="replace"), "cp1258"
    return unicodedata.normalize("NFC", text), encoding


def to_dossier(cells: Mapping[str, Any]) -> tuple[Dossier, list[str]]:
    """One row's fields to a Dossier, plus warnings; raise ValueError with the reason."""
    raw_code = _text(cells.get("code"))
    if not raw_code:
        raise ValueError("thiếu mã hồ sơ")
    try:
        code = parse_code(raw_code)
    except InvalidCode as exc:
        raise ValueError(
            f"mã hồ sơ '{raw_code}' không hợp lệ: {_CODE_REASONS.get(exc.reason, exc.message)}"
        ) from None
    raw_status = cells.get("status")
    if raw_status is None or _text(raw_status) == "":
        raise ValueError("thiếu trạng thái")
    try:
        status = to_status(raw_status if isinstance(raw_status, int) else _text(raw_status))
    except UnknownStatus:
        raise ValueError(_status_reason(_text(raw_status))) from None
    received = _date(cells, "received_on") or code.received_on
    due = _date(cells, "due_on")
    if due is None:
        raise ValueError("thiếu Ngày hẹn trả")
    if due < received:
        raise ValueError(f"Ngày hẹn trả {due:%d/%m/%Y} sớm hơn Ngày tiếp nhận {received:%d/%m/%Y}")
    warnings: list[str] = []
    phones: list[str] = []
    for piece in _PHONE_SPLIT.split(_text(cells.get("phones"))):
        if piece.strip():
            phone = normalise_phone(piece)
            if phone is None:
                warnings.append(f"'{piece.strip()}' không phải số điện thoại; đã bỏ qua")
            else:
                phones.append(phone)
    returned = _date(cells, "returned_on")
    status_at = _datetime(cells, "status_at")
    if status_at is None and returned is not None and status is Status.RETURNED:
        status_at = datetime(returned.year, returned.month, returned.day)
    dossier = Dossier(
        code=code.text,
        agency_id=_text(cells.get("agency_id")) or code.agency,
        agency_name=_text(cells.get("agency_name")),
        procedure_code=_text(cells.get("procedure_code")),
        procedure_name=_text(cells.get("procedure_name")),
        status=status,
        status_at=status_at,
        received_on=received,
        due_on=due,
        rescheduled_on=_date(cells, "rescheduled_on"),
        ready_on=_date(cells, "ready_on"),
        collection_place=_text(cells.get("collection_place")),
        applicant_name=_text(cells.get("applicant_name")),
        applicant_phones=tuple(phones),
        applicant_id_number=_id_number(cells.get("id_number")),
        applicant_address=_text(cells.get("address")),
        secret=_text(cells.get("secret")),
    )
    return dossier, warnings


async def import_file(path: Path, store: DossierWriter, batch_size: int = 10_000) -> Report:
    """Read, check and upsert every row; bad rows are reported, never fatal."""
    table = read_table(path)
    report = Report(ignored_columns=table.ignored_columns, encoding=table.encoding)
    batch: list[Dossier] = []
    seen: dict[str, int] = {}  # compact code key -> line of its last accepted row
    for line, cells in table.rows:
        report.read += 1
        try:
            dossier, warnings = to_dossier(cells)
        except ValueError as exc:
            report.rejected.append(Rejected(line, str(exc)))
            continue
        key = compact_key(dossier.code)
        if key in seen:
            warnings.append(
                f"mã {dossier.code} đã có ở dòng {seen[key]}: "
                f"giữ dòng này, dòng {seen[key]} bị thay thế"
            )
        seen[key] = line
        report.warnings += [Rejected(line, warning) for warning in warnings]
        batch.append(dossier)
        if len(batch) >= batch_size:
            report.stored += await store.upsert_dossiers(batch, batch_size)
            batch = []
    report.stored += await store.upsert_dossiers(batch, batch_size)
    return report


def header_field(header: str) -> str | None:
    found = _BY_HEADER.get(fold(header))
    return None if found is None else found[0]


def _table(rows: Iterator[tuple[int, list[Any]]], encoding: str) -> Table:
    columns: dict[int, str] | None = None
    ignored: list[str] = []
    out: list[tuple[int, dict[str, Any]]] = []
    for line, values in rows:
        if columns is None:
            if line > HEADER_SCAN_ROWS:
                break
            columns, ignored = _header(values)
            if "code" not in columns.values():
                columns = None
            continue
        if all(_text(v) == "" for v in values):
            continue  # blank lines and the empty rows Excel leaves at the end
        out.append((line, {name: values[i] for i, name in columns.items() if i < len(values)}))
    if columns is None:
        raise UnreadableFile(
            f"không thấy dòng tiêu đề có cột mã hồ sơ (ví dụ 'Mã hồ sơ' hoặc 'code') "
            f"trong {HEADER_SCAN_ROWS} dòng đầu"
        )
    return Table(out, ignored, encoding)


def _header(values: list[Any]) -> tuple[dict[int, str], list[str]]:
    """Column index -> field; when two columns mean one field, the better spelling wins."""
    best: dict[str, tuple[int, int]] = {}  # field -> (rank, column)
    for index, value in enumerate(values):
        found = _BY_HEADER.get(fold(_text(value)))
        if found is not None:
            name, rank = found
            if name not in best or rank < best[name][0]:
                best[name] = (rank, index)
    columns = {index: name for name, (_, index) in best.items()}
    ignored = [_text(v) for i, v in enumerate(values) if i not in columns and _text(v)]
    return columns, ignored


def _csv_rows(text: str) -> Iterator[tuple[int, list[Any]]]:
    reader = csv.reader(io.StringIO(text), delimiter=_delimiter(text))
    start = 1
    for values in reader:
        yield start, values
        start = reader.line_num + 1


def _delimiter(text: str) -> str:
    """The delimiter under which a code header shows up (csv.Sniffer fails on title rows)."""
    head = "\n".join(text.splitlines()[:HEADER_SCAN_ROWS])
    for delimiter in (",", ";", "\t"):
        for row in csv.reader(io.StringIO(head), delimiter=delimiter):
            if "code" in _header(row)[0].values():
                return delimiter
    return ","


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[Any]]]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise UnreadableFile(f"{path.name}: không đọc được tệp .xlsx ({exc})") from exc
    try:
        sheet = workbook.worksheets[0]
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        workbook.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel stores 912345678 as 912345678.0
    return unicodedata.normalize("NFC", str(value)).strip()


def _id_number(value: Any) -> str:
    digits = re.sub(r"\s", "", _text(value))
    if isinstance(value, int | float) and 10 <= len(digits) < 12:
        digits = digits.zfill(12)  # a CCCD stored as a number lost its leading zeros
    return digits


def _status_reason(shown: str) -> str:
    if says_timeliness(shown):
        return f"'{shown}' chỉ cho biết hồ sơ trễ hạn hay không, không phải trạng thái hồ sơ"
    if shown.isdigit():
        return f"trạng thái '{shown}' không có: mã số trạng thái từ 1 đến 10"
    return f"trạng thái '{shown}' không có trong danh mục trạng thái hồ sơ"


def _date(cells: Mapping[str, Any], name: str) -> date | None:
    value = cells.get(name)
    if value is None or _text(value) == "":
        return None
    try:
        return parse_date(value if isinstance(value, date) else _text(value))
    except (ValueError, TypeError):
        raise ValueError(
            f"{_DATE_LABELS[name]}: '{_text(value)}' không phải ngày hợp lệ (dd/mm/yyyy)"
        ) from None


def _datetime(cells: Mapping[str, Any], name: str) -> datetime | None:
    value = cells.get(name)
    if value is None or _text(value) == "":
        return None
    try:
        return parse_datetime(value if isinstance(value, date) else _text(value))
    except (ValueError, TypeError):
        raise ValueError(
            f"{_DATE_LABELS[name]}: '{_text(value)}' không phải ngày giờ hợp lệ (dd/mm/yyyy hh:mm)"
        ) from None
