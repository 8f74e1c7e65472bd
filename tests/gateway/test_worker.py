"""The worker: retries, quarantine of poison mail, database outages and kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gateway.app import App
from gateway.config import DatabaseConfig
from gateway.crm import AuditEntry, Email
from gateway.crm.db import make_engine, session_factory
from gateway.faults import ENV as FAULT_ENV
from gateway.pipeline import (
    LogStage,
    MatchStage,
    MessageContext,
    MessageProcessor,
    ParseStage,
    Pipeline,
)
from gateway.spool import Envelope
from tests.support import LOG, add_user, drain, make_message

ENVELOPE = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)


@pytest.fixture(autouse=True)
def rep(app: App) -> int:
    return add_user(app, "anna@example.com", "Anna Nowak")


class PoisonStage:
    name = "poison"
    description = "fails on messages whose subject says POISON (a stand-in for a bug)"

    def process(self, ctx: MessageContext) -> None:
        if "POISON" in ctx.require_parsed().subject:
            raise ValueError("boom")


def count_emails(app: App) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(Email)) or 0


def test_poison_message_is_quarantined_after_max_attempts_and_later_mail_flows(app: App) -> None:
    config = app.config
    pipeline = Pipeline([ParseStage(config), PoisonStage(), MatchStage(config), LogStage(config)])
    worker = app.worker()
    worker.processor = MessageProcessor(pipeline, app.sessions)
    poison = app.spool.store(make_message(subject="POISON"), ENVELOPE)
    app.spool.store(make_message(subject="fine"), ENVELOPE)
    while worker.drain_once():
        pass
    assert worker.stats["quarantined"] == 1
    assert worker.stats["logged"] == 1
    assert worker.stats["retried"] == config.worker.max_attempts - 1
    [note] = app.spool.quarantined()
    assert note["id"] == poison and note["attempts"] == 3
    assert "boom" not in note["reason"]
    assert count_emails(app) == 1
    with app.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"email.logged", "message.quarantined"} <= actions


def test_database_outage_retries_without_counting_attempts(app: App) -> None:
    """Mail accepted while the database is down is logged exactly once when it is back."""
    app.spool.store(make_message(), ENVELOPE)
    down = make_engine(DatabaseConfig(url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    worker = app.worker()
    worker.processor = MessageProcessor(worker.processor.pipeline, session_factory(down))
    for _ in range(3):
        assert worker.drain_once() == 1
    down.dispose()
    assert worker.stats == worker.stats | {"retried": 3, "quarantined": 0}
    assert [p for p in app.spool.pending() if ".a" in p] == []  # no attempt was counted
    assert drain(app)["logged"] == 1
    assert count_emails(app) == 1


def test_held_message_goes_to_quarantine_without_crm_rows(app: App) -> None:
    """A message without a valid From is held for a person, not logged (I-3)."""
    app.spool.store(b"Subject: no sender\r\n\r\nbody\r\n", ENVELOPE)
    stats = drain(app)
    assert stats["quarantined"] == 1
    assert count_emails(app) == 0
    [note] = app.spool.quarantined()
    assert note["reason"] == "From is not exactly one valid address"


def run_worker(app: App, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-m", "gateway", "--config", str(app.config.source), "worker", "--drain"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["after-claim", "before-commit", "after-commit"])
def test_worker_killed_mid_message_logs_it_exactly_once_after_restart(app: App, fault: str) -> None:
    app.spool.store(make_message(), ENVELOPE)
    killed = run_worker(app, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(list(app.spool.cur.iterdir())) == 1  # still claimed by the dead worker
    restarted = run_worker(app)
    assert restarted.returncode == 0, restarted.stderr
    assert count_emails(app) == 1
    assert list(Path(app.spool.cur).iterdir()) == list(app.spool.new.iterdir()) == []
    with app.sessions() as session:
        email = session.scalars(select(Email)).one()
        assert len(email.loggers) == 1


@pytest.mark.slow
def test_worker_exits_0_on_sigterm_and_leaves_no_claim(app: App) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--config", str(app.config.source), "worker"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for n in range(5):
            app.spool.store(make_message(message_id=f"<t{n}@x>"), ENVELOPE)
        deadline = time.monotonic() + 30
        while count_emails(app) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "worker stopped" in err
    assert count_emails(app) == 5
    assert list(app.spool.cur.iterdir()) == []


@pytest.mark.slow
def test_message_that_keeps_killing_the_worker_is_quarantined(app: App) -> None:
    """Attempts are counted at claim time, so a crash loop ends after max_attempts."""
    app.spool.store(make_message(), ENVELOPE)
    for _ in range(app.config.worker.max_attempts):
        assert run_worker(app, "after-claim").returncode == -signal.SIGKILL
    assert run_worker(app, "after-claim").returncode == 0  # claims, sees 4 > 3, quarantines
    [note] = app.spool.quarantined()
    assert note["reason"] == "processing stopped the worker 3 times"
    assert count_emails(app) == 0


@pytest.mark.parametrize(("started_at", "configured", "expected"), [(0, 7, 7), (12, 7, 12)])
def test_lower_priority_only_ever_lowers_it(
    started_at: int, configured: int, expected: int
) -> None:
    """A process started nicer than configured (a unit's Nice=) keeps its niceness."""
    code = (
        "import os; from gateway.worker import lower_priority; "
        f"print(lower_priority({configured}), os.getpriority(os.PRIO_PROCESS, 0))"
    )
    result = subprocess.run(
        [
            "nice",
            "-n",
            str(started_at - os.getpriority(os.PRIO_PROCESS, 0)),
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [str(expected), str(expected)]
