"""Faults: processes killed at the worst moments, disks that fail, a database that goes away.

Each scenario runs real bccrm processes (harness.py), breaks something with a fault point
(gateway/faults.py), a resource limit, a proxy or a lock, brings the node back, and ends with
the invariant check.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable

import pytest

from gateway.app import build_app
from gateway.config import load_config
from gateway.services.never_log import NeverLogService
from gateway.smtp import replies
from tests.conftest import PG_URL
from tests.reliability.conftest import NodeFactory, sized
from tests.reliability.harness import Node, hostile_message
from tests.reliability.invariants import assert_spooled, audited, check
from tests.reliability.proxy import proxy_for

KILLED = -signal.SIGKILL


def spool_while_worker_stopped(node: Node, count: int) -> None:
    node.start_edge()
    for index in range(count):
        sent = node.send(index=index)
        assert sent.code == 250, sent.reply
        assert sent.entry_id is not None
        assert_spooled(node, sent.entry_id, sent.raw)


def kill_worker_at(node: Node, point: str) -> None:
    """Start a worker that dies at ``point``; wait for the SIGKILL."""
    node.start_worker(faults=[point])
    assert node.wait_exit(node.worker) == KILLED
    node.worker = None


@pytest.mark.scenario("Faults", "kill -9 after 250 before commit, inside the commit, after commit")
@pytest.mark.parametrize("point", ["before-commit", "inside-commit", "after-commit"])
def test_worker_killed_around_the_commit_logs_each_message_exactly_once(
    make_node: NodeFactory, backend: str, point: str, record: Callable[[str], None]
) -> None:
    node = make_node(backend)
    spool_while_worker_stopped(node, 3)
    kill_worker_at(node, f"{point}@1")
    accepted = sorted(node.ledger.accepted)
    # The three waiting messages are one batch, one transaction: all claimed, none finished.
    assert node.spool_entries("cur") == accepted
    node.start_worker()
    node.drain()
    result = check(node)
    assert (result.logged, result.emails, result.quarantined) == (3, 3, 0)
    # Killed after the commit, each message is processed again and found to be a duplicate
    # of itself; killed before, the database rolled back and each is logged once, afresh.
    expected = ["email.logged", "email.duplicate"] if point == "after-commit" else ["email.logged"]
    outcomes = audited(node).outcomes
    assert [outcomes[entry] for entry in accepted] == [expected] * 3
    record("killed at each point with a batch of 3 in hand: 3 emails, none twice")


@pytest.mark.scenario("Faults", "a poison message (quarantined after 3 attempts, later mail fine)")
def test_message_that_kills_the_worker_three_times_is_quarantined(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    node = make_node("sqlite")
    spool_while_worker_stopped(node, 1)
    [poison] = node.ledger.accepted
    for _ in range(3):  # the crash in C code, the OOM kill: the worker dies holding it
        kill_worker_at(node, "after-claim")
    later = [node.send(index=i) for i in range(1, 3)]
    assert [s.code for s in later] == [250, 250]
    node.start_worker()
    node.drain()
    result = check(node)
    assert (result.logged, result.quarantined) == (2, 1)
    assert node.spool_entries("quarantine") == [poison]
    listing = node.cli("quarantine", "list")
    assert "processing stopped the worker 3 times" in listing
    record("quarantined on the 4th claim; 2 later messages logged")


@pytest.mark.scenario("Faults", "kill -9 of the edge after the spool write, before the rename")
def test_edge_killed_before_rename_answers_nothing_and_loses_nothing(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    node = make_node("sqlite")
    node.start_edge(faults=["spool-before-rename@1"])
    lost = node.send(index=0)
    assert (lost.code, lost.entry_id) == (0, None)  # no answer: the client keeps its copy
    assert node.wait_exit(node.edge) == KILLED
    node.edge = None
    assert node.spool_entries("new") == []
    [orphan] = node.spool_entries("tmp")
    node.start_edge()
    assert node.spool_entries("tmp") == [orphan]  # maybe still being written: kept for now
    node.stop_edge()
    old = time.time() - 7200
    os.utime(node.spool_path / "tmp" / orphan, (old, old))
    node.start_edge()
    assert node.spool_entries("tmp") == []
    assert "removed 1 partial spool entries" in node.logs()
    retried = node.send(index=1)
    assert retried.code == 250
    node.start_worker()
    node.drain()
    result = check(node)
    assert (result.accepted, result.logged, result.emails) == (1, 1, 1)
    record("no reply, nothing in new/; the partial file swept; the retry logged")


@pytest.mark.scenario("Faults", "kill -9 of the edge right after 250")
def test_edge_killed_right_after_250_keeps_the_entry(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    node = make_node("sqlite")
    node.start_edge()
    sent = node.send()
    node.stop_edge(signal.SIGKILL)
    assert sent.entry_id is not None
    assert_spooled(node, sent.entry_id, sent.raw)
    node.start_worker()
    node.drain()
    assert check(node).logged == 1
    record("the entry is complete in new/; logged after the restart")


@pytest.mark.scenario("Faults", "fsync error (451, never retried on the same descriptor)")
def test_fsync_error_answers_451_and_the_next_message_gets_a_new_file(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    node = make_node("sqlite")
    node.start_edge(faults=["spool-fsync-eio@1"])
    failed = node.send(index=0)
    assert f"{failed.code} {failed.reply}" == replies.QUEUE_WRITE_ERROR
    assert node.spool_entries("tmp") == node.spool_entries("new") == []
    after = node.send(index=1)
    assert after.code == 250
    assert "spool write failed: cannot write spool file: Input/output error" in node.logs()
    node.start_worker()
    node.drain()
    assert check(node).logged == 1
    record("451 4.3.0, nothing kept; the next message 250 on a new file")


@pytest.mark.scenario("Faults", "disk full at DATA")
def test_disk_full_while_writing_answers_452(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    node = make_node("sqlite")
    node.start_edge(fsize=512 * 1024)  # RLIMIT_FSIZE: writes past 512 KiB fail (EFBIG)
    raw, marker, message_id = hostile_message(0, body=("y" * 76 + "\n") * 9000)
    big = node.send(raw, marker=marker, message_id=message_id)
    assert f"{big.code} {big.reply}" == replies.INSUFFICIENT_STORAGE
    assert node.spool_entries("tmp") == node.spool_entries("new") == []
    small = node.send(index=1)
    assert small.code == 250
    node.start_worker()
    node.drain()
    assert check(node).logged == 1
    record("452 4.3.1 for 700 KB, nothing kept; a small message 250")


@pytest.mark.scenario("Faults", "disk full at MAIL")
def test_low_disk_answers_452_at_mail(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    # Free space below min_free_factor x max_message_size (Postfix's queue_minfree): a factor
    # no disk can satisfy makes the real statvfs answer "too little".
    node = make_node("sqlite", {"limits": {"min_free_factor": 1e9}})
    node.start()
    sent = node.send()
    assert f"{sent.code} {sent.reply}" == replies.INSUFFICIENT_STORAGE
    assert node.spool_entries("tmp") == node.spool_entries("new") == []
    assert check(node).accepted == 0
    record("452 4.3.1 at MAIL FROM")


@pytest.mark.scenario("Faults", "the same message delivered twice")
def test_same_message_twice_is_one_email(node: Node, record: Callable[[str], None]) -> None:
    raw, marker, message_id = hostile_message(0)
    first = node.send(raw, marker=marker, message_id=message_id)
    second = node.send(raw, marker=marker, message_id=message_id)
    assert (first.code, second.code) == (250, 250)
    node.drain()
    result = check(node)
    assert (result.accepted, result.logged, result.duplicate, result.emails) == (2, 1, 1, 1)
    record("2 accepted, 1 email, 1 duplicate")


@pytest.mark.scenario("Faults", "database down during delivery")
@pytest.mark.postgres
def test_postgresql_unreachable_then_back(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    with proxy_for(PG_URL) as proxy:
        node = make_node("postgresql", via=proxy.rewrite)
        node.start()
        proxy.cut()
        sent = [node.send(index=i) for i in range(5)]
        assert [s.code for s in sent] == [250] * 5  # the edge needs no database for this
        node.wait_log(r"database unavailable, will retry")
        time.sleep(1)
        proxy.restore()
        node.drain(timeout=90)
        result = check(node)
    assert (result.logged, result.emails, result.quarantined) == (5, 5, 0)
    record("5 accepted during the outage, 5 emails after it")


@pytest.mark.scenario("Faults", "database down during delivery")
def test_sqlite_locked_then_free(make_node: NodeFactory, record: Callable[[str], None]) -> None:
    node = make_node("sqlite", {"database": {"sqlite_busy_timeout": 0.2}})
    node.start()
    database = node.database_url.removeprefix("sqlite:///")
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        sent = [node.send(index=i) for i in range(5)]
        assert [s.code for s in sent] == [250] * 5
        node.wait_log(r"database unavailable, will retry")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    node.drain(timeout=90)
    result = check(node)
    assert (result.logged, result.emails, result.quarantined) == (5, 5, 0)
    record("5 accepted while locked, 5 emails after")


@pytest.mark.scenario("Faults", "the TUI and the worker writing at once on SQLite")
def test_admin_writes_while_the_worker_logs(
    make_node: NodeFactory, record: Callable[[str], None]
) -> None:
    node = make_node("sqlite")
    node.start_edge()
    count = sized(20, 100)
    for index in range(count):
        assert node.send(index=index).code == 250
    app = build_app(load_config(node.config_path))
    service = NeverLogService(app.sessions, actor="admin@example.com")
    errors: list[BaseException] = []
    added: list[str] = []
    done = threading.Event()

    def admin() -> None:  # what the Settings screen does, from its worker thread
        index = 0
        while not done.is_set():
            try:
                service.add(f"private{index}@elsewhere.test")
                added.append(f"private{index}@elsewhere.test")
            except BaseException as exc:
                errors.append(exc)
            index += 1

    thread = threading.Thread(target=admin)
    thread.start()
    try:
        node.start_worker()
        node.drain()
    finally:
        done.set()
        thread.join(30)
        app.close()
    assert errors == []
    [(listed,)] = node.rows("SELECT COUNT(*) FROM never_log")
    assert listed == len(added) > 0
    result = check(node)
    assert (result.logged, result.quarantined) == (count, 0)
    record(f"{count} logged while {len(added)} admin writes went in; no errors")
