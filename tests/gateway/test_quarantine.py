"""``bccrm quarantine`` and the quarantine service: messages are held the real way (the worker
quarantines them), then listed, shown, released, dropped and replayed."""

from __future__ import annotations

import getpass
import io
import json
from datetime import datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway.app import App, build_app
from gateway.config import DatabaseConfig
from gateway.crm import AuditEntry, Email
from gateway.crm.db import make_engine, session_factory, upgrade
from gateway.pipeline import (
    LogStage,
    MatchStage,
    MessageContext,
    MessageProcessor,
    ParseStage,
    Pipeline,
)
from gateway.services.quarantine import QuarantineError, QuarantineService
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, drain, make_message

ENVELOPE = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), peer="192.0.2.7")
NO_FROM_REASON = "From is not exactly one valid address"
BODY = "Poufne: numer konta 1234"


def no_from(subject: str = "x", body: str = BODY) -> bytes:
    """A message the parse stage holds: it has no From header."""
    return f"Subject: {subject}\r\nTo: jan@acme.pl\r\n\r\n{body}\r\n".encode()


def hold(app: App, raw: bytes | None = None) -> str:
    """Spool ``raw`` and run the worker, which must quarantine it; return its id."""
    entry_id = app.spool.store(raw if raw is not None else no_from(), ENVELOPE)
    assert drain(app)["quarantined"] == 1
    assert entry_id in app.spool.quarantined_ids()
    return entry_id


