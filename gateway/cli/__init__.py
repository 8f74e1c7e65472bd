"""The ``bccrm`` command. Exit codes scripts can trust:

0 success · 1 the operation failed (the message says why) · 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from sqlalchemy.exc import OperationalError

from gateway.cli import (
    admin,
    data,
    deals,
    erasure,
    legal,
    never_log,
    parse,
    plugins,
    quarantine,
    review,
    run,
    status,
    tasks,
    webhooks,
)
from gateway.cli.common import CliError, close_apps
from gateway.config import Config, ConfigError, find_config_path, load_config
from gateway.crm.db import SchemaOutOfDate
from gateway.logconf import configure_logging
from gateway.plugin_host import PluginError

EXIT_FAILED = 1
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bccrm", description="SMTP gateway that turns copies of email into CRM history."
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: $BCCRM_CONFIG, ./bccrm.toml, /etc/bccrm/bccrm.toml)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = (
        run,
        data,
        deals,
        review,
        never_log,
        legal,
        erasure,
        admin,
        quarantine,
        parse,
        plugins,
        webhooks,
        tasks,
        status,
    )
    for module in modules:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = _load(args)
    except ConfigError as exc:
        print(f"bccrm: configuration error: {exc}", file=sys.stderr)
        return int(getattr(args, "config_error_status", EXIT_USAGE))
    configure_logging(config.diagnostics)
    try:
        return _run(args, config)
    except Exception:
        # Commands an MTA runs (mailgate) must fail temporarily on a bug of ours, never
        # bounce; everything else lets the traceback show.
        if (status := getattr(args, "failure_status", None)) is None:
            raise
        logging.getLogger("bccrm").exception("unexpected failure")
        return int(status)
    finally:
        close_apps()


def _load(args: argparse.Namespace) -> Config:
    """The config; commands that work without one (parse) get the defaults when none exists."""
    if getattr(args, "config_optional", False) and args.config is None:
        try:
            path = find_config_path(None)
        except ConfigError:
            return Config()
        return load_config(path)
    return load_config(find_config_path(args.config))


def _run(args: argparse.Namespace, config: Config) -> int:
    try:
        code: int = args.handler(args, config)
    except CliError as exc:
        print(f"bccrm: {exc}", file=sys.stderr)
        return exc.code
    except SchemaOutOfDate as exc:
        print(f"bccrm: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except PluginError as exc:
        print(f"bccrm: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (`bccrm export --json | head`): not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OperationalError:
        print(
            "bccrm: cannot use the database (unreachable, or it refused the connection); "
            "check [database] url and that the server is running",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return code
