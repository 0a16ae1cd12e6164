"""Every prompt id the messages can produce is catalogued, and core.toml has no dead entry."""

from __future__ import annotations

import ast
import contextlib
import itertools
from datetime import date, datetime
from pathlib import Path

import pytest

from kernel.office import OfficeSettings
from lookup.model import FullView, Procedure, PublicView, Status
from messages import compose, notices
from messages.fragments import ALL_FRAGMENTS
from messages.parts import DYNAMIC_PREFIX, Message, Phrase
from messages.render import to_prompts, to_text
from prompts.catalog import CATALOG_DIR, load_catalog, parse_catalog_file

pytestmark = pytest.mark.no_store

CATALOG = load_catalog()
MESSAGES_DIR = Path(compose.__file__).parent
OFFICES = [
    OfficeSettings(name="UBND phường Cửa Nam", collection_place="Bộ phận Một cửa"),
    OfficeSettings(name="", collection_place="", hours=""),
]
CODES = ["000.00.18.H26-241129-0001", "2411290001", "H26", ""]


def views() -> list[PublicView]:
    out = []
    for status, rescheduled, ready, status_at, place in itertools.product(
        Status,
        (None, date(2024, 12, 20)),
        (None, date(2024, 12, 1)),
        (None, datetime(2024, 12, 1, 8)),
        ("", "Quầy số 3"),
    ):
        out.append(
            PublicView(
                code=CODES[0],
                agency_id="000.00.18.H26",
                agency_name="UBND phường Cửa Nam",
                procedure_code="1.001193",
                procedure_name="Đăng ký khai sinh",
                status=status,
                status_at=status_at,
                received_on=date(2024, 11, 29),
                due_on=date(2024, 12, 5),
                rescheduled_on=rescheduled,
                ready_on=ready,
                collection_place=place,
            )
        )
    return out


def every_message() -> list[Message]:
    """Each compose/notice function over every branch it has."""
    # before, on, and after the due date (Dec 5), the new date (Dec 20) and the ready date
    todays = [date(2024, 12, d) for d in (1, 2, 4, 5, 6, 13, 21, 31)]
    out: list[Message] = []
    for view, today, office in itertools.product(views(), todays, OFFICES):
        for compact, fee in itertools.product((False, True), ("", "Miễn phí", "50.000 đ", "x")):
            out.append(compose.status_answer(view, today, office=office, compact=compact, fee=fee))
        out += [
            compose.spoken_status(view, today, office=office),
            notices.reminder_received(view, today),
            notices.reminder_supplement(view),
            notices.reminder_payment(view, fee="50.000 đồng"),
            notices.reminder_payment(view),
            notices.reminder_ready(view, office=office),
            notices.reminder_delayed(view, today),
            notices.call_result_ready(view, office=office),
        ]
        if view.effective_due >= today:
            out.append(notices.reminder_due_soon(view, today))
            out.append(notices.call_appointment_tomorrow(view, today, office=office))
        with contextlib.suppress(ValueError):  # ready on or after today: nobody sends it
            out.append(notices.reminder_not_collected(view, today, office=office))
        out.append(compose.full_answer(FullView(view, "Lê Thị Hà", ()), today, office=office))
    out += [compose.not_found(code) for code in CODES]
    out += [compose.invalid_code(problem) for problem in compose.CodeProblem]
    out += [compose.system_busy(), compose.several_dossiers(2)]
    out += [compose.help_text("HS", example_code=CODES[0], short_code=s) for s in ("", "8088")]
    for documents, fee, time in itertools.product(
        ((), ("Tờ khai",)),
        ("", "Miễn phí", "50.000 đồng", "x"),
        ("", "3 ngày làm việc", "15 ngày", "x"),
    ):
        out.append(compose.procedure_guidance(Procedure("x", "Khai sinh", documents, fee, time)))
    return out


MESSAGES = every_message()


def test_every_produced_prompt_is_catalogued_or_dynamic() -> None:
    for message in MESSAGES:
        for region in ("north", "south"):
            for prompt_id in to_prompts(message, CATALOG, region=region):  # type: ignore[arg-type]
                assert prompt_id in CATALOG or prompt_id.startswith(DYNAMIC_PREFIX), prompt_id
        to_text(message, CATALOG, accents=False)  # every phrase has a written form too


def test_every_core_phrase_is_used_by_some_message() -> None:
    used = {part.id for message in MESSAGES for part in message if isinstance(part, Phrase)}
    used |= set(ALL_FRAGMENTS)
    core = {prompt.id for prompt in parse_catalog_file(CATALOG_DIR / "core.toml")}
    assert core - used == set(), "dead entries in core.toml"


def _literal_phrase_ids() -> set[str]:
    """Every string handed to Phrase(...) or sentence(...), or stored as a phrase table value."""
    found: set[str] = set()
    for path in MESSAGES_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"Phrase", "sentence"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
                if any(name.endswith("_PHRASE") for name in names):
                    found |= {v.value for v in node.value.values if isinstance(v, ast.Constant)}
    return found


def test_every_phrase_literal_in_the_source_is_catalogued() -> None:
    literals = _literal_phrase_ids()
    assert len(literals) > 50  # the scan really saw the modules
    assert CATALOG.missing(literals) == set()
