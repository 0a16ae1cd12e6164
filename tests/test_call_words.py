"""`tracuu call` shows the Vietnamese words the caller hears; ids on request; JSON both."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.settings import load_settings
from ivr.cli import words_for
from ivr.service import build_server
from ivr.words import Said, Words, transcript
from lookup.factory import open_lookup
from messages.parts import dynamic_prompt_id
from peers.asterisk import CallRecord, Heard
from prompts.catalog import load_catalog
from prompts.rows import put_dynamic
from tests.prompts_db import prompt_store

pytestmark = pytest.mark.sqlite_only("tracuu in processes of their own on a SQLite demo file")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The README's set-up: `tracuu demo-data`, nothing rendered yet."""
    monkeypatch.setenv("TRACUU_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("TRACUU_DATABASE", str(tmp_path / "tracuu.sqlite3"))
    monkeypatch.setenv("TRACUU_SOUNDS_DIR", str(tmp_path / "sounds"))
    assert main(["demo-data", "--count", "20"]) == 0
    return tmp_path


def test_catalog_prompts_say_their_script_and_texts_from_data_their_text() -> None:
    words = Words(load_catalog(), {dynamic_prompt_id("Quầy số 3"): "Quầy số 3"})
    words.add_texts(["  Cấp giấy phép\nxây dựng "])
    assert words.of("digit_2") == "hai"
    assert words.of(dynamic_prompt_id("Quầy số 3")) == "Quầy số 3"
    assert words.say(dynamic_prompt_id("Cấp giấy phép xây dựng")) == "Cấp giấy phép xây dựng"
    assert words.say("txt_0123456789abcdef") == "[txt_0123456789abcdef: text not known here]"
    assert words.unknown(["digit_2", "txt_0123456789abcdef"]) == {"txt_0123456789abcdef"}


def test_transcript_joins_fragments_into_sentences() -> None:
    said = [
        Said("ivr_press_1", "Bấm phím một:"),
        Said("txt_a", "UBND phường Cửa Nam"),
        Said("ivr_press_2", "Bấm phím hai:"),
        Said("txt_b", "UBND phường Hoàn Kiếm"),
        Said("dossier_code", "Hồ sơ số"),
        Said("digit_2", "hai"),
        Said("procedure_of", "thủ tục"),
        Said("txt_c", "Đăng ký khai sinh"),
        Said("status_ready", "đã có kết quả."),
        Said("ivr_after_result", "Để nghe lại, bấm phím một.", interrupted_by="1"),
        Said("ivr_goodbye", "Cảm ơn đã gọi.", missing=True),
    ]
    assert transcript(said) == [
        "Bấm phím một: UBND phường Cửa Nam",
        "Bấm phím hai: UBND phường Hoàn Kiếm",
        "Hồ sơ số hai, thủ tục Đăng ký khai sinh, đã có kết quả.",
        "Để nghe lại, bấm phím một. [pressed 1]",
        "Cảm ơn đã gọi.  (MISSING: the caller hears silence)",
    ]


def test_the_pause_after_a_value_is_kept_between_sound_files() -> None:
    """A date, a code or a text from data ends with the gap before the next file:
    printed as a comma, so two documents or a date and a sentence never run together."""
    said = [
        Said("due_date", "Ngày hẹn trả kết quả là"),
        Said("day_30", "ngày ba mươi"),
        Said("month_11", "tháng mười một"),
        Said("date_year", "năm"),
        Said("num_2", "hai"),
        Said("num_nghin", "nghìn"),
        Said("now_overdue", "nay hồ sơ đã quá hạn."),
        Said("documents_needed", "Giấy tờ cần chuẩn bị gồm:"),
        Said("txt_a", "Bản chính giấy tờ"),
        Said("txt_b", "Bản sao cần chứng thực"),
        Said("fee_label", "Lệ phí:"),
        Said("txt_c", "2.000 đồng/trang"),
    ]
    assert transcript(said) == [
        "Ngày hẹn trả kết quả là ngày ba mươi tháng mười một năm hai nghìn, nay hồ sơ đã quá hạn.",
        "Giấy tờ cần chuẩn bị gồm: Bản chính giấy tờ, Bản sao cần chứng thực",
        "Lệ phí: 2.000 đồng/trang",
    ]


def test_call_prints_the_words_with_texts_from_data_resolved(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every dynamic text the data gives (names, places) shows as words, never an id."""
    keys = "1 2411290001# 1 _ _ _"
    assert main(["call", "--keys", keys, "--no-prompt-check"]) == 0
    out = capsys.readouterr().out
    assert "txt_" not in out
    lines = out.splitlines()
    assert lines[0] == "Xin chào, đây là tổng đài tra cứu hồ sơ của Bộ phận Một cửa."
    assert "Bấm phím một: UBND phường Cửa Nam" in lines
    assert "Bấm phím hai: UBND phường Hoàn Kiếm" in lines
    assert "Hồ sơ này đã có kết quả." in lines
    assert any(
        line.startswith("Hồ sơ số hai bốn một một hai chín số thứ tự không không không một,")
        and "thủ tục Đăng ký khai sinh" in line  # the procedure's name: a text from data
        for line in lines
    )
    assert lines[-1] == "Cảm ơn đã gọi. Xin chào và hẹn gặp lại."


def test_ids_on_request_and_json_keeps_both(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = "1 2411290002# _ _ _"
    assert main(["call", "--keys", keys, "--no-prompt-check", "--ids"]) == 0
    by_id = [line.split(None, 1) for line in capsys.readouterr().out.splitlines()]
    assert by_id[0] == [
        "ivr_welcome",
        "Xin chào, đây là tổng đài tra cứu hồ sơ của Bộ phận Một cửa.",
    ]
    building = dynamic_prompt_id("Cấp giấy phép xây dựng")
    assert [building, "Cấp giấy phép xây dựng"] in by_id

    assert main(["call", "--keys", keys, "--no-prompt-check", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"prompt": building, "words": "Cấp giấy phép xây dựng"} in out["heard"]
    assert {"prompt": "status_processing", "words": "đang được giải quyết."} in out["heard"]
    assert out["transcript"][0] == "Xin chào, đây là tổng đài tra cứu hồ sơ của Bộ phận Một cửa."


def test_texts_rendered_before_come_from_the_prompts_database(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A txt_ prompt the data no longer names (a renamed place) still reads as words."""
    old = "Quầy tiếp dân số 1 (cũ)"
    with prompt_store(demo / "sounds", demo / "tracuu.sqlite3") as store:
        store.db.run(lambda conn: put_dynamic(conn, {dynamic_prompt_id(old): old}))

    record = CallRecord(heard=[Heard(f"tracuu/{dynamic_prompt_id(old)}")])
    words = asyncio.run(words_for(load_settings(), record, None))
    assert words.say(dynamic_prompt_id(old)) == old


def test_bare_call_output_is_words_through_the_real_entry_point(demo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "call", "--keys", "1 2411290002#", "--no-prompt-check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=demo,
    )
    assert done.returncode == 0, done.stderr
    assert "nay hồ sơ đã quá hạn." in done.stdout
    assert "status_processing" not in done.stdout


async def test_a_call_to_a_running_server_also_reads_as_words(demo: Path) -> None:
    """`tracuu call --server` (the demo banner's try-it call): texts from data are
    resolved from this machine's database, as with the call's own server."""
    settings = load_settings()
    local = settings.model_copy(update={"agi": settings.agi.model_copy(update={"port": 0})})
    async with open_lookup(local, create=False) as lookup:
        server = build_server(local, lookup, available=lambda _prompt_id: True)
        await server.start()
        try:
            async with asyncio.timeout(60):
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "gateway", "call",
                    "--server", f"127.0.0.1:{server.port}",
                    "--keys", "1 2411290002# _ _ _", "--no-prompt-check",
                    cwd=demo, env=dict(os.environ),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out, err = await proc.communicate()
        finally:
            await server.stop(drain_s=1.0)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "txt_" not in text
    assert "thủ tục Cấp giấy phép xây dựng" in text
    assert "nay hồ sơ đã quá hạn." in text
