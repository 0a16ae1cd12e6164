"""The `tracuu` command: one parser; each package registers its own subcommands.

A package's `cli.py` exposes `register(subparsers)`; each subcommand sets
`handler(args, settings) -> int` (the exit code). Heavy imports stay inside the
handlers so `tracuu --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from pydantic import ValidationError

from gateway.settings import Settings, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]

# Packages that add subcommands, in --help order. A package without cli.py yet is skipped.
COMMAND_PACKAGES = ("lookup", "ivr", "sms", "prompts", "console")


class _Registrar(Protocol):
    def __call__(self, subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracuu", description="IVR and SMS dossier status gateway for one-stop offices."
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run every configured component")
    serve.set_defaults(handler=_serve)
    demo = sub.add_parser(
        "demo", help="run the gateway on demo dossiers, with local stand-ins for what is not set"
    )
    demo.add_argument(
        "--count", type=int, default=200, help="demo dossiers to create (default 200)"
    )
    demo.set_defaults(handler=_demo)

    for package in COMMAND_PACKAGES:
        try:
            module = importlib.import_module(f"{package}.cli")
        except ModuleNotFoundError as exc:
            if exc.name not in (package, f"{package}.cli"):
                raise
            continue
        register: _Registrar = module.register
        register(sub)
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import run

    return run(settings)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.app import run_demo

    return run_demo(settings, count=args.count)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from gateway.logs import setup_logging

    setup_logging(args.log_level)
    try:
        settings = load_settings(demo=args.command == "demo")
    except ValidationError as exc:
        print(f"tracuu: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    handler: Handler = args.handler
    return handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())
