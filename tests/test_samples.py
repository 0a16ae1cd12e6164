"""The sample one-stop export in samples/: what `tracuu import` says about it, line by line.

The same rows ship as CSV (UTF-8 with BOM, as Excel saves it) and as .xlsx (typed
cells: Excel dates, numbers that lost their leading zero, merged title cells); both
must give the same report, with the line numbers a person sees in Excel.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.sqlite_only("tracuu import in a process of its own on a SQLite file")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"

EXPECTED_REPORT = [
    "bỏ qua các cột: STT, Cán bộ tiếp nhận",
    "dòng 8: bị loại: Ngày hẹn trả: '31/11/2026' không phải ngày hợp lệ (dd/mm/yyyy)",
    "dòng 9: bị loại: thiếu mã hồ sơ",
    "dòng 10: bị loại: trạng thái 'Đang thẩm định' không có trong danh mục trạng thái hồ sơ",
    "dòng 11: cảnh báo: 'không có' không phải số điện thoại; đã bỏ qua",
    "dòng 12: cảnh báo: mã 000.00.18.H26-261110-0420 đã có ở dòng 7: "
    "giữ dòng này, dòng 7 bị thay thế",
    "dòng 13: bị loại: Ngày hẹn trả 18/11/2026 sớm hơn Ngày tiếp nhận 20/11/2026",
    "dòng 14: bị loại: mã hồ sơ '000.00.18.H26-261131-0435' không hợp lệ: "
    "phần ngày (YYMMDD) không phải ngày có thật",
]


def tracuu(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRACUU_DATABASE": str(db), "TRACUU_CONFIG": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", ["hoso-mau.csv", "hoso-mau.xlsx"])
def test_sample_export_rejected_rows_are_reported_with_their_line_numbers(
    tmp_path: Path, name: str
) -> None:
    db = tmp_path / "t.sqlite3"
    done = tracuu(db, "import", f"samples/{name}")
    assert done.returncode == 1, done.stderr  # 1: some rows were rejected
    lines = done.stdout.splitlines()
    assert lines[:-1] == EXPECTED_REPORT
    assert lines[-1].startswith(f"{name}: đọc 11 dòng, lưu 6, loại 5, 2 cảnh báo (cơ sở dữ liệu ")

    kept = json.loads(tracuu(db, "lookup", "000.00.18.h26-261110-0420", "--json").stdout)
    assert (kept["status"], kept["status_label"]) == (10, "Đã trả kết quả")  # the later row
    moved = json.loads(tracuu(db, "lookup", "000.00.18.H26-261105-0415", "--json").stdout)
    assert (moved["received_on"], moved["due_on"], moved["rescheduled_on"]) == (
        "2026-11-05",
        "2026-11-26",
        "2026-12-03",
    )
    assert tracuu(db, "lookup", "000.00.18.H26-261116-0425").returncode == 1  # rejected


def test_the_xlsx_is_built_from_the_csv() -> None:
    """samples/make_xlsx.py keeps the two in step; a CSV edited alone fails here."""
    import openpyxl

    from lookup.importer import read_table

    csv_rows = read_table(SAMPLES / "hoso-mau.csv").rows
    xlsx_rows = read_table(SAMPLES / "hoso-mau.xlsx").rows
    assert [line for line, _ in csv_rows] == [line for line, _ in xlsx_rows]
    for (_, from_csv), (_, from_xlsx) in zip(csv_rows, xlsx_rows, strict=True):
        assert from_csv["code"] == (from_xlsx["code"] or "")
        assert from_csv["status"] == from_xlsx["status"]
    book = openpyxl.load_workbook(SAMPLES / "hoso-mau.xlsx")
    sheet = book.worksheets[0]
    assert sheet.title == "Danh sách hồ sơ"
    assert isinstance(sheet["J5"].value, int)  # 0912 345 001 as Excel keeps it: 912345001


def _make_xlsx() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_xlsx", SAMPLES / "make_xlsx.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_xlsx_rebuilds_byte_for_byte() -> None:
    """Rebuilding from an unchanged CSV gives the committed file itself (it was built
    at another time): no save time in the zip entries or the document properties."""
    make_xlsx = _make_xlsx()
    built = make_xlsx.build(SAMPLES / "hoso-mau.csv")
    assert built == make_xlsx.build(SAMPLES / "hoso-mau.csv")
    assert built == (SAMPLES / "hoso-mau.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(built)) as archive:
        assert {entry.date_time for entry in archive.infolist()} == {(2026, 11, 27, 17, 0, 0)}
        core = archive.read("docProps/core.xml").decode()
    assert '<dcterms:modified xsi:type="dcterms:W3CDTF">2026-11-27T17:00:00Z<' in core
