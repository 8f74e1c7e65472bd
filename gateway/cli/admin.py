"""``bccrm db`` and ``bccrm doctor``."""

from __future__ import annotations

import argparse
from typing import Any

from gateway.cli.common import add_json_flag, open_app, print_json, subcommand
from gateway.config import Config
from gateway.crm.db import current_revision, head_revision, upgrade
from gateway.services.doctor import run_checks


def register(commands: Any) -> None:
    db = subcommand(commands, "db", "database schema")
    db_verbs = db.add_subparsers(dest="db_command", metavar="VERB", required=True)
    subcommand(db_verbs, "upgrade", "create or upgrade the schema to this version", db_upgrade)
    subcommand(db_verbs, "status", "show the schema revision", db_status)
    doctor_parser = subcommand(commands, "doctor", "check config, database, spool and port", doctor)
    add_json_flag(doctor_parser)


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
