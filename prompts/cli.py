"""`tracuu prompts …`: render placeholders, import/approve/roll back recordings, report
coverage, write this machine's sounds directory from the database (`sync`).

Handlers are `(args, settings) -> int`; exit status 0 on success, 1 when the
request was refused (with the reason on stderr), 2 when the sounds are incomplete
(`status`) so scripts and CI can test it. Every command works on the database
settings.database names (the same one every gateway uses) and imports an old JSON
manifest found beside the sounds once (prompts/legacy.py).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import pwd
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel.db import Database
    from prompts.database import PromptDb
    from prompts.render import RenderResult
    from prompts.settings import PromptsConfig
    from prompts.store import Store


@contextlib.contextmanager
def _opened(settings: PromptsConfig, database: Database | None = None) -> Iterator[Store]:
    """The installation's prompts: its database (an old JSON manifest imported first).
    `database`: the command's one Database, opened already; closed here with the rest."""
    from prompts.database import PromptDb
    from prompts.inventory import store_for
    from prompts.legacy import import_json

    db = PromptDb.open(settings.database) if database is None else PromptDb.adopt(database)
    try:
        store = store_for(settings.sounds, db)
        import_json(store)
        yield store
    finally:
        db.close()


def _current_user() -> str:
    # The OS account, not $USER: nothing but the settings reads the environment.
    return pwd.getpwuid(os.getuid()).pw_name


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("prompts", help="voice prompts: placeholders and recordings")
    sub = parser.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")

    render = sub.add_parser(
        "render",
        help="make TTS placeholders for prompts with no recording, catalog and dynamic (txt_*)",
    )
    render.add_argument(
        "--engine",
        choices=("espeak", "gtts"),
        help="espeak (offline) or gtts (online only); default: the sounds.engine setting",
    )
    render.set_defaults(handler=_render)

    status = sub.add_parser(
        "status",
        help="coverage: what each prompt plays, missing files (catalog and the data's texts)",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    imp = sub.add_parser("import", help="import a recording as a new draft version")
    imp.add_argument("prompt_id", metavar="PROMPT_ID")
    imp.add_argument("file", metavar="FILE", type=Path, help="WAV, MP3, OGG, WebM or M4A")
    imp.add_argument("--by", help="who recorded it (default: your login name)")
    imp.set_defaults(handler=_import)

    for name, text in (
        ("approve", "make a recorded version live"),
        ("rollback", "make an earlier version live again (0 = TTS placeholder)"),
    ):
        action = sub.add_parser(name, help=text)
        action.add_argument("prompt_id", metavar="PROMPT_ID")
        action.add_argument("version", metavar="VERSION", type=int)
        action.add_argument("--by", help="who decided (default: your login name)")
        action.set_defaults(handler=_approve if name == "approve" else _rollback)

    versions = sub.add_parser("versions", help="the versions of one prompt, and files to listen to")
    versions.add_argument("prompt_id", metavar="PROMPT_ID")
    versions.set_defaults(handler=_versions)

    sync = sub.add_parser(
        "sync",
        help="write the live prompts from the database into this machine's sounds directory "
        "(an Asterisk host without a gateway)",
    )
    sync.add_argument(
        "--follow", action="store_true", help="keep running: write every change as it is made"
    )
    sync.set_defaults(handler=_sync)

    export = sub.add_parser("export-script", help="every script and note, for a recording session")
    export.add_argument("--csv", action="store_true", help="CSV (UTF-8 with BOM, for Excel)")
    export.set_defaults(handler=_export)


def _scripts(store: Store) -> dict[str, str]:
    from prompts.inventory import scripts_for

    return {s.id: s.text for s in scripts_for(store.read())}


def _render(args: argparse.Namespace, settings: PromptsConfig) -> int:
    import asyncio

    from prompts.service import render_missing

    with _opened(settings) as store:
        result = render_missing(settings, engine=args.engine, db=store.db)
        print(f"placeholders: {result.summary()}")
        for prompt_id, reason in result.failed.items():
            print(f"  {prompt_id}: {reason}", file=sys.stderr)
        # The free texts answers speak (procedure and agency names, collection places, the
        # hours), from the data, by the same code path as the running gateway, on the
        # command's one Database.
        dynamic = asyncio.run(_render_dynamic(settings, args.engine, store.db))
    if dynamic is None:  # no data to read them from (said on stderr): the catalog is done
        return 1 if result.failed else 0
    print(f"dynamic prompts: {dynamic.summary()}")
    for prompt_id, reason in dynamic.failed.items():
        print(f"  {prompt_id}: {reason}", file=sys.stderr)
    return 1 if result.failed or dynamic.failed else 0


async def _render_dynamic(
    settings: PromptsConfig, engine: str | None, db: PromptDb
) -> RenderResult | None:
    from lookup.factory import open_lookup
    from lookup.port import LookupUnavailable
    from prompts.service import DossierTexts, refresh_dynamic

    if engine is not None:
        settings = settings.model_copy(
            update={"sounds": settings.sounds.model_copy(update={"engine": engine})}
        )
    try:
        async with open_lookup(settings, create=False, db=db.db) as lookup:
            return await refresh_dynamic(settings, lookup, DossierTexts(), db=db)
    except LookupUnavailable as exc:
        print(
            f"dynamic prompts not rendered: the dossier data is unavailable ({exc})",
            file=sys.stderr,
        )
        return None


async def _needed_dynamic(settings: PromptsConfig, db: Database | None) -> dict[str, str] | None:
    from lookup.factory import open_lookup
    from lookup.port import LookupUnavailable
    from prompts.service import needed_dynamic

    try:
        async with open_lookup(settings, create=False, db=db) as lookup:
            return await needed_dynamic(settings, lookup)
    except LookupUnavailable as exc:
        print(
            f"note: the dossier data is unavailable ({exc}): this report covers the catalog "
            "and the dynamic prompts rendered so far, not every text the data needs",
            file=sys.stderr,
        )
        return None


def _status(args: argparse.Namespace, settings: PromptsConfig) -> int:
    import asyncio

    from lookup.factory import try_open_database
    from prompts.inventory import inspect, scripts_for

    # One Database for the lookup and the prompts (None: the lookup says why not).
    database = asyncio.run(try_open_database(settings))
    # The dynamic texts the data needs count too: a missing one is a call's fallback.
    try:
        needed = asyncio.run(_needed_dynamic(settings, database))
    except BaseException:
        if database is not None:
            asyncio.run(database.close())
        raise
    with _opened(settings, database) as store:
        report = inspect(store, scripts_for(store.read(), needed=needed))
    if args.json:
        json.dump(report.to_dict(), sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        print(report.table())
    return 0 if report.ok else 2


def _import(args: argparse.Namespace, settings: PromptsConfig) -> int:
    from prompts.audio import Rejected, ToolFailed
    from prompts.recordings import import_recording

    try:
        with _opened(settings) as store:
            done = import_recording(
                store,
                settings.sounds,
                _scripts(store),
                args.prompt_id,
                args.file,
                by=args.by or _current_user(),
            )
    except Rejected as exc:
        print(f"tracuu prompts import: {args.file} refused: {exc}", file=sys.stderr)
        return 1
    except ToolFailed as exc:
        print(f"tracuu prompts import: {exc}", file=sys.stderr)
        return 1
    v = done.version
    print(
        f"{done.prompt_id} v{v.number}: draft, {v.duration_s:.1f} s after trimming "
        f"{done.levels.lead_s:.1f} s + {done.levels.trail_s:.1f} s of silence; "
        f"level {v.rms_dbfs:.1f} dBFS RMS (gain {v.gain_db:+.1f} dB)"
    )
    print(f"listen: {done.listen}")
    print(f"then:   tracuu prompts approve {done.prompt_id} {v.number}")
    return 0


def _switch(args: argparse.Namespace, settings: PromptsConfig, rule: str) -> int:
    from prompts.recordings import approve_version, rollback_version
    from prompts.store import StoreError
    from prompts.versions import Refused

    change = approve_version if rule == "approve" else rollback_version
    try:
        with _opened(settings) as store:
            outcome = change(store, args.prompt_id, args.version, by=args.by or _current_user())
            script = _scripts(store).get(args.prompt_id)
    except (StoreError, ValueError) as exc:
        print(f"tracuu prompts {rule}: {exc}", file=sys.stderr)
        return 1
    if isinstance(outcome, Refused):
        print(f"tracuu prompts {rule}: {outcome.reason}", file=sys.stderr)
        return 1
    print(f"{args.prompt_id}: v{args.version} is live")
    live = outcome.live_version
    if live is not None and script is not None and live.text != script:
        print(
            f"warning: v{args.version} speaks an older script; the catalog now says: {script}",
            file=sys.stderr,
        )
    return 0


def _approve(args: argparse.Namespace, settings: PromptsConfig) -> int:
    return _switch(args, settings, "approve")


def _rollback(args: argparse.Namespace, settings: PromptsConfig) -> int:
    return _switch(args, settings, "rollback")


def _versions(args: argparse.Namespace, settings: PromptsConfig) -> int:
    from kernel.times import iso_for_people
    from prompts.history import describe
    from prompts.store import StoreError
    from prompts.versions import state

    with _opened(settings) as store:
        record = store.record(args.prompt_id)
        if not record.versions:
            print(f"{args.prompt_id}: no versions (not rendered or recorded yet)", file=sys.stderr)
            return 1
        for v in record.versions:
            try:  # to listen to, on this machine (fetched if another gateway made it)
                path = str(store.local_file(args.prompt_id, v))
            except (StoreError, OSError) as exc:
                path = f"(no file: {exc})"
            who = v.by if v.source == "recording" else f"{v.engine} {v.voice}"
            origin = f" from {v.file_name}" if v.file_name else ""
            print(
                f"v{v.number:<3} {state(record, v.number):<11} "
                f"{iso_for_people(v.created_at, settings.zone)}  {who}{origin}, "
                f"{v.duration_s:.1f} s  {path}"
            )
    for event in record.history[-10:]:  # the steps in Vietnamese (prompts/history.py)
        print(f"  {iso_for_people(event.at, settings.zone)} {describe(event)}")
    return 0


def _sync(args: argparse.Namespace, settings: PromptsConfig) -> int:
    import asyncio

    from prompts.materialise import Materialiser

    if args.follow:
        asyncio.run(_follow(settings))
        return 0
    with _opened(settings) as store:
        done = Materialiser(store).sync()
    print(
        f"{store.live_dir}: {len(done.written)} prompts written from the database "
        f"(generation {done.generation}), {len(done.failed)} failed"
    )
    for prompt_id, reason in done.failed.items():
        print(f"  {prompt_id}: {reason}", file=sys.stderr)
    return 1 if done.failed else 0


async def _follow(settings: PromptsConfig) -> None:
    import asyncio
    import signal

    from kernel.db import Database
    from prompts.database import PromptDb, migrate
    from prompts.inventory import store_for
    from prompts.materialise import Materialiser, follow

    database = await Database.open(settings.database)
    try:
        await migrate(database)
        store = store_for(settings.sounds, PromptDb(database))
        task = asyncio.ensure_future(follow(database, Materialiser(store)))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await database.close()


def _export(args: argparse.Namespace, settings: PromptsConfig) -> int:
    from prompts.inventory import inspect, scripts_for

    with _opened(settings) as store:
        scripts = scripts_for(store.read())
        rows = {r.prompt_id: r for r in inspect(store, scripts).rows}
    if args.csv:
        sys.stdout.write("\ufeff")  # Excel opens UTF-8 Vietnamese correctly only with a BOM
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["prompt_id", "group", "script", "note", "live"])
        for s in scripts:
            writer.writerow([s.id, s.group, s.text, s.note, rows[s.id].source])
        return 0
    # Printed for the staff who record: in their words (the ids stay, to name the files).
    print("Kịch bản thu âm tổng đài tra cứu hồ sơ: đọc đúng từng chữ như viết; mỗi mã một tệp")
    print()
    for number, s in enumerate(scripts, 1):
        now = _HEARD_NOW.get(rows[s.id].source, rows[s.id].source)
        print(f"{number}. [{s.id}] (người gọi đang nghe: {now})")
        print(f"   {s.text}")
        if s.note:
            print(f"   Ghi chú: {s.note}")
        print()
    return 0


# What callers hear now, as the prompt studio says it.
_HEARD_NOW = {"recorded": "bản thu", "tts": "giọng máy (tạm)", "missing": "chưa có"}
