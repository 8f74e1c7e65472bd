"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gateway.app import App, build_app
from gateway.config import Config
from gateway.crm.db import check_schema


class CliError(Exception):
    """A failure the user can act on; printed without a traceback."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


# Apps opened by the running command; main() disposes of their engines when it ends, so no
# database connection outlives a command (PostgreSQL would log them as dropped).
_opened: list[App] = []


def open_app(config: Config, check: bool = True) -> App:
    """The app, with the schema checked so commands fail early with advice."""
    app = build_app(config)
    _opened.append(app)
    if check:
        check_schema(app.engine)
    return app


def close_apps() -> None:
    while _opened:
        _opened.pop().close()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def subcommand(
    commands: Any, name: str, help_text: str, handler: Any = None
) -> argparse.ArgumentParser:
    """A sub-command parser; ``--config`` is accepted after the verb too."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help_text, description=help_text
    )
    parser.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (ids, limits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
