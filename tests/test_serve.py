"""``bccrm serve`` as users run it: a real process with its worker, a real SMTP client, and
``bccrm export --json`` showing the logged mail seconds later."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.config import Config
from tests.support import LOG, LogReader, bccrm, make_message, serving

pytestmark = pytest.mark.slow


@pytest.fixture
def served(config: Config) -> Iterator[tuple[subprocess.Popen[str], int, LogReader]]:
    with serving(config) as running:
        yield running


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


def test_the_worker_runs_below_the_edges_priority(
    config: Config, served: tuple[subprocess.Popen[str], int, LogReader]
) -> None:
    """[worker] nice (10 by default): a busy worker must not slow down the edge's replies."""
    process, _, logs = served
    worker = int(logs.wait_for(r"bccrm\.serve: worker started \(pid (\d+)\)").group(1))
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert config.worker.nice == 10
    assert os.getpriority(os.PRIO_PROCESS, process.pid) == ours  # the edge: as started
    assert os.getpriority(os.PRIO_PROCESS, worker) == max(10, ours)
    logs.wait_for(rf"bccrm\.worker: worker started \(nice {max(10, ours)}\)")
