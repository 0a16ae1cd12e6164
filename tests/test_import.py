"""Importing real-looking exports: both header styles, encodings, xlsx, bad rows."""
# ruff: noqa: E501 (the CSV export below keeps its real line width)

import re
import unicodedata
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from lookup.importer import Report, UnreadableFile, import_file, read_table, to_dossier
from lookup.model import Status
from lookup.port import Proof
from lookup.sqlite import DossierStore, SqliteLookup

pytestmark = pytest.mark.sqlite_only(
    "the importer into the SQLite dossier file; into PostgreSQL: tests/test_lookup_postgres.py"
)

VIETNAMESE = """\
DANH SÁCH HỒ SƠ TIẾP NHẬN;;;;;;;;;;;;
Từ ngày 01/11/2024 đến ngày 30/11/2024;;;;;;;;;;;;
STT;Mã hồ sơ;Tên thủ tục;Mã thủ tục;Ngày tiếp nhận;Ngày hẹn trả;Ngày hẹn trả mới;Trạng thái;Chủ hồ sơ / Người nộp;Số điện thoại;Địa chỉ;Số CCCD;Nơi trả kết quả
1;000.00.18.H26-241129-0001;Đăng ký khai sinh;1.001193;29/11/2024 08:15;03/12/2024;;Đã xử lý xong;Nguyễn Thị Lan;0912 345 678;12 Hàng Bài;001190012345;Quầy số 3
2;000.00.18.H26-241129-0002;Cấp giấy phép xây dựng;1.009994;29/11/2024;20/12/2024;27/12/2024;Đang giải quyết;Phạm Đức Hùng;01626123456, 0987.654.321;;001079007788;
3;000.00.18.H26-240231-0003;Đăng ký kết hôn;;29/11/2024;03/12/2024;;4;Lê Văn A;;;;
4;000.00.18.H26-241129-0004;Đăng ký kết hôn;;29/11/2024;;;4;Lê Văn B;;;;
5;000.00.18.H26-241129-0005;Đăng ký kết hôn;;29/11/2024;03/12/2024;;Quá hạn;Lê Văn C;;;;
6;000.00.18.H26-241129-0006;Đăng ký kết hôn;;29/11/2024;31/11/2024;;4;Lê Văn D;;;;
7;;Đăng ký kết hôn;;29/11/2024;03/12/2024;;4;Lê Văn E;;;;
8;000.00.18.H26-241129-0008;Đăng ký kết hôn;;29/11/2024;20/11/2024;;4;Lê Văn F;;;;
9;000.00.19.h26 – 241129 – 0009;Chứng thực bản sao từ bản chính;;2024-11-29;2024-11-29;;DA TRA KET QUA;Trần Văn G;không có;;;
;;;;;;;;;;;;
"""


async def run_import(path: Path, db: Path, batch_size: int = 10_000) -> Report:
    store = await DossierStore.open(db)
    try:
        return await import_file(path, store, batch_size)
    finally:
        await store.close()


async def test_vietnamese_export_with_title_rows_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "hoso.csv"
    path.write_bytes(b"\xef\xbb\xbf" + VIETNAMESE.encode())  # Excel's UTF-8 with BOM
    db = tmp_path / "t.sqlite3"
    report = await run_import(path, db)

    assert report.encoding == "utf-8-sig"
    assert report.read == 9
    assert report.stored == 3
    assert report.ignored_columns == ["STT"]
    rejected = {r.line: r.reason for r in report.rejected}
    assert sorted(rejected) == [6, 7, 8, 9, 10, 11]
    # Vietnamese for the office worker who exported the file, columns named as exports do.
    assert rejected[6] == (
        "mã hồ sơ '000.00.18.H26-240231-0003' không hợp lệ: "
        "phần ngày (YYMMDD) không phải ngày có thật"
    )
    assert rejected[7] == "thiếu Ngày hẹn trả"
    assert (
        rejected[8] == "'Quá hạn' chỉ cho biết hồ sơ trễ hạn hay không, không phải trạng thái hồ sơ"
    )
    assert rejected[9] == "Ngày hẹn trả: '31/11/2024' không phải ngày hợp lệ (dd/mm/yyyy)"
    assert rejected[10] == "thiếu mã hồ sơ"
    assert rejected[11] == "Ngày hẹn trả 20/11/2024 sớm hơn Ngày tiếp nhận 29/11/2024"
    assert [(w.line, w.reason) for w in report.warnings] == [
        (12, "'không có' không phải số điện thoại; đã bỏ qua")
    ]
    for reason in [*rejected.values(), *(w.reason for w in report.warnings)]:
        assert unicodedata.is_normalized("NFC", reason)
        assert not re.search(r"\b(due_on|received_on|code|status|phone|not|is)\b", reason)

    lookup = await SqliteLookup.open(db)
    try:
        first = await lookup.by_code("000.00.18.H26-241129-0001")
        assert first is not None
        assert (first.status, first.due_on, first.collection_place) == (
            Status.READY,
            date(2024, 12, 3),
            "Quầy số 3",
        )
        assert first.procedure_code == "1.001193"
        second = await lookup.by_code("000.00.18.H26-241129-0002")
        assert second is not None
        assert second.rescheduled_on == date(2024, 12, 27)
        assert [v.code for v in await lookup.by_phone("0326123456")] == [second.code]
        assert [v.code for v in await lookup.by_phone("0987654321")] == [second.code]
        full = await lookup.full(second.code, Proof(secret="007788"))  # 6 trailing ID digits
        assert full is not None
        assert full.applicant_name == "Phạm Đức Hùng"
        returned = await lookup.by_code("000.00.19.H26-241129-0009")
        assert returned is not None
        assert returned.status is Status.RETURNED
    finally:
        await lookup.close()


