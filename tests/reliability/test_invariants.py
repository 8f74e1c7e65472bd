"""The invariant checker itself: each invariant fails when its rule is broken, so a scenario
that ends with ``check(node)`` cannot pass vacuously."""

from __future__ import annotations

import os
from collections.abc import Iterator
from copy import deepcopy
from dataclasses import replace

import pytest

from tests.conftest import fresh_database
from tests.reliability.harness import Node
from tests.reliability.invariants import check


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """One message logged by a real node; each test breaks a copy of its state."""
    root = tmp_path_factory.mktemp("invariants")
    with fresh_database("sqlite", root) as url:
        node = Node(root / "node", url)
        node.start()
        try:
            assert node.send().code == 250
            node.drain()
            node.stop_worker()
            yield node
        finally:
            node.stop()


@pytest.fixture
def logged(shared: Node) -> Iterator[Node]:
    assert check(shared).logged == 1
    ledger, log_size = deepcopy(shared.ledger), shared.log_path.stat().st_size
    yield shared
    shared.ledger = ledger
    with shared.log_path.open("r+b") as log:
        log.truncate(log_size)
    for name in os.listdir(shared.spool_path / "new"):
        os.unlink(shared.spool_path / "new" / name)


def violation(node: Node) -> str:
    with pytest.raises(AssertionError, match="invariants violated") as failure:
        check(node)
    return str(failure.value)


def test_an_accepted_entry_without_outcome_breaks_i1(logged: Node) -> None:
    logged.ledger.accepted.add("18EAEB74AFE8D3537FC528")
    assert "I-1/I-2: accepted 18EAEB74AFE8D3537FC528 has no outcome (nowhere)" in violation(logged)


def test_an_entry_left_in_the_spool_breaks_i2(logged: Node) -> None:
    (logged.spool_path / "new" / "18EAEB74AFE8D3537FC528").write_bytes(b"BCCRM1 {}\n")
    assert "I-2: not drained, still pending: ['18EAEB74AFE8D3537FC528']" in violation(logged)


def test_an_outcome_for_an_entry_never_accepted_breaks_i3(logged: Node) -> None:
    logged.ledger.accepted.clear()
    assert "has an outcome {'email.logged'} but was never accepted" in violation(logged)


def test_an_email_from_a_refused_message_breaks_i3(logged: Node) -> None:
    [sent] = logged.ledger.sent
    logged.ledger.sent.append(replace(sent, entry_id=None, code=550))  # as if refused too
    assert f"is the refused message {sent.message_id}" in violation(logged)


def test_a_contact_from_refused_mail_breaks_i3(logged: Node) -> None:
    [sent] = logged.ledger.sent
    logged.ledger.sent[0] = replace(sent, entry_id=None, code=550)
    logged.ledger.accepted.clear()
    logged.ledger.sent.append(replace(sent, addresses=frozenset(), marker="other"))
    assert "comes from refused mail" in violation(logged)


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("WARNING bccrm.worker: attempt 1 failed (OperationalError)", "exception name"),
        ('  File "/usr/lib/python3.11/email/parser.py", line 1', "traceback"),
        ("INFO bccrm.x: SELECT id FROM emails WHERE 1", "SQL"),
        ("INFO bccrm.x: at sqlalchemy/engine/base.py", "source path"),
    ],
)
def test_leaks_in_log_lines_break_i4(logged: Node, line: str, kind: str) -> None:
    with logged.log_path.open("a") as log:
        log.write(line + "\n")
    assert f"I-4: log line with {kind}" in violation(logged)


def test_a_body_or_a_path_in_a_log_line_breaks_i4(logged: Node) -> None:
    [sent] = logged.ledger.sent
    with logged.log_path.open("a") as log:
        log.write(f"INFO bccrm.worker: body said {sent.marker}\n")
        log.write(f"INFO bccrm.spool: wrote {logged.spool_path}/new/x\n")
    problems = violation(logged)
    assert "I-4: log line with a message body" in problems
    assert "I-4: log line with a path" in problems


def test_a_leaking_reply_breaks_i4(logged: Node) -> None:
    logged.ledger.reply(500, "Error: (KeyError) 'x'")
    assert "I-4: reply line with exception name" in violation(logged)
