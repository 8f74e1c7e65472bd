"""``bccrm ingest`` as a backfill tool: resumable (a re-run skips what is done, an interrupted
run resumes where it stopped), progress on stderr, and ``--dry-run`` as a faithful simulation
that writes nothing. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.app import App, build_app
from gateway.cli.data import IngestProgress
from gateway.crm import Base
from gateway.crm.db import upgrade
from gateway.crm.ingest import IngestedMessage
from gateway.pipeline.log import LogStage
from gateway.services.ingest import IngestService, IngestSummary, open_sources
from gateway.services.never_log import NeverLogService
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, make_message

CORPUS = Path(__file__).parents[1] / "data" / "parsing"
# A small realistic archive: replies and forwards from customers (PL, EN, DE), a rep's own
# sent offer, internal mail (dropped by privacy) and a bounce (dropped by the match stage).
ARCHIVE = (
    "reply-gmail-en-on-wrote",
    "reply-outlook-pl-re-two-levels",
    "fwd-outlook-en-customer-reply",
    "fwd-gmail-pl-own-sent-offer",
    "new-outlook-pl-windows-1250",
    "reply-gmail-de-am-schrieb",
    "internal-outlook-de-subdomain",
    "bounce-dsn-mailer-daemon-en",
)
REP = "anna.nowak@example.com"
IBAN_BODY = "Dzień dobry,\n\nproszę o przelew na konto PL61 1090 1014 0000 0712 1981 2874.\n"


@pytest.fixture
def app(make_config: ConfigFactory) -> Iterator[App]:
    """An app whose organisation requires a legal basis, with the rep Anna registered."""
    config = make_config(privacy={"require_legal_basis": True})
    instance = build_app(config)
    upgrade(instance.engine)
    instance.spool.ensure()
    add_user(instance, REP, "Anna Nowak")
    yield instance
    instance.close()


@pytest.fixture
def cli(app: App, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(app.config, capsys)


def archive(tmp_path: Path, *extra: bytes) -> Path:
    """A folder with the corpus messages of ARCHIVE and ``extra`` messages."""
    folder = tmp_path / "archive"
    folder.mkdir()
    for name in ARCHIVE:
        shutil.copy(CORPUS / f"{name}.eml", folder / f"{name}.eml")
    for n, raw in enumerate(extra):
        (folder / f"extra-{n}.eml").write_bytes(raw)
    return folder


def row_counts(app: App) -> dict[str, int]:
    with app.sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def spool_files(app: App) -> list[Path]:
    return [p for p in app.spool.root.rglob("*") if p.is_file()]


def test_rerun_skips_every_finished_message_without_running_the_pipeline(
    app: App, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second run reports all 8 as skipped, writes nothing and parses nothing."""
    folder = archive(tmp_path)
    first = cli.json("ingest", str(folder))
    assert first["outcomes"] == {"logged": 6, "dropped": 2} and first["skipped"] == 0
    counts = row_counts(app)
    assert counts["ingested_messages"] == 8

    def no_pipeline(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished message was run through the pipeline again")

    monkeypatch.setattr("gateway.pipeline.runner.Pipeline.run", no_pipeline)
    again = cli.json("ingest", str(folder))
    assert again["skipped"] == 8 and again["outcomes"] == {}
    assert row_counts(app) == counts
    code, out, _ = cli("ingest", "--no-progress", str(folder))
    assert code == 0 and out == "8 messages (8 done before, skipped): none\n"


def test_held_messages_are_not_recorded_and_are_tried_again(cli: Cli, tmp_path: Path) -> None:
    """A held message gets no record: after it is fixed (or the rules change) a re-run
    picks it up, while the finished ones stay skipped."""
    folder = archive(tmp_path, b"Subject: no author\r\n\r\nbody\r\n")
    assert cli.json("ingest", str(folder))["outcomes"] == {"logged": 6, "dropped": 2, "held": 1}
    again = cli.json("ingest", str(folder))
    assert again["skipped"] == 8 and again["outcomes"] == {"held": 1}


def test_interrupted_run_resumes_where_it_stopped(
    app: App, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside the 4th logged message's log stage (the 6th message: the bounce and
    the internal mail sort first and are dropped before that stage): exit 130, a clear
    message, 5 messages recorded, 3 emails, nothing of the 6th; the next run skips 5 and does
    the other 3."""
    folder = archive(tmp_path)
    calls = 0
    original = LogStage.process

    def interrupt_fourth(self: LogStage, ctx: Any) -> None:
        nonlocal calls
        calls += 1
        original(self, ctx)  # the email is written (flushed), then the user presses Ctrl-C
        if calls == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(LogStage, "process", interrupt_fourth)
    code, _, err = cli("ingest", str(folder))
    assert code == 130
    assert "interrupted after 5 of 8 messages; run the same command to resume" in err
    counts = row_counts(app)
    assert counts["ingested_messages"] == 5 and counts["emails"] == 3
    monkeypatch.setattr(LogStage, "process", original)
    resumed = cli.json("ingest", str(folder))
    assert resumed["skipped"] == 5
    assert resumed["outcomes"] == {"logged": 3}
    assert row_counts(app)["emails"] == 6


def test_dry_run_report_on_a_realistic_archive(app: App, cli: Cli, tmp_path: Path) -> None:
    """The numbers of a dry run, by hand, and then what a real run writes: the same."""
    NeverLogService(app.sessions).add("drewbud.com.pl")  # the windows-1250 sender's company
    iban = make_message(sender=f"Anna Nowak <{REP}>", to="Ola Lis <ola@lis.pl>", body=IBAN_BODY)
    folder = archive(tmp_path, iban)
    summary = cli.json("ingest", "--dry-run", str(folder))
    assert summary["dry_run"] is True and summary["messages"] == 9
    assert summary["outcomes"] == {"logged": 6, "dropped": 3}
    would = summary["would"]
    assert would["privacy_drops"] == {"internal_only": 1, "nothing_left": 1}
    assert would["other_drops"] == {"bounce": 1}
    assert would["people_left_out"] == 1
    assert would["redactions"] == {"iban": 1}
    assert would["review_items"] == {}
    before = row_counts(app)
    real = cli.json("ingest", str(folder))
    assert real["outcomes"] == summary["outcomes"]
    after = row_counts(app)
    assert would["contacts_created"] == after["contacts"] - before["contacts"] > 0
    assert would["companies_created"] == after["companies"] - before["companies"] > 0
    assert would["legal_basis_checks"] == after["legal_basis_checks"] > 0
    assert sum(would["associations"].values()) == after["email_associations"]
    assert set(would["associations"]) == {"contact", "company"}


def test_dry_run_text_report(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("ingest", "--dry-run", "--no-progress", str(archive(tmp_path)))
    assert code == 0
    assert out.startswith("dry run, nothing written: 8 messages: 2 dropped, 6 logged\n")
    assert "would create:\n  contacts            " in out
    assert "  dropped by rule     1 internal_only\n" in out
    assert "  other drops         1 bounce\n" in out


def test_dry_run_writes_nothing(app: App, cli: Cli, tmp_path: Path) -> None:
    """Row counts of every table (audit log, outbox events, settings' generated key, the
    ingest record) and the spool are the same after a dry run."""
    before, files = row_counts(app), spool_files(app)
    summary = cli.json("ingest", "--dry-run", str(archive(tmp_path)))
    assert summary["outcomes"] == {"logged": 6, "dropped": 2}
    assert row_counts(app) == before
    assert spool_files(app) == files == []


def test_dry_run_sees_what_earlier_messages_would_have_created(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    """Two messages from the same new person: one contact in the report, not two, and the
    second message's association goes to that contact (as a real run would)."""
    folder = tmp_path / "two"
    folder.mkdir()
    for n in (1, 2):
        raw = make_message(
            sender="Jan Kowalski <jan@nowafirma.pl>", to=f"Anna <{REP}>", subject=f"Pytanie {n}"
        )
        (folder / f"{n}.eml").write_bytes(raw)
    would = cli.json("ingest", "--dry-run", str(folder))["would"]
    assert would["contacts_created"] == 1 and would["companies_created"] == 1
    assert would["associations"] == {"company": 2, "contact": 2}
    assert row_counts(app)["contacts"] == 0


def test_dry_run_counts_review_items_by_kind(
    make_config: ConfigFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``create_contacts = "review"`` new people become questions, once per person."""

    config = make_config(matching={"create_contacts": "review"})
    app = build_app(config)
    try:
        upgrade(app.engine)
        add_user(app, REP)
        folder = archive(tmp_path)
        would = Cli(config, capsys).json("ingest", "--dry-run", str(folder))["would"]
        assert would["contacts_created"] == 0
        assert set(would["review_items"]) == {"new_contact"}
        assert would["review_items"]["new_contact"] > 0
        assert row_counts(app)["review_items"] == 0
    finally:
        app.close()


def test_dry_run_skips_what_a_real_run_finished(cli: Cli, tmp_path: Path) -> None:
    folder = archive(tmp_path)
    cli.json("ingest", str(folder / f"{ARCHIVE[0]}.eml"))
    summary = cli.json("ingest", "--dry-run", str(folder))
    assert summary["skipped"] == 1 and summary["outcomes"] == {"logged": 5, "dropped": 2}
    forced = cli.json("ingest", "--dry-run", "--reprocess", str(folder))
    assert forced["outcomes"] == {"logged": 5, "duplicate": 1, "dropped": 2}


def test_dry_run_on_sqlite_leaves_the_write_lock_free(app: App, tmp_path: Path) -> None:
    """While a dry run is in the middle of an archive, another process can still write (the
    worker): the simulation runs on a snapshot, not in a transaction on the live file."""
    if app.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock only")
    path = app.engine.url.database
    assert path is not None
    written: list[int] = []

    def write_meanwhile(status: str) -> None:
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO settings (key, value) VALUES (?, 'x')", (f"k{status}",))
            other.execute("DELETE FROM settings WHERE key = ?", (f"k{status}",))
            other.execute("COMMIT")
            written.append(1)
        finally:
            other.close()

    service = IngestService(app.processor(), LOG)
    with open_sources([archive(tmp_path)]) as sources:
        summary = IngestSummary()
        service.simulate(sources, summary, progress=write_meanwhile)
    assert len(written) == 8 and summary.outcomes["logged"] == 6


def test_progress_lines_when_stderr_is_not_a_terminal(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a TTY: plain lines on stderr (here one per message), the last one "done"; stdout
    keeps only the JSON. ``--no-progress`` silences them."""
    monkeypatch.setattr(IngestProgress, "PLAIN_INTERVAL", 0.0)
    folder = archive(tmp_path)
    code, out, err = cli("ingest", "--json", str(folder))
    assert code == 0 and out.startswith("{")
    lines = err.splitlines()
    assert len(lines) == 9
    assert lines[0].startswith("ingest: 1/8 messages (1 ")
    assert all(" msg/s" in line for line in lines)
    assert lines[-1].startswith("ingest: 8/8 messages (2 dropped, 6 logged), ")
    assert "done in" in lines[-1]
    assert "\x1b" not in err
    code, _, err = cli("ingest", "--no-progress", str(folder))
    assert code == 0 and err == ""


def test_ingest_records_are_keyed_by_content_not_by_path(
    app: App, cli: Cli, tmp_path: Path
) -> None:
    """The archive moved or copied into an mbox: still the same messages, still skipped."""
    folder = archive(tmp_path)
    cli.json("ingest", str(folder))
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert cli.json("ingest", str(moved))["skipped"] == 8
    with app.sessions() as session:
        outcomes = sorted(session.scalars(select(IngestedMessage.outcome)))
    assert outcomes == ["dropped"] * 2 + ["logged"] * 6
