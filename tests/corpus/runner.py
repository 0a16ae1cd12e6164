"""The SMS corpus: real-world forms people text, each with the reply it must get.

`sms_forms.tsv` (tab-separated, `#` comments) has one form a line:

    kind <TAB> sender <TAB> message <TAB> expected [<TAB> before [<TAB> after]]

- kind: what the form is (lookup, keypad, opt_out, opt_in, help, question,
  template, guidance, secret, separators, duplicate, bad_code, ...), for the
  per-kind score.
- sender: `owner` (the number registered on the demo dossiers), `stranger`,
  `other` (a second stranger), or digits.
- message: the text as the phone delivered it. Escapes: \\t, \\n, \\uXXXX (for
  NFD marks, odd dashes and spaces that an editor would fold).
- expected: `@NAME` for one of the exact replies in REPLIES, or the exact
  reply itself.
- before: messages sent first, `sender>message` separated by ` || `, a `*N`
  suffix repeats one N times (e.g. five wrong secrets from a stranger).
- after: what must be stored afterwards for the sender: `opted_out` or
  `subscribed`.

Every form runs against the same SQLite dossier file (the demo's fixed
dossiers, dated for TODAY, plus dossiers of agencies outside the configured
ones), in its own time slot two days after the previous one, so no rate
limit, quiet period or secret lockout carries over from one form to the next;
the sender's subscription is reset before each form.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path

from kernel.office import OfficeSettings
from lookup import demo
from lookup.model import Dossier, Status
from lookup.sqlite import DossierStore, SqliteLookup
from prompts.catalog import load_catalog
from sms.outbox import Outbox, migrate_file
from sms.replies import ReplyContext
from sms.responder import answer
from sms.settings import SmsSettings

CORPUS = Path(__file__).with_name("sms_forms.tsv")
TODAY = date(2024, 12, 2)
START = datetime(2024, 12, 2, 9, 0).timestamp()
SLOT_S = 2 * 86_400.0  # longer than every window: nothing carries over between forms
SENDERS = {"owner": "84912345678", "stranger": "84987000111", "other": "84936000222"}
# The switchboard's own agencies; the others below are only in the database.
AGENCIES = {"000.00.18.H26": "UBND phường Cửa Nam", "000.00.19.H26": "UBND phường Hoàn Kiếm"}

CODE = "000.00.18.H26-241129-0001"
PLACE = "Bo phan Mot cua"
READY = f"Ho so {CODE} da co ket qua. Moi Ong/Ba den nhan tai {PLACE}."
SYNTAX = f"De tra cuu ho so, soan tin: HS <ma ho so> gui 8088. Vi du: HS {CODE}."
WRONG = "Ma bi mat khong dung nen chi hien thi tinh trang ho so. "
REPLIES: dict[str, str] = {
    "READY": READY,
    "READY_NAMED": f"Nguyen Thi Lan: {READY}",
    "READY_MORE": f"{READY} Moi tin nhan chi tra cuu duoc mot ma ho so.",
    "READY_WRONG_SECRET": WRONG + READY,
    "READY_LOCKED": "Ma bi mat tam bi khoa do nhap sai nhieu lan. " + READY,
    "OVERDUE_2": "Ho so 000.00.18.H26-241129-0002 dang duoc giai quyet. Hen tra ket qua ngay"
    " 29/11/2024, nay da qua han. Thanh that xin loi Ong/Ba.",
    "RESCHEDULED_3": "Ho so 000.00.18.H26-241129-0003 dang duoc giai quyet. Hen tra ket qua moi"
    " ngay 05/12/2024. Thanh that xin loi Ong/Ba.",
    "SUPPLEMENT_4": "Ho so 000.00.18.H26-241129-0004 can bo sung giay to. Ong/Ba vui long lien he"
    " Bo phan Mot cua de bo sung.",
    "RETURNED_5": "Ho so 000.00.18.H26-241129-0005 da duoc tra ket qua ngay 27/11/2024.",
    "REFUSED_6": "Ho so 000.00.18.H26-241129-0006 khong duoc tiep nhan. Ong/Ba vui long lien he"
    " Bo phan Mot cua.",
    "RECEIVED_19": "Ho so 000.00.19.H26-241129-0001 da duoc tiep nhan. Hen tra ket qua ngay"
    " 03/12/2024.",
    "NOT_FOUND_0099": "Khong tim thay ho so 000.00.18.H26-241129-0099. Ong/Ba vui long kiem tra lai"
    " ma so tren giay hen tra ket qua.",
    "BAD_DATE": "Ngay thang trong ma so ho so khong dung. Ong/Ba vui long kiem tra lai ma so tren"
    " giay hen tra ket qua.",
    "BAD_SEQUENCE": "So thu tu trong ma so ho so khong dung. Ong/Ba vui long kiem tra lai ma so"
    " tren giay hen tra ket qua.",
    "INCOMPLETE": "Ma so ho so chua day du. Ong/Ba vui long kiem tra lai ma so tren giay hen tra"
    " ket qua.",
    "BAD_AGENCY": "Ma co quan trong ma so ho so khong dung. Ong/Ba vui long kiem tra lai ma so"
    " tren giay hen tra ket qua.",
    "KHAI_TU": "Thu tuc Dang ky khai tu. Giay to can co: To khai dang ky khai tu; Giay bao tu."
    " Le phi: Mien le phi. Thoi han giai quyet: Ngay trong ngay lam viec.",
    "XAY_DUNG": "Thu tuc Cap giay phep xay dung. Giay to can co: Don de nghi cap giay phep xay"
    " dung; Giay to ve quyen su dung dat; Ban ve thiet ke xay dung. Le phi: 75.000 dong."
    " Thoi han giai quyet: 15 ngay.",
    "DANG_KY_CHOICES": "Co nhieu thu tuc phu hop: 1.000894 Dang ky ket hon; 1.001193 Dang ky khai"
    " sinh; 1.000656 Dang ky khai tu. Soan TT va ma thu tuc de xem huong dan.",
    "H29": "Ho so 38.98.H29-210519-0003 da duoc tra ket qua ngay 25/05/2021.",
    "G22": "Ho so G22.99.08-230921-896048 dang duoc giai quyet. Hen tra ket qua ngay 10/12/2024.",
    "BOTH_241129_0001": "Co nhieu ho so trung ngay va so thu tu nay: 000.00.18.H26-241129-0001,"
    " 000.00.19.H26-241129-0001. Vui long soan tin voi ma so ho so day du.",
    "BOTH_220315_0007": "Co nhieu ho so trung ngay va so thu tu nay: 000.12.30.H56-220315-0007,"
    " 000.17.22.H56-220315-0007. Vui long soan tin voi ma so ho so day du.",
    "HELP": SYNTAX,
    "NOT_UNDERSTOOD": "Tin nhan chua dung cu phap. " + SYNTAX,
    "NO_CODE": "Ong/Ba chua nhap ma so ho so. Ma so in tren giay hen tra ket qua. " + SYNTAX,
    "OPTED_OUT": "Ong/Ba da ngung nhan tin nhan nhac ve ho so. De nhan lai, soan DK gui 8088.",
    "OPTED_IN": "Ong/Ba se nhan lai tin nhan nhac ve ho so.",
    "TT_SYNTAX": "De xem huong dan thu tuc, soan TT va ma hoac ten thu tuc. Vi du: TT khai sinh.",
    "KET_HON": "Thu tuc Dang ky ket hon. Giay to can co: To khai dang ky ket hon;"
    " Giay to tuy than cua hai ben. Le phi: Mien le phi."
    " Thoi han giai quyet: 5 ngay lam viec.",
    "KHAI_SINH": "Thu tuc Dang ky khai sinh. Giay to can co: To khai dang ky khai sinh;"
    " Giay chung sinh. Le phi: Mien le phi. Thoi han giai quyet: Ngay trong ngay lam viec.",
}


@dataclass(frozen=True, slots=True)
class Form:
    line: int
    kind: str
    sender: str
    message: str
    expected: str  # the exact reply
    before: tuple[tuple[str, str], ...] = ()
    after: str = ""

    @property
    def msisdn(self) -> str:
        return SENDERS.get(self.sender, self.sender)


@dataclass(frozen=True, slots=True)
class Outcome:
    form: Form
    reply: str
    stored: str  # opted_out | subscribed

    @property
    def ok(self) -> bool:
        return self.reply == self.form.expected and self.form.after in ("", self.stored)


_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|t|n|\\)")


def _unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match[1]
        return {"t": "\t", "n": "\n", "\\": "\\"}.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(one, text)


def load(path: Path = CORPUS) -> list[Form]:
    forms: list[Form] = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        fields = raw.split("\t")
        if len(fields) < 4:
            raise ValueError(f"{path.name}:{number}: needs kind, sender, message, expected")
        kind, sender, message, expected, *rest = fields
        expected = REPLIES[expected[1:]] if expected.startswith("@") else _unescape(expected)
        before: list[tuple[str, str]] = []
        if rest and rest[0].strip():
            for item in rest[0].split(" || "):
                who, _, text = item.partition(">")
                times = 1
                if m := re.fullmatch(r"(.*)\*(\d+)", text):
                    text, times = m[1], int(m[2])
                before += [(who.strip(), _unescape(text))] * times
        after = rest[1].strip() if len(rest) > 1 else ""
        forms.append(Form(number, kind, sender, _unescape(message), expected, tuple(before), after))
    return forms


def extra_dossiers() -> list[Dossier]:
    """Dossiers of agencies the switchboard is not configured for (keypad codes by SMS)."""
    base = demo.fixed_dossiers(TODAY)[2]  # a stranger's: Phạm Đức Hùng, no PIN

    def other(code: str, status: Status, received: date, due: date, **fields: object) -> Dossier:
        values: dict[str, object] = {"status_at": datetime.combine(received, time(9, 0))}
        values.update(fields)
        return replace(
            base, code=code, agency_id=code.rsplit("-", 2)[0], status=status,
            received_on=received, due_on=due, **values,  # type: ignore[arg-type]
        )  # fmt: skip

    returned = date(2021, 5, 25)
    return [
        other("38.98.H29-210519-0003", Status.RETURNED, date(2021, 5, 19), returned,
              ready_on=returned, status_at=datetime.combine(returned, time(10, 0))),
        other("G22.99.08-230921-896048", Status.PROCESSING, date(2023, 9, 21),
              TODAY + timedelta(days=8)),
        other("000.12.30.H56-220315-0007", Status.RECEIVED, date(2022, 3, 15), date(2022, 3, 20)),
        other("000.17.22.H56-220315-0007", Status.RECEIVED, date(2022, 3, 15), date(2022, 3, 20)),
    ]  # fmt: skip


@dataclass
class World:
    lookup: SqliteLookup
    database: Path
    clock: list[float]


@asynccontextmanager
async def world(directory: Path) -> AsyncIterator[World]:
    database = directory / "corpus.sqlite3"
    store = await DossierStore.open(database)
    try:
        await store.upsert_dossiers([*demo.fixed_dossiers(TODAY), *extra_dossiers()])
        await store.upsert_procedures(demo.procedures())
    finally:
        await store.close()
    await migrate_file(database)
    clock = [START]
    lookup = await SqliteLookup.open(
        database, agencies=AGENCIES, collection_place="Bộ phận Một cửa", clock=lambda: clock[0]
    )
    try:
        yield World(lookup, database, clock)
    finally:
        await lookup.close()


CATALOG = load_catalog()
CTX = ReplyContext(catalog=CATALOG, office=OfficeSettings(), today=TODAY)


async def text(world: World, sender: str, message: str) -> str:
    outbox = Outbox.open(world.database)
    try:
        result = await answer(
            message, sender, lookup=world.lookup, outbox=outbox, ctx=CTX,
            settings=SmsSettings(), now=world.clock[0],
        )  # fmt: skip
        outbox.commit()
        return result.text
    finally:
        outbox.close()


async def run(world: World, form: Form, slot: int) -> Outcome:
    world.clock[0] = START + slot * SLOT_S
    msisdn = form.msisdn
    with sqlite3.connect(world.database) as conn:  # a clean subscription for this form
        conn.execute("DELETE FROM sms_optout")
    for who, message in form.before:
        await text(world, SENDERS.get(who, who), message)
        world.clock[0] += 1.0
    reply = await text(world, msisdn, form.message)
    outbox = Outbox.open(world.database)
    try:
        stored = "opted_out" if outbox.opted_out(msisdn) else "subscribed"
    finally:
        outbox.close()
    return Outcome(form, reply, stored)


async def run_all(directory: Path, forms: list[Form] | None = None) -> list[Outcome]:
    forms = load() if forms is None else forms
    async with world(directory) as opened:
        return [await run(opened, form, slot) for slot, form in enumerate(forms)]
