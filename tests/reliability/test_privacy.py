"""Privacy: erasure, retention, private markers and third parties, against real bccrm
processes (edge + worker) and the real ``bccrm erase`` / ``bccrm retention run`` commands.

Each scenario asserts what is stored (rows of the node's database, the SQLite file itself,
spool and quarantine files, everything bccrm printed) and ends with the invariants.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from tests.conftest import BACKENDS, fresh_database
from tests.reliability.harness import LOG, REP, Node, Sent
from tests.reliability.invariants import check, outcome
from tests.support import make_message

Record = Callable[[str], None]

JAN = "jan@acme.pl"
EWA = "ewa@beta.pl"
JAN_PHONE = "+48601234567"
JAN_SIGNATURE = (
    "Pozdrawiam\nJan Kowalski\nKierownik Działu Zakupów\nACME Sp. z o.o.\ntel. 601 234 567\n"
)
RETENTION = {"body_days": 90, "email_days": 365, "spool_days": 30}
PIOTR = "piotr@delta.pl"
PIOTR_PHONE = "+48602111222"
PIOTR_SIGNATURE = "Pozdrawiam\nPiotr Zieliński\nDelta S.A.\ntel. 602 111 222\n"
HELD_FROM = "Anna Nowak <anna@example.com.>"  # not exactly one valid address: held
NOT_ONE_ADDRESS = "From is not exactly one valid address"


def send(node: Node, mail_from: str = REP, rcpt: str = LOG, **fields: Any) -> Sent:
    """Send a message built by ``tests.support.make_message`` with a secret body marker."""
    marker = f"BODYMARK{secrets.token_hex(8)}"
    message_id = f"<priv-{secrets.token_hex(8)}@example.com>"
    fields.setdefault("sender", f"Anna Nowak <{REP}>")
    fields["body"] = fields.get("body", "Dzień dobry,\n\nw załączeniu oferta.\n") + f"\n{marker}\n"
    raw = make_message(message_id=message_id, **fields)
    sent = node.send(raw, marker=marker, message_id=message_id, sender=mail_from, rcpts=[rcpt])
    assert sent.code == 250 and sent.entry_id, sent.reply
    return sent


def email_of(node: Node, sent: Sent) -> dict[str, Any]:
    action, email_id = outcome(node, sent)
    assert action == "email.logged", (action, email_id)
    [row] = node.rows(
        "SELECT id, from_email, subject, body_text, reply_text, privacy_level, privacy "
        "FROM emails WHERE id = :i",
        i=int(email_id),
    )
    email = dict(row._mapping)
    if isinstance(email["privacy"], str):
        email["privacy"] = json.loads(email["privacy"])
    rules = email["privacy"].get("rules", [])
    email["rules_hit"] = [r["rule"] for r in rules if r["hit"]]  # as bccrm export shows them
    email["participants"] = [
        tuple(p)
        for p in node.rows(
            "SELECT role, email FROM email_participants WHERE email_id = :i ORDER BY id",
            i=int(email_id),
        )
    ]
    return email


def contact_addresses(node: Node) -> set[str]:
    return {row[0] for row in node.rows("SELECT email FROM contact_emails")}


def database_text(node: Node) -> str:
    """Every row of every table, as text (lower case): what a query could ever find."""
    rows: list[str] = []
    for table in inspect(node.engine).get_table_names():
        rows.extend(repr(tuple(row)) for row in node.rows(f'SELECT * FROM "{table}"'))
    return "\n".join(rows).lower()


def spool_bytes(node: Node) -> bytes:
    """Every file in the spool (tmp, new, cur, quarantine and the notes), lower case."""
    return b"\n".join(p.read_bytes() for p in node.spool_path.rglob("*") if p.is_file()).lower()


def database_file_bytes(node: Node) -> bytes:
    """The SQLite file and its write-ahead log as bytes (free pages included)."""
    path = Path(node.database_url.removeprefix("sqlite:///"))
    files = [path, path.with_name(path.name + "-wal")]
    return b"".join(p.read_bytes() for p in files if p.exists()).lower()


def cli_json(node: Node, *args: str) -> dict[str, Any]:
    out = node.cli(*args, "--json")
    data: dict[str, Any] = json.loads(out[out.index("{") : out.rindex("}") + 1])
    return data


# -- erasure: one node per database ------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The reliability ``backend`` fixture, module-scoped here: the erasure node is shared."""
    return str(request.param)


