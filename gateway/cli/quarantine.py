"""``bccrm quarantine``: the messages the worker held back; see why, release or drop them."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from rich.cells import cell_len, set_cell_size

from gateway.app import App, login_actor
from gateway.cli.common import (
    CliError,
    actor_for,
    add_json_flag,
    open_app,
    printable,
    subcommand,
)
from gateway.config import Config
from gateway.services.quarantine import QuarantinedMessage, QuarantineError, QuarantineService

# Shown for characters a terminal could act on: C0/C1 controls (ESC starts escape sequences),
# lone surrogates, line separators and the bidirectional overrides that reorder text on screen.
COLUMN_LIMITS = (22, 16, 40, 40)  # id, held since, reason, from; the subject takes the rest

T = TypeVar("T")


def register(commands: Any) -> None:
    quarantine = subcommand(commands, "quarantine", "messages held back: why, release, drop")
    verbs = quarantine.add_subparsers(dest="quarantine_command", metavar="VERB", required=True)
    add_json_flag(subcommand(verbs, "list", "quarantined messages, longest held first", list_))
    show_parser = subcommand(verbs, "show", "why a message is held, and its headers", show)
    show_parser.add_argument("id")
    add_json_flag(show_parser)
    release_parser = subcommand(
        verbs, "release", "run a message through the pipeline again", release
    )
    release_parser.add_argument("id")
    _add_by(release_parser)
    drop_parser = subcommand(verbs, "drop", "delete a message for good", drop)
    drop_parser.add_argument("id")
    _add_by(drop_parser)
    drop_parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    replay_parser = subcommand(
        verbs, "replay", "release every quarantined message (after a rule change)", replay
    )
    _add_by(replay_parser)


def _add_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        metavar="EMAIL",
        help="registered user address recorded as the actor (default: cli:<login name>)",
    )


def list_(args: argparse.Namespace, config: Config) -> int:
    messages = _do(_service(open_app(config)).list)
    if args.json:
        _print_json([_jsonable(m) for m in messages])
    elif not messages:
        print("the quarantine is empty")
    else:
        _print_table(messages)
    return 0


def show(args: argparse.Namespace, config: Config) -> int:
    message = _do(lambda: _service(open_app(config)).show(args.id))
    if args.json:
        _print_json(_jsonable(message))
        return 0
    for label, value in _fields(message):
        print(f"{label:<12} {printable(value)}")
    print()
    print(printable(message.headers.replace("\r\n", "\n"), keep="\n\t"), end="")
    print("(body not shown)")
    return 0


def release(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = _service(app, actor_for(app, args.by), writes=True)
    new_id = _do(lambda: service.release(args.id))
    print(f"released {args.id}: queued again as {new_id}")
    return 0


def drop(args: argparse.Namespace, config: Config) -> int:
    if not args.yes and not sys.stdin.isatty():
        raise CliError("pass --yes to drop without asking", code=2)
    app = open_app(config)
    service = _service(app, actor_for(app, args.by))
    if not args.yes:
        message = _do(lambda: service.show(args.id))
        question = (
            f"drop {message.id} (held: {message.reason}; from {message.from_address or '-'}; "
            f"subject {message.subject or '-'}) for good? [y/N] "
        )
        if not _confirm(printable(question)):
            print("nothing dropped")
            return 1
    _do(lambda: service.drop(args.id))
    print(f"dropped {args.id}")
    return 0


def replay(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = _service(app, actor_for(app, args.by), writes=True)
    before = set(_do(app.spool.quarantined_ids))
    released = _do(service.replay)
    left = sorted(before & set(_do(app.spool.quarantined_ids)))
    print(f"released {len(released)} message(s)")
    if left:
        print(
            f"bccrm: {len(left)} message(s) could not be released and stay in quarantine "
            f"(see 'bccrm quarantine show ID'): {', '.join(left)}",
            file=sys.stderr,
        )
        return 1
    return 0


# -- helpers --------------------------------------------------------------------------------


def _service(app: App, actor: str = "", writes: bool = False) -> QuarantineService:
    if writes:
        _check_owner(app)
    return QuarantineService(app.spool, app.sessions, actor or login_actor())


def _check_owner(app: App) -> None:
    # Spool files are mode 0600: an entry released by root could not be read by the worker.
    try:
        owner = app.spool.root.stat().st_uid
    except OSError as exc:
        raise CliError(f"cannot use the spool {app.spool.root}: {exc.strerror}") from None
    if owner != os.geteuid():
        raise CliError(
            f"run this as the owner of the spool {app.spool.root} (uid {owner}), the user the "
            "worker runs as, so that the worker can read the released mail",
            code=2,
        )


def _do(operation: Callable[[], T]) -> T:
    try:
        return operation()
    except QuarantineError as exc:
        raise CliError(printable(str(exc))) from None
    except PermissionError as exc:
        raise CliError(
            f"{exc.strerror}: {exc.filename}; run as the user the worker runs as"
        ) from None


def _confirm(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _fields(message: QuarantinedMessage) -> list[tuple[str, str]]:
    received = _when(message.received_at) if message.received_at else "unknown"
    return [
        ("id", message.id),
        ("held since", _when(message.quarantined_at)),
        ("reason", message.reason),
        ("attempts", str(message.attempts)),
        ("received", received),
        ("mail from", message.mail_from or "<>"),
        ("recipients", ", ".join(message.rcpt_tos)),
        ("peer", message.peer or "-"),
        ("transport", message.transport or "-"),
        ("size", f"{message.size} bytes"),
        ("from", message.from_address or "-"),
        ("subject", message.subject or "-"),
    ]


def _print_table(messages: list[QuarantinedMessage]) -> None:
    rows = [["ID", "HELD SINCE", "REASON", "FROM", "SUBJECT"]]
    for m in messages:
        cells = [m.id, _when(m.quarantined_at), m.reason, m.from_address or "-", m.subject or "-"]
        rows.append([printable(cell) for cell in cells])
    widths = [
        min(limit, max(cell_len(row[i]) for row in rows)) for i, limit in enumerate(COLUMN_LIMITS)
    ]
    for row in rows:
        cells = [_fit(cell, width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]))


def _fit(text: str, width: int) -> str:
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _jsonable(message: QuarantinedMessage) -> dict[str, Any]:
    data = dataclasses.asdict(message)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def _print_json(data: Any) -> None:
    # ASCII-only, unlike print_json: JSON escapes C0 controls but not C1 (U+009B is a CSI to some
    # terminals) or bidi overrides, and these strings come from strangers' mail headers.
    json.dump(data, sys.stdout, indent=2, ensure_ascii=True)
    sys.stdout.write("\n")
