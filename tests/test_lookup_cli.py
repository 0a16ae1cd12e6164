"""The real `tracuu` entry point on a temporary database."""

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from lookup.sqlite import STEPS

pytestmark = pytest.mark.sqlite_only(
    "the dossier CLI on a SQLite file; on PostgreSQL: test_lookup_postgres.py::test_cli_on_postgres"
)

TRACUU = [sys.executable, "-m", "gateway"]


def tracuu(db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "TRACUU_DATABASE": str(db), "TRACUU_CONFIG": "/nonexistent", **env}
    return subprocess.run(
        [*TRACUU, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "nested" / "tracuu.sqlite3"
    done = tracuu(db, "demo-data", "--count", "50")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("7 fixed and 50 generated demo dossiers, 10 procedures")
    return db


def test_db_init_creates_the_file_and_parents(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "t.sqlite3"
    done = tracuu(db, "db", "init")
    assert done.returncode == 0
    assert done.stdout == f"{db}: lookup schema at version {len(STEPS)}\n"
    assert db.exists()


def test_lookup_prints_vietnamese_labels(demo_db: Path) -> None:
    done = tracuu(demo_db, "lookup", "000.00.18.h26 – 241129 – 0001")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == "Mã hồ sơ        : 000.00.18.H26-241129-0001"
    assert "Trạng thái      : Đã xử lý xong (9)" in lines
    assert "Cơ quan         : UBND phường Cửa Nam" in lines
    assert "Nguyễn" not in done.stdout  # the applicant stays private


def test_lookup_json(demo_db: Path) -> None:
    done = tracuu(demo_db, "lookup", "000.00.18.H26-241129-0002", "--json")
    assert done.returncode == 0
    body = json.loads(done.stdout)
    assert body["code"] == "000.00.18.H26-241129-0002"
    assert body["status"] == 4
    assert body["status_label"] == "Đang xử lý"
    assert body["overdue"] is True
    assert body["procedure"] == "Cấp giấy phép xây dựng"
    assert body["agency"] == "UBND phường Cửa Nam"
    # Demo dates are relative to today: received about three weeks ago, due 3 days ago.
    received, due = date.fromisoformat(body["received_on"]), date.fromisoformat(body["due_on"])
    assert 20 <= (date.today() - received).days <= 30
    assert received < due < date.today() + timedelta(days=1)
    assert body["rescheduled_on"] is None
    assert body["collection_place"] == "Bộ phận Một cửa"
    assert set(body) >= {"due_on", "effective_due_on", "ready_on", "timeliness"}


def test_keypad_lists_every_match(demo_db: Path) -> None:
    done = tracuu(demo_db, "lookup", "--keypad", "2411291", "--json")
    assert done.returncode == 0
    assert [v["code"] for v in json.loads(done.stdout)] == [
        "000.00.18.H26-241129-0001",
        "000.00.19.H26-241129-0001",
    ]
    text = tracuu(demo_db, "lookup", "--keypad", "2411290001")
    assert text.stdout.startswith("Có 2 hồ sơ khớp với 2411290001:")


def test_keypad_respects_configured_agencies(demo_db: Path) -> None:
    done = tracuu(
        demo_db,
        "lookup",
        "--keypad",
        "2411290001",
        "--json",
        TRACUU_AGENCIES='[{"id": "000.00.19.H26", "name": "UBND xã Thử"}]',
    )
    assert [(v["code"], v["agency"]) for v in json.loads(done.stdout)] == [
        ("000.00.19.H26-241129-0001", "UBND xã Thử")
    ]


def test_not_found_and_invalid(demo_db: Path) -> None:
    missing = tracuu(demo_db, "lookup", "000.00.18.H26-241129-0999")
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "Không tìm thấy hồ sơ 000.00.18.H26-241129-0999.\n"
    invalid = tracuu(demo_db, "lookup", "000.00.18.H26-240231-0001")
    assert invalid.returncode == 2
    assert invalid.stderr == (
        "tracuu lookup: invalid code (bad_date): 31/02/2024 is not a calendar date\n"
    )
    keypad = tracuu(demo_db, "lookup", "--keypad", "12")
    assert keypad.returncode == 2
    assert "(missing_part)" in keypad.stderr
    neither = tracuu(demo_db, "lookup")
    assert neither.returncode == 2


def test_unreachable_postgres_is_exit_3(tmp_path: Path) -> None:
    url = "postgresql://tracuu:s3cret@127.0.0.1:9/tracuu"
    done = tracuu(tmp_path / "x", "lookup", "000.00.18.H26-241129-0001", TRACUU_DATABASE=url)
    assert done.returncode == 3
    assert "cannot open the PostgreSQL dossier database" in done.stderr
    init = tracuu(tmp_path / "x", "db", "init", TRACUU_DATABASE=url)
    assert init.returncode == 3
    assert "s3cret" not in init.stderr + init.stdout


def test_import_prints_a_summary(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite3"
    export = tmp_path / "hoso.csv"
    export.write_text(
        "Mã hồ sơ,Trạng thái,Ngày hẹn trả,Số điện thoại\n"
        "000.00.18.H26-241129-0001,Đang xử lý,03/12/2024,0912345678\n"
        "000.00.18.H26-241129-0002,Ngủ đông,03/12/2024,\n"
        "000.00.18.H26-241129-0003,2,03/12/2024,xyz\n",
        encoding="utf-8",
    )
    done = tracuu(db, "import", str(export))
    assert done.returncode == 1  # some rows were rejected
    assert done.stdout.splitlines() == [
        "dòng 3: bị loại: trạng thái 'Ngủ đông' không có trong danh mục trạng thái hồ sơ",
        "dòng 4: cảnh báo: 'xyz' không phải số điện thoại; đã bỏ qua",
        f"hoso.csv: đọc 3 dòng, lưu 2, loại 1, 1 cảnh báo (cơ sở dữ liệu {db})",
    ]
    found = tracuu(db, "lookup", "000.00.18.H26-241129-0003", "--json")
    assert json.loads(found.stdout)["status"] == 2
    assert tracuu(db, "import", str(tmp_path / "missing.csv")).returncode == 2


def test_lookup_on_a_mistyped_path_is_exit_3_and_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "nonexistent" / "dir" / "x.sqlite3"
    done = tracuu(db, "lookup", "000.00.18.H26-241129-0001")
    assert done.returncode == 3
    assert done.stdout == ""
    assert "Không tìm thấy" not in done.stderr
    assert f"the dossier database {db} does not exist" in done.stderr
    assert "tracuu db init" in done.stderr
    assert not (tmp_path / "nonexistent").exists()
    keypad = tracuu(db, "lookup", "--keypad", "2411291")
    assert keypad.returncode == 3
    assert not (tmp_path / "nonexistent").exists()


def test_lookup_on_an_empty_database_says_not_found_and_warns(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite3"
    assert tracuu(db, "db", "init").returncode == 0
    done = tracuu(db, "lookup", "000.00.18.H26-241129-0001")
    assert done.returncode == 1
    assert "Không tìm thấy hồ sơ 000.00.18.H26-241129-0001." in done.stderr
    assert "holds no dossiers" in done.stderr  # the WARNING log line


def test_import_warns_about_a_repeated_code_and_keeps_the_last_row(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite3"
    export = tmp_path / "hoso.csv"
    export.write_text(
        "Mã hồ sơ,Trạng thái,Ngày hẹn trả,Họ tên người nộp\n"
        "000.00.18.H26-241129-0001,Đang xử lý,03/12/2024,Nguyễn Văn A\n"
        "000.00.18.H26-241129-0002,Ngủ đông,03/12/2024,Trần Thị B\n"
        "000.00.18.h26 - 241129 - 0001,Đã có kết quả,05/12/2024,Nguyễn Văn A\n",
        encoding="utf-8",
    )
    done = tracuu(db, "import", str(export))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "dòng 3: bị loại: trạng thái 'Ngủ đông' không có trong danh mục trạng thái hồ sơ",
        "dòng 4: cảnh báo: mã 000.00.18.H26-241129-0001 đã có ở dòng 2: "
        "giữ dòng này, dòng 2 bị thay thế",
        f"hoso.csv: đọc 3 dòng, lưu 2, loại 1, 1 cảnh báo (cơ sở dữ liệu {db})",
    ]
    found = tracuu(db, "lookup", "000.00.18.H26-241129-0001", "--json")
    assert json.loads(found.stdout)["due_on"] == "2024-12-05"
