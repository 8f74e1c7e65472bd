"""``bccrm db``, ``bccrm doctor``, ``bccrm stats`` and ``bccrm admin``."""

from __future__ import annotations

import argparse
from importlib.metadata import entry_points
from typing import Any

from gateway.cli.common import CliError, add_json_flag, open_app, print_json, subcommand
from gateway.config import Config
from gateway.crm.db import current_revision, head_revision, upgrade
from gateway.services.doctor import run_checks
from gateway.services.stats import match_stats


def register(commands: Any) -> None:
    db = subcommand(commands, "db", "database schema")
    db_verbs = db.add_subparsers(dest="db_command", metavar="VERB", required=True)
    subcommand(db_verbs, "upgrade", "create or upgrade the schema to this version", db_upgrade)
    subcommand(db_verbs, "status", "show the schema revision", db_status)
    doctor_parser = subcommand(commands, "doctor", "check config, database, spool and port", doctor)
    add_json_flag(doctor_parser)
    stats_parser = subcommand(commands, "stats", "how matching did over a time window", stats)
    stats_parser.add_argument(
        "--days", type=float, default=7.0, help="window ending now, in days (default: 7)"
    )
    add_json_flag(stats_parser)
    subcommand(commands, "admin", "the admin terminal UI (review queue, ...)", admin_tui)


def db_upgrade(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config, check=False)
    before = current_revision(app.engine)
    upgrade(app.engine)
    after = current_revision(app.engine)
    print(f"database at revision {after}" + ("" if before == after else f" (was {before})"))
    return 0


def db_status(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config, check=False)
    current, head = current_revision(app.engine), head_revision(app.engine)
    print(
        f"current {current}, head {head}" + ("" if current == head else " - run 'bccrm db upgrade'")
    )
    return 0 if current == head else 1


def doctor(args: argparse.Namespace, config: Config) -> int:
    app = open_app(config, check=False)
    checks = run_checks(app)
    if args.json:
        print_json({"config": str(config.source), "checks": [vars(c) for c in checks]})
    else:
        print(f"ok    config: {config.source}")
        for check in checks:
            print(f"{'ok' if check.ok else 'FAIL':5} {check.name}: {check.detail}")
    return 0 if all(c.ok for c in checks) else 1


def stats(args: argparse.Namespace, config: Config) -> int:
    if args.days <= 0:
        raise CliError("--days must be positive", code=2)
    result = match_stats(open_app(config).sessions, days=args.days)
    data = result.to_json()
    if args.json:
        print_json(data)
        return 0
    share = data["linked_without_help"]
    print(
        f"{data['emails']} emails, {data['participants']} external participants since "
        f"{data['since'][:16]}"
    )
    for key in (
        "linked_exact",
        "auto_linked",
        "created",
        "suggested",
        "pending_new_contact",
        "reviewed",
        "ignored",
    ):
        print(f"  {key.replace('_', ' '):22} {data[key]}")
    for reason, count in data["ignored_by_reason"].items():
        print(f"    ignored: {reason:16} {count}")
    print(f"  duplicate suggestions  {data['duplicate_suggestions']}")
    print("  linked without help    " + ("-" if share is None else f"{share:.1%}"))
    return 0


def admin_tui(args: argparse.Namespace, config: Config) -> int:
    """Start the terminal UI, found through the ``bccrm.tui`` entry point: gateway itself never
    imports the UI (it stays headless for servers that do not install it)."""
    found = [ep for ep in entry_points(group="bccrm.tui") if ep.name == "admin"]
    if not found:
        raise CliError("the admin terminal UI is not installed (package admin_tui)")
    run = found[0].load()
    return int(run(config))
