"""`tracuu call`: one whole simulated call through the real FastAGI server.

The server listens on a loopback port of its own; peers/asterisk.py dials it as
Asterisk would and presses the given keys when the flow waits for input. What
the caller hears is printed in order, in Vietnamese words (ivr/words.py), one
sentence a line; `--ids` prints one prompt a line with its id; JSON has both.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ivr.settings import VoiceConfig
from ivr.words import Said, Words, transcript

if TYPE_CHECKING:
    from kernel.db import Database
    from lookup.port import DossierLookup
    from peers.asterisk import CallRecord


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call = subparsers.add_parser(
        "call",
        help="simulate a phone call and print what the caller hears",
        description=(
            "Key groups are separated by spaces, one per question: '1' answers a menu, "
            "'2411290001#' keys a code, '_' stays silent, '>1' presses 1 during the "
            "prompt (barge-in), 'H' hangs up."
        ),
    )
    call.add_argument("--keys", default="", help='e.g. "1 2411290001# 1 0"')
    call.add_argument("--caller", default="", help="caller ID, e.g. 0912345678")
    call.add_argument("--script", default="ivr", help="AGI script path (default ivr)")
    call.add_argument(
        "--json", action="store_true", help="structured output: each prompt's id and words"
    )
    call.add_argument(
        "--ids",
        action="store_true",
        help="one prompt a line: its id (txt_<hash> for texts from data), then its words",
    )
    call.add_argument(
        "--server",
        metavar="HOST:PORT",
        type=_host_port,
        help="dial a FastAGI server already running (e.g. the demo's 127.0.0.1:4573, so the "
        "call shows in the console) instead of starting one",
    )
    call.add_argument(
        "--pace-ms",
        type=float,
        default=0.0,
        help="how long each prompt 'plays' (default 0: as fast as the server answers)",
    )
    call.add_argument(
        "--no-prompt-check",
        action="store_true",
        help="assume every prompt file exists (default: check the sounds directory, as "
        "Asterisk will, and mark the prompts a caller would not hear)",
    )
    call.set_defaults(handler=_call)

    notify = subparsers.add_parser(
        "notify-call",
        help="queue an outbound notification call (dialled by the AMI monitor)",
    )
    notify.add_argument("code", help="dossier code, e.g. 000.00.18.H26-241129-0001")
    notify.add_argument("phone", help="citizen's number, any spelling: 0912345678, +84…")
    notify.add_argument(
        "--kind", choices=("result_ready", "appointment_tomorrow"), default="result_ready"
    )
    notify.set_defaults(handler=_notify_call)


_KEY_GROUP = re.compile(r"_|H|>?[0-9*#]+")


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:4573")
    return host, int(port)


def _call(args: argparse.Namespace, settings: VoiceConfig) -> int:
    bad = [g for g in args.keys.split() if not _KEY_GROUP.fullmatch(g)]
    if bad:
        sys.stderr.write(
            f"tracuu: key groups {bad} are not phone keys: use 0-9 * #, '>' before a group "
            "to press it during the prompt, '_' for silence, 'H' to hang up\n"
        )
        return 2
    return asyncio.run(_call_async(args, settings))


async def _call_async(args: argparse.Namespace, settings: VoiceConfig) -> int:
    from lookup.factory import command_database

    # One Database for the lookup and the prompts' texts (None: the lookup says why).
    async with command_database(settings) as db:
        return await _call_on(args, settings, db)


async def _call_on(args: argparse.Namespace, settings: VoiceConfig, db: Database | None) -> int:
    from ivr.available import LivePrompts
    from ivr.service import build_server
    from lookup.factory import open_lookup
    from lookup.port import LookupUnavailable
    from peers.asterisk import SimulatedAsterisk

    local = settings.model_copy(
        update={"agi": settings.agi.model_copy(update={"host": "127.0.0.1", "port": 0})}
    )
    if args.no_prompt_check:
        available: Callable[[str], bool] = lambda _prompt_id: True  # noqa: E731
    else:
        available = LivePrompts(settings.sounds.live_dir)
    peer = SimulatedAsterisk(
        args.keys,
        caller=args.caller,
        script=args.script,
        exists=lambda name: available(name.removeprefix("tracuu/")),
        pace_s=max(args.pace_ms, 0.0) / 1000,
        # Distinct per run, as Asterisk's are: several simulated calls may share a server.
        uniqueid=f"{int(time.time())}.{os.getpid()}",
    )
    timeout_s = 60.0 + 200 * max(args.pace_ms, 0.0) / 1000
    if args.server is not None:
        try:
            record = await peer.call(*args.server, timeout_s=timeout_s)
        except OSError as exc:
            sys.stderr.write(
                f"tracuu call: cannot reach {args.server[0]}:{args.server[1]}: {exc}\n"
            )
            return 3
        # The words of texts from data: from this machine's database, when it has one.
        try:
            async with open_lookup(local, create=False, db=db) as lookup:
                words = await words_for(settings, record, lookup, db=db)
        except LookupUnavailable:
            words = await words_for(settings, record, None, db=db)
    else:
        try:
            async with open_lookup(local, create=False, db=db) as lookup:
                server = build_server(local, lookup, available=available)
                await server.start()
                try:
                    record = await peer.call("127.0.0.1", server.port, timeout_s=timeout_s)
                finally:
                    await server.stop(drain_s=5.0)
                words = await words_for(settings, record, lookup, db=db)
        except LookupUnavailable as exc:
            sys.stderr.write(f"tracuu call: the dossier store cannot answer: {exc}\n")
            return 3
    said = [
        Said(
            prompt_id=h.prompt.removeprefix("tracuu/"),
            words=words.say(h.prompt.removeprefix("tracuu/")),
            interrupted_by=h.interrupted_by,
            missing=h.missing,
        )
        for h in record.heard
    ]
    if args.json:
        out = {
            "heard": [
                {
                    "prompt": s.prompt_id,
                    "words": s.words,
                    **({"interrupted_by": s.interrupted_by} if s.interrupted_by else {}),
                    **({"missing": True} if s.missing else {}),
                }
                for s in said
            ],
            "transcript": transcript(said),
            "variables": record.variables,
            "ended": record.ended,
            "unused_keys": record.keys_left,
        }
        json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        if args.ids:
            width = max((len(s.prompt_id) for s in said), default=0)
            for item in said:
                mark = "  (MISSING: the caller hears silence)" if item.missing else ""
                cut = f" [pressed {item.interrupted_by}]" if item.interrupted_by else ""
                sys.stdout.write(f"{item.prompt_id:<{width}}  {item.words}{cut}{mark}\n")
        else:
            sys.stdout.writelines(line + "\n" for line in transcript(said))
        missing = sum(h.missing for h in record.heard)
        if missing:
            sys.stderr.write(
                f"-- {missing} prompt(s) have no audio in {settings.sounds.live_dir}: "
                "run `tracuu prompts render`\n"
            )
        next_step = record.variables.get(settings.agi.next_variable, "")
        sys.stderr.write(f"-- call ended ({record.ended}); dialplan next: {next_step or '-'}\n")
    return 0


# Dossier pages read, at most, to find the texts of prompts still unknown (500 each).
_DOSSIER_PAGES = 200


async def words_for(
    settings: VoiceConfig,
    record: CallRecord,
    lookup: DossierLookup | None,
    *,
    db: Database | None = None,
) -> Words:
    """The words of every prompt of this call: catalog scripts, then the free texts the
    voice side speaks, looked for from the cheapest source on until all are known.
    `db`: the process's Database, read instead of opening settings.database."""
    from lookup.port import LookupUnavailable
    from messages.voice import OFFICER_HOURS_PROMPT, officer_hours_script, voice_texts
    from prompts.catalog import load_catalog
    from prompts.database import dynamic_texts

    # Texts rendered or recorded so far: what a live txt_ prompt says.
    dynamic = await dynamic_texts(settings.database if db is None else db)
    words = Words(load_catalog(), dynamic)
    words.add(OFFICER_HOURS_PROMPT, officer_hours_script(settings.agi.hours))
    office = settings.office
    words.add_texts([office.name, office.collection_place, office.hours])
    words.add_texts(agency.name for agency in settings.agencies)
    heard = [h.prompt.removeprefix("tracuu/") for h in record.heard]
    if lookup is None or not words.unknown(heard):
        return words
    try:
        words.add_texts(voice_texts(await lookup.procedures(), ()))
        cursor = ""
        for _ in range(_DOSSIER_PAGES):
            if not words.unknown(heard):
                break
            changes = await lookup.changed_since(cursor, 500)
            for dossier in changes.dossiers:
                words.add_texts(
                    (dossier.collection_place, dossier.agency_name, dossier.procedure_name)
                )
            cursor = changes.cursor
            if not changes.more:
                break
    except LookupUnavailable:  # the HTTP backend cannot list: those stay ids
        pass
    return words


