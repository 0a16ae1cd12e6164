"""Subcommands of the console: its accounts.

    tracuu user add NAME --role admin     password asked twice (or one line on stdin)
    tracuu user list
    tracuu user passwd NAME               a new password; the user's sessions end
    tracuu user role NAME --role editor
    tracuu user disable NAME              sessions end at once; `enable` undoes it

Roles: operator (watch, look up, try), editor (also record, approve, roll back
prompts), admin (also users, settings, exports). Every change is in the audit
log as done by "cli". Exit codes: 0 done, 1 refused (exists, no such user, weak
password), 2 bad usage, 3 the database does not exist (`tracuu db init` first).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from console.settings import ConsoleConfig
from kernel.db import Location


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = subparsers.add_parser("user", help="console accounts: add, list, passwd, disable")
    sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")

    add = sub.add_parser("add", help="create a console account")
    add.add_argument("name")
    add.add_argument(
        "--role", default="operator", help="operator, editor or admin (default operator)"
    )
    add.set_defaults(handler=_add)

    sub.add_parser("list", help="every account with its role").set_defaults(handler=_list)

    passwd = sub.add_parser("passwd", help="set a new password (ends the user's sessions)")
    passwd.add_argument("name")
    passwd.set_defaults(handler=_passwd)

    role = sub.add_parser("role", help="change an account's role")
    role.add_argument("name")
    role.add_argument("--role", required=True, help="operator, editor or admin")
    role.set_defaults(handler=_role)

    for action, text in (("disable", "disable an account now"), ("enable", "enable it again")):
        command = sub.add_parser(action, help=text)
        command.add_argument("name")
        command.set_defaults(handler=_disable if action == "disable" else _enable)


def accounts_path(settings: ConsoleConfig) -> Location:
    """Console accounts live with every other store (SQLite file or PostgreSQL)."""
    return settings.database


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Mật khẩu (password): ")
        again = getpass.getpass("Nhập lại (again): ")
        if first != again:
            raise ValueError("Hai lần nhập không khớp (the passwords differ).")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _run(settings: ConsoleConfig, work: str, args: argparse.Namespace) -> int:
    from console.accounts import AccountStore, NoSuchUser, UserExists
    from console.passwords import WeakPassword, hash_password_blocking
    from console.roles import Role

    path = accounts_path(settings)
    if settings.database_is_sqlite and not settings.sqlite_path.exists():
        print(
            f"tracuu: {path} does not exist; create it with `tracuu db init` first",
            file=sys.stderr,
        )
        return 3

    async def main() -> int:
        store = await AccountStore.open(path)
        try:
            if work == "list":
                for user in await store.users():
                    state = "disabled" if user.disabled else "active"
                    print(f"{user.name}\t{user.role.key}\t{state}")
                return 0
            if work == "add":
                role = Role.parse(args.role)
                hashed = await asyncio.to_thread(hash_password_blocking, _read_password())
                await store.add_user(args.name, role, hashed)
                await store.audit("cli", "user.add", args.name, {"role": role.key})
                print(f"added {args.name} ({role.key})")
            elif work == "passwd":
                hashed = await asyncio.to_thread(hash_password_blocking, _read_password())
                await store.set_password(args.name, hashed)
                await store.audit("cli", "user.password", args.name)
                print(f"new password for {args.name}; their sessions have ended")
            elif work == "role":
                role = Role.parse(args.role)
                await store.set_role(args.name, role)
                await store.audit("cli", "user.role", args.name, {"role": role.key})
                print(f"{args.name} is now {role.key}")
            else:
                await store.set_disabled(args.name, work == "disable")
                await store.audit("cli", f"user.{work}", args.name)
                print(f"{args.name} {work}d")
            return 0
        except (UserExists, NoSuchUser, WeakPassword, ValueError) as exc:
            print(f"tracuu: {exc}", file=sys.stderr)
            return 1
        finally:
            await store.close()

    return asyncio.run(main())


def _add(args: argparse.Namespace, settings: ConsoleConfig) -> int:
    return _run(settings, "add", args)


def _list(args: argparse.Namespace, settings: ConsoleConfig) -> int:
    return _run(settings, "list", args)


def _passwd(args: argparse.Namespace, settings: ConsoleConfig) -> int:
    return _run(settings, "passwd", args)


def _role(args: argparse.Namespace, settings: ConsoleConfig) -> int:
    return _run(settings, "role", args)


def _disable(args: argparse.Namespace, settings: ConsoleConfig) -> int:
    return _run(settings, "disable", args)


def _enable(args: argparse.Namespace, settings: ConsoleConfig) -> int:
    return _run(settings, "enable", args)
