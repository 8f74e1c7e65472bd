"""``bccrm review``: the questions bccrm asked instead of guessing; list, show, approve, reject."""

from __future__ import annotations

import argparse
import dataclasses
import json
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
from gateway.crm import questions
from gateway.services.review import (
    LIST_STATUSES,
    ReviewDecision,
    ReviewError,
    ReviewInfo,
    ReviewService,
)

PIPED_WIDTH = 240
SUMMARY_WIDTH = 100

T = TypeVar("T")


def register(commands: Any) -> None:
    review = subcommand(commands, "review", "questions bccrm asks instead of guessing")
    verbs = review.add_subparsers(dest="review_command", metavar="VERB", required=True)
    listing = subcommand(verbs, "list", "review items, oldest first", list_)
    listing.add_argument("--kind", choices=questions.KINDS, help="only items of this kind")
    listing.add_argument(
        "--status", choices=LIST_STATUSES, default="open", help="only items with this status"
    )
    listing.add_argument(
        "--limit", type=positive_int, default=500, metavar="N", help="at most N items (default 500)"
    )
    add_json_flag(listing)
    show_parser = subcommand(verbs, "show", "one item: the question, its choices, its data", show)
    show_parser.add_argument("id", type=positive_int, metavar="ID")
    add_json_flag(show_parser)
    approve_parser = subcommand(verbs, "approve", "answer yes and apply it", approve)
    approve_parser.add_argument("id", type=positive_int, metavar="ID")
    approve_parser.add_argument(
        "--choice",
        type=positive_int,
        metavar="N",
        help="which candidate, deal or merge direction (numbered by 'review show')",
    )
    _add_set(approve_parser, "correct a proposed value, e.g. --set title='Head of Sales'")
    _add_by(approve_parser)
    add_json_flag(approve_parser)
    reject_parser = subcommand(verbs, "reject", "answer no", reject)
    reject_parser.add_argument("id", type=positive_int, metavar="ID")
    _add_set(reject_parser, "same_person only: correct the new contact a rejection creates")
    _add_by(reject_parser)
    add_json_flag(reject_parser)


def _add_set(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument(
        "--set",
        dest="sets",
        type=_assignment,
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help=f"{help_text} (repeatable)",
    )


def _add_by(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        metavar="EMAIL",
        help="registered user address recorded as the decider (default: cli:<login name>)",
    )


def _assignment(text: str) -> tuple[str, str]:
    field, equals, value = text.partition("=")
    field = field.strip()
    if not equals or not field:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE, got {text!r}")
    return field, value


# -- commands -------------------------------------------------------------------------------------


def list_(args: argparse.Namespace, config: Config) -> int:
    service = ReviewService(open_app(config).sessions, config)
    items = _do(lambda: service.list(kind=args.kind, status=args.status, limit=args.limit))
    if args.json:
        print_json([_jsonable(item) for item in items])
        return 0
    if not items:
        what = "" if args.status == "all" else f"{args.status} "
        kind = f"{args.kind} " if args.kind else ""
        print(f"no {what}{kind}review items")
        return 0
    columns = ["id", "kind", "summary", "created"]
    if args.status != "open":
        columns.insert(2, "status")
    table = Table(*columns)
    for item in items:
        cells = [str(item.id), item.kind, _cut(item.summary), _when(item.created_at)]
        if args.status != "open":
            cells.insert(2, item.status)
        table.add_row(*(Text(printable(cell)) for cell in cells))
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)  # piped: do not wrap cells at 80 columns
    console.print(table)
    return 0


def show(args: argparse.Namespace, config: Config) -> int:
    service = ReviewService(open_app(config).sessions, config)
    item = _do(lambda: service.show(args.id))
    if args.json:
        print_json(_jsonable(item))
        return 0
    lines = [f"review item {item.id}: {item.kind}, {item.status}", item.summary, ""]
    lines.append(f"{'created':<10} {_when(item.created_at)}")
    if item.decided_at is not None:
        lines.append(f"{'decided':<10} {_when(item.decided_at)} by {item.decided_by or '-'}")
    if item.email_id is not None:
        lines.append(f"{'email':<10} {item.email_id} from {item.email_from or '-'}")
        lines.append(f"{'subject':<10} {item.email_subject or '-'}")
    if item.contact_id is not None:
        lines.append(f"{'contact':<10} {item.contact_id} {item.contact_name}".rstrip())
    if choices := _choices(item):
        required = item.kind == "which_deal" and len(choices) > 1
        default = "required" if required else "without it: 1"
        lines.extend(["", f"choices (approve --choice N; {default}):"])
        lines.extend(f"  {n}. {text}" for n, text in enumerate(choices, 1))
    if item.status == "open":
        yes, no = _answers(item.kind, config)
        lines.extend(["", f"approve: {yes}", f"reject:  {no}"])
    lines.extend(["", "payload:", json.dumps(item.payload, indent=2, ensure_ascii=False)])
    print(printable("\n".join(lines), keep="\n"))
    return 0


