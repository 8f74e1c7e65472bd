"""Test helpers: message builders, an edge on a loopback port, draining the spool."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import IO, Any

import pytest

from gateway.app import App
from gateway.cli import main
from gateway.config import Config
from gateway.services.users import CredentialService, UserService
from gateway.smtp.credentials import EdgeCredentials
from gateway.smtp.server import serve
from gateway.spool import Spool

LOG = "log@crm.example.com"


class Cli:
    """The ``bccrm`` command line run in-process (``main()``), with its output captured."""

    def __init__(self, config: Config, capsys: pytest.CaptureFixture[str], *prefix: str) -> None:
        self.config = config
        self.capsys = capsys
        self.prefix = prefix  # a command whose verbs the test runs: Cli(config, capsys, "review")
        self.opened: list[App] = []

    def __call__(self, *args: str) -> tuple[int, str, str]:
        code = main(["--config", str(self.config.source), *self.prefix, *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


def make_message(
    sender: str = "Anna Nowak <anna@example.com>",
    to: str = "Jan Kowalski <jan@acme.pl>",
    subject: str = "Oferta na wdrożenie",
    body: str = "Dzień dobry,\n\nw załączeniu oferta.\n\nAnna\n",
    message_id: str | None = None,
    cc: str | None = None,
    attachment: tuple[str, bytes] | None = None,
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="example.com")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes(policy=SMTP_POLICY)  # CRLF, as a real client sends it


def add_user(app: App, email: str, name: str = "", *aliases: str) -> int:
    return UserService(app.sessions).add(email, name or email, tuple(aliases)).id


def edge_credentials(app: App) -> EdgeCredentials:
    return EdgeCredentials(CredentialService(app.sessions, actor="smtp"))


def drain(app: App) -> dict[str, int]:
    """Run a worker in this process until nothing is due; return its counters."""
    worker = app.worker()
    while worker.drain_once():
        pass
    return worker.stats


class Edge:
    """bccrm's SMTP edge on 127.0.0.1 in a background thread, on a free port."""

    def __init__(
        self, config: Config, spool: Spool | None = None, credentials: EdgeCredentials | None = None
    ) -> None:
        self.config = config
        self.spool = spool or Spool(config.spool.path)
        self.credentials = credentials
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(
                self.config,
                self.spool,
                self._stop,
                ready=self._set_port,
                credentials=self.credentials,
            )

        try:
            asyncio.run(main())
        except BaseException as exc:
            self.error = exc
            self._ready.set()

    def _set_port(self, port: int) -> None:
        self.port = port
        self._ready.set()

    def start(self) -> Edge:
        self.spool.ensure()
        self._thread.start()
        if not self._ready.wait(10) or self.error:
            raise RuntimeError(f"edge did not start: {self.error!r}")
        return self

    def stop(self) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@contextmanager
def running_edge(config: Config, **kwargs: Any) -> Iterator[Edge]:
    edge = Edge(config, **kwargs).start()
    try:
        yield edge
    finally:
        edge.stop()


class LogReader:
    """Collects a process's stderr lines in the background (a bccrm serve under test)."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if match := re.search(pattern, line):
                    return match
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r} in:\n{''.join(self.lines)}")


def bccrm(config: Config, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the ``bccrm`` command line with ``config`` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config.source), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def serving(config: Config) -> Iterator[tuple[subprocess.Popen[str], int, LogReader]]:
    """``bccrm serve`` as users run it, with the rep anna@example.com registered, once it
    listens and its worker runs. Stopped on exit with SIGTERM (SIGKILL after 60 s)."""
    for args in (("db", "upgrade"), ("users", "add", "anna@example.com", "--name", "Anna Nowak")):
        result = bccrm(config, *args)
        assert result.returncode == 0, result.stderr
    with serve_process(config) as (process, logs):
        port = int(logs.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        logs.wait_for(r"bccrm\.worker: worker started")
        yield process, port, logs


@contextmanager
def serve_process(config: Config) -> Iterator[tuple[subprocess.Popen[str], LogReader]]:
    """A ``bccrm serve`` process on an existing database, its stderr collected; stopped on
    exit with SIGTERM (SIGKILL after 60 s)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config.source), "serve"],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    logs = LogReader(process.stderr)
    try:
        yield process, logs
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        logs.thread.join(10)
        process.stderr.close()
