"""``bccrm status``: the health summary in text and JSON, exit 0 when healthy and 1 when a
stalled worker, failed plugin deliveries or a database outage need attention."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from gateway.app import App
from gateway.crm import PluginDelivery, PluginEvent, ReviewItem, utcnow
from gateway.spool import Envelope, Spool
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, drain, make_message

ENVELOPE = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)


def test_healthy_node_exits_0_with_the_summary(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    app.spool.store(make_message(), ENVELOPE)
    drain(app)
    app.spool.store(make_message(), ENVELOPE)  # one waiting, just arrived: not a stall
    code, out, _ = Cli(app.config, capsys)("status")
    assert code == 0
    assert out.splitlines()[0] == "bccrm status: healthy"
    assert "1 waiting" in out and "database    ok" in out
    assert "worker      ok: last processed" in out
    data = Cli(app.config, capsys).json("status")
    assert data["healthy"] is True and data["problems"] == []
    assert data["spool"]["due"] == 1 and data["spool"]["quarantined"] == 0
    assert data["worker"]["state"] == "ok"
    assert data["outbox"] == {"pending": 0, "running": 0, "done": 0, "failed": 0}


def test_review_backlog_is_counted(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    with app.sessions.begin() as session:
        for _ in range(2):
            session.add(ReviewItem(kind="contact", status="open"))
    data = Cli(app.config, capsys).json("status")
    assert data["review_open"] == 2 and data["legal_checks_open"] == 0


def test_failed_plugin_deliveries_need_attention(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    now = utcnow()
    with app.sessions.begin() as session:
        event = PluginEvent(kind="email_logged", payload={}, fanned_out=True)
        session.add(event)
        session.flush()
        for channel, status in (("a", "failed"), ("b", "pending")):
            session.add(
                PluginDelivery(
                    event_id=event.id,
                    plugin="webhook",
                    channel=channel,
                    status=status,
                    next_attempt_at=now,
                    updated_at=now,
                )
            )
    code, out, _ = Cli(app.config, capsys)("status")
    assert code == 1
    assert out.splitlines()[0] == "bccrm status: needs attention"
    assert "1 plugin deliveries failed" in out
    code, out, _ = Cli(app.config, capsys)("status", "--json")
    assert code == 1
    assert '"outbox_by_plugin"' in out and '"failed": 1' in out


def test_stalled_worker_needs_attention(app: App, capsys: pytest.CaptureFixture[str]) -> None:
    """A due entry waiting 20 minutes with no worker activity is a stall."""
    app.spool.store(make_message(), ENVELOPE)
    [entry] = app.spool.new.iterdir()
    long_ago = time.time() - 1200
    os.utime(entry, (long_ago, long_ago))
    code, out, _ = Cli(app.config, capsys)("status")
    assert code == 1
    assert "worker stalled" in out and "oldest 20m" in out


def test_database_down_is_reported_with_the_spool_and_exit_1(
    make_config: ConfigFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "db-is-a-directory").mkdir()
    config = make_config(database={"url": f"sqlite:///{tmp_path / 'db-is-a-directory'}"})
    Spool(config.spool.path).ensure()
    code, out, err = Cli(config, capsys)("status", "--json")
    assert code == 1, err
    data = json.loads(out)
    assert data["database"] == {"available": False, "problem": "cannot be reached"}
    assert data["review_open"] is None and data["outbox"] is None
    assert data["spool"]["available"] is True
    assert data["problems"] == ["database unavailable (cannot be reached)"]
    code, out, _ = Cli(config, capsys)("status")
    assert code == 1 and "unavailable (cannot be reached)" in out
    assert str(tmp_path) not in out and "Error" not in out  # no paths, no exception names


def test_a_database_never_upgraded_says_to_run_db_upgrade(
    make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty database is reachable: its tables are missing. The summary says what to do
    instead of calling it unavailable for no reason an admin can see."""
    config = make_config()
    Spool(config.spool.path).ensure()
    code, out, err = Cli(config, capsys)("status", "--json")
    assert code == 1, err
    [problem] = json.loads(out)["problems"]
    assert problem.startswith("database unavailable (the database is empty, this bccrm needs ")
    assert problem.endswith(": run 'bccrm db upgrade')")
