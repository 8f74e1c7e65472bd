"""``bccrm users``, ``contacts``, ``ingest`` and ``export``."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from gateway.cli.common import CliError, add_json_flag, open_app, print_json, subcommand
from gateway.config import Config
from gateway.crm.merge import MergeError, merge_contacts
from gateway.services.contacts import ContactService, CsvImportError
from gateway.services.export import export_all
from gateway.services.ingest import DryRunReport, IngestService, IngestSummary, open_sources
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
    ingest_parser.add_argument(
        "--reprocess",
        action="store_true",
        help="run messages an earlier ingest finished through the pipeline again "
        "(after a rule change; logged mail stays one email)",
    )
    ingest_parser.add_argument(
        "--no-progress", action="store_true", help="no progress bar or progress lines"
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
    summary = IngestSummary()
    work = service.simulate if args.dry_run else service.run
    try:
        with open_sources(args.paths) as sources, IngestProgress(len(sources), args) as progress:
            work(sources, summary, reprocess=args.reprocess, progress=progress.advance)
    except OSError as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        # Each message is one transaction (in a dry run: the whole run, rolled back), so an
        # interrupt loses at most the message in flight; its records make a re-run resume.
        done = "nothing was written" if args.dry_run else "run the same command to resume"
        print(
            f"bccrm: interrupted after {summary.done} of {summary.total} messages; {done}",
            file=sys.stderr,
        )
        return 130
    _report(args, summary)
    return 1 if summary.outcomes["failed"] else 0


class RateColumn(ProgressColumn):
    """Messages per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("-- msg/s" if speed is None else f"{speed:.1f} msg/s")


class IngestProgress:
    """A rich bar (count, rate, ETA) on a terminal; elsewhere a plain line every
    ``PLAIN_INTERVAL`` seconds and one at the end, for logs. Always on stderr."""

    PLAIN_INTERVAL = 10.0

    def __init__(self, total: int, args: argparse.Namespace) -> None:
        self.total, self.done, self.counts = total, 0, Counter[str]()
        self.console = Console(stderr=True)
        self.silent = args.no_progress
        self.bar: Progress | None = None
        if not self.silent and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.task = self.bar.add_task("dry run" if args.dry_run else "ingesting", total=total)
        self.started = self.last = time.monotonic()

    def __enter__(self) -> IngestProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif not self.silent and exc[0] is None:
            self._line("done")

    def advance(self, status: str) -> None:
        self.done += 1
        self.counts[status] += 1
        if self.bar is not None:
            self.bar.advance(self.task)
        elif not self.silent and time.monotonic() - self.last >= self.PLAIN_INTERVAL:
            self._line()

    def _line(self, state: str = "") -> None:
        self.last = now = time.monotonic()
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
        line = f"ingest: {self.done}/{self.total} messages ({counts or 'none'}), {rate:.1f} msg/s"
        if state:
            line += f", {state} in {elapsed:.0f} s"
        elif rate > 0:
            line += f", about {(self.total - self.done) / rate:.0f} s left"
        print(line, file=sys.stderr, flush=True)


def _report(args: argparse.Namespace, summary: IngestSummary) -> None:
    report = summary.dry_run
    if args.json:
        data: dict[str, Any] = {
            "messages": summary.total,
            "dry_run": args.dry_run,
            "skipped": summary.skipped,
            "outcomes": dict(summary.outcomes),
            "problems": [{"source": s, "problem": p} for s, p in summary.problems],
        }
        if report is not None:
            data["would"] = report.to_json()
        print_json(data)
        return
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.outcomes.items()))
    prefix = "dry run, nothing written: " if args.dry_run else ""
    skipped = f" ({summary.skipped} done before, skipped)" if summary.skipped else ""
    print(f"{prefix}{summary.total} messages{skipped}: {counts or 'none'}")
    if report is not None:
        _print_dry_run(report)
    for source, problem in summary.problems:
        print(f"{source}: {problem}", file=sys.stderr)


def _print_dry_run(report: DryRunReport) -> None:
    def kinds(counts: dict[str, int]) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "none"

    print("would create:")
    print(f"  contacts            {report.contacts_created}")
    print(f"  companies           {report.companies_created}")
    print(f"  associations        {kinds(report.associations)}")
    print(f"  review items        {kinds(report.review_items)}")
    print(f"  legal-basis checks  {report.legal_basis_checks}")
    print("privacy:")
    print(f"  dropped by rule     {kinds(report.privacy_drops)}")
    print(f"  other drops         {kinds(report.other_drops)}")
    print(f"  people left out     {report.people_left_out}")
    print(f"  redactions          {kinds(report.redactions)}")


def export(args: argparse.Namespace, config: Config) -> int:
    if not args.json:
        raise CliError("export writes JSON only: use 'bccrm export --json'", code=2)
    print_json(export_all(open_app(config).sessions))
    return 0
