"""``bccrm erase``, ``bccrm export-subject`` and ``bccrm retention run``: a person's rights
(GDPR/RODO Art. 17 and 15) and storage limitation."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.addresses import normalize_address
from gateway.app import login_actor
from gateway.cli.common import (
    CliError,
    add_json_flag,
    open_app,
    print_json,
    printable,
    subcommand,
)
from gateway.config import Config
from gateway.services.erasure import REPORT_LINES as ERASE_LINES
from gateway.services.erasure import ErasureError, ErasureReport, ErasureService
from gateway.services.retention import RetentionReport, RetentionService

T = TypeVar("T")


def register(commands: Any) -> None:
    erase_parser = subcommand(
        commands, "erase", "erase a person from the CRM (GDPR/RODO Art. 17)", erase
    )
    erase_parser.add_argument("email", metavar="EMAIL", help="any address of the person")
    erase_parser.add_argument(
        "--dry-run", action="store_true", help="say what would be removed, change nothing"
    )
    add_json_flag(erase_parser)
    export_parser = subcommand(
        commands,
        "export-subject",
        "everything held about a person, as JSON (GDPR/RODO Art. 15)",
        export_subject,
    )
    export_parser.add_argument("email", metavar="EMAIL", help="any address of the person")
    add_json_flag(export_parser)  # accepted for symmetry: the output is always JSON
    retention = subcommand(commands, "retention", "apply the [retention] periods")
    verbs = retention.add_subparsers(dest="retention_command", metavar="VERB", required=True)
    run_parser = subcommand(
        verbs, "run", "clear old bodies, delete old emails and quarantined messages", run
    )
    run_parser.add_argument(
        "--dry-run", action="store_true", help="count what would go, change nothing"
    )
    add_json_flag(run_parser)


# -- commands -------------------------------------------------------------------------------------


def erase(args: argparse.Namespace, config: Config) -> int:
    address = _address(args.email)
    app = open_app(config)
    service = ErasureService(app.sessions, app.spool, config, actor=login_actor())
    report = _do(lambda: service.erase(address, dry_run=args.dry_run))
    if args.json:
        print_json(report.to_json())
        return 0
    print(printable(_describe(address, report), keep="\n"))
    return 0


def export_subject(args: argparse.Namespace, config: Config) -> int:
    address = _address(args.email)
    app = open_app(config)
    service = ErasureService(app.sessions, app.spool, config, actor=login_actor())
    print_json(_do(lambda: service.export_subject(address)))
    return 0


def run(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = RetentionService(app.sessions, app.spool, config, actor=login_actor())
    report = _do(lambda: service.run(dry_run=args.dry_run))
    if args.json:
        print_json(report.to_json())
        return 0
    print(_retention_text(report))
    return 0


# -- helpers --------------------------------------------------------------------------------------


def _address(text: str) -> str:
    address = normalize_address(text)
    if address is None:
        raise CliError(f"{printable(text)}: not a valid email address", code=2)
    return address


def _do(operation: Callable[[], T]) -> T:
    try:
        return operation()
    except ErasureError as exc:
        raise CliError(printable(str(exc))) from None
    except PermissionError as exc:
        raise CliError(
            f"{exc.strerror}: {exc.filename}; run as the user the worker runs as"
        ) from None


def _describe(address: str, report: ErasureReport) -> str:
    if report.dry_run:
        head = f"would erase {address} (dry run: nothing changed)"
    else:
        head = f"erased {address}"
    lines = [head, f"  {'suppression hash':<38} {report.subject_hash}"]
    lines.append(f"  {'addresses':<38} {report.addresses}")
    for label, name in ERASE_LINES:
        value = getattr(report, name)
        if isinstance(value, tuple):
            shown = f"{len(value)}" + (f"  ({', '.join(str(v) for v in value)})" if value else "")
        else:
            shown = str(value)
        lines.append(f"  {label:<38} {shown}")
    if report.suppression_added:
        added = "added" if not report.dry_run else "would be added"
    else:
        added = "already present"
    lines.append(f"  {'suppression':<38} {added}")
    return "\n".join(lines)


def _retention_text(report: RetentionReport) -> str:
    def period(days: int) -> str:
        return str(days) if days else "off"

    rows = (
        ("emails deleted", report.emails_deleted, "email_days", report.email_days),
        ("bodies cleared", report.bodies_cleared, "body_days", report.body_days),
        (
            "quarantined messages removed",
            len(report.quarantine_removed),
            "spool_days",
            report.spool_days,
        ),
    )
    head = "retention (dry run: nothing changed):" if report.dry_run else "retention:"
    lines = [head]
    lines += [f"  {label:<30} {count}  ({key}: {period(days)})" for label, count, key, days in rows]
    return "\n".join(lines)
