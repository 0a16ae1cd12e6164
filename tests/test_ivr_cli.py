"""`tracuu call` runs a whole call through the real server and prints what the caller hears."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from gateway.cli import main
from lookup.sqlite import DossierStore
from tests.test_ivr_calls import DOSSIERS, PROCEDURES


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tracuu.sqlite3"

    async def fill() -> None:
        store = await DossierStore.open(path)
        await store.upsert_dossiers(DOSSIERS)
        await store.upsert_procedures(PROCEDURES)
        await store.close()

    asyncio.run(fill())
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_DATABASE", str(path))
    return path


def test_call_prints_the_prompts_in_order(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--keys", "1 2411290002# _ _ _", "--no-prompt-check", "--ids"]) == 0
    lines = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert lines[:5] == [
        "ivr_welcome",
        "ivr_menu_main",
        "ivr_enter_code",
        "ivr_please_wait",
        "dossier_this",
    ]
    assert "status_processing" in lines
    assert lines[-1] == "ivr_goodbye"


def test_call_json_has_the_prompts_and_the_dialplan_variable(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--keys", ">1 2411290001# 1 _ _ _", "--json", "--no-prompt-check"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["heard"][0] == {
        "prompt": "ivr_welcome",
        "words": "Xin chào, đây là tổng đài tra cứu hồ sơ của Bộ phận Một cửa.",
        "interrupted_by": "1",
    }
    assert out["heard"][1]["prompt"] == "ivr_enter_code"
    assert out["variables"] == {"TRACUU_NEXT": "goodbye"}
    assert out["ended"] == "returned"
    assert out["unused_keys"] == 0


def test_notify_call_queues_once_per_dossier_and_number(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = "000.00.18.H26-241129-0001"
    assert main(["notify-call", code, "0912345678"]) == 0
    assert main(["notify-call", code.lower(), "+84 912 345 678"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.endswith(f"queued: result_ready {code} to +84******678")
    assert second.split()[0] == first.split()[0]
    assert "already queued" in second
    assert "0912345678" not in first + second


def test_notify_call_queues_nothing_for_a_dossier_that_does_not_exist(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify-call", "000.00.18.H26-241129-0999", "0912345678"]) == 1
    err = capsys.readouterr().err
    assert "không tìm thấy hồ sơ 000.00.18.H26-241129-0999" in err
    assert "No dossier 000.00.18.H26-241129-0999: no call queued" in err
    assert main(["notify-call", "000.00.18.H26-241129-0001", "0912345678"]) == 0
    assert capsys.readouterr().out.split()[1] == "queued:"  # the refused one left no row


def test_notify_call_warns_when_the_status_does_not_fit_the_kind(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # -0002 is being processed (status 4): "your result is ready" would be false.
    assert main(["notify-call", "000.00.18.H26-241129-0002", "0912345678"]) == 0
    captured = capsys.readouterr()
    assert "warning: 000.00.18.H26-241129-0002 has status 4 (processing), not 9" in captured.err
    assert "queued" in captured.out
    assert main(["notify-call", "000.00.18.H26-241129-0001", "0912345678"]) == 0
    assert "warning" not in capsys.readouterr().err  # -0001 is ready


def test_notify_call_refuses_what_is_not_a_number(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["notify-call", "000.00.18.H26-241129-0001", "hello"]) == 2
    assert "'hello' is not a phone number" in capsys.readouterr().err


def test_call_refuses_keys_a_phone_does_not_have(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["call", "--keys", "1 24112A0001#"]) == 2
    assert "not phone keys" in capsys.readouterr().err


def test_call_checks_the_real_sounds_directory_and_marks_what_a_caller_would_not_hear(
    database: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = tmp_path / "sounds" / "vi" / "tracuu"
    live.mkdir(parents=True)
    for prompt_id in ("ivr_welcome", "ivr_menu_main", "ivr_goodbye"):  # the rest: not rendered
        for fmt in ("alaw", "ulaw", "sln", "sln16", "wav"):
            (live / f"{prompt_id}.{fmt}").write_bytes(b"\0" * 160)
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(tmp_path / "sounds"))

    assert main(["call", "--keys", "_ _ _", "--ids"]) == 0
    captured = capsys.readouterr()
    lines = [
        line.split()[0] + ("  (MISSING: the caller hears silence)" if "MISSING" in line else "")
        for line in captured.out.splitlines()
    ]
    assert lines[:7] == [
        "ivr_welcome",
        "ivr_menu_main",
        "ivr_no_input  (MISSING: the caller hears silence)",
        "ivr_menu_main",
        "ivr_no_input  (MISSING: the caller hears silence)",
        "ivr_menu_main",
        "ivr_no_input  (MISSING: the caller hears silence)",
    ]
    # Then the officer, or out of hours (the real clock) the closed message and goodbye.
    marked = [line for line in lines if line.endswith("(MISSING: the caller hears silence)")]
    unmarked = [line for line in lines if line not in marked]
    assert set(unmarked) <= {"ivr_welcome", "ivr_menu_main", "ivr_goodbye"}
    assert len(marked) >= 4
    assert f"{len(marked)} prompt(s) have no audio in {live}: run `tracuu prompts render`" in (
        captured.err
    )


def test_call_on_a_missing_database_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "tracuu.sqlite3"
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_DATABASE", str(missing))
    assert main(["call", "--keys", "1", "--no-prompt-check"]) == 3
    assert "does not exist" in capsys.readouterr().err
    assert not missing.parent.exists()