@pytest.fixture(scope="module")
def erasure_node(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[Node]:
    """A running node for the erasure scenarios (each erases a different person)."""
    root = tmp_path_factory.mktemp(f"erasure-{backend}")
    with fresh_database(backend, root) as url:
        node = Node(root, url, {"retention": RETENTION})
        try:
            yield node.start()
        finally:
            node.stop()


@pytest.mark.scenario(
    "Privacy", "erasure reaches contact, emails, spool, quarantine, derived phones, logs"
)
def test_erasure_reaches_everything(erasure_node: Node, backend: str, record: Record) -> None:
    node = erasure_node
    reply = send(
        node,
        mail_from=JAN,
        sender=f"Jan Kowalski <{JAN}>",
        to=f"Anna Nowak <{REP}>",
        subject="Re: Oferta",
        body=f"Dzień dobry,\n\nzgoda, proszę o umowę.\n\n{JAN_SIGNATURE}",
    )
    shared = send(
        node,
        to=f"Jan Kowalski <{JAN}>, Ewa Lis <{EWA}>",
        subject="Spotkanie",
        body=f"Dzień dobry,\n\nJan Kowalski ({JAN}) i Ewa Lis: spotkanie we wtorek.\n",
    )
    held = send(node, sender=HELD_FROM, to=f"Jan Kowalski <{JAN}>")
    node.drain()
    assert outcome(node, held) == ("message.held", NOT_ONE_ADDRESS)
    [(contact_id,)] = node.rows("SELECT contact_id FROM contact_emails WHERE email = :a", a=JAN)
    phones = node.rows("SELECT e164 FROM contact_phones WHERE contact_id = :c", c=contact_id)
    assert [p[0] for p in phones] == [JAN_PHONE]  # derived from his signature
    node.stop_worker()
    pending = send(node, to=f"Jan Kowalski <{JAN}>", subject="Umowa")
    assert pending.entry_id in node.spool_entries("new")

    report = cli_json(node, "erase", JAN)

    only_jan, with_ewa = email_of(node, reply), email_of(node, shared)
    assert report["contacts"] == [contact_id]
    assert report["emails_emptied"] == [only_jan["id"]]
    assert report["emails_redacted"] == [with_ewa["id"]]
    assert report["phones_removed"] == 1
    assert report["spool_entries_removed"] == [pending.entry_id]
    assert report["quarantine_entries_removed"] == [held.entry_id]
    assert report["suppression_added"] is True
    # The contact is a tombstone; his mail keeps metadata only, shared mail is redacted.
    [tombstone] = node.rows(
        "SELECT status, first_name, last_name, title, company_id FROM contacts WHERE id = :c",
        c=contact_id,
    )
    assert tuple(tombstone) == ("erased", "", "", "", None)
    assert (only_jan["body_text"], only_jan["reply_text"], only_jan["privacy_level"]) == (
        "",
        "",
        "metadata",
    )
    assert only_jan["from_email"] == "erased@invalid"
    assert "[erased]" in with_ewa["body_text"]
    assert with_ewa["participants"] == [("from", REP), ("to", EWA)]
    assert not node.rows("SELECT id FROM contact_phones WHERE contact_id = :c", c=contact_id)
    # Spool and quarantine: the waiting copy and the held copy are gone, with the note.
    assert pending.entry_id not in node.spool_entries("new")
    assert held.entry_id not in node.spool_entries("quarantine")
    assert not (node.spool_path / "quarantine" / f"{held.entry_id}.error.json").exists()
    # Nothing that identifies him is left anywhere bccrm writes.
    traces = [JAN, "kowalski", "601234567", "601 234 567"]
    text, spool, logs = database_text(node), spool_bytes(node), node.logs().lower()
    for trace in traces:
        assert trace not in text, f"{trace} in the database"
        assert trace.encode() not in spool, f"{trace} in the spool"
        assert trace not in logs, f"{trace} in the log"
    if backend == "sqlite":
        on_disk = database_file_bytes(node)
        assert JAN.encode() not in on_disk and b"601234567" not in on_disk
    # The waiting copy was erased before any worker saw it: it has no outcome, by design.
    node.ledger.accepted.discard(str(pending.entry_id))
    node.start_worker()
    node.drain()
    check(node)
    record("contact tombstoned, 1 emptied + 1 redacted, phone, spool + quarantine copies gone")


@pytest.mark.scenario("Privacy", "erased person writes again")
def test_erased_person_writes_again(erasure_node: Node, record: Record) -> None:
    node = erasure_node
    send(node, to=f"Piotr Zieliński <{PIOTR}>, Ewa Lis <{EWA}>", subject="Oferta")
    node.drain()
    assert {PIOTR, EWA} <= contact_addresses(node)
    report = cli_json(node, "erase", PIOTR)
    assert report["suppression_added"] is True
    alone = send(
        node,
        mail_from=PIOTR,
        sender=f"Piotr Zieliński <{PIOTR}>",
        to=f"Anna Nowak <{REP}>",
        subject="Sam",
    )
    with_ewa = send(
        node,
        mail_from=PIOTR,
        sender=f"Piotr Zieliński <{PIOTR}>",
        to=f"Anna Nowak <{REP}>",
        cc=f"Ewa Lis <{EWA}>",
        subject="Znowu ja",
        body=f"Proszę o kontakt: {PIOTR}\n\n{PIOTR_SIGNATURE}",
    )
    to_him = send(node, to=f"Piotr Zieliński <{PIOTR}>", subject="Odpowiedź")
    node.drain()
    assert outcome(node, alone) == ("message.dropped", "privacy: nothing_left")
    assert outcome(node, to_him) == ("message.dropped", "privacy: nothing_left")
    email = email_of(node, with_ewa)
    assert email["from_email"] == "excluded@invalid"
    assert email["participants"] == [("to", REP), ("cc", EWA)]
    assert "suppressed" in email["rules_hit"]
    assert PIOTR not in email["body_text"] and "[excluded]" in email["body_text"]
    # He is not brought back: no contact, no phone, his address nowhere in the database.
    assert PIOTR not in contact_addresses(node) and EWA in contact_addresses(node)
    assert not node.rows("SELECT id FROM contact_phones WHERE e164 = :p", p=PIOTR_PHONE)
    text = database_text(node)
    assert PIOTR not in text and PIOTR_PHONE not in text
    check(node)
    record("alone or written to: dropped (privacy: nothing_left); with others: he is [excluded]")


# -- retention --------------------------------------------------------------------------------

# ``bccrm retention run`` has no --now option: the service takes a clock, the command does not.
# This runs the real command in its own process with the service's clock set to BCCRM_TEST_NOW.
WITH_CLOCK = """
import datetime, functools, os, sys
from gateway.cli import erasure, main
from gateway.services.retention import RetentionService
now = datetime.datetime.fromisoformat(os.environ["BCCRM_TEST_NOW"])
erasure.RetentionService = functools.partial(RetentionService, clock=lambda: now)
sys.exit(main())
"""


RETENTION_RUN = ("retention", "run", "--json")


def retention_at(node: Node, now: datetime) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", WITH_CLOCK, "--config", str(node.config_path), *RETENTION_RUN],
        env=os.environ | {"BCCRM_TEST_NOW": now.isoformat()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    with node.log_path.open("a", encoding="utf-8") as log:
        log.write(result.stderr)
    assert result.returncode == 0, result
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["now"] == now.isoformat() and data["dry_run"] is False
    return data


@pytest.mark.scenario("Privacy", "retention purge with an injected clock")
def test_retention_purge_with_an_injected_clock(
    erasure_node: Node, backend: str, record: Record
) -> None:
    """On the erasure node (configured with retention periods; runs after the erasure
    scenarios, so the expected counts include their mail)."""
    node = erasure_node
    start = datetime.now(UTC)
    sent = [
        send(node, to=f"Klient {i} <klient{i}@customer.pl>", subject=f"Oferta {i}")
        for i in range(2)
    ]
    held = send(node, sender=HELD_FROM)
    node.drain()
    assert outcome(node, held) == ("message.held", NOT_ONE_ADDRESS)
    quarantined = node.spool_entries("quarantine")
    assert held.entry_id in quarantined
    [(with_body,)] = node.rows(
        "SELECT count(*) FROM emails WHERE body_text != '' OR reply_text != ''"
    )
    [(emails,)] = node.rows("SELECT count(*) FROM emails")
    [(runs_before,)] = node.rows("SELECT count(*) FROM audit_log WHERE action = 'retention.run'")

    def counts(data: dict[str, Any]) -> tuple[int, int, list[str]]:
        return data["bodies_cleared"], data["emails_deleted"], data["quarantine_removed"]

    today = cli_json(node, "retention", "run")  # the real clock: everything is young
    assert counts(today) == (0, 0, [])
    assert counts(retention_at(node, start + timedelta(days=31))) == (0, 0, quarantined)
    assert node.spool_entries("quarantine") == []
    assert counts(retention_at(node, start + timedelta(days=91))) == (with_body, 0, [])
    for s in sent:
        email = email_of(node, s)
        assert (email["body_text"], email["reply_text"]) == ("", "")
        assert "body_removed_at" in email["privacy"]
    assert counts(retention_at(node, start + timedelta(days=366))) == (0, emails, [])
    assert node.rows("SELECT count(*) FROM emails") == [(0,)]
    assert node.rows("SELECT count(*) FROM email_participants") == [(0,)]
    assert {"klient0@customer.pl", "klient1@customer.pl"} <= contact_addresses(node)  # stay
    runs = node.rows("SELECT count(*) FROM audit_log WHERE action = 'retention.run'")
    assert runs == [(runs_before + 4,)]
    check(node)
    record("+31 d: quarantine gone; +91 d: bodies cleared; +366 d: emails deleted")


# -- private marker and third parties: one SQLite node ----------------------------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node for scenarios where the database does not matter; both send only to Jan."""
    root = tmp_path_factory.mktemp("privacy")
    with fresh_database("sqlite", root) as url:
        node = Node(root, url)
        try:
            yield node.start()
        finally:
            node.stop()


@pytest.mark.scenario("Privacy", "private marker")
def test_private_marker(shared: Node, record: Record) -> None:
    node = shared
    attachment = ("umowa.pdf", b"%PDF-1.4 tajne")
    body = "Tajne szczegóły wynagrodzenia.\n"
    markers = {
        "log+private@": send(
            node, rcpt="log+private@crm.example.com", body=body, attachment=attachment
        ),
        "subject tag": send(
            node, subject="Wynagrodzenie [PRYWATNE]", body=body, attachment=attachment
        ),
        "X-CRM-Log: private": send(node, body=body, attachment=attachment, X_CRM_Log="private"),
    }
    dropped = send(node, body=body, attachment=attachment, X_CRM_Log="no")
    control = send(node, subject="Zwykła oferta", body=body, attachment=attachment)
    node.drain()
    for how, sent in markers.items():
        email = email_of(node, sent)
        assert (email["privacy_level"], email["body_text"], email["reply_text"]) == (
            "metadata",
            "",
            "",
        ), how
        assert "private_marker" in email["rules_hit"], how
        assert email["participants"] == [("from", REP), ("to", JAN)], how
        names = node.rows(
            "SELECT filename FROM email_attachments WHERE email_id = :i", i=email["id"]
        )
        assert [n[0] for n in names] == [""], how
    assert outcome(node, dropped) == ("message.dropped", "privacy: private_marker")
    full = email_of(node, control)
    assert full["privacy_level"] == "full" and "wynagrodzenia" in full["body_text"]
    text = database_text(node)
    for sent in [*markers.values(), dropped]:
        assert sent.marker.lower() not in text  # no private body anywhere in the database
    assert "umowa.pdf" in text  # only the control's attachment name
    assert text.count("umowa.pdf") == 1
    check(node)
    record("3 markers: metadata only (no body, no attachment names); X-CRM-Log: no dropped")


# -- third parties ----------------------------------------------------------------------------


@pytest.mark.scenario(
    "Privacy", "contacts never created from quoted text or signatures of third parties"
)
def test_no_contacts_from_quoted_text_or_third_party_signatures(
    shared: Node, record: Record
) -> None:
    node = shared
    quoted = (
        "Dzień dobry,\n\nzgoda na warunki.\n\n"
        + JAN_SIGNATURE
        + "\nW dniu 2.11.2026 o 09:30, Piotr Wiśniewski <piotr@third.pl> napisał:\n"
        "> Proszę kontaktować się z ola.nowak@third.pl, tel. 602 345 678.\n"
        "> \n> Piotr Wiśniewski\n> Dyrektor Handlowy\n> Third Sp. z o.o.\n"
        "> tel. 603 456 789\n> piotr@third.pl\n"
    )
    reply = send(
        node,
        mail_from=JAN,
        sender=f"Jan Kowalski <{JAN}>",
        to=f"Anna Nowak <{REP}>",
        subject="Re: Oferta",
        body=quoted,
    )
    pasted = (
        "Dzień dobry,\n\nprzesyłam kontakt do naszego partnera:\n\n"
        "Marek Nowicki\nPrezes Zarządu\nFourth S.A.\nmarek@fourth.pl\ntel. +48 604 567 890\n"
    )
    outbound = send(node, to=f"Jan Kowalski <{JAN}>", subject="Kontakt", body=pasted)
    node.drain()
    assert email_of(node, reply)["participants"] == [("from", JAN), ("to", REP)]
    assert email_of(node, outbound)["participants"] == [("from", REP), ("to", JAN)]
    assert contact_addresses(node) == {JAN}
    phones = {row[0] for row in node.rows("SELECT e164 FROM contact_phones")}
    assert phones <= {JAN_PHONE}
    for third in ("+48602345678", "+48603456789", "+48604567890"):
        assert third not in phones
    names = {
        f"{first} {last}".lower()
        for first, last in node.rows("SELECT first_name, last_name FROM contacts")
    }
    assert not any("piotr" in n or "marek" in n or "ola" in n for n in names), names
    companies = {row[0].lower() for row in node.rows("SELECT name FROM companies")}
    assert not any("third" in c or "fourth" in c for c in companies), companies
    check(node)
    record("only Jan is a contact; quoted and pasted people, phones and companies are not")
