"""``bccrm webhooks log``: what the webhook plugin sent where, and what is still to send.

Events an endpoint does not take (its ``events``) are delivered to it as a no-op by the outbox
and left out here, going by the endpoints as configured now."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from gateway.cli.common import (
    CliError,
    add_json_flag,
    open_app,
    positive_int,
    print_json,
    printable,
    subcommand,
)
from gateway.config import Config
from gateway.crm.plugins import DELIVERY_STATUSES
from gateway.hooks import EVENT_TYPES
from gateway.services.webhooks import DEFAULT_LIMIT, PLUGIN, WebhookDelivery, WebhookLogService


def register(commands: Any) -> None:
    parser = subcommand(commands, "webhooks", "the webhook plugin's deliveries")
    verbs = parser.add_subparsers(dest="webhooks_command", metavar="VERB", required=True)
    log = subcommand(verbs, "log", "deliveries per endpoint and event, newest first", log_)
    log.add_argument("--endpoint", metavar="NAME", help="one endpoint's deliveries")
    log.add_argument("--status", choices=DELIVERY_STATUSES, help="only deliveries in this state")
    log.add_argument(
        "--limit",
        type=positive_int,
        metavar="N",
        default=DEFAULT_LIMIT,
        help=f"the newest N deliveries (default {DEFAULT_LIMIT})",
    )
    add_json_flag(log)


def log_(args: argparse.Namespace, config: Config) -> int:
    service = WebhookLogService(open_app(config).sessions)
    try:
        rows = service.deliveries(args.endpoint, args.status, args.limit, subscriptions(config))
    except ValueError as exc:
        raise CliError(str(exc), code=2) from None
    if args.json:
        print_json([_json(row) for row in rows])
        return 0
    if not rows:
        print("(no deliveries)")
        return 0
    print(f"{'ID':>7} {'ENDPOINT':<16} {'EVENT':<20} {'EMAIL':>7} {'STATUS':<8} TRIES  WHEN")
    for row in rows:
        print(_line(row))
    return 0


def subscriptions(config: Config) -> dict[str, Collection[str]]:
    """The event kinds each configured endpoint takes, read from ``[[plugin.webhook.endpoint]]``
    as written (the plugin validates it when it starts; here anything odd is passed over)."""
    tables = config.plugins.settings.get(PLUGIN, {}).get("endpoint", [])
    found: dict[str, Collection[str]] = {}
    for table in tables if isinstance(tables, list) else []:
        if isinstance(table, Mapping) and isinstance(name := table.get("name"), str):
            events = table.get("events", list(EVENT_TYPES))
            found[name] = (
                [e for e in events if isinstance(e, str)] if isinstance(events, list) else []
            )
    return found


def _line(row: WebhookDelivery) -> str:
    if row.status == "done" and row.delivered_at is not None:
        when = f"delivered {_time(row.delivered_at)}"
    elif row.next_attempt_at is not None:
        when = f"next try {_time(row.next_attempt_at)}"
    else:
        when = f"since {_time(row.updated_at)}"
    error = f"  ({printable(row.last_error)})" if row.last_error else ""
    return (
        f"{row.id:>7} {printable(row.endpoint)[:16]:<16} {row.event:<20} "
        f"{row.email_id or '-':>7} {row.status:<8} {row.attempts:>5}  {when}{error}"
    )


def _time(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _json(row: WebhookDelivery) -> dict[str, Any]:
    data = dataclasses.asdict(row)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}
