"""``bccrm legal-basis``: the checks bccrm opened for outbound mail to people without a
confirmed legal basis (list, show, resolve); a contact's basis, subscription and objection;
the Art. 14 information notices due."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

from gateway.cli.common import (
    CliError,
    actor_for,
    add_json_flag,
    open_app,
    positive_int,
    print_json,
    printable,
    subcommand,
)
from gateway.config import Config
from gateway.crm.privacy import LEGAL_BASES
from gateway.services.legal import (
    ACTIONS,
    LIST_STATUSES,
    CheckInfo,
    ContactConsent,
    LegalBasisError,
    LegalBasisService,
    NoticeInfo,
)

PIPED_WIDTH = 240
SUBJECT_WIDTH = 60
REASONS = {
    "no_confirmed_basis": "no confirmed legal basis",
    "unsubscribed": "contact unsubscribed",
}
# What each --action needs and takes (the service checks the values).
ACTION_OPTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "one-time": ("explanation", ()),
    "set-basis": ("basis", ("note",)),
    "acknowledge": ("note", ()),
}

T = TypeVar("T")


def register(commands: Any) -> None:
    legal = subcommand(
        commands, "legal-basis", "legal basis (GDPR/RODO): checks, consent, information notices"
    )
    verbs = legal.add_subparsers(dest="legal_command", metavar="VERB", required=True)

    listing = subcommand(verbs, "list", "legal-basis checks, oldest first", list_)
    listing.add_argument(
        "--status", choices=LIST_STATUSES, default="open", help="only checks with this status"
    )
    listing.add_argument(
        "--limit", type=positive_int, default=500, metavar="N", help="at most N (default 500)"
    )
    add_json_flag(listing)

    show_parser = subcommand(verbs, "show", "one check: the email, the contact, the decision", show)
    show_parser.add_argument("id", type=positive_int, metavar="ID")
    add_json_flag(show_parser)

    resolve_parser = subcommand(verbs, "resolve", "decide a check", resolve)
    resolve_parser.add_argument("id", type=positive_int, metavar="ID")
    resolve_parser.add_argument(
        "--action",
        required=True,
        choices=ACTIONS,
        help="one-time: this email had a basis (--explanation says why); set-basis: confirm "
        "the contact's basis (--basis; resolves its other checks without a basis too); "
        "acknowledge: noted, nothing changes (--note)",
    )
    resolve_parser.add_argument("--explanation", metavar="TEXT", help="one-time: why")
    resolve_parser.add_argument(
        "--basis", choices=LEGAL_BASES, metavar="BASIS", help=f"set-basis: {_bases()}"
    )
    resolve_parser.add_argument(
        "--note", metavar="TEXT", help="acknowledge (required) or set-basis (optional)"
    )
    _add_by(resolve_parser)
    add_json_flag(resolve_parser)

    notices_parser = subcommand(
        verbs, "notices", "Art. 14 information notices due, soonest first", notices
    )
    notices_parser.add_argument("--all", action="store_true", help="done notices too")
    notices_parser.add_argument(
        "--limit",
        type=positive_int,
        default=500,
        metavar="N",
        help="at most N contacts (default 500)",
    )
    add_json_flag(notices_parser)

    done_parser = subcommand(
        verbs, "notice-done", "record that a contact was given the notice", notice_done
    )
    _add_contact(done_parser)
    _add_by(done_parser)
    add_json_flag(done_parser)

    set_parser = subcommand(verbs, "set", "confirm a contact's legal basis", set_basis)
    _add_contact(set_parser)
    set_parser.add_argument("basis", choices=LEGAL_BASES, metavar="BASIS", help=_bases())
    set_parser.add_argument(
        "--source",
        default="manual",
        metavar="TEXT",
        help="where the basis comes from, e.g. 'contract 2026/17' (default: manual)",
    )
    _add_by(set_parser)
    add_json_flag(set_parser)

    subscription_parser = subcommand(
        verbs, "subscription", "subscribe or unsubscribe a contact", subscription
    )
    _add_contact(subscription_parser)
    subscription_parser.add_argument("state", choices=("subscribed", "unsubscribed"))
    _add_by(subscription_parser)
    add_json_flag(subscription_parser)

    object_parser = subcommand(
        verbs, "object", "record a contact's objection to processing (Art. 21)", object_
    )
    _add_contact(object_parser)
    object_parser.add_argument(
        "--withdraw", action="store_true", help="the contact withdrew the objection"
    )
    _add_by(object_parser)
    add_json_flag(object_parser)


def _add_contact(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("contact", metavar="CONTACT", help="contact id or email address")


def _add_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        metavar="EMAIL",
        help="registered user address recorded as the decider (default: cli:<login name>)",
    )


def _bases() -> str:
    return "one of " + ", ".join(LEGAL_BASES)


# -- commands -------------------------------------------------------------------------------------


def list_(args: argparse.Namespace, config: Config) -> int:
    service = LegalBasisService(open_app(config).sessions, config)
    checks = _do(lambda: service.list_checks(status=args.status, limit=args.limit))
    if args.json:
        print_json([_jsonable(check) for check in checks])
        return 0
    if not checks:
        what = "" if args.status == "all" else f"{args.status} "
        print(f"no {what}legal-basis checks")
        return 0
    columns = ["id", "contact", "email", "sent", "reason", "opened"]
    if args.status != "open":
        columns.extend(["status", "action"])
    table = Table(*columns)
    for check in checks:
        cells = [
            str(check.id),
            f"{check.contact_id} {check.contact_name}".rstrip(),
            f"{check.email_id} {_cut(check.email_subject)}".rstrip(),
            _when(check.email_sent_at),
            check.reason,
            _when(check.created_at),
        ]
        if args.status != "open":
            cells.extend([check.status, check.action or "-"])
        table.add_row(*(Text(printable(cell)) for cell in cells))
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)  # piped: do not wrap cells at 80 columns
    console.print(table)
    return 0


def show(args: argparse.Namespace, config: Config) -> int:
    service = LegalBasisService(open_app(config).sessions, config)
    check = _do(lambda: service.show(args.id))
    if args.json:
        print_json(_jsonable(check))
        return 0
    reason = REASONS.get(check.reason, check.reason)
    lines = [f"legal-basis check {check.id}: {reason}, {check.status}", ""]
    lines.append(f"{'opened':<10} {_when(check.created_at)}")
    lines.append(f"{'contact':<10} {check.contact_id} {check.contact_name}".rstrip())
    lines.append(f"{'email':<10} {check.email_id}, sent {_when(check.email_sent_at)}")
    lines.append(f"{'subject':<10} {check.email_subject or '-'}")
    if check.status == "resolved":
        lines.append(
            f"{'resolved':<10} {_when(check.resolved_at)} by {check.resolved_by or '-'}: "
            f"{check.action}"
        )
        if check.basis:
            lines.append(f"{'basis':<10} {check.basis}")
        if check.note:
            lines.append(f"{'note':<10} {check.note}")
    else:
        lines.extend(
            [
                "",
                "resolve with one of:",
                f"  bccrm legal-basis resolve {check.id} --action one-time --explanation TEXT",
                f"  bccrm legal-basis resolve {check.id} --action set-basis --basis BASIS",
                f"  bccrm legal-basis resolve {check.id} --action acknowledge --note TEXT",
                f"BASIS: {_bases()}",
            ]
        )
    print(printable("\n".join(lines), keep="\n"))
    return 0


def resolve(args: argparse.Namespace, config: Config) -> int:
    needed, optional = ACTION_OPTIONS[args.action]
    if getattr(args, needed) is None:
        raise CliError(f"--action {args.action} needs --{needed}", code=2)
    for name in ("explanation", "basis", "note"):
        if name not in (needed, *optional) and getattr(args, name) is not None:
            raise CliError(f"--{name} does not apply to --action {args.action}", code=2)
    app = open_app(config)
    service = LegalBasisService(app.sessions, config, actor_for(app, args.by))
    check = _do(
        lambda: service.resolve(
            args.id,
            args.action,
            explanation=args.explanation or "",
            basis=args.basis or "",
            note=args.note or "",
        )
    )
    if args.json:
        print_json(_jsonable(check))
        return 0
    if check.action == "set-basis":
        text = f"contact {check.contact_id}'s legal basis is now {check.basis} (confirmed)"
        if check.also_resolved:
            ids = ", ".join(str(i) for i in check.also_resolved)
            text += f"; also resolved check(s) {ids} of the same contact"
    elif check.action == "one-time":
        text = f"one-time basis recorded on email {check.email_id}"
    else:
        text = "acknowledged; nothing else changed"
    print(printable(f"resolved {check.id} ({check.action}): {text}"))
    return 0


def notices(args: argparse.Namespace, config: Config) -> int:
    service = LegalBasisService(open_app(config).sessions, config)
    due = _do(lambda: service.notices(include_done=args.all, limit=args.limit))
    if args.json:
        print_json([_jsonable(notice) for notice in due])
        return 0
    if not due:
        print("no information notices" if args.all else "no information notices due")
        return 0
    columns = ["contact", "email", "basis", "due", ""]
    if args.all:
        columns.append("done")
    table = Table(*columns)
    for notice in due:
        cells = [
            f"{notice.contact_id} {notice.name}".rstrip(),
            notice.email or "-",
            notice.legal_basis or "-",
            _when(notice.notice_due_at),
            "overdue" if notice.overdue else "",
        ]
        if args.all:
            cells.append(_when(notice.notice_done_at) if notice.notice_done_at else "")
        table.add_row(*(Text(printable(cell)) for cell in cells))
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)
    console.print(table)
    return 0


def notice_done(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = LegalBasisService(app.sessions, config, actor_for(app, args.by))
    notice = _do(lambda: service.mark_notice_done(service.contact_id_for(args.contact)))
    if args.json:
        print_json(_jsonable(notice))
        return 0
    print(printable(f"contact {notice.contact_id} {notice.name}: information notice done".strip()))
    return 0


def set_basis(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = LegalBasisService(app.sessions, config, actor_for(app, args.by))
    consent = _do(
        lambda: service.set_basis(service.contact_id_for(args.contact), args.basis, args.source)
    )
    text = f"legal basis {consent.legal_basis} (confirmed, from {consent.legal_basis_source})"
    if consent.open_checks:
        text += (
            f"; {consent.open_checks} open legal-basis check(s) of this contact stay open "
            "('bccrm legal-basis list')"
        )
    _print_consent(args, consent, text)
    return 0


def subscription(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = LegalBasisService(app.sessions, config, actor_for(app, args.by))
    consent = _do(
        lambda: service.set_subscription(
            service.contact_id_for(args.contact), args.state == "subscribed"
        )
    )
    text = consent.subscription if consent.changed else f"already {consent.subscription}"
    _print_consent(args, consent, text)
    return 0


def object_(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = LegalBasisService(app.sessions, config, actor_for(app, args.by))
    consent = _do(
        lambda: service.set_objection(service.contact_id_for(args.contact), not args.withdraw)
    )
    state = "objects to processing" if consent.objecting else "does not object"
    _print_consent(args, consent, state if consent.changed else f"already {state}")
    return 0


# -- helpers --------------------------------------------------------------------------------------


def _do(operation: Callable[[], T]) -> T:
    try:
        return operation()
    except LegalBasisError as exc:
        raise CliError(printable(str(exc))) from None


def _print_consent(args: argparse.Namespace, consent: ContactConsent, text: str) -> None:
    if args.json:
        print_json(_jsonable(consent))
        return
    who = f"contact {consent.contact_id} {consent.name}".rstrip()
    print(printable(f"{who}: {text}"))


def _jsonable(item: CheckInfo | NoticeInfo | ContactConsent) -> dict[str, Any]:
    data = dataclasses.asdict(item)
    return {
        k: v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v
        for k, v in data.items()
    }


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def _cut(text: str) -> str:
    return text if len(text) <= SUBJECT_WIDTH else text[: SUBJECT_WIDTH - 1] + "…"
