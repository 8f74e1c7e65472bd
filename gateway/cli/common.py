"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from typing import Any

from gateway.addresses import normalize_address
from gateway.app import App, build_app, login_actor
from gateway.config import Config
from gateway.crm import repo
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


REPLACEMENT = "\ufffd"
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def printable(text: str, keep: str = "") -> str:
    """``text`` with every character a terminal could act on replaced by U+FFFD."""
    return "".join(
        ch
        if ch in keep
        or (unicodedata.category(ch) not in _UNSAFE_CATEGORIES and ch not in _BIDI_CONTROLS)
        else REPLACEMENT
        for ch in text
    )


def actor_for(app: App, by: str | None) -> str:
    """``--by`` (a registered user address) or ``cli:<login name>``."""
    if by is None:
        return login_actor()
    address = normalize_address(by)
    if address is not None:
        with app.sessions() as session:
            if repo.user_by_address(session, address) is not None:
                return address
    raise CliError(
        f"--by {printable(by)}: not a registered user address (see 'bccrm users list')", code=2
    )
