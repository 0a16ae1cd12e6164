"""Subcommands of the SMS package.

    tracuu sms reply --from 0912345678 "HS 000.00.18.H26-241129-0001"
        the exact reply the citizen would get (no SMSC, nothing stored)
    tracuu sms text --from 0912345678 "HS ..."
        text the gateway for real: a local test SMSC delivers the SMS over SMPP
        to the gateway's link, and the reply is printed as the SMSC received it
        (private SMSC, temporary outbox: never the real SMSC or `sms outbox`)
    tracuu sms send-test 0912345678
        one test message through the configured SMSC; waits for its outcome. Queued
        in the outbox first: a running gateway's link sends it (within a second or
        two); only when none takes it does this command bind to the SMSC itself
    tracuu sms outbox [--limit N]
        recent messages and their states
    tracuu reminders run --once [--dry-run | --now 2026-11-30T08:00 [--queue]]
        compute and queue the due reminders, print a summary (queued, not yet sent:
        the gateway's SMS link sends them). --dry-run and --now are what-ifs: they
        print what would be queued and write nothing (the reminder cursor the running
        gateway uses stays where it is); --now ... --queue queues for real

Exit codes: 0 done, 1 the message failed or timed out, 2 bad usage or settings,
3 the dossier database does not exist (never created here: a mistyped path
would otherwise answer every citizen "not found").
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sms.settings import SmsConfig

if TYPE_CHECKING:
    from kernel.db import Database
    from prompts.catalog import Catalog
    from sms.history import MessageRow


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sms = subparsers.add_parser("sms", help="SMS: preview replies, text the gateway, outbox")
    sub = sms.add_subparsers(dest="sms_command", required=True, metavar="ACTION")

    reply = sub.add_parser("reply", help="print the reply a citizen's SMS would get")
    reply.add_argument("--from", dest="sender", required=True, help="sender, e.g. 0912345678")
    reply.add_argument("text", help='the SMS text, e.g. "HS 000.00.18.H26-241129-0001"')
    reply.set_defaults(handler=_reply)

    text = sub.add_parser(
        "text", help="send an SMS to the gateway through a local test SMSC; print the reply"
    )
    text.add_argument("--from", dest="sender", required=True, help="sender, e.g. 0912345678")
    text.add_argument("text", help="the SMS text")
    text.add_argument("--timeout", type=float, default=15.0, help="seconds (default 15)")
    text.set_defaults(handler=_text)

    test = sub.add_parser("send-test", help="send a test SMS through the configured SMSC")
    test.add_argument("number", help="destination, e.g. 0912345678")
    test.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    test.set_defaults(handler=_send_test)

    outbox = sub.add_parser("outbox", help="recent messages and their states")
    outbox.add_argument("--limit", type=int, default=20)
    outbox.add_argument("--text", action="store_true", help="show message text too")
    outbox.set_defaults(handler=_outbox)

    rem = subparsers.add_parser("reminders", help="SMS reminders about dossiers")
    rem_sub = rem.add_subparsers(dest="reminders_command", required=True, metavar="ACTION")
    run = rem_sub.add_parser("run", help="compute and queue the reminders due now")
    run.add_argument("--once", action="store_true", required=True, help="one pass, then exit")
    run.add_argument(
        "--now",
        help="what-if: pretend it is this local time (ISO) and print what would be queued; "
        "nothing is written (no SMS queued, the running gateway's reminder cursor untouched)",
    )
    run.add_argument(
        "--dry-run", action="store_true", help="what-if at the real time: print, write nothing"
    )
    run.add_argument(
        "--queue",
        action="store_true",
        help="with --now: queue for real at that time and move the shared cursor, as the "
        "gateway's own pass would (for tests and catching up)",
    )
    run.set_defaults(handler=_reminders)


def _number(raw: str) -> str | None:
    from lookup.phones import normalise_phone

    e164 = normalise_phone(raw)
    return None if e164 is None else e164.removeprefix("+")


def _today(settings: SmsConfig) -> datetime:
    return datetime.now(settings.zone)


def _missing_database(settings: SmsConfig, command: str) -> bool:
    """A mistyped TRACUU_DATABASE must not become a new empty file that answers "not found"."""
    if settings.database_is_sqlite and not settings.sqlite_path.exists():
        print(
            f"tracuu {command}: the dossier database {settings.sqlite_path} does not exist: "
            "run `tracuu db init`, `tracuu import` or `tracuu demo-data` to create it",
            file=sys.stderr,
        )
        return True
    return False


@contextlib.asynccontextmanager
async def _database(settings: SmsConfig) -> AsyncIterator[Database]:
    """The command's one Database (settings.database, the SMS tables migrated), shared
    by the lookup and the outbox, and closed on every way out."""
    from lookup.factory import open_database
    from sms.outbox import COMPONENT, STEPS

    db = await open_database(settings)
    try:
        await db.migrate(COMPONENT, STEPS)
        yield db
    finally:
        await db.close()


# ---------------------------------------------------------------- reply


def _reply(args: argparse.Namespace, settings: SmsConfig) -> int:
    sender = _number(args.sender)
    if sender is None:
        print(f"tracuu sms reply: {args.sender!r} is not a phone number", file=sys.stderr)
        return 2
    if _missing_database(settings, "sms reply"):
        return 3
    print(asyncio.run(_reply_async(sender, args.text, settings)))
    return 0


async def _reply_async(sender: str, text: str, settings: SmsConfig) -> str:
    from lookup.factory import open_lookup
    from prompts.catalog import load_catalog
    from sms.pump import reply_context
    from sms.responder import answer
    from sms.senders import Deferred

    now = time.time()
    async with _database(settings) as db, open_lookup(settings, db=db) as lookup:
        # The sender's state in one read, as the gateway's pump reads it (sms/pump.py).
        state = await db.read(functools.partial(Deferred.read, msisdn=sender, now=now))
        ctx = reply_context(settings, load_catalog(), _today(settings).date())
        result = await answer(
            text,
            sender,
            lookup=lookup,
            outbox=state,
            ctx=ctx,
            settings=settings.sms,
            now=now,
            record=False,
        )
    return result.text


# ---------------------------------------------------------------- text (demo)

TEXT_NOTE = (
    "(private test SMSC and temporary outbox: nothing went to the real SMSC,"
    " and this exchange is not in `tracuu sms outbox`)"
)


def _text(args: argparse.Namespace, settings: SmsConfig) -> int:
    sender = _number(args.sender)
    if sender is None:
        print(f"tracuu sms text: {args.sender!r} is not a phone number", file=sys.stderr)
        return 2
    if _missing_database(settings, "sms text"):
        return 3
    try:
        replies = asyncio.run(_text_async(sender, args.text, settings, args.timeout))
    except TimeoutError:
        print("tracuu sms text: no reply within the timeout", file=sys.stderr)
        return 1
    for line in replies:
        print(line)
    return 0


async def _text_async(sender: str, text: str, settings: SmsConfig, timeout_s: float) -> list[str]:
    """A private test SMSC and link; the outbox in a temporary file, so a gateway
    running on the real database never sends this conversation to a real SMSC."""
    from lookup.factory import open_lookup
    from peers.smsc import Personality, TestSmsc
    from sms.pump import SmsPump
    from sms.service import DEMO_PASSWORD, demo_smpp

    with tempfile.TemporaryDirectory(prefix="tracuu-sms-") as scratch:
        async with (
            TestSmsc(Personality(password=DEMO_PASSWORD)) as smsc,
            open_lookup(settings) as lookup,
        ):
            smpp = demo_smpp(settings.smpp, smsc.port)
            pump = SmsPump(settings, lookup, smpp=smpp, outbox_path=Path(scratch) / "sms.sqlite3")
            task = asyncio.create_task(pump.run())
            try:
                async with asyncio.timeout(timeout_s):
                    await smsc.wait_bound(timeout_s)
                    status = await smsc.deliver(sender, text, destination=smpp.source_addr)
                    if status != 0:
                        return [f"(the gateway refused the SMS: status {status:#x})"]
                    await smsc.wait_for(lambda: bool(smsc.record.texts_to(sender)), timeout_s)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    async with asyncio.timeout(15):
                        await task
            submits = [s for s in smsc.record.submits if s.destination == sender]
            coding = "UCS-2" if submits and submits[0].data_coding == 8 else "GSM-7"
            replies = smsc.record.texts_to(sender)
            return [
                *replies,
                f"({len(submits)} SMS part(s), {coding}, from {smpp.source_addr})",
                TEXT_NOTE,
            ]


# ---------------------------------------------------------------- send-test


def _send_test(args: argparse.Namespace, settings: SmsConfig) -> int:
    if not settings.smpp.configured:
        print(
            "tracuu sms send-test: no SMSC configured (set TRACUU_SMPP_HOST or TRACUU_SMPP_BINDS)",
            file=sys.stderr,
        )
        return 2
    number = _number(args.number)
    if number is None:
        print(f"tracuu sms send-test: {args.number!r} is not a phone number", file=sys.stderr)
        return 2
    state = asyncio.run(_send_test_async(number, settings, args.timeout))
    print(f"test message: {state}", flush=True)
    return 0 if state in ("submitted", "delivered") else 1


async def _send_test_async(number: str, settings: SmsConfig, timeout_s: float) -> str:
    """The test message's final state, or why it failed.

    The message is queued in the outbox first. A gateway running on this database
    has its link watching the outbox (sms/outbox_watch.py, twice a second): it sends
    the message on its own bind. Binding here too would log in a second time with
    the same system_id while the gateway is bound, which many SMSCs refuse or count
    against the contract. Only when no link takes it within TAKEN_S does this
    command bind itself. A message no link took (bind refused, SMSC unreachable) is
    cancelled: it must not go out days later, the next time a gateway binds."""
    from prompts.catalog import load_catalog
    from sms import replies
    from sms.outbox import Outbox
    from sms.pump import reply_context

    catalog = load_catalog()
    body = replies.test_text(reply_context(settings, catalog, _today(settings).date()))
    async with _database(settings) as db:
        message_id = await db.run(
            lambda conn: Outbox(conn).enqueue(
                number, body, kind="test", accents=settings.sms.accents, now=time.time()
            )
        )
        assert message_id is not None
        grace = min(TAKEN_S, timeout_s / 2)
        for _ in range(round(grace / POLL_S)):  # another process: no doorbell to wait on
            if await _taken(db, message_id):
                break
            await asyncio.sleep(POLL_S)
        if await _taken(db, message_id):
            print(f"test message #{message_id} queued: the running gateway's SMS link sends it")
            return await _outcome(db, message_id, timeout_s - grace)
        print(
            f"test message #{message_id} queued; no running gateway took it within {grace:g} s:"
            " binding to the SMSC from here",
            flush=True,
        )
        return await _send_from_here(
            settings, catalog, db, message_id, asked_s=timeout_s, timeout_s=timeout_s - grace
        )


TAKEN_S = 2.0  # a running link looks at the outbox every 0.5 s (sms/outbox_watch.py)
POLL_S = 0.1


async def _taken(db: Database, message_id: int) -> bool:
    from sms.outbox import Outbox

    return bool(await db.read(lambda conn: Outbox(conn).taken(message_id)))


async def _state(db: Database, message_id: int) -> str:
    from sms.outbox import Outbox

    return await db.read(lambda conn: Outbox(conn).message_state(message_id)) or "missing"


async def _outcome(db: Database, message_id: int, timeout_s: float) -> str:
    """The state the running gateway's link brings the message to, within the timeout
    ("submitted" without a receipt yet is a success, as below)."""
    state = await _state(db, message_id)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            while state not in ("delivered", "failed", "expired"):
                await asyncio.sleep(0.2)
                state = await _state(db, message_id)
    return state


async def _send_from_here(
    settings: SmsConfig,
    catalog: Catalog,
    db: Database,
    message_id: int,
    *,
    asked_s: float,
    timeout_s: float,
) -> str:
    """No gateway took the message: bind here, send it, wait for its outcome
    (`timeout_s` left of the `asked_s` the user gave). The lookup and the pump work on
    the command's one Database `db`."""
    from lookup.factory import open_lookup
    from sms.pump import SmsPump

    async with open_lookup(settings, db=db) as lookup:
        pump = SmsPump(settings, lookup, catalog=catalog, db=db)
        task = asyncio.create_task(pump.run())
        state = "queued"
        try:
            async with asyncio.timeout(timeout_s):
                await pump.ready.wait()
                pump.wake()  # the message is already queued: look at the queue now
                while True:  # bounded by the timeout above
                    state = await _state(db, message_id)
                    if state in ("delivered", "failed", "expired"):
                        break
                    if pump.bind_refused and state == "queued":
                        # Retrying cannot fix credentials: stop at the first refusal.
                        why = f"bind refused: {pump.bind_refused}"
                        return await _cancel_test(db, message_id, why) or state
                    await asyncio.sleep(0.2)
        except TimeoutError:
            # The last state seen ("submitted" without a receipt is a success); a message
            # still queued never left: cancel it.
            if state == "queued":
                link, detail = pump.link_state
                why = f"not sent within {asked_s:g} s (link {link}{': ' if detail else ''}{detail})"
                return await _cancel_test(db, message_id, why) or state
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                async with asyncio.timeout(15):
                    await task
        return state


