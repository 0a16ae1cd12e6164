"""Subcommands of the lookup package: lookup, import, demo-data, db init.

Exit codes of `tracuu lookup`: 0 found, 1 not found, 2 invalid code (the
reason on stderr), 3 the dossier store cannot answer. `tracuu import`: 0 every
row stored, 1 some rows rejected (the others are stored), 2 the file cannot be
read, 3 the database cannot be written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import date, datetime
from pathlib import Path

from lookup.settings import LookupConfig

FOUND, NOT_FOUND, INVALID, UNAVAILABLE = 0, 1, 2, 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lookup = subparsers.add_parser(
        "lookup", help="show the public status of a dossier (what a code alone may reveal)"
    )
    lookup.add_argument("code", nargs="?", help="dossier code, e.g. 000.00.18.H26-241129-0001")
    lookup.add_argument("--keypad", metavar="DIGITS", help="YYMMDD + sequence, as a caller keys")
    lookup.add_argument("--json", action="store_true", help="print JSON instead of text")
    lookup.set_defaults(handler=_lookup)

    load = subparsers.add_parser("import", help="import dossiers from a CSV or .xlsx export")
    load.add_argument("file", type=Path)
    load.set_defaults(handler=_import)

    demo = subparsers.add_parser("demo-data", help="store realistic demo dossiers and procedures")
    demo.add_argument("--count", type=int, default=200, help="random dossiers (default 200)")
    demo.add_argument("--seed", type=int, default=1, help="same seed, same dossiers (default 1)")
    demo.set_defaults(handler=_demo_data)

    db = subparsers.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    init = db_sub.add_parser("init", help="create or upgrade the lookup tables")
    init.set_defaults(handler=_db_init)


def _today(settings: LookupConfig) -> date:
    return datetime.now(settings.zone).date()


def _lookup(args: argparse.Namespace, settings: LookupConfig) -> int:
    if (args.code is None) == (args.keypad is None):
        print("tracuu lookup: give a CODE or --keypad DIGITS (one of them)", file=sys.stderr)
        return INVALID
    return asyncio.run(_lookup_async(args, settings))


async def _lookup_async(args: argparse.Namespace, settings: LookupConfig) -> int:
    from lookup.codes import InvalidCode
    from lookup.factory import open_lookup
    from lookup.port import LookupUnavailable
    from lookup.public import as_json, as_text

    today = _today(settings)
    try:
        # A reader never creates the file: a mistyped path is exit 3, not "not found".
        async with open_lookup(settings, create=False) as lookup:
            if args.keypad is not None:
                views = await lookup.by_keypad_digits(args.keypad)
            else:
                found = await lookup.by_code(args.code)
                views = [] if found is None else [found]
    except InvalidCode as exc:
        print(f"tracuu lookup: invalid code ({exc.reason.value}): {exc.message}", file=sys.stderr)
        return INVALID
    except LookupUnavailable as exc:
        print(f"tracuu lookup: the dossier store cannot answer: {exc}", file=sys.stderr)
        return UNAVAILABLE
    if not views:
        asked = args.code if args.keypad is None else args.keypad
        print(f"Không tìm thấy hồ sơ {asked}.", file=sys.stderr)
        return NOT_FOUND
    if args.json:
        objects = [as_json(view, today) for view in views]
        body = objects if args.keypad is not None else objects[0]
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        if len(views) > 1:
            print(f"Có {len(views)} hồ sơ khớp với {args.keypad}:\n")
        print("\n\n".join(as_text(view, today) for view in views))
    return FOUND


def _import(args: argparse.Namespace, settings: LookupConfig) -> int:
    if not args.file.is_file():
        print(f"tracuu import: no such file: {args.file}", file=sys.stderr)
        return 2
    return asyncio.run(_import_async(args.file, settings))


async def _import_async(path: Path, settings: LookupConfig) -> int:
    from lookup.factory import open_store
    from lookup.importer import UnreadableFile, import_file
    from lookup.port import LookupUnavailable

    try:
        async with open_store(settings) as store:
            report = await import_file(path, store)
    except (UnreadableFile, OSError) as exc:
        print(f"tracuu import: {exc}", file=sys.stderr)
        return 2
    except LookupUnavailable as exc:
        print(f"tracuu import: {exc}", file=sys.stderr)
        return 3
    # The office worker who exported the file reads this: Vietnamese, counts grouped
    # with dots (1.234; lookup sits below messages/, so the grouping is spelt here).
    if report.encoding not in ("utf-8", "utf-8-sig", "xlsx"):
        print(f"lưu ý: {path.name} không phải UTF-8; đã đọc theo bảng mã {report.encoding}")
    if report.ignored_columns:
        print("bỏ qua các cột: " + ", ".join(report.ignored_columns))
    kinds = {"rejected": "bị loại", "warning": "cảnh báo"}
    for line, kind, reason in report.messages():
        print(f"dòng {line}: {kinds[kind]}: {reason}")
    print(
        f"{path.name}: đọc {_count(report.read)} dòng, lưu {_count(report.stored)}, "
        f"loại {_count(len(report.rejected))}, {_count(len(report.warnings))} cảnh báo "
        f"(cơ sở dữ liệu {_where(settings)})"
    )
    return 1 if report.rejected else 0


def _count(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _demo_data(args: argparse.Namespace, settings: LookupConfig) -> int:
    if args.count < 0:
        print("tracuu demo-data: --count cannot be negative", file=sys.stderr)
        return 2
    return asyncio.run(_demo_async(args, settings))


async def _demo_async(args: argparse.Namespace, settings: LookupConfig) -> int:
    from lookup import demo
    from lookup.factory import open_store
    from lookup.port import LookupUnavailable

    today = _today(settings)
    agencies = [agency.id for agency in settings.agencies]
    try:
        async with open_store(settings) as store:
            procedures = await store.upsert_procedures(demo.procedures())
            fixed = await store.upsert_dossiers(demo.fixed_dossiers(today))
            generated = await store.upsert_dossiers(
                demo.generate(args.count, today=today, agencies=agencies, seed=args.seed)
            )
    except LookupUnavailable as exc:
        print(f"tracuu demo-data: {exc}", file=sys.stderr)
        return 3
    print(
        f"{fixed} fixed and {generated} generated demo dossiers, {procedures} procedures "
        f"in {_where(settings)}; try: tracuu lookup {demo.FIXED_CODE}"
    )
    return 0


def _db_init(args: argparse.Namespace, settings: LookupConfig) -> int:
    return asyncio.run(_db_init_async(settings))


async def _db_init_async(settings: LookupConfig) -> int:
    from lookup.factory import open_store
    from lookup.port import LookupUnavailable
    from lookup.sqlite import STEPS

    try:
        async with open_store(settings):
            pass
    except LookupUnavailable as exc:
        print(f"tracuu db init: {exc}", file=sys.stderr)
        return 3
    print(f"{_where(settings)}: lookup schema at version {len(STEPS)}")
    return 0


def _where(settings: LookupConfig) -> str:
    """The database for messages: the SQLite path, or the PostgreSQL URL without a password."""
    if settings.database_is_sqlite:
        return str(settings.sqlite_path)
    from urllib.parse import urlsplit

    parts = urlsplit(settings.database.get_secret_value())
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}{parts.path}"
