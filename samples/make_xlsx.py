"""Build samples/hoso-mau.xlsx from samples/hoso-mau.csv, as Excel holds such an export.

Run after editing the CSV:  .venv/bin/python samples/make_xlsx.py

Cells are typed the way one-stop systems' .xlsx exports type them, which is where
their real-world problems come from: dates are Excel dates (a day that does not
exist, 31/11, stays text), phone and CCCD numbers are numbers (their leading zero
lost), the title sits in merged cells. Rows keep their CSV line numbers, so the
import reports the same lines for both files.
"""

from __future__ import annotations

import csv
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


def main() -> None:
    with (HERE / "hoso-mau.csv").open(encoding="utf-8-sig", newline="") as f:
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
    # A fixed creation time: regenerating an unchanged CSV gives the same workbook data.
    book.properties.created = book.properties.modified = datetime(2026, 11, 27, 17, 0)
    book.save(HERE / "hoso-mau.xlsx")


if __name__ == "__main__":
    main()