async def _cancel_test(db: Database, message_id: int, why: str) -> str:
    """ "failed (<why>); cancelled …" once the queued test message is given up, or ""
    when the link took it meanwhile (then its own state is the answer)."""
    from sms.outbox import Outbox

    now = time.time()
    cancelled = await db.run(
        lambda conn: Outbox(conn).cancel_queued(message_id, f"cancelled: {why}", now)
    )
    if not cancelled:
        return ""
    return f"failed ({why}); cancelled, it will not be sent later"


# ---------------------------------------------------------------- outbox


def _outbox(args: argparse.Namespace, settings: SmsConfig) -> int:
    from kernel.logs import mask_msisdn
    from kernel.times import for_people

    if _missing_database(settings, "sms outbox"):
        return 3
    counts, recent = asyncio.run(_outbox_async(settings, args.limit))
    print("states: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"))
    for row in recent:
        at = for_people(row.created_at, settings.zone)
        line = f"#{row.id} {at} {mask_msisdn(row.msisdn)} {row.kind} {row.state}"
        line += f" parts={row.parts}"
        if row.uncertain:
            line += f" resent={row.uncertain}"
        if row.error:
            line += f" ({row.error})"
        if args.text:
            line += f"\n    {row.body}"
        print(line)
    return 0


async def _outbox_async(settings: SmsConfig, limit: int) -> tuple[dict[str, int], list[MessageRow]]:
    from sms.outbox import Outbox

    async with _database(settings) as db:
        return await db.read(lambda conn: (Outbox(conn).counts(), Outbox(conn).recent(limit)))