def notification_id(kind: str, code: str, phone: str) -> str:
    """The same (kind, dossier, number) is one notification, however often it is queued.

    Hex only: the id travels in the AGI URL (notify?id=…), where '+' would read as a space.
    """
    return hashlib.sha256(f"{kind}|{code}|{phone}".encode()).hexdigest()[:16]


# Statuses after which there is nothing to come in for (lookup/model.py Status).
FINISHED = frozenset({"REFUSED", "WITHDRAWN", "STOPPED", "RETURNED"})


def _notify_call(args: argparse.Namespace, settings: VoiceConfig) -> int:
    return asyncio.run(_notify_call_async(args, settings))


async def _notify_call_async(args: argparse.Namespace, settings: VoiceConfig) -> int:
    from lookup.factory import command_database

    # One Database for the lookup and the notification store (None: the lookup says why).
    async with command_database(settings) as db:
        return await _notify_call_on(args, settings, db)


async def _notify_call_on(
    args: argparse.Namespace, settings: VoiceConfig, db: Database | None
) -> int:
    from datetime import UTC, datetime

    from ivr.store import IvrStore
    from kernel.logs import mask_msisdn
    from lookup.codes import InvalidCode, parse_code
    from lookup.factory import open_lookup
    from lookup.model import Status
    from lookup.phones import normalise_phone
    from lookup.port import LookupUnavailable

    phone = normalise_phone(args.phone)
    if phone is None:
        sys.stderr.write(f"tracuu: {args.phone!r} is not a phone number (e.g. 0912345678)\n")
        return 2
    try:
        code = parse_code(args.code).text
    except InvalidCode as exc:
        sys.stderr.write(f"tracuu: not a dossier code: {exc}\n")
        return 2
    # A call about a dossier that does not exist would read the citizen nothing true.
    try:
        async with open_lookup(settings, create=False, db=db) as lookup:  # a typo'd path: no file
            view = await lookup.by_code(code)
    except LookupUnavailable as exc:
        sys.stderr.write(f"tracuu: the dossier lookup is unavailable, nothing queued: {exc}\n")
        return 3
    if view is None:
        sys.stderr.write(
            f"tracuu: không tìm thấy hồ sơ {code}; không xếp cuộc gọi. "
            f"No dossier {code}: no call queued.\n"
        )
        return 1
    code = view.code
    if args.kind == "result_ready" and view.status is not Status.READY:
        sys.stderr.write(
            f"tracuu: warning: {code} has status {view.status.value} "
            f"({view.status.name.lower()}), not {Status.READY.value} (ready): "
            "a result_ready call says the result is ready\n"
        )
    elif args.kind == "appointment_tomorrow" and view.status.name in FINISHED:
        sys.stderr.write(
            f"tracuu: warning: {code} has status {view.status.value} "
            f"({view.status.name.lower()}): it is finished, an appointment call may not fit\n"
        )
    notify_id = notification_id(args.kind, code, phone)
    store = await (IvrStore.open(settings.database) if db is None else IvrStore.create(db))
    try:
        added = await store.add_notification(notify_id, phone, code, args.kind, datetime.now(UTC))
    finally:
        await store.close()
    state = "queued" if added else "already queued"
    sys.stdout.write(f"{notify_id} {state}: {args.kind} {code} to {mask_msisdn(phone)}\n")
    return 0
