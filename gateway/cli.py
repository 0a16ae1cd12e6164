"""The `tracuu` command: one parser; each package registers its own subcommands.

A package's `cli.py` exposes `register(subparsers)`; each subcommand sets
`handler(args, settings) -> int` (the exit code). Heavy imports stay inside the
handlers so `tracuu --help` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Protocol

from pydantic import ValidationError

from gateway.settings import Settings, load_settings
from peers import PeersExtraMissing

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
    demo.add_argument(
        "--traffic-per-min",
        type=float,
        default=3.0,
        help="simulated calls and SMS a minute through the real server (default 3; 0 = none)",
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

    if not settings.smpp.configured:
        # Demo mode's SMSC: without its extra, say so now in one line, not as a
        # component fault once the other components have started.
        import peers.smsc  # noqa: F401

    return run_demo(settings, count=args.count, traffic_per_min=max(args.traffic_per_min, 0.0))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from kernel.logs import setup_logging

    try:
        settings = load_settings(demo=args.command == "demo")
    except ValidationError as exc:
        print(f"tracuu: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    # Log times in the office's zone; text lines or JSON (settings.log_format).
    setup_logging(args.log_level, settings.zone, settings.log_format)
    handler: Handler = args.handler
    try:
        return run_to_closed_pipe(handler, args, settings)
    except PeersExtraMissing as exc:
        print(f"tracuu: {exc}", file=sys.stderr)
        return 2


def run_to_closed_pipe(handler: Handler, args: argparse.Namespace, settings: Settings) -> int:
    """Run a command; a reader that stops early (`tracuu sms outbox | head`) ends it quietly.

    The one place for every command: the write that meets the closed pipe raises
    BrokenPipeError wherever it is, and the command has nothing left to say to
    anyone, so it exits 0 without a traceback. stdout is pointed at /dev/null so
    the interpreter's own flush at exit cannot fail again (Python's documented
    recipe, docs.python.org/3/library/signal.html#note-on-sigpipe).
    """
    try:
        code = handler(args, settings)
        sys.stdout.flush()  # here, not at exit, where the failure could not be caught
    except BaseException as exc:
        if not _only_broken_pipes(exc):
            raise
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 0
    return code


def _only_broken_pipes(exc: BaseException) -> bool:
    """BrokenPipeError, or a group (asyncio.TaskGroup) of nothing else."""
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_broken_pipes(inner) for inner in exc.exceptions)
    return isinstance(exc, BrokenPipeError)


if __name__ == "__main__":
    sys.exit(main())
