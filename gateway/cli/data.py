"""``bccrm users``, ``contacts``, ``ingest`` and ``export``."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gateway.cli.common import CliError, add_json_flag, open_app, print_json, subcommand
from gateway.config import Config
from gateway.crm.merge import MergeError, merge_contacts
from gateway.services.contacts import ContactService, CsvImportError
from gateway.services.export import export_all
from gateway.services.ingest import IngestService, IngestSummary, Source, open_sources
from gateway.services.users import CredentialService, UserError, UserService
from gateway.smtp.routing import TOKEN_TAG, Router


def register(commands: Any) -> None:
    users = subcommand(commands, "users", "reps and admins who log mail")
    verbs = users.add_subparsers(dest="users_command", metavar="VERB", required=True)
    add = subcommand(verbs, "add", "register a user and the addresses they send from", users_add)
    add.add_argument("email")
    add.add_argument("--name", required=True)
    add.add_argument(
        "--alias",
        action="append",
        default=[],
        metavar="EMAIL",
        help="another address of the same user (repeatable)",
    )
    add.add_argument("--admin", action="store_true", help="may use the admin tools")
    add_json_flag(subcommand(verbs, "list", "list users", users_list))
    password = subcommand(
        verbs, "set-password", "set the SMTP AUTH password of a user", users_set_password
    )
    password.add_argument("email")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of asking",
    )
    token = subcommand(verbs, "token", "show a user's secret logging address", users_token)
    token.add_argument("email")
    token.add_argument(
        "--rotate", action="store_true", help="replace the secret; the old address stops working"
    )

    contacts = subcommand(commands, "contacts", "CRM contacts")
    verbs = contacts.add_subparsers(dest="contacts_command", metavar="VERB", required=True)
    imp = subcommand(
        verbs, "import", "import contacts from CSV (idempotent on email)", contacts_import
    )
    imp.add_argument("file", type=Path)
    add_json_flag(imp)
    add_json_flag(subcommand(verbs, "list", "list contacts", contacts_list))
    merge = subcommand(
        verbs, "merge", "merge contact OTHER into KEEP (same person)", contacts_merge
    )
    merge.add_argument("keep", type=int, metavar="KEEP", help="id of the contact that stays")
    merge.add_argument("other", type=int, metavar="OTHER", help="id of the contact merged away")
    add_json_flag(merge)

    ingest_parser = subcommand(
        commands,
        "ingest",
        "run .eml files, directories, mbox or Maildir through the pipeline",
        ingest,
    )
    ingest_parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest_parser.add_argument(
        "--rcpt",
        metavar="ADDR",
        help="logging address or team-inbox route the mail is treated as sent to "
        "(default: the first logging address)",
    )
    ingest_parser.add_argument(
        "--dry-run", action="store_true", help="show what would happen; write nothing"
    )
    add_json_flag(ingest_parser)

    export_parser = subcommand(commands, "export", "the CRM as one JSON document", export)
    add_json_flag(export_parser)


def users_add(args: argparse.Namespace, config: Config) -> int:
    service = UserService(open_app(config).sessions)
    try:
        user = service.add(args.email, args.name, tuple(args.alias), args.admin)
    except UserError as exc:
        raise CliError(str(exc)) from None
    print(f"user {user.id} added: {user.name} <{', '.join(user.emails)}>")
    return 0


def users_set_password(args: argparse.Namespace, config: Config) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise CliError("the passwords differ")
    else:
        raise CliError("no terminal to ask on: pass --password-stdin", code=2)
    try:
        CredentialService(open_app(config).sessions).set_password(args.email, password)
    except UserError as exc:
        raise CliError(str(exc)) from None
    print(f"password set for {args.email}")
    return 0


def users_token(args: argparse.Namespace, config: Config) -> int:
    try:
        token = CredentialService(open_app(config).sessions).token(args.email, args.rotate)
    except UserError as exc:
        raise CliError(str(exc)) from None
    local, _, domain = config.logging.addresses[0].partition("@")
    print(f"{local}+{TOKEN_TAG}{token}@{domain}")
    return 0


def users_list(args: argparse.Namespace, config: Config) -> int:
    users = UserService(open_app(config).sessions).list()
    if args.json:
        print_json([dataclasses.asdict(u) for u in users])
    else:
        for user in users:
            role = " (admin)" if user.is_admin else ""
            print(f"{user.id:>5}  {user.name}{role}  {', '.join(user.emails)}")
    return 0


def contacts_import(args: argparse.Namespace, config: Config) -> int:
    service = ContactService(open_app(config).sessions, config.organization)
    try:
        result = service.import_csv(args.file)
    except CsvImportError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        print(
            f"{result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {len(result.errors)} rejected"
        )
        for line, problem in result.errors:
            print(f"{args.file}:{line}: {problem}", file=sys.stderr)
    return 1 if result.errors else 0


def contacts_list(args: argparse.Namespace, config: Config) -> int:
    contacts = ContactService(open_app(config).sessions, config.organization).list()
    if args.json:
        print_json([dataclasses.asdict(c) for c in contacts])
    else:
        for c in contacts:
            print(f"{c.id:>6}  {c.name or '-':30}  {', '.join(c.emails)}")
    return 0


def contacts_merge(args: argparse.Namespace, config: Config) -> int:
    try:
        with open_app(config).sessions.begin() as session:
            result = merge_contacts(session, args.keep, args.other, actor="cli")
    except MergeError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        print(
            f"merged contact {result.other_id} into {result.keep_id}: "
            f"{result.emails_moved} emails, {result.phones_moved} phones, "
            f"{result.associations_moved} timeline entries"
        )
    return 0


def ingest(args: argparse.Namespace, config: Config) -> int:
    rcpt = args.rcpt or config.logging.addresses[0]
    if not Router(config.logging.addresses, (), config.team_inboxes).is_gateway_address(rcpt):
        raise CliError(
            f"--rcpt {rcpt}: not a configured logging address or team-inbox route", code=2
        )
    service = IngestService(open_app(config).processor(), rcpt)
    try:
        with open_sources(args.paths) as sources:
            summary = _ingest_all(service, sources, dry_run=args.dry_run, quiet=args.json)
    except OSError as exc:
        raise CliError(str(exc)) from None
    _report(args, summary)
    return 1 if summary.outcomes["failed"] else 0


def _ingest_all(
    service: IngestService, sources: list[Source], dry_run: bool, quiet: bool
) -> IngestSummary:
    summary = IngestSummary(total=len(sources))
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(
        *columns, console=console, transient=True, disable=quiet or not console.is_terminal
    ) as progress:
        task = progress.add_task("ingesting", total=len(sources))
        for source in sources:
            try:
                outcome = service.ingest(source, dry_run=dry_run)
            except (OSError, ValueError) as exc:
                summary.outcomes["failed"] += 1
                summary.problems.append((source.label, f"unreadable ({type(exc).__name__})"))
            else:
                summary.outcomes[outcome.status] += 1
                if outcome.status == "held":
                    summary.problems.append((source.label, f"held: {outcome.reason}"))
            progress.advance(task)
    return summary


def _report(args: argparse.Namespace, summary: IngestSummary) -> None:
    total = summary.total
    if args.json:
        print_json(
            {
                "messages": total,
                "dry_run": args.dry_run,
                "outcomes": dict(summary.outcomes),
                "problems": [{"source": s, "problem": p} for s, p in summary.problems],
            }
        )
        return
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.outcomes.items()))
    prefix = "dry run, nothing written: " if args.dry_run else ""
    print(f"{prefix}{total} messages: {counts or 'none'}")
    for source, problem in summary.problems:
        print(f"{source}: {problem}", file=sys.stderr)


def export(args: argparse.Namespace, config: Config) -> int:
    if not args.json:
        raise CliError("export writes JSON only: use 'bccrm export --json'", code=2)
    print_json(export_all(open_app(config).sessions))
    return 0
