"""``bccrm serve`` (edge + supervised worker), ``bccrm worker`` and ``bccrm mailgate``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from sqlalchemy.exc import OperationalError

from gateway import metrics, sdnotify
from gateway.app import App
from gateway.cli.common import CliError, open_app, subcommand
from gateway.config import Config
from gateway.crm.db import check_schema
from gateway.mailgate import EX_TEMPFAIL, deliver
from gateway.services.health import HealthService
from gateway.services.users import CredentialService
from gateway.smtp.credentials import EdgeCredentials
from gateway.smtp.server import serve as serve_smtp
from gateway.worker import lower_priority, run_forever

log = logging.getLogger("bccrm.serve")

WORKER_STOP_TIMEOUT = 60.0
MAX_RESTART_DELAY = 30.0


def register(commands: Any) -> None:
    serve_parser = subcommand(commands, "serve", "run the SMTP edge and a worker", serve)
    serve_parser.add_argument(
        "--no-worker",
        action="store_true",
        help="run the SMTP edge alone; workers run as `bccrm worker` (bccrm-worker@.service)",
    )
    worker_parser = subcommand(commands, "worker", "run a worker alone", worker)
    worker_parser.add_argument(
        "--drain", action="store_true", help="process what is due now, then exit"
    )
    gate = subcommand(
        commands,
        "mailgate",
        "spool one message from standard input (MTA pipe); sysexits codes",
        mailgate,
    )
    gate.add_argument(
        "--rcpt",
        metavar="ADDR",
        help="gateway address it was sent to (default: the first logging address)",
    )
    gate.add_argument("--sender", metavar="ADDR", default="", help="envelope sender")
    # A broken config must not bounce mail: the MTA keeps it queued and retries.
    gate.set_defaults(config_error_status=EX_TEMPFAIL, failure_status=EX_TEMPFAIL)


def worker(args: argparse.Namespace, config: Config) -> int:
    lower_priority(config.worker.nice)  # first: threads started later inherit it
    app = open_app(config, check=False)
    try:
        check_schema(app.engine)
    except OperationalError:
        if args.drain:
            raise
        # Like the edge: an outage must not stop the unit (systemd would give up restarting
        # it); the worker backs off and processes the spool when the database is back.
        log.warning("database unreachable; the worker will retry until it is back")
    instance = app.worker()
    if args.drain:
        instance.spool.ensure()
        instance.spool.recover()
        while instance.drain_once():
            pass
        instance.plugins_pass(force=True)
        print(", ".join(f"{n} {k}" for k, n in instance.stats.items() if n) or "nothing to do")
        return 0
    run_forever(instance)
    return 0


def mailgate(args: argparse.Namespace, config: Config) -> int:
    status, message = deliver(
        config, sys.stdin.buffer, args.rcpt or config.logging.addresses[0], args.sender
    )
    if message:
        print(f"bccrm mailgate: {message}", file=sys.stderr)
    return status


def serve(args: argparse.Namespace, config: Config) -> int:
    if config.source is None:
        raise CliError("serve needs a config file to pass to its worker")
    app = open_app(config, check=False)
    try:
        check_schema(app.engine)
    except OperationalError:
        # The edge accepts mail from trusted MTAs without the database; the worker retries
        # until it is back. Refusing to start would turn a database outage into bounces.
        log.warning("database unreachable; accepting mail anyway, the worker will retry")
    app.spool.ensure()
    app.spool.sweep_tmp()
    _start_metrics(config, app)  # a daemon thread: it ends with the process
    # The edge keeps the engine for token and SMTP AUTH lookups only; the worker opens its own.
    credentials = EdgeCredentials(CredentialService(app.sessions, actor="smtp"))
    asyncio.run(_serve(config, credentials, worker=not args.no_worker))
    return 0


def _start_metrics(config: Config, app: App) -> None:
    """The Prometheus endpoint ([metrics] address) for the edge and its worker child: both
    write counters to <spool>/metrics (set in the environment the worker inherits)."""
    if not config.metrics.enabled:
        return
    metrics.enable_multiprocess(config.spool.path / "metrics")
    summary = HealthService(app.sessions, app.spool).summary
    try:
        metrics.start_endpoint(config.metrics.host, config.metrics.port, summary)
    except OSError as exc:
        raise CliError(
            f"cannot serve metrics on {config.metrics.address}: {exc.strerror}"
        ) from None


async def _serve(config: Config, credentials: EdgeCredentials, *, worker: bool = True) -> None:
    from gateway.spool import Spool  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _begin_stop, stop)
    supervisor = asyncio.create_task(_supervise_worker(config, stop)) if worker else None
    # systemd (Type=notify): READY=1 once bound, WATCHDOG=1 from this loop, STOPPING=1 on stop.
    watchdog = sdnotify.start_watchdog()
    try:
        await serve_smtp(
            config, Spool(config.spool.path), stop, ready=sdnotify.ready, credentials=credentials
        )
    finally:
        stop.set()
        if supervisor is not None:
            await supervisor
        if watchdog is not None:
            watchdog.cancel()


def _begin_stop(stop: asyncio.Event) -> None:
    if not stop.is_set():
        sdnotify.stopping()
    stop.set()


async def _supervise_worker(config: Config, stop: asyncio.Event) -> None:
    """Keep one worker process running until ``stop``; restart it with backoff if it dies."""
    delay = 1.0
    argv = [sys.executable, "-m", "gateway", "--config", str(config.source), "worker"]
    while not stop.is_set():
        process = await asyncio.create_subprocess_exec(*argv)
        log.info("worker started (pid %d)", process.pid)
        waiter = asyncio.create_task(process.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            await _stop_worker(process, waiter)
            stopper.cancel()
            return
        stopper.cancel()
        log.error("worker exited with status %s; restarting in %.0fs", process.returncode, delay)
        metrics.count_worker_restart()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, MAX_RESTART_DELAY)


async def _stop_worker(process: asyncio.subprocess.Process, waiter: asyncio.Task[int]) -> None:
    """SIGTERM lets the worker finish the message in hand; SIGKILL only after a long wait."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), WORKER_STOP_TIMEOUT)
        except TimeoutError:
            log.error("worker did not stop in %.0fs; killing it", WORKER_STOP_TIMEOUT)
            process.kill()
            await waiter
    log.info("worker stopped")
