"""The worker: drains the spool through the pipeline, retries, quarantines poison mail.

Runs in its own process, separate from the SMTP edge, so CPU-bound parsing never slows the
edge's replies. Failures are sorted in two kinds: the *infrastructure's* (the database is
unreachable) retry later without counting against the message, and the *message's* (anything
else) count an attempt; after ``worker.max_attempts`` the entry goes to quarantine. A killed
worker has already counted its attempt at claim time (see :mod:`gateway.spool`).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import deque
from types import FrameType

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from gateway import metrics
from gateway.config import WorkerConfig
from gateway.crm import repo
from gateway.errors import describe, log_failure
from gateway.faults import fault_point
from gateway.outbox import Dispatcher
from gateway.pipeline import MessageProcessor
from gateway.pipeline.runner import BatchFailed
from gateway.spool import Claim, Spool
from gateway.verify import TemporaryDNSError

log = logging.getLogger("bccrm.worker")

# Not the message's fault: retried later without counting an attempt.
MIN_BACKOFF, MAX_BACKOFF = 1.0, 60.0

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError,)
DISPATCH_INTERVAL = 1.0  # seconds between plugin delivery passes while mail flows
TICK_INTERVAL = 60.0  # seconds between bccrm_tick calls
SWEEP_INTERVAL = 600.0  # seconds between removals of abandoned partial spool entries


class Worker:
    def __init__(
        self,
        spool: Spool,
        processor: MessageProcessor,
        sessions: sessionmaker[Session],
        config: WorkerConfig,
        dns_retry_window: float = 3600.0,
        *,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        self.dns_retry_window = dns_retry_window
        self.dispatcher = dispatcher
        self._next_dispatch = 0.0
        self._next_tick = 0.0
        self._next_sweep = 0.0
        self.spool = spool
        self.processor = processor
        self.sessions = sessions
        self.config = config
        self.stopping = threading.Event()
        self.degraded = False  # the database failed during the last pass
        self.stats = {
            "logged": 0,
            "duplicate": 0,
            "dropped": 0,
            "held": 0,
            "retried": 0,
            "quarantined": 0,
        }

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: finish the message in hand, then exit."""

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %d: finishing the current message, then stopping", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def run(self) -> None:
        """Process entries until :attr:`stopping` is set."""
        self.spool.ensure()
        if recovered := self.spool.recover():
            log.info("recovered %d entries claimed by a worker that died", recovered)
        backoff = MIN_BACKOFF
        while not self.stopping.is_set():
            claimed = self.drain_once()
            self.plugins_pass()
            self.sweep()
            if self.degraded:
                # The database is failing: pause instead of claiming entry after entry.
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            else:
                backoff = MIN_BACKOFF
                if not claimed:
                    self.stopping.wait(self.config.poll_interval)

    def plugins_pass(self, force: bool = False) -> None:
        """Deliver due plugin events (at most once a second) and let plugins do time-based
        work (about once a minute). A failure here is logged and never stops the spool."""
        if self.dispatcher is None:
            return
        now = time.monotonic()
        try:
            if force or now >= self._next_dispatch:
                self._next_dispatch = now + DISPATCH_INTERVAL
                self.dispatcher.run()
            if force or now >= self._next_tick:
                self._next_tick = now + TICK_INTERVAL
                self.dispatcher.host.tick(self.dispatcher.host.now())
                self.dispatcher.prune()
        except Exception as exc:  # the database is down: the outbox keeps, try next pass
            log_failure(log, logging.WARNING, "plugin deliveries postponed", exc)

    def sweep(self) -> None:
        """Now and then, remove partial spool entries a killed writer left in ``tmp/``."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        try:
            self.spool.sweep_tmp()
        except OSError as exc:
            log_failure(log, logging.WARNING, "spool sweep failed", exc)

    def drain_once(self) -> int:
        """Process every entry that is due now; return how many were claimed.

        Entries are claimed in batches of up to ``[worker] batch_size``, processed in one
        transaction each (:meth:`MessageProcessor.process_batch`). An entry claimed before
        (put back after a failure, or recovered from a worker that died holding it) is
        processed on its own: a message that kills the worker never takes other mail's
        attempts with it."""
        claimed = 0
        self.degraded = False
        batch: list[Claim] = []
        for name in self.spool.pending():
            if self.stopping.is_set():
                break
            claim = self.spool.claim(name, durable=False)
            if claim is None:
                continue
            claimed += 1
            if claim.unreadable:
                self._quarantine(claim, "unreadable spool entry")
                continue
            if claim.attempt > self.config.max_attempts:
                # Every claim counts an attempt, so the earlier ones ended with the worker
                # dying (killed, out of memory, a crash in C code): never try a fourth time.
                self._quarantine(claim, f"processing stopped the worker {claim.attempt - 1} times")
                continue
            fault_point("after-claim")
            batch.append(claim)
            if len(batch) >= self.config.batch_size or claim.attempt > 1:
                if not self._handle_claims(batch):
                    self.degraded = True
                    return claimed
                batch = []
        if batch and not self._handle_claims(batch):  # claimed: finished even when stopping
            self.degraded = True
        return claimed

    def _handle_claims(self, claims: list[Claim]) -> bool:
        """Process claimed entries: the first-time ones together, the others one by one.
        False when the database is unavailable (the entries not done are put back)."""
        self.spool.sync()  # every claim's attempt is counted on disk before any work
        fresh = [c for c in claims if c.attempt == 1]
        runs: deque[list[Claim]] = deque([fresh] if fresh else [])
        runs.extend([c] for c in claims if c.attempt > 1)
        while runs:
            run = runs.popleft()
            ok = self.handle(run[0]) if len(run) == 1 else self._handle_batch(run, runs)
            if not ok:
                for claim in (c for rest in runs for c in rest):
                    self.spool.retry(claim, 0.0, count_attempt=False)  # never tried: due now
                return False
        return True

    def _handle_batch(self, run: list[Claim], runs: deque[list[Claim]]) -> bool:
        """Process ``run`` in one transaction. When one message fails (held, an error, a
        lost race), nothing of the batch is written: the messages before it go again as a
        batch, it goes on its own through :meth:`handle`, the rest as the next batch."""
        try:
            outcomes = self.processor.process_batch([(c.entry_id, c.raw, c.envelope) for c in run])
        except BatchFailed as failed:
            if isinstance(failed.cause, TRANSIENT_ERRORS):
                return self._unavailable(run)
            i = failed.index
            log.debug("batch of %d: entry %s needs its own transaction", len(run), run[i].entry_id)
            runs.extendleft(reversed([part for part in (run[:i], [run[i]], run[i + 1 :]) if part]))
            return True
        except TRANSIENT_ERRORS:  # at BEGIN or COMMIT
            return self._unavailable(run)
        except Exception as exc:  # the batch's lookups or COMMIT: no one message's fault
            log_failure(log, logging.WARNING, f"batch of {len(run)} failed", exc)
            runs.extendleft([c] for c in reversed(run))
            return True
        fault_point("after-commit")
        for claim, outcome in zip(run, outcomes, strict=True):
            self.spool.finish(claim, durable=False)
            self._count(outcome.status)
            log.info("entry %s: %s (email %s)", claim.entry_id, outcome.status, outcome.email_id)
        self.spool.sync()
        return True

    def _unavailable(self, run: list[Claim]) -> bool:
        log.warning("%d entries: database unavailable, will retry", len(run))
        for claim in run:
            self.spool.retry(claim, self.config.retry_delay, count_attempt=False)
            self._count("retried")
        return False

    def handle(self, claim: Claim) -> bool:
        """Process one claimed entry; False when the database is unavailable."""
        try:
            outcome = self.processor.process(claim.entry_id, claim.raw, claim.envelope)
        except TRANSIENT_ERRORS:
            log.warning("entry %s: database unavailable, will retry", claim.entry_id)
            self.spool.retry(claim, self.config.retry_delay, count_attempt=False)
            self._count("retried")
            return False
        except TemporaryDNSError:
            self._dns_unavailable(claim)
            return True
        except Exception as exc:
            self._failed(claim, exc)
            return True
        fault_point("after-commit")
        if outcome.status == "held":
            self._count("held")
            self._quarantine(claim, outcome.reason, already_audited=True)
        else:
            self.spool.finish(claim)
            self._count(outcome.status)
            log.info("entry %s: %s (email %s)", claim.entry_id, outcome.status, outcome.email_id)
        return True

    def _dns_unavailable(self, claim: Claim) -> None:
        """DKIM keys could not be fetched: not the message's fault, retried for a while."""
        age = time.time() - claim.envelope.received_at
        if age > self.dns_retry_window:
            self._quarantine(claim, "DKIM keys could not be fetched (DNS unavailable)")
            return
        log.warning("entry %s: DNS unavailable for DKIM keys, will retry", claim.entry_id)
        self.spool.retry(claim, max(self.config.retry_delay, 1.0), count_attempt=False)
        self._count("retried")

    def _failed(self, claim: Claim, exc: Exception) -> None:
        # A fixed phrase: the exception's class and text stay at DEBUG (they may quote mail).
        log_failure(
            log, logging.WARNING, f"entry {claim.entry_id}: attempt {claim.attempt} failed", exc
        )
        if claim.attempt >= self.config.max_attempts:
            self._quarantine(claim, f"processing failed {claim.attempt} times ({describe(exc)})")
        else:
            self.spool.retry(claim, self.config.retry_delay * claim.attempt)
            self._count("retried")

    def _count(self, outcome: str) -> None:
        self.stats[outcome] += 1
        metrics.count_message(outcome)

    def _quarantine(self, claim: Claim, reason: str, already_audited: bool = False) -> None:
        self.spool.quarantine(claim, reason)
        self.stats["quarantined"] += 1
        if not already_audited:  # a held message was counted as held: one outcome per message
            metrics.count_message("quarantined")
        log.warning("entry %s: quarantined: %s", claim.entry_id, reason)
        if already_audited:
            return
        try:
            with self.sessions.begin() as session:
                repo.audit(
                    session, "worker", "message.quarantined", "spool", claim.entry_id, reason=reason
                )
        except DBAPIError:
            log.warning(
                "entry %s: could not audit the quarantine (database unavailable)", claim.entry_id
            )


def lower_priority(nice: int) -> int:
    """Run this process at niceness ``nice`` at least; return its niceness.

    The edge answers MTAs that are waiting; the worker's backlog is on disk and can wait. With
    the edge at 0 and the worker at 10, a busy worker takes the CPU the edge leaves, not the
    CPU it needs (bench/smtp_accept.py, "saturated worker"). Call it before any thread starts:
    on Linux the niceness is per thread, and new threads inherit it.
    """
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice <= current:
        return current  # never raise the priority (it needs privileges; a unit's Nice= wins)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except OSError as exc:
        log.warning("cannot lower the worker's priority to nice %d: %s", nice, exc.strerror)
        return current
    return nice


def run_forever(worker: Worker) -> None:
    """Entry point for ``bccrm worker``."""
    worker.install_signal_handlers()
    log.info("worker started (nice %d)", os.getpriority(os.PRIO_PROCESS, 0))
    started = time.monotonic()
    worker.run()
    log.info("worker stopped after %.0fs: %s", time.monotonic() - started, worker.stats)
