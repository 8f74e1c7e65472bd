"""``bccrm deals``: import deals from CSV and list them."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gateway.cli.common import (
    CliError,
    add_json_flag,
    open_app,
    positive_int,
    print_json,
    subcommand,
)
from gateway.config import Config
from gateway.services.deals import STATUSES, CsvImportError, DealInfo, DealService

PIPED_WIDTH = 240


def register(commands: Any) -> None:
    deals = subcommand(commands, "deals", "CRM deals")
    verbs = deals.add_subparsers(dest="deals_command", metavar="VERB", required=True)
    imp = subcommand(verbs, "import", "import deals from CSV (idempotent on id)", deals_import)
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    add_json_flag(imp)
    listing = subcommand(verbs, "list", "list deals, most recently updated first", deals_list)
    listing.add_argument("--status", choices=STATUSES, help="only deals with this status")
    listing.add_argument(
        "--limit", type=positive_int, default=200, metavar="N", help="at most N deals (default 200)"
    )
    add_json_flag(listing)


def deals_import(args: argparse.Namespace, config: Config) -> int:
    service = DealService(open_app(config).sessions, config.organization)
    try:
        result = service.import_csv(args.file)
    except CsvImportError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(dataclasses.asdict(result))
    else:
        print(
            f"deals: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged"
        )
        problems = sorted(
            [(line, message) for line, message in result.errors]
            + [(line, f"warning: {message}") for line, message in result.warnings]
        )
        for line, message in problems:
            print(f"line {line}: {message}", file=sys.stderr)
    return 1 if result.errors else 0


def deals_list(args: argparse.Namespace, config: Config) -> int:
    service = DealService(open_app(config).sessions, config.organization)
    deals = service.list_deals(status=args.status, limit=args.limit)
    if args.json:
        print_json([deal_json(deal) for deal in deals])
        return 0
    table = Table("id", "external id", "name", "stage", "status", "company", "owner", "updated")
    for deal in deals:
        table.add_row(
            str(deal.id),
            deal.external_id or "",
            deal.name,
            deal.stage,
            deal.status,
            deal.company_domain or "",
            deal.owner_email or "",
            f"{deal.updated_at:%Y-%m-%d %H:%M}",
        )
    console = Console()
    if not console.is_terminal:
        # Piped or redirected: no terminal width to fit, so do not wrap cells at 80 columns.
        console = Console(width=PIPED_WIDTH)
    console.print(table)
    return 0


def deal_json(deal: DealInfo) -> dict[str, Any]:
    data = dataclasses.asdict(deal)
    data["contact_emails"] = list(deal.contact_emails)
    data["updated_at"] = deal.updated_at.isoformat()
    return data
