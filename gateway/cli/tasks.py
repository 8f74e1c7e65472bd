"""``bccrm tasks``: the follow-up tasks workflow plugins create (list them, mark one done)."""

from __future__ import annotations

import argparse
import dataclasses
from datetime import datetime
from typing import Any

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
from gateway.services.tasks import LIST_LIMIT, STATUS_FILTERS, TaskError, TaskInfo, TaskService

PIPED_WIDTH = 240


def register(commands: Any) -> None:
    tasks = subcommand(commands, "tasks", "follow-up tasks (call back, send the quote, chase)")
    verbs = tasks.add_subparsers(dest="tasks_command", metavar="VERB", required=True)
    listing = subcommand(verbs, "list", "tasks, open ones first and soonest due first", tasks_list)
    listing.add_argument(
        "--owner", metavar="EMAIL", help="only tasks of the user with this address"
    )
    listing.add_argument(
        "--status", choices=STATUS_FILTERS, default="open", help="tasks with this status (open)"
    )
    listing.add_argument("--contact", type=positive_int, metavar="ID", help="only this contact's")
    listing.add_argument(
        "--limit", type=positive_int, default=LIST_LIMIT, metavar="N", help="at most N tasks"
    )
    add_json_flag(listing)
    done = subcommand(verbs, "done", "mark a task done", tasks_done)
    done.add_argument("id", type=positive_int, metavar="ID")
    done.add_argument("--by", metavar="EMAIL", help="who did it, for the audit log (a user)")
    add_json_flag(done)


def tasks_list(args: argparse.Namespace, config: Config) -> int:
    service = TaskService(open_app(config).sessions)
    try:
        tasks = service.list(
            owner=args.owner, status=args.status, contact_id=args.contact, limit=args.limit
        )
    except TaskError as exc:
        raise CliError(printable(str(exc)), code=2) from None
    if args.json:
        print_json([task_json(task) for task in tasks])
        return 0
    if not tasks:
        print("(no tasks)")
        return 0
    table = Table("id", "due", "status", "title", "contact", "owner", "rule")
    for task in tasks:
        contact = f"#{task.contact_id} {task.contact_name}".strip() if task.contact_id else ""
        table.add_row(
            str(task.id),
            _when(task.due_at),
            task.status,
            # Titles and names come from email: inert text, never rich markup.
            Text(printable(task.title)),
            Text(printable(contact)),
            Text(printable(task.owner_email)),
            task.rule,
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)  # piped: no terminal width to wrap at
    console.print(table)
    return 0


def tasks_done(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    service = TaskService(app.sessions, actor=actor_for(app, args.by))
    try:
        result = service.done(args.id)
    except TaskError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(task_json(result.task) | {"changed": result.changed})
    elif result.changed:
        print(f"task {result.task.id} done: {printable(result.task.title)}")
    else:
        print(f"task {result.task.id} was done already")
    return 0


def task_json(task: TaskInfo) -> dict[str, Any]:
    data = dataclasses.asdict(task)
    for key in ("due_at", "created_at", "done_at"):
        value = data[key]
        data[key] = value.isoformat() if isinstance(value, datetime) else None
    return data


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else ""