def approve(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = ReviewService(app.sessions, config, actor_for(app, args.by))
    decision = _do(lambda: service.approve(args.id, choice=args.choice, sets=dict(args.sets)))
    _print_decision(args, decision)
    return 0


def reject(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = ReviewService(app.sessions, config, actor_for(app, args.by))
    decision = _do(lambda: service.reject(args.id, sets=dict(args.sets)))
    _print_decision(args, decision)
    return 0


# -- helpers --------------------------------------------------------------------------------------


def _do(operation: Callable[[], T]) -> T:
    try:
        return operation()
    except ReviewError as exc:
        raise CliError(printable(str(exc))) from None


def _choices(item: ReviewInfo) -> list[str]:
    """What ``--choice N`` picks, numbered from 1."""
    payload = item.payload
    if item.kind == "same_person":
        return [
            f"contact {c.get('contact_id')} {c.get('name') or ''} "
            f"({float(c.get('confidence') or 0):.2f}: {', '.join(c.get('reasons') or [])})"
            for c in payload.get("candidates") or []
        ]
    if item.kind == "which_deal":
        return [
            f"deal {d.get('deal_id')} {d.get('name') or ''} "
            f"(stage {d.get('stage') or '-'}, updated {d.get('updated_at') or '-'})"
            for d in payload.get("choices") or []
        ]
    if item.kind == "merge":
        keep, other = payload.get("keep"), payload.get("other")
        return [
            f"keep contact {keep}, merge contact {other} into it",
            f"keep contact {other}, merge contact {keep} into it",
        ]
    return []


def _answers(kind: str, config: Config) -> tuple[str, str]:
    """What approving and rejecting an item of ``kind`` would do."""
    fields = "--set first_name|last_name|title|company|phone=VALUE corrects it"
    if kind == "same_person" and config.matching.create_contacts == "never":
        rejected = "not the same person; the address stays without a contact"
    else:
        rejected = f"not the same person; a new contact from the fields ({fields})"
    return {
        "new_contact": (
            f"create this contact and link the waiting email ({fields})",
            "no contact for this address, now or later",
        ),
        "same_person": ("add the address to the chosen contact and link the email", rejected),
        "field_update": (
            "set the proposed value (--set value=VALUE sets another)",
            "keep the contact as it is",
        ),
        "merge": ("merge the two contacts", "keep both"),
        "which_deal": ("put the email on the chosen deal", "put it on no deal"),
    }.get(kind, ("", ""))


def _print_decision(args: argparse.Namespace, decision: ReviewDecision) -> None:
    if args.json:
        print_json(dataclasses.asdict(decision))
        return
    verb = "approved" if decision.status == "approved" else "rejected"
    print(printable(f"{verb} {decision.id} ({decision.kind}): {_describe(decision)}"))


def _describe(decision: ReviewDecision) -> str:
    """What a decision did, in a few words."""
    a = decision.applied
    if not a:
        return "nothing changed"
    if a.get("ignored"):
        return f"{a.get('email')} stays without a contact"
    linked = len(a.get("emails_linked") or [])
    if decision.kind == "merge":
        text = (
            f"merged contact {a['other_id']} into {a['keep_id']}: {a['emails_moved']} emails, "
            f"{a['phones_moved']} phones, {a['associations_moved']} timeline entries"
        )
    elif decision.kind == "which_deal":
        text = f"email {a['email_id']} put on deal {a['deal_id']}"
    elif decision.kind == "field_update":
        text = f"contact {a['contact_id']} {a['field']} set to {a['value']!r}"
    elif "address_added" in a:
        added = "address added, " if a["address_added"] else ""
        text = f"contact {a['contact_id']}: {added}{linked} email(s) linked"
    else:
        made = "created contact" if a.get("created") else "linked to existing contact"
        text = f"{made} {a['contact_id']}, {linked} email(s) linked"
    return text


def _jsonable(item: ReviewInfo) -> dict[str, Any]:
    data = dataclasses.asdict(item)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _cut(text: str) -> str:
    return text if len(text) <= SUMMARY_WIDTH else text[: SUMMARY_WIDTH - 1] + "…"
