"""``bccrm serve`` as users run it: a real process with its worker, a real SMTP client, and
``bccrm export --json`` showing the logged mail seconds later."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config
from tests.support import LOG, LogReader, make_message

pytestmark = pytest.mark.slow


def bccrm(config: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(config.source), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def served(config: Config) -> Iterator[tuple[subprocess.Popen[str], int, LogReader]]:
    assert bccrm(config, "db", "upgrade").returncode == 0
    assert bccrm(config, "users", "add", "anna@example.com", "--name", "Anna").returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(config.source), "serve"],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    assert process.stderr is not None
    logs = LogReader(process.stderr)
    try:
        port = int(logs.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        logs.wait_for(r"bccrm\.worker: worker started")
        yield process, port, logs
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        logs.thread.join(10)
        process.stderr.close()


def export(config: Config) -> dict[str, Any]:
    result = bccrm(config, "export", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_bcc_copy_reaches_the_contact_timeline_and_sigterm_stops_cleanly(
    config: Config, served: tuple[subprocess.Popen[str], int, LogReader]
) -> None:
    process, port, logs = served
    with smtplib.SMTP("127.0.0.1", port) as client:
        client.sendmail("anna@example.com", [LOG], make_message(message_id="<e2e@example.com>"))
    deadline = time.monotonic() + 30
    while not (emails := export(config)["emails"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    [email] = emails
    assert email["message_id"] == "<e2e@example.com>"
    assert email["direction"] == "outbound"
    assert email["logged_by"] == ["anna@example.com"]
    [contact] = export(config)["contacts"]
    assert contact["emails"] == ["jan@acme.pl"] and email["contact_ids"] == [contact["id"]]

    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0
    logs.wait_for(r"bccrm\.serve: worker stopped")
    assert not any("Traceback" in line for line in logs.lines)
    assert list(Path(config.spool.path, "new").iterdir()) == []