async def test_english_headers_and_reimport_updates(tmp_path: Path) -> None:
    path = tmp_path / "dossiers.csv"
    path.write_text(
        "code,procedure,procedure_code,received_on,due_on,rescheduled_on,status,applicant,"
        "phone,address,id_number,collection_place,secret\n"
        "G22.99.08-260921-896048,Đăng ký khai tử,1.000656,2026-09-21,2026-09-22,,releasing,"
        '"Võ Thị Yến","0912345678; 0977000111",Huế,046190001234,Quầy 1,PIN77\n',
        encoding="utf-8",
    )
    db = tmp_path / "t.sqlite3"
    report = await run_import(path, db)
    assert (report.read, report.stored, report.rejected, report.encoding) == (1, 1, [], "utf-8")
    path.write_text(path.read_text().replace("releasing", "done"), encoding="utf-8")
    assert (await run_import(path, db)).stored == 1
    lookup = await SqliteLookup.open(db)
    try:
        view = await lookup.by_code("G22.99.08-260921-896048")
        assert view is not None
        assert view.status is Status.RETURNED
        assert view.procedure_name == "Đăng ký khai tử"
        assert await lookup.full(view.code, Proof(secret="PIN77")) is not None
        assert len(await lookup.by_phone("0977000111")) == 1
        assert (await lookup.changed_since("")).cursor == "2"  # two writes, one dossier
    finally:
        await lookup.close()


TONES = "\u0300\u0301\u0303\u0309\u0323"


def cp1258(text: str) -> bytes:
    """Encode as Windows-1258 does: precomposed vowels, tones as combining marks."""
    out = []
    for ch in text:
        try:
            ch.encode("cp1258")
            out.append(ch)
        except UnicodeEncodeError:
            marks = unicodedata.normalize("NFD", ch)
            base = unicodedata.normalize("NFC", "".join(c for c in marks if c not in TONES))
            out.append(base + "".join(c for c in marks if c in TONES))
    return "".join(out).encode("cp1258")


def test_windows_1258_is_detected_and_read(tmp_path: Path) -> None:
    path = tmp_path / "cp1258.csv"
    text = (
        "Mã hồ sơ,Tên thủ tục,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái,Người nộp\n"
        "000.00.18.H26-241129-0001,Đăng ký khai sinh,29/11/2024,03/12/2024,Đang xử lý,"
        "Hoàng Thị Hạnh\n"
    )
    path.write_bytes(cp1258(text))
    table = read_table(path)
    assert table.encoding == "cp1258"
    line, cells = table.rows[0]
    assert line == 2
    assert cells["procedure_name"] == "Đăng ký khai sinh"  # NFC again
    assert cells["applicant_name"] == "Hoàng Thị Hạnh"
    dossier, warnings = to_dossier(cells)
    assert (dossier.status, warnings) == (Status.PROCESSING, [])


def test_utf16_tab_separated_from_excel(tmp_path: Path) -> None:
    path = tmp_path / "unicode.txt"
    text = "Mã hồ sơ\tTrạng thái\tNgày hẹn trả\n38.98.H29-210519-0003\t10\t25/05/2021\n"
    path.write_bytes(text.encode("utf-16"))
    table = read_table(path)
    assert table.encoding == "utf-16"
    dossier, _ = to_dossier(table.rows[0][1])
    assert (dossier.code, dossier.status, dossier.received_on) == (
        "38.98.H29-210519-0003",
        Status.RETURNED,
        date(2021, 5, 19),  # from the code
    )