# ---------------------------------------------------------------- reminders


def _reminders(args: argparse.Namespace, settings: SmsConfig) -> int:
    now = _today(settings)
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            print(f"tracuu reminders run: bad --now {args.now!r}", file=sys.stderr)
            return 2
        if now.tzinfo is None:
            now = now.replace(tzinfo=settings.zone)
    if _missing_database(settings, "reminders run"):
        return 3
    what_if = args.dry_run or (args.now is not None and not args.queue)
    try:
        summary = asyncio.run(_reminders_async(settings, now, what_if=what_if))
    except ValueError as exc:  # templates that do not fit the rules
        print(f"tracuu reminders run: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


async def _reminders_async(settings: SmsConfig, now: datetime, *, what_if: bool) -> str:
    from kernel.db import Database
    from lookup.factory import open_lookup
    from prompts.catalog import load_catalog
    from sms.outbox import COMPONENT, STEPS
    from sms.reminder_job import ReminderJob

    db = await Database.open(settings.database)
    try:
        await db.migrate(COMPONENT, STEPS)
        async with open_lookup(settings, db=db) as lookup:  # one Database for both
            job = ReminderJob(settings, lookup, db, load_catalog())
            summary = await job.run_once(now, what_if=what_if)
        return summary.line()
    finally:
        await db.close()
