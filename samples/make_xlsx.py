"""Build samples/hoso-mau.xlsx from samples/hoso-mau.csv, as Excel holds such an export.

Run after editing the CSV:  .venv/bin/python samples/make_xlsx.py
(byte-reproducible: an unchanged CSV gives the same file, tests/test_samples.py)

Cells are typed the way one-stop systems' .xlsx exports type them, which is where
their real-world problems come from: dates are Excel dates (a day that does not
exist, 31/11, stays text), phone and CCCD numbers are numbers (their leading zero
lost), the title sits in merged cells. Rows keep their CSV line numbers, so the
import reports the same lines for both files.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from pathlib import Path

import openpyxl
from openpyxl.styles import Font

HERE = Path(__file__).resolve().parent
DATE_COLUMNS = {"Ngày tiếp nhận", "Ngày hẹn trả", "Ngày hẹn trả mới"}
NUMBER_COLUMNS = {"STT", "Số điện thoại", "Số CCCD"}


def typed(header: str, text: str) -> object:
    if not text:
        return None
    if header in DATE_COLUMNS:
        for form in ("%d/%m/%Y %H:%M", "%d/%m/%Y"):
            try:
                return datetime.strptime(text, form)
            except ValueError:
                continue
        return text  # not a real day: Excel keeps what was typed
    digits = text.replace(" ", "")
    if header in NUMBER_COLUMNS and digits.isdigit():
        return int(digits)
    return text


# One fixed moment for the workbook's properties and every zip entry: an unchanged
# CSV rebuilds byte for byte the same .xlsx (openpyxl stamps the save time into
# docProps/core.xml and each zip entry), so git sees a change only when there is one.
FIXED = datetime(2026, 11, 27, 17, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def reproducible(data: bytes) -> bytes:
    """The same workbook with fixed times: core.xml's modified, each entry's date."""
    stamp = FIXED.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for entry in source.infolist():
            content = source.read(entry)
            if entry.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + stamp + rb"\g<2>", content)
            fixed = zipfile.ZipInfo(entry.filename, date_time=FIXED.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16  # as openpyxl writes it, whatever the umask
            target.writestr(fixed, content)
    return out.getvalue()


def build(source: Path) -> bytes:
    """The .xlsx of a CSV export, as bytes."""
    with source.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    header_line = next(i for i, row in enumerate(rows) if "Mã hồ sơ" in row)
    headers = rows[header_line]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Danh sách hồ sơ"
    for number, row in enumerate(rows, start=1):
        if number - 1 <= header_line:
            values: list[object] = [cell or None for cell in row]
        else:
            values = [typed(h, cell) for h, cell in zip(headers, row, strict=True)]
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=number, column=column, value=value)
            if isinstance(value, datetime):
                has_time = (value.hour, value.minute) != (0, 0)
                cell.number_format = "dd/mm/yyyy hh:mm" if has_time else "dd/mm/yyyy"
    for title_row in (1, 2):
        sheet.merge_cells(start_row=title_row, end_row=title_row, start_column=1,
                          end_column=len(headers))  # fmt: skip
        sheet.cell(row=title_row, column=1).font = Font(bold=True)
    for column in range(1, len(headers) + 1):
        sheet.cell(row=header_line + 1, column=column).font = Font(bold=True)
    book.properties.created = book.properties.modified = FIXED
    saved = io.BytesIO()
    book.save(saved)
    return reproducible(saved.getvalue())


def main() -> None:
    (HERE / "hoso-mau.xlsx").write_bytes(build(HERE / "hoso-mau.csv"))


if __name__ == "__main__":
    main()