async def test_xlsx_with_real_cell_types(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["BÁO CÁO HỒ SƠ"])
    sheet.append([])
    sheet.append(
        [
            "Số hồ sơ",
            "Tên thủ tục",
            "Ngày tiếp nhận",
            "Ngày hẹn trả",
            "Trạng thái",
            "Số điện thoại",
            "Số CCCD",
            "Ghi chú",
        ]
    )
    sheet.append(
        [
            "000.00.12.H62-201105-0004",
            "Đăng ký kết hôn",
            datetime(2020, 11, 5, 9, 30),
            datetime(2020, 11, 10),
            9,
            912345678,
            1190012345,
            "x",
        ]
    )
    sheet.append(
        [
            "000.00.12.H62-201105-0005",
            "Đăng ký kết hôn",
            "05/11/2020",
            "bad date",
            "Chờ bổ sung",
            None,
            None,
            None,
        ]
    )
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    db = tmp_path / "t.sqlite3"
    report = await run_import(path, db)
    assert (report.read, report.stored, report.encoding) == (2, 1, "xlsx")
    assert report.ignored_columns == ["Ghi chú"]
    assert [(r.line, r.reason) for r in report.rejected] == [
        (5, "Ngày hẹn trả: 'bad date' không phải ngày hợp lệ (dd/mm/yyyy)")
    ]
    lookup = await SqliteLookup.open(db)
    try:
        view = await lookup.by_code("000.00.12.H62-201105-0004")
        assert view is not None
        assert (view.status, view.received_on, view.due_on) == (
            Status.READY,
            date(2020, 11, 5),
            date(2020, 11, 10),
        )
        assert len(await lookup.by_phone("0912345678")) == 1  # the number lost its 0 in Excel
        assert await lookup.full(view.code, Proof(secret="0012345")) is not None  # 001190012345
    finally:
        await lookup.close()


def test_the_code_column_is_chosen_by_name_not_position(tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    path.write_text(
        "Số hồ sơ,Mã hồ sơ,Trạng thái,Ngày hẹn trả\n"
        "123/2024,000.00.18.H26-241129-0001,4,03/12/2024\n",
        encoding="utf-8",
    )
    table = read_table(path)
    assert table.rows[0][1]["code"] == "000.00.18.H26-241129-0001"
    assert table.ignored_columns == ["Số hồ sơ"]


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    no_header = tmp_path / "x.csv"
    no_header.write_text("a,b\n1,2\n")
    with pytest.raises(UnreadableFile, match="không thấy dòng tiêu đề có cột mã hồ sơ"):
        read_table(no_header)
    pdf = tmp_path / "x.pdf"
    pdf.write_bytes(b"%PDF")
    with pytest.raises(UnreadableFile, match=r"chỉ nhập được tệp \.csv và \.xlsx"):
        read_table(pdf)
    broken = tmp_path / "x.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(UnreadableFile, match=r"không đọc được tệp \.xlsx"):
        read_table(broken)


@pytest.mark.parametrize(
    "header",
    ["Họ tên người nộp", "Họ và tên", "Tên người nộp", "Người nộp hồ sơ", "Tên công dân",
     "HỌ TÊN NGƯỜI NỘP", "Họ và tên người nộp"],
)  # fmt: skip
async def test_common_applicant_name_headers_are_recognised(tmp_path: Path, header: str) -> None:
    path = tmp_path / "hoso.csv"
    path.write_text(
        f"Mã hồ sơ;Trạng thái;Ngày hẹn trả;{header};Số điện thoại\n"
        "000.00.18.H26-241129-0001;Đang xử lý;03/12/2024;Nguyễn Thị Lan;0912345678\n",
        encoding="utf-8",
    )
    db = tmp_path / "t.sqlite3"
    report = await run_import(path, db)
    assert (report.stored, report.ignored_columns) == (1, [])
    lookup = await SqliteLookup.open(db, create=False)
    try:
        full = await lookup.full("000.00.18.H26-241129-0001", Proof(phone="0912345678"))
    finally:
        await lookup.close()
    assert full is not None
    assert full.applicant_name == "Nguyễn Thị Lan"


async def test_a_repeated_code_is_warned_with_both_lines_and_the_last_row_is_stored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "hoso.csv"
    path.write_text(
        "Mã hồ sơ;Trạng thái;Ngày hẹn trả;Họ tên người nộp\n"
        "000.00.18.H26-241129-0001;Đang xử lý;03/12/2024;Nguyễn Văn A\n"
        "000.00.18.H26-241129-0002;Đang xử lý;03/12/2024;Trần Thị B\n"
        "000.00.18.h26 - 241129 - 0001;Đã có kết quả;05/12/2024;Nguyễn Văn A\n"
        "000.00.18.H26-241129-0001;Quá hạn;06/12/2024;Nguyễn Văn A\n"
        "000.00.18.H26-241129-0001;Đã trả kết quả;06/12/2024;Nguyễn Văn A\n",
        encoding="utf-8",
    )
    db = tmp_path / "t.sqlite3"
    report = await run_import(path, db, batch_size=2)  # the repeats fall in other batches
    assert report.messages() == [
        (4, "warning", "mã 000.00.18.H26-241129-0001 đã có ở dòng 2: "
                       "giữ dòng này, dòng 2 bị thay thế"),
        (5, "rejected", report.rejected[0].reason),
        (6, "warning", "mã 000.00.18.H26-241129-0001 đã có ở dòng 4: "
                       "giữ dòng này, dòng 4 bị thay thế"),
    ]  # fmt: skip
    assert "trễ hạn hay không" in report.rejected[0].reason  # line 5's row never replaced line 4
    lookup = await SqliteLookup.open(db, create=False)
    try:
        view = await lookup.by_code("000.00.18.H26-241129-0001")
    finally:
        await lookup.close()
    assert view is not None
    assert (view.status, view.due_on) == (Status.RETURNED, date(2024, 12, 6))
