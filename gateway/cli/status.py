"""``bccrm status``: this node's health in the terminal, the same summary the metrics endpoint
serves. Exit 0 when healthy, 1 when something needs attention (a stalled worker, failed plugin
deliveries, the database down), so scripts and monitoring checks can use it as it is."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.common import add_json_flag, open_app, print_json, subcommand
from gateway.config import Config
from gateway.services.dashboard import format_age
from gateway.services.health import OUTBOX_STATUSES, Health, HealthService

EXIT_ATTENTION = 1


def register(commands: Any) -> None:
    parser = subcommand(
        commands, "status", "health summary: spool, backlog, outbox, worker (exit 1: attention)"
    )
    add_json_flag(parser)
    parser.set_defaults(handler=status)


def status(args: argparse.Namespace, config: Config) -> int:
    # No schema check first: a database that is down is part of the answer, not an error.
    app = open_app(config, check=False)
    health = HealthService(app.sessions, app.spool).summary()
    if args.json:
        print_json(health.to_json())
    else:
        print("\n".join(render(health)))
    return 0 if health.healthy else EXIT_ATTENTION


def render(health: Health) -> list[str]:
    """The summary as lines of text, problems last."""
    lines = [f"bccrm status: {'healthy' if health.healthy else 'needs attention'}"]
    lines += [f"  {label:<11} {text}" for label, text in _rows(health)]
    lines += [f"  ! {problem}" for problem in health.problems]
    return lines


def _rows(health: Health) -> list[tuple[str, str]]:
    spool, db = health.spool, health.database
    rows = [("spool", _spool(health)), ("quarantine", _count(spool.quarantined, spool.available))]
    if db.available:
        outbox = ", ".join(f"{db.outbox_total(s)} {s}" for s in OUTBOX_STATUSES if s != "done")
        rows += [
            ("review", f"{db.review_open} open"),
            ("legal", f"{db.legal_checks_open} open checks"),
            ("outbox", outbox),
            ("database", "ok"),
        ]
    else:
        rows.append(("database", f"unavailable ({db.problem}); see 'bccrm doctor'"))
    rows.append(("worker", f"{health.worker.state}: {health.worker.reason}"))
    return rows


def _spool(health: Health) -> str:
    spool = health.spool
    if not spool.available:
        return "cannot be read here"
    oldest = "" if spool.oldest_wait is None else f", oldest {format_age(spool.oldest_wait)}"
    return f"{spool.due} waiting{oldest}; {spool.deferred} deferred; {spool.processing} processing"


def _count(value: int, available: bool) -> str:
    return str(value) if available else "unknown"
