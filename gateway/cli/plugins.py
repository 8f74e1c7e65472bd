"""``bccrm plugins``: what is installed and enabled, and the outbox of plugin deliveries."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from sqlalchemy import select, update

from gateway.cli.common import (
    CliError,
    add_json_flag,
    open_app,
    positive_int,
    print_json,
    subcommand,
)
from gateway.config import Config
from gateway.crm import PluginDelivery, PluginEvent, utcnow
from gateway.outbox import Dispatcher, outbox_counts


def register(commands: Any) -> None:
    parser = subcommand(commands, "plugins", "installed plugins and their deliveries")
    verbs = parser.add_subparsers(dest="plugins_command", metavar="VERB", required=True)
    add_json_flag(subcommand(verbs, "list", "name, version, hooks, enabled", list_))
    outbox = subcommand(verbs, "outbox", "deliveries per plugin and status; the failed ones", show)
    outbox.add_argument("--limit", type=positive_int, default=20, help="failed ones shown")
    add_json_flag(outbox)
    subcommand(verbs, "deliver", "deliver what is due now (the worker does it too)", deliver)
    retry = subcommand(verbs, "retry", "try failed deliveries again", retry_failed)
    retry.add_argument("ids", metavar="ID", type=positive_int, nargs="*", help="delivery ids")
    retry.add_argument("--all", action="store_true", help="every failed delivery")


def list_(args: argparse.Namespace, config: Config) -> int:
    infos = open_app(config).plugins.infos()
    if args.json:
        print_json([dataclasses.asdict(info) for info in infos])
        return 0
    for info in infos:
        state = "enabled" if info.enabled else "disabled"
        origin = "built-in" if info.builtin else "third-party"
        print(f"{info.name:<16} {info.version or '-':<10} {state:<9} {origin}")
        print(f"  hooks: {', '.join(info.hooks) or '(none)'}")
    if not infos:
        print("(no plugins installed)")
    return 0


def show(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    with app.sessions() as session:
        counts = outbox_counts(session)
        failed = session.execute(
            select(
                PluginDelivery.id,
                PluginDelivery.plugin,
                PluginDelivery.channel,
                PluginEvent.kind,
                PluginDelivery.email_id,
                PluginDelivery.attempts,
                PluginDelivery.last_error,
                PluginDelivery.updated_at,
            )
            .join(PluginEvent, PluginEvent.id == PluginDelivery.event_id)
            .where(PluginDelivery.status == "failed")
            .order_by(PluginDelivery.id.desc())
            .limit(args.limit)
        ).all()
    if args.json:
        print_json(
            {
                "counts": counts,
                "failed": [
                    row._asdict() | {"updated_at": row.updated_at.isoformat()} for row in failed
                ],
            }
        )
        return 0
    for plugin, by_status in sorted(counts.items()):
        print(f"{plugin:<16} " + ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())))
    if not counts:
        print("(no deliveries)")
    for row in failed:
        channel = f"/{row.channel}" if row.channel else ""
        print(
            f"failed #{row.id} {row.plugin}{channel} {row.kind} email {row.email_id or '-'} "
            f"after {row.attempts} attempt(s): {row.last_error or '-'}"
        )
    return 0


def deliver(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config)
    dispatcher = Dispatcher(app.plugins)
    total = dispatcher.run(limit=10_000, budget=300.0)
    app.plugins.tick(app.plugins.now())
    print(
        f"{total.fanned_out} events, {total.delivered} delivered, {total.retried} to retry, "
        f"{total.failed} failed, {total.enriched} contacts enriched"
    )
    return 1 if total.failed else 0


def retry_failed(args: argparse.Namespace, config: Config) -> int:
    if not args.ids and not args.all:
        raise CliError("name delivery ids or pass --all", code=2)
    app = open_app(config)
    query = update(PluginDelivery).where(PluginDelivery.status == "failed")
    if args.ids:
        query = query.where(PluginDelivery.id.in_(args.ids))
    now = utcnow()
    with app.sessions.begin() as session:
        result = session.execute(
            query.values(status="pending", attempts=0, next_attempt_at=now, updated_at=now)
        )
        count = int(getattr(result, "rowcount", 0) or 0)
    print(f"{count} deliveries will be tried again")
    return 0
