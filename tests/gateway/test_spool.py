"""The durable queue: store, claim, finish, retry, quarantine and crash recovery."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import pytest

from gateway.spool import Envelope, Spool

ENVELOPE = Envelope(
    mail_from="anna@example.com", rcpt_tos=("log@crm.example.com",), peer="127.0.0.1", helo="mta"
)


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    s = Spool(tmp_path / "spool")
    s.ensure()
    return s


def test_store_round_trips_bytes_and_envelope(spool: Spool) -> None:
    raw = b"Subject: x\r\n\r\n\x00\xff binary-safe\r\n"
    entry_id = spool.store(raw, ENVELOPE)
    claim = spool.claim(entry_id)
    assert claim is not None
    assert (claim.raw, claim.envelope) == (raw, ENVELOPE)
    assert claim.attempt == 1
    assert claim.path == spool.cur / f"{entry_id}.a1"
    spool.finish(claim)
    assert list(spool.cur.iterdir()) == list(spool.new.iterdir()) == []


def test_spool_directories_are_private(spool: Spool) -> None:
    assert all((p.stat().st_mode & 0o777) == 0o700 for p in (spool.root, spool.new, spool.tmp))


def test_ids_sort_by_arrival(spool: Spool) -> None:
    ids = [spool.store(b"x", ENVELOPE) for _ in range(20)]
    assert spool.pending() == sorted(ids) == ids


def test_an_entry_is_claimed_once(spool: Spool) -> None:
    entry_id = spool.store(b"x", ENVELOPE)
    first = spool.claim(entry_id)
    assert first is not None
    assert spool.claim(entry_id) is None
    spool.finish(first)


def test_retry_counts_attempts_and_waits_until_due(spool: Spool) -> None:
    entry_id = spool.store(b"x", ENVELOPE)
    claim = spool.claim(entry_id)
    assert claim is not None
    spool.retry(claim, delay=60)
    assert spool.pending() == []
    assert spool.pending(now=time.time() + 61) == [f"{entry_id}.a1"]
    again = spool.claim(f"{entry_id}.a1")
    assert again is not None and again.attempt == 2
    spool.retry(again, delay=0, count_attempt=False)
    assert spool.pending() == [f"{entry_id}.a1"]


def test_quarantine_keeps_the_message_and_the_reason(spool: Spool) -> None:
    entry_id = spool.store(b"raw", ENVELOPE)
    claim = spool.claim(entry_id)
    assert claim is not None
    spool.quarantine(claim, "processing failed 3 times (ValueError)")
    assert spool.peek(spool.quarantine_dir / entry_id) == (ENVELOPE, b"raw")
    [note] = spool.quarantined()
    assert note["reason"] == "processing failed 3 times (ValueError)"
    assert spool.depth() == {"new": 0, "cur": 0, "quarantine": 1}


def test_unreadable_entry_is_claimed_as_such_and_quarantined(spool: Spool) -> None:
    (spool.new / "BOGUS").write_bytes(b"not a spool entry")
    claim = spool.claim("BOGUS")
    assert claim is not None and claim.unreadable
    spool.quarantine(claim, "unreadable spool entry")
    assert (spool.quarantine_dir / "BOGUS").exists()
    assert (
        json.loads((spool.quarantine_dir / "BOGUS.error.json").read_text())["reason"]
        == "unreadable spool entry"
    )


def _claim_and_die(root: str, entry_id: str) -> None:
    claim = Spool(Path(root)).claim(entry_id)
    assert claim is not None
    os.kill(os.getpid(), signal.SIGKILL)


def test_recover_returns_entries_of_dead_workers_only(spool: Spool) -> None:
    dead = spool.store(b"dead", ENVELOPE)
    live = spool.store(b"live", ENVELOPE)
    process = multiprocessing.get_context("spawn").Process(
        target=_claim_and_die, args=(str(spool.root), dead)
    )
    process.start()
    process.join(30)
    assert process.exitcode == -signal.SIGKILL
    held = spool.claim(live)
    assert held is not None
    assert spool.recover() == 1
    assert spool.pending() == [f"{dead}.a1"]  # the killed attempt counts
    assert held.path.exists()
    spool.finish(held)
