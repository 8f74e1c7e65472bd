"""The four invariants every reliability scenario ends with (../shared/RELIABILITY.md).

I-1  No 250 without a durable spool entry: every entry id a ``250 … queued as`` reply named is
     in the spool (``new``, ``cur``, ``quarantine``) or has an outcome in the audit log.
     :func:`assert_spooled` checks the stronger form right after the reply: the entry file is
     there, complete, holding the bytes the client sent.
I-2  After draining, accepted = logged + quarantined + dropped by policy, each with an audit
     entry naming the spool entry, and nothing left in ``new``/``cur``.
I-3  No CRM row for anything refused or unauthorized: every email row goes back to an accepted
     entry; no refused message's Message-ID is an email, no address seen only in refused mail
     is a contact.
I-4  No reply text or log line (bccrm logs at INFO) carries exception names, tracebacks, SQL,
     file paths or message bodies (each message sent carries a secret body marker).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from gateway.spool import MAGIC, Spool
from tests.reliability.harness import Node, Sent

OUTCOME_BY_DETAIL = ("email.logged", "email.duplicate")
OUTCOME_BY_OBJECT = ("message.dropped", "message.held", "message.quarantined")
RELEASES = ("quarantine.released", "quarantine.replayed")

LEAKS = {
    "traceback": re.compile(r"Traceback \(most recent call last\)|^\s+File \"", re.M),
    "exception name": re.compile(r"\b\w+(?:Error|Exception|Interrupt|Exit)\b"),
    "SQL": re.compile(
        r"\b(?:SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b"
        r"|\bsqlite3\b|\bpsycopg\b|\bsqlalchemy\b",
        re.I,
    ),
    "source path": re.compile(r"/site-packages/|\.py\b"),
}


@dataclass
class Accounting:
    accepted: int
    logged: int
    duplicate: int
    dropped: int
    held: int
    quarantined: int
    emails: int

    def __str__(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in self.__dict__.items())


def _details(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value or {})


@dataclass
class Audited:
    """What the audit log says happened to spool entries."""

    outcomes: dict[str, list[str]]  # entry id -> actions, in order
    logged_emails: dict[int, str]  # email id -> the entry it was logged from
    released: set[str]  # entry ids that quarantine release/replay put back into the spool


def audited(node: Node) -> Audited:
    result = Audited({}, {}, set())
    for action, object_id, details in node.rows(
        "SELECT action, object_id, details FROM audit_log WHERE action IN "
        "('email.logged', 'email.duplicate', 'message.dropped', 'message.held', "
        "'message.quarantined', 'quarantine.released', 'quarantine.replayed') "
        "ORDER BY id"
    ):
        info = _details(details)
        if action in RELEASES:
            if info.get("new_id"):
                result.released.add(str(info["new_id"]))
            continue
        entry = str(info.get("entry", "")) if action in OUTCOME_BY_DETAIL else object_id
        result.outcomes.setdefault(entry, []).append(action)
        if action == "email.logged":
            result.logged_emails[int(object_id)] = entry
    return result


def outcome(node: Node, sent: Sent) -> tuple[str, str]:
    """What the worker decided for an accepted message: (audit action, the email id for a
    logged or duplicate one, else the reason)."""
    assert sent.code == 250 and sent.entry_id, sent.reply
    for action, object_id, details in node.rows(
        "SELECT action, object_id, details FROM audit_log WHERE action IN "
        "('email.logged', 'email.duplicate', 'message.dropped', 'message.held', "
        "'message.quarantined') ORDER BY id"
    ):
        info = _details(details)
        if action in OUTCOME_BY_DETAIL and info.get("entry") == sent.entry_id:
            return action, object_id
        if action in OUTCOME_BY_OBJECT and object_id == sent.entry_id:
            return action, str(info.get("reason", ""))
    raise AssertionError(f"no outcome for {sent.entry_id}")


def check(node: Node) -> Accounting:
    """Assert I-1 to I-4 on a drained node; return the accounting."""
    problems: list[str] = []
    log = audited(node)
    accepted = node.ledger.accepted | log.released
    outcomes = {entry: set(actions) for entry, actions in log.outcomes.items()}
    logged_emails = log.logged_emails

    # I-1 and I-2: every accepted entry is in quarantine or has an outcome; nothing pending.
    pending = node.spool_entries("new") + node.spool_entries("cur")
    if pending:
        problems.append(f"I-2: not drained, still pending: {pending}")
    quarantine = set(node.spool_entries("quarantine"))
    for entry in sorted(accepted):
        if entry in quarantine:
            if not outcomes.get(entry, set()) & {"message.held", "message.quarantined"}:
                problems.append(f"I-2: {entry} is in quarantine without an audit entry")
        elif not outcomes.get(entry):
            where = "pending" if entry in pending else "nowhere"
            problems.append(f"I-1/I-2: accepted {entry} has no outcome ({where})")
    for entry in sorted(set(outcomes) - accepted):
        problems.append(f"I-3: {entry} has an outcome {outcomes[entry]} but was never accepted")
    for entry in sorted(quarantine - accepted):
        problems.append(f"I-3: {entry} is in quarantine but was never accepted")

    # I-3: emails only from accepted entries; nothing from refused messages.
    emails = node.rows("SELECT id, message_id FROM emails")
    for email_id, _message_id in emails:
        if email_id not in logged_emails:
            problems.append(f"I-3: email {email_id} has no email.logged audit entry")
    refused = node.ledger.refused()
    refused_ids = {sent.message_id for sent in refused if sent.message_id}
    for email_id, message_id in emails:
        if message_id in refused_ids:
            problems.append(f"I-3: email {email_id} is the refused message {message_id}")
    accepted_addresses = set().union(*(s.addresses for s in node.ledger.sent if s.accepted))
    only_refused = set().union(*(s.addresses for s in refused)) - accepted_addresses
    for (address,) in node.rows("SELECT email FROM contact_emails"):
        if address in only_refused:
            problems.append(f"I-3: contact {address} comes from refused mail")

    problems.extend(leaks(node))
    assert not problems, "invariants violated:\n" + "\n".join(problems)

    def count(action: str) -> int:
        return sum(1 for entry in accepted if action in outcomes.get(entry, set()))

    return Accounting(
        accepted=len(accepted),
        logged=count("email.logged"),
        duplicate=sum(
            1
            for entry in accepted
            if outcomes.get(entry, set()) == {"email.duplicate"}  # a copy of an earlier email
        ),
        dropped=count("message.dropped"),
        held=count("message.held"),
        quarantined=len(quarantine & accepted),
        emails=len(emails),
    )


def leaks(node: Node) -> list[str]:
    """I-4 over every reply the node's clients received and everything bccrm printed."""
    problems = []
    secrets_ = [m for m in node.ledger.markers() if m]
    root = str(node.root)
    for where, text in (("reply", "\n".join(node.ledger.replies)), ("log", node.logs())):
        for line in text.splitlines():
            for name, pattern in LEAKS.items():
                if pattern.search(line):
                    problems.append(f"I-4: {where} line with {name}: {line[:300]!r}")
            if root in line:
                problems.append(f"I-4: {where} line with a path: {line[:300]!r}")
            if any(marker in line for marker in secrets_):
                problems.append(f"I-4: {where} line with a message body: {line[:300]!r}")
    return problems


def assert_spooled(node: Node, entry_id: str, raw: bytes) -> None:
    """I-1 in its strong form: the entry named by a 250 is in ``new/`` (the worker is not
    running), complete, and holds the bytes that were sent."""
    path = node.spool_path / "new" / entry_id
    assert path.exists(), f"I-1: 250 for {entry_id} but no entry in new/"
    assert path.read_bytes().startswith(MAGIC), f"I-1: {entry_id} is not a spool entry"
    _envelope, body = Spool(node.spool_path).peek(path)
    expected = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
    assert body == expected, f"I-1: {entry_id} does not hold the bytes that were sent"
