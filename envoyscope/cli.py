"""Command line entry point: ``envoyscope <command> SOURCE… [options]``.

Each command lives in its own ``envoyscope/cli_*.py`` module exposing ``register(subparsers)``; the module sets
``func`` on its parser. Every user error is an `EnvoyscopeError`: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from envoyscope import __version__
from envoyscope.errors import EnvoyscopeError

# Commands in the order `--help` lists them; a module not written yet is skipped.
COMMAND_MODULES = (
    "envoyscope.cli_summary",
    "envoyscope.cli_trace",
    "envoyscope.cli_authz",
    "envoyscope.cli_verify",
    "envoyscope.cli_egress",
    "envoyscope.cli_ztunnel",
    "envoyscope.cli_diff",
    "envoyscope.cli_capture",
    "envoyscope.cli_pods",
    "envoyscope.cli_tui",
    "envoyscope.cli_demo",
)


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other error (its subcommands' parsers too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"envoyscope: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="envoyscope",
        description="See what every Envoy on a request's path will do with it, and why.",
    )
    parser.add_argument("--version", action="version", version=f"envoyscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # a command not written yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv and sys.stdin.isatty() and sys.stdout.isatty():
        argv = ["tui"]  # `envoyscope` alone, in a terminal, opens the interface
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said with the command's name, whose --help lists what it takes
        command = getattr(args, "command", None)
        prog = f"envoyscope {command}" if command else "envoyscope"
        parser.exit(2, f"envoyscope: error: {prog} does not take {' '.join(extra)} (see `{prog} --help`)\n")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        from envoyscope.cli_common import check_arguments

        check_arguments(args)
        return int(args.func(args) or 0)
    except EnvoyscopeError as exc:
        print(f"envoyscope: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        sys.stderr.close()  # output piped into `head`: not an error
        return 0
    except KeyboardInterrupt:
        return 130
