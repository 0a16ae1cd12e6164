"""`tracuu sms ...` and `tracuu reminders run --once` as a newcomer runs them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.cli import main
from tests import stores
from tests.peers.smsc import CITIZEN, seed, sms_world

CODE = "000.00.18.H26-241129-0001"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cli.sqlite3"
    asyncio.run(seed(path, date.today()))
    monkeypatch.setenv("TRACUU_DATABASE", str(path))
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.chdir(tmp_path)
    return path


def test_sms_reply_prints_the_citizens_text(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sms", "reply", "--from", "0987000111", f"HS {CODE}"]) == 0
    assert capsys.readouterr().out == (
        f"Ho so {CODE} da co ket qua. Moi Ong/Ba den nhan tai Bo phan Mot cua.\n"
    )
    assert main(["sms", "reply", "--from", "0912345678", f"HS {CODE}"]) == 0
    assert capsys.readouterr().out.startswith("Nguyen Thi Lan: Ho so ")
    assert main(["sms", "reply", "--from", "not a number", "HD"]) == 2


def test_sms_text_goes_through_smpp(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sms", "text", "--from", "0987000111", f"Tra cứu {CODE}"]) == 0
    assert capsys.readouterr().out == (
        f"Ho so {CODE} da co ket qua. Moi Ong/Ba den nhan tai Bo phan Mot cua.\n"
        "(1 SMS part(s), GSM-7, from 8088)\n"
        "(private test SMSC and temporary outbox: nothing went to the real SMSC,"
        " and this exchange is not in `tracuu sms outbox`)\n"
    )


def test_a_what_if_run_queues_nothing_and_the_real_run_still_sees_every_change(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reminders", "run", "--once", "--now", "2026-12-10T08:00"]) == 0
    what_if = capsys.readouterr().out
    assert what_if.startswith("what-if: nothing queued, the reminder cursor")
    assert "7 changed dossiers read" in what_if
    assert main(["reminders", "run", "--once", "--dry-run"]) == 0
    assert "7 changed dossiers read" in capsys.readouterr().out  # the cursor did not move
    assert main(["sms", "outbox"]) == 0
    assert "queued" not in capsys.readouterr().out
    assert main(["reminders", "run", "--once"]) == 0
    assert "7 changed dossiers read" in capsys.readouterr().out


def test_reminders_run_once_then_nothing_new(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reminders", "run", "--once"]) == 0
    first = capsys.readouterr().out
    assert "7 changed dossiers read" in first
    assert main(["reminders", "run", "--once"]) == 0
    assert capsys.readouterr().out.startswith("0 changed dossiers read; 0 reminders queued")
    assert main(["sms", "outbox", "--limit", "3"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("states: queued ")
    assert "849*****678" in listing
    assert "84912345678" not in listing


def test_send_test_needs_an_smsc(database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sms", "send-test", "0912345678"]) == 2
    assert "TRACUU_SMPP_HOST" in capsys.readouterr().err


async def test_no_full_number_or_text_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sms")
    async with sms_world(tmp_path) as world:
        await world.smsc.deliver(CITIZEN, f"HS {CODE}")
        await world.smsc.wait_submits(1)
    assert caplog.records
    assert CITIZEN not in caplog.text
    assert "0912345678" not in caplog.text
    assert "Nguyen" not in caplog.text
    assert "secret-pw" not in caplog.text


@contextlib.contextmanager
def configured_smsc(monkeypatch: pytest.MonkeyPatch, password: str) -> Iterator[None]:
    """The test SMSC in its own process (requiring bind password "pw"), configured as
    the real one with `password`."""
    smsc = subprocess.Popen(
        [sys.executable, "-m", "peers.smsc", "--port", "0", "--password", "pw"],
        cwd=Path(__file__).resolve().parents[1], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert smsc.stdout is not None
        port = smsc.stdout.readline().split()[2]
        for name, value in {"HOST": "127.0.0.1", "PORT": port, "SYSTEM_ID": "office",
                            "PASSWORD": password}.items():  # fmt: skip
            monkeypatch.setenv(f"TRACUU_SMPP_{name}", value)
        yield
    finally:
        assert smsc.stdin is not None
        smsc.stdin.close()
        smsc.wait(10)
        assert smsc.stdout is not None
        smsc.stdout.close()


def test_send_test_through_a_configured_smsc(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with configured_smsc(monkeypatch, "pw"):
        assert main(["sms", "send-test", "0912345678", "--timeout", "15"]) == 0
    assert capsys.readouterr().out == (
        "test message #1 queued; no running gateway took it within 2 s:"
        " binding to the SMSC from here\n"
        "test message: delivered\n"
    )


def test_send_test_with_a_wrong_password_says_so_and_cancels_the_message(
    database: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with configured_smsc(monkeypatch, "wrong"):
        assert main(["sms", "send-test", "0912345678", "--timeout", "15"]) == 1
    why = "bind refused: wrong system_id/password (ESME_RINVPASWD)"
    printed = capsys.readouterr()
    assert printed.out.endswith(
        f"binding to the SMSC from here\n"
        f"test message: failed ({why}); cancelled, it will not be sent later\n"
    )
    logged = printed.err + caplog.text  # the CLI logs to stderr
    assert logged.count("smpp bind refused") == 1  # stopped at the first refusal: no retries
    rows = stores.rows(database, "SELECT state, error FROM sms_message WHERE kind = 'test'")
    parts = stores.rows(
        database,
        "SELECT p.state FROM sms_part p JOIN sms_message m ON m.id = p.message_id"
        " WHERE m.kind = 'test'",
    )
    assert rows == [("failed", f"cancelled: {why}")]
    assert parts == [("failed",)]  # nothing left for the next bind to send


def test_send_test_to_an_unreachable_smsc_cancels_the_message(
    database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nobody listens once it is closed
    for name, value in {"HOST": "127.0.0.1", "PORT": str(port), "SYSTEM_ID": "office",
                        "PASSWORD": "pw"}.items():  # fmt: skip
        monkeypatch.setenv(f"TRACUU_SMPP_{name}", value)
    assert main(["sms", "send-test", "0912345678", "--timeout", "2"]) == 1
    out = capsys.readouterr().out.splitlines()[-1] + "\n"
    assert out.startswith("test message: failed (not sent within 2 s (link ")
    assert out.endswith("); cancelled, it will not be sent later\n")
    states = stores.rows(database, "SELECT state FROM sms_message WHERE kind = 'test'")
    assert states == [("failed",)]


@pytest.mark.parametrize(
    "argv",
    [
        ["sms", "reply", "--from", "0912345678", "HS 000.00.18.H26-241129-0001"],
        ["sms", "text", "--from", "0912345678", "HS 000.00.18.H26-241129-0001"],
        ["sms", "outbox"],
        ["reminders", "run", "--once"],
    ],
)
@pytest.mark.sqlite_only("a mistyped SQLite file path")
def test_a_missing_database_is_refused_not_created(
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    missing = tmp_path / "typo" / "tracuu.sqlite3"
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_DATABASE", str(missing))
    assert main(argv) == 3
    assert "does not exist" in capsys.readouterr().err
    assert not missing.parent.exists()


def _one_per_database(opened: list[Any]) -> None:
    """At most one Database per database, every one closed. The SQLite pass: one in all.
    (On the PostgreSQL pass the stores move to PostgreSQL while the dossiers stay in
    their SQLite file, tests/conftest.py: two databases, one Database each.)"""
    places = [db.location for db in opened]
    assert len(places) == len(set(places)), places
    assert all(db._closed for db in opened)
    if not stores.ON_POSTGRES:
        assert len(opened) <= 1, places


@pytest.mark.parametrize(
    "argv",
    [
        ["sms", "reply", "--from", "0912345678", f"HS {CODE}"],
        ["sms", "outbox"],
        ["reminders", "run", "--once", "--dry-run"],
        ["prompts", "status"],
        ["call", "--keys", "1 2411290001#", "--no-prompt-check"],
        ["notify-call", CODE, "0912345678"],
        ["lookup", CODE],
    ],
)
def test_each_command_opens_one_database_and_closes_it(
    argv: list[str], database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = stores.watch_databases(monkeypatch)
    assert main(argv) in (0, 1, 2)  # 2: `prompts status` with prompts not rendered
    assert opened
    _one_per_database(opened)


def test_send_test_opens_one_database_and_closes_it(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = stores.watch_databases(monkeypatch)
    with configured_smsc(monkeypatch, "pw"):
        assert main(["sms", "send-test", "0912345678", "--timeout", "15"]) == 0
    _one_per_database(opened)
    opened.clear()
    with configured_smsc(monkeypatch, "wrong"):  # an error path: the bind refused
        assert main(["sms", "send-test", "0912345678", "--timeout", "15"]) == 1
    _one_per_database(opened)
