"""``bccrm parse --json FILE...``: what bccrm reads in each message, one JSON object per line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.cli.common import subcommand
from gateway.config import Config
from gateway.parsing.analysis import analyze, to_json

MAX_FILE = 50 * 1024 * 1024


def register(commands: Any) -> None:
    parser = subcommand(commands, "parse", "show what bccrm reads in messages (.eml files)", parse)
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    parser.add_argument(
        "--json",
        action="store_true",
        required=True,
        help="one JSON object per file and line (the only format)",
    )
    # Parsing is pure: without a config file the built-in defaults are used.
    parser.set_defaults(config_optional=True)


def parse(args: argparse.Namespace, config: Config) -> int:
    org, region = config.organization.domains, config.organization.default_region
    failed = 0
    for path in args.files:
        try:
            if path.stat().st_size > MAX_FILE:
                raise ValueError("larger than 50 MiB")
            document = to_json(
                analyze(path.read_bytes(), org, region, config.logging.addresses), file=str(path)
            )
        except (OSError, ValueError) as exc:
            failed += 1
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            document = {"file": str(path), "error": f"cannot read: {reason}"}
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    return 1 if failed else 0