@pytest.fixture
def cli(app: App, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(app.config, capsys, "quarantine")


def audit_rows(app: App, action: str) -> list[AuditEntry]:
    with app.sessions() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def new_entries(app: App) -> list[str]:
    return sorted(p.name for p in app.spool.new.iterdir())


class PoisonStage:
    name = "poison"
    description = "fails on every message (a stand-in for a bug)"

    def process(self, ctx: MessageContext) -> None:
        raise ValueError("boom")


def test_list_prints_an_aligned_table_and_json(app: App, cli: Cli) -> None:
    """list: an aligned table oldest first; --json adds the envelope and ISO datetimes."""
    first = hold(app, no_from("pierwsza"))
    second = hold(app, no_from("druga"))
    code, out, _ = cli("list")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split()[:3] == ["ID", "HELD", "SINCE"]
    assert [line.split()[0] for line in lines] == [first, second]
    assert all(NO_FROM_REASON in line for line in lines)
    assert lines[0].endswith("pierwsza") and lines[1].endswith("druga")
    assert len({line.index(NO_FROM_REASON) for line in lines}) == 1  # aligned
    listed = cli.json("list")
    assert [m["id"] for m in listed] == [first, second]
    entry = listed[0]
    assert entry["reason"] == NO_FROM_REASON and entry["attempts"] == 1
    assert datetime.fromisoformat(entry["quarantined_at"]).tzinfo is not None
    assert datetime.fromisoformat(entry["received_at"]).tzinfo is not None
    assert (entry["mail_from"], entry["rcpt_tos"], entry["peer"]) == (
        "anna@example.com",
        [LOG],
        "192.0.2.7",
    )
    assert (entry["subject"], entry["from_address"]) == ("pierwsza", "")
    assert entry["size"] == len(no_from("pierwsza"))
    assert "headers" not in entry


def test_empty_quarantine(cli: Cli) -> None:
    """An empty quarantine is a plain message, or [] as JSON."""
    assert cli("list")[:2] == (0, "the quarantine is empty\n")
    assert cli.json("list") == []


def test_poison_message_is_listed_with_its_failure(app: App, cli: Cli) -> None:
    """A message that failed max_attempts times shows the failure (class name only) and From."""
    config = app.config
    worker = app.worker()
    pipeline = Pipeline([ParseStage(config), PoisonStage(), MatchStage(config), LogStage(config)])
    worker.processor = MessageProcessor(pipeline, app.sessions)
    entry_id = app.spool.store(make_message(subject="Oferta"), ENVELOPE)
    while worker.drain_once():
        pass
    [entry] = cli.json("list")
    assert entry["id"] == entry_id
    assert entry["reason"] == "processing failed 3 times (internal error)"
    assert entry["attempts"] == 3
    assert (entry["from_address"], entry["subject"]) == ("anna@example.com", "Oferta")


def test_show_prints_headers_but_never_the_body(app: App, cli: Cli) -> None:
    """Admins see why a message was held and its header block, not its content."""
    entry_id = hold(app)
    code, out, _ = cli("show", entry_id)
    assert code == 0
    assert NO_FROM_REASON in out and "192.0.2.7" in out
    assert "Subject: x\nTo: jan@acme.pl\n" in out
    assert BODY not in out
    shown = cli.json("show", entry_id)
    assert shown["headers"] == "Subject: x\r\nTo: jan@acme.pl\r\n"
    assert BODY not in json.dumps(shown)


def test_show_stops_where_the_email_package_sees_the_body(app: App) -> None:
    """A body that follows the headers without a blank line is still not shown."""
    entry_id = hold(app, b"Subject: x\r\nthis line is the body already\r\nX-Not: header\r\n")
    shown = QuarantineService(app.spool, app.sessions, "test").show(entry_id)
    assert shown.headers == "Subject: x\r\n"


def test_show_caps_the_header_block(app: App) -> None:
    """A huge header block is shown up to 64 KiB, whole lines only; subjects are capped."""
    padding = b"".join(b"X-Pad-%05d: %s\r\n" % (i, b"p" * 60) for i in range(2000))
    raw = b"Subject: " + b"s" * 500 + b"\r\n" + padding + b"\r\nbody\r\n"
    shown = QuarantineService(app.spool, app.sessions, "test").show(hold(app, raw))
    assert 60 * 1024 < len(shown.headers.encode()) <= 64 * 1024
    assert shown.headers.endswith("\r\n")
    assert shown.subject == "s" * 200
    assert "body" not in shown.headers


def test_release_requeues_with_released_by_and_audits(app: App, cli: Cli) -> None:
    """release: spooled again with released_by, file and note gone, audited; held again."""
    add_user(app, "admin@example.com", "Admin")
    entry_id = hold(app)
    received_at = cli.json("show", entry_id)["received_at"]
    code, out, err = cli("release", entry_id, "--by", "Admin@Example.com")
    assert code == 0, err
    [new_id] = new_entries(app)
    assert new_id != entry_id and new_id in out
    envelope, raw = app.spool.peek(app.spool.new / new_id)
    assert envelope.released_by == "admin@example.com"
    assert (envelope.mail_from, envelope.rcpt_tos) == (ENVELOPE.mail_from, ENVELOPE.rcpt_tos)
    assert raw == no_from()
    assert list(app.spool.quarantine_dir.iterdir()) == []
    [row] = audit_rows(app, "quarantine.released")
    assert (row.actor, row.object_id, row.details) == (
        "admin@example.com",
        entry_id,
        {"new_id": new_id},
    )
    assert drain(app)["quarantined"] == 1  # no From: the parse stage holds it again
    [again] = cli.json("list")
    assert again["id"] == new_id and again["received_at"] == received_at


def test_release_without_by_records_the_login_name(app: App, cli: Cli) -> None:
    """Without --by the actor is cli:<login name>, in the envelope and the audit log."""
    entry_id = hold(app)
    assert cli("release", entry_id)[0] == 0
    [new_id] = new_entries(app)
    actor = f"cli:{getpass.getuser()}"
    assert app.spool.peek(app.spool.new / new_id)[0].released_by == actor
    assert [r.actor for r in audit_rows(app, "quarantine.released")] == [actor]


def test_drop_with_yes_deletes_and_audits_only_the_reason(app: App, cli: Cli) -> None:
    """drop --yes removes message and note; the audit holds id and reason, nothing else."""
    entry_id = hold(app)
    code, out, _ = cli("drop", entry_id, "--yes")
    assert (code, out) == (0, f"dropped {entry_id}\n")
    assert list(app.spool.quarantine_dir.iterdir()) == []
    assert new_entries(app) == []
    [row] = audit_rows(app, "quarantine.dropped")
    assert (row.object_id, row.details) == (entry_id, {"reason": NO_FROM_REASON})


def test_drop_refuses_without_yes_when_stdin_is_not_a_terminal(
    app: App, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script that forgot --yes gets exit 2 and the message stays."""
    entry_id = hold(app)
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, _, err = cli("drop", entry_id)
    assert code == 2 and "pass --yes to drop without asking" in err
    assert app.spool.quarantined_ids() == [entry_id]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_drop_asks_on_a_terminal(app: App, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal drop asks first; anything but yes keeps the message."""
    entry_id = hold(app)
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, out, _ = cli("drop", entry_id)
    assert code == 1 and "for good? [y/N]" in out and "nothing dropped" in out
    assert app.spool.quarantined_ids() == [entry_id]
    monkeypatch.setattr("sys.stdin", Terminal("yes\n"))
    assert cli("drop", entry_id)[0] == 0
    assert app.spool.quarantined_ids() == []


@pytest.mark.parametrize("verb", [("show",), ("release",), ("drop", "--yes")])
def test_unknown_and_crafted_ids_are_refused(app: App, cli: Cli, verb: tuple[str, ...]) -> None:
    """Unknown ids and ids that are paths exit 1 and never reach another file."""
    waiting = app.spool.store(make_message(), ENVELOPE)  # in new/, a traversal target
    for entry_id in ("0123456789ABCDEF012345", "../../etc/passwd", f"../new/{waiting}", "."):
        code, _, err = cli(*verb[:1], entry_id, *verb[1:])
        assert code == 1
        assert f"no quarantined message {entry_id}" in err
    assert new_entries(app) == [waiting]
    assert audit_rows(app, "quarantine.released") == []


def test_by_must_be_a_registered_user(app: App, cli: Cli) -> None:
    """--by with an address that is no user's is a usage error and changes nothing."""
    entry_id = hold(app)
    for verb in (("release", entry_id), ("drop", entry_id, "--yes"), ("replay",)):
        code, _, err = cli(*verb, "--by", "stranger@example.com")
        assert code == 2 and "not a registered user address" in err
    assert app.spool.quarantined_ids() == [entry_id]


def test_replay_rejudges_every_message_under_current_rules(app: App, cli: Cli) -> None:
    """replay re-spools all held messages without an admin override, each audited: after a
    rule change they are judged again (these are still broken, so they are held again)."""
    held = {hold(app), hold(app, no_from("druga"))}
    code, out, _ = cli("replay")
    assert (code, out) == (0, "released 2 message(s)\n")
    assert app.spool.quarantined_ids() == []
    assert len(new_entries(app)) == 2
    rows = audit_rows(app, "quarantine.replayed")
    assert {r.object_id for r in rows} == held
    assert {r.details["new_id"] for r in rows} == set(new_entries(app))
    assert all(app.spool.peek(app.spool.new / n)[0].released_by is None for n in new_entries(app))
    assert drain(app)["quarantined"] == 2


def test_escape_sequences_in_headers_are_printed_inert(app: App, cli: Cli) -> None:
    """ESC and C1 controls in a subject never reach the terminal as such."""
    raw = b"Subject: \x1b[31mred \x1b]0;title\x07=?utf-8?q?=C2=9B2J?=\r\n\r\nbody\r\n"
    entry_id = hold(app, raw)
    for args in (("list",), ("show", entry_id), ("list", "--json"), ("show", entry_id, "--json")):
        code, out, _ = cli(*args)
        assert code == 0
        assert not {"\x1b", "\x07", "\x9b"} & set(out)
    assert "\ufffd[31mred" in cli("list")[1]
    assert cli.json("list")[0]["subject"].startswith("\x1b[31mred")  # data kept, escaped


def test_entry_without_a_note_is_listed_as_unknown(app: App, cli: Cli) -> None:
    """A quarantined entry whose note is missing is still listed and can be released."""
    entry_id = hold(app)
    (app.spool.quarantine_dir / f"{entry_id}.error.json").unlink()
    [entry] = cli.json("list")
    assert (entry["id"], entry["reason"], entry["attempts"]) == (entry_id, "unknown", 0)
    assert cli("release", entry_id)[0] == 0
    assert app.spool.quarantined_ids() == []


def test_broken_headers_and_notes_never_break_the_list(app: App, cli: Cli) -> None:
    """A From header that raises reads as "" and a nonsense note falls back to defaults."""
    broken = hold(app, b"From: a@[\r\nSubject: ok\r\n\r\nbody\r\n")
    junk = hold(app)
    note = app.spool.quarantine_dir / f"{junk}.error.json"
    note.write_text(json.dumps({"reason": 5, "attempts": "x", "quarantined_at": 1e300}))
    listed = {e["id"]: e for e in cli.json("list")}
    assert (listed[broken]["from_address"], listed[broken]["subject"]) == ("", "ok")
    assert (listed[junk]["reason"], listed[junk]["attempts"]) == ("unknown", 0)
    assert datetime.fromisoformat(listed[junk]["quarantined_at"]).year >= 2026
    assert cli("list")[0] == 0


def test_unreadable_entry_can_be_dropped_but_not_released(app: App, cli: Cli) -> None:
    """A file that is not a spool entry is listed, refused by release and replay, dropped."""
    (app.spool.new / "0123456789ABCDEF012345").write_bytes(b"garbage\n")
    assert drain(app)["quarantined"] == 1  # counted and audited like any held message
    good = hold(app)
    [entry] = [e for e in cli.json("list") if e["id"] != good]
    assert (entry["reason"], entry["received_at"]) == ("unreadable spool entry", None)
    code, _, err = cli("release", entry["id"])
    assert code == 1 and "not a readable spool entry" in err
    code, out, err = cli("replay")
    assert code == 1 and "released 1 message(s)" in out and entry["id"] in err
    assert cli("drop", entry["id"], "--yes")[0] == 0
    assert app.spool.quarantined_ids() == []


def test_release_is_locked_against_another_admin(app: App) -> None:
    """Two admins cannot release one message twice: the second is refused, then finds it gone."""
    entry_id = hold(app)
    service = QuarantineService(app.spool, app.sessions, "cli:test")
    with app.spool.open_quarantined(entry_id), pytest.raises(QuarantineError, match="someone"):
        service.release(entry_id)
    service.release(entry_id)
    with pytest.raises(QuarantineError, match=f"no quarantined message {entry_id}"):
        service.release(entry_id)
    assert len(new_entries(app)) == 1


def test_database_down_stops_a_release_before_files_change(app: App) -> None:
    """Without the database for the audit entry, nothing is released or dropped."""
    entry_id = hold(app)
    down = make_engine(DatabaseConfig(url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    service = QuarantineService(app.spool, session_factory(down), "cli:test")
    try:
        for operation in (service.release, service.drop):
            with pytest.raises(OperationalError):
                operation(entry_id)
    finally:
        down.dispose()
    assert app.spool.quarantined_ids() == [entry_id]
    assert new_entries(app) == []


def test_replay_after_a_rule_change_logs_what_the_old_rule_held(
    make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Held under ``[verify] require = "dkim"`` (a rep's unsigned mail from a trusted MTA);
    the admin relaxes the rule to "transport" and replays: the message is logged, once."""
    strict = build_app(make_config(verify={"require": "dkim"}))
    try:
        upgrade(strict.engine)
        strict.spool.ensure()
        add_user(strict, "anna@example.com", "Anna Nowak")
        trusted = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
        entry_id = strict.spool.store(make_message(to="Jan <jan@acme.pl>"), trusted)
        assert drain(strict)["quarantined"] == 1
        assert "DKIM" in strict.spool.quarantine_note(entry_id)["reason"]
    finally:
        strict.close()
    relaxed = build_app(make_config(verify={"require": "transport"}))
    try:
        code, out, _ = Cli(relaxed.config, capsys, "quarantine")("replay")
        assert (code, out) == (0, "released 1 message(s)\n")
        assert drain(relaxed)["logged"] == 1
        assert relaxed.spool.quarantined_ids() == []
        with relaxed.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Email)) == 1
    finally:
        relaxed.close()
