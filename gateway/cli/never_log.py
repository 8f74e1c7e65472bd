"""``bccrm never-log``: addresses and domains that are never logged."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from gateway.cli.common import CliError, add_json_flag, open_app, print_json, subcommand
from gateway.config import Config
from gateway.services.never_log import NeverLogError, NeverLogService


def register(commands: Any) -> None:
    parser = subcommand(
        commands, "never-log", "addresses and domains never logged (org-wide or per user)"
    )
    verbs = parser.add_subparsers(dest="never_log_command", metavar="VERB", required=True)
    for name, handler, text in (
        ("add", add, "never log this address or domain"),
        ("remove", remove, "take an address or domain off the list"),
    ):
        verb = subcommand(verbs, name, text, handler)
        verb.add_argument(
            "value", metavar="VALUE", help="anna@example.com, example.com or @example.com"
        )
        verb.add_argument("--user", metavar="EMAIL", help="the list of this user's mail only")
    listing = subcommand(verbs, "list", "show a list (org-wide unless --user or --all)", list_)
    listing.add_argument("--user", metavar="EMAIL", help="this user's list")
    listing.add_argument("--all", action="store_true", help="every list")
    add_json_flag(listing)


def _service(config: Config) -> NeverLogService:
    return NeverLogService(open_app(config).sessions)


def add(args: argparse.Namespace, config: Config) -> int:
    try:
        entry, created = _service(config).add(args.value, args.user)
    except NeverLogError as exc:
        raise CliError(str(exc)) from None
    where = "for every user" if entry.scope == "org" else f"for mail of {entry.scope}"
    state = "added" if created else "already listed"
    print(f"never-log {entry.kind} {entry.value} {where}: {state}")
    return 0


def remove(args: argparse.Namespace, config: Config) -> int:
    try:
        removed = _service(config).remove(args.value, args.user)
    except NeverLogError as exc:
        raise CliError(str(exc)) from None
    if not removed:
        raise CliError(f"{args.value} is not on that never-log list")
    print(f"removed {args.value}")
    return 0


def list_(args: argparse.Namespace, config: Config) -> int:
    try:
        entries = _service(config).list(args.user, everything=args.all)
    except NeverLogError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(
            [dataclasses.asdict(e) | {"created_at": e.created_at.isoformat()} for e in entries]
        )
        return 0
    for entry in entries:
        print(f"{entry.scope:<28} {entry.kind:<8} {entry.value}")
    if not entries:
        print("(empty)")
    return 0
