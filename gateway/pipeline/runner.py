"""Run the stages for one message inside one database transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway import faults, metrics, outbox
from gateway.config import Config
from gateway.crm import repo, txcache
from gateway.faults import fault_point
from gateway.pipeline.associate import prefetch_open_deals
from gateway.pipeline.context import HoldMessage, MessageContext, Stage
from gateway.plugin_host import PluginHost
from gateway.spool import Envelope

log = logging.getLogger("bccrm.pipeline")

# A batch reads the contacts of up to this many people of each message at once (a mass
# mailing's others are asked about when, and if, a stage needs them).
PREFETCH_PEOPLE = 50


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: ``logged``, ``duplicate``, ``dropped`` or ``held``."""

    status: str
    email_id: int | None = None
    reason: str = ""
    notes: tuple[tuple[str, str], ...] = ()


class BatchFailed(Exception):
    """Message ``index`` of a batch failed (``cause``); the batch's transaction was rolled
    back, nothing of it was written."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(index)
        self.index = index
        self.cause = cause


class Pipeline:
    """An ordered tuple of stages walked by one loop.

    The leading stages that never touch the database (``uses_database = False``: parsing)
    run first, in :meth:`prepare`, before the message's transaction begins; the rest run in
    :meth:`run`, inside it. A transaction is the time another worker waits for (SQLite has one
    writer at a time) and the time row locks are held (PostgreSQL)."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        lead = 0
        while lead < len(self.stages) and not getattr(self.stages[lead], "uses_database", True):
            lead += 1
        self.lead = lead

    @classmethod
    def from_names(cls, names: Sequence[str], config: Config) -> Pipeline:
        from gateway.pipeline import STAGES  # noqa: PLC0415 - the registry imports this module

        unknown = [n for n in names if n not in STAGES]
        if unknown:
            raise ValueError(f"unknown pipeline stage {unknown[0]!r}")
        return cls([STAGES[name](config) for name in names])

    def prepare(self, ctx: MessageContext) -> None:
        """The stages before the transaction (they never touch ``ctx.session``)."""
        self._walk(ctx, self.stages[: self.lead], hooks=False)

    def run(self, ctx: MessageContext, prepared: bool = False) -> None:
        """Every stage; with ``prepared``, the rest after :meth:`prepare` (in the transaction)."""
        if not prepared:
            self.prepare(ctx)
        if ctx.outcome == "dropped":
            return
        if self.lead and self.stages[self.lead - 1].name == "parse":
            self._parsed(ctx)  # plugins' hooks may read the database: not in prepare()
        self._walk(ctx, self.stages[self.lead :], hooks=True)

    def _walk(self, ctx: MessageContext, stages: Sequence[Stage], hooks: bool) -> None:
        for stage in stages:
            started = time.perf_counter()
            try:
                stage.process(ctx)
            finally:  # a stage that holds or fails the message took its time too
                metrics.observe_stage(stage.name, time.perf_counter() - started)
            if ctx.outcome == "dropped":
                return
            if hooks and stage.name == "parse":
                self._parsed(ctx)

    @staticmethod
    def _parsed(ctx: MessageContext) -> None:
        if ctx.plugins is not None:
            ctx.plugins.message_parsed(ctx)


class MessageProcessor:
    """Process one message end to end: one transaction, retried when a concurrent worker won
    a unique-constraint race (two copies of the same mail, a contact created at once)."""

    def __init__(
        self,
        pipeline: Pipeline,
        sessions: sessionmaker[Session],
        race_retries: int = 3,
        plugins: PluginHost | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.sessions = sessions
        self.race_retries = race_retries
        self.plugins = plugins
        # The events some enabled plugin receives (None: no host given, record them all).
        self.listening = plugins.listening() if plugins is not None else None

    def process(
        self,
        entry_id: str,
        raw: bytes,
        envelope: Envelope,
        dry_run: bool = False,
        before_commit: Callable[[MessageContext], None] | None = None,
    ) -> Outcome:
        """``before_commit`` adds the caller's rows to the message's transaction (``bccrm
        ingest`` records the message as done, so the record and the CRM always agree)."""
        for attempt in range(1, self.race_retries + 1):
            try:
                return self._once(entry_id, raw, envelope, dry_run, before_commit)
            except IntegrityError:
                if attempt == self.race_retries:
                    raise
                log.info("entry %s: lost a race with another worker, retrying", entry_id)
        raise AssertionError("unreachable")

    def _once(
        self,
        entry_id: str,
        raw: bytes,
        envelope: Envelope,
        dry_run: bool,
        before_commit: Callable[[MessageContext], None] | None = None,
    ) -> Outcome:
        with self.sessions() as session:
            self._open(session)
            ctx = self._context(entry_id, raw, envelope, session)
            try:
                self.pipeline.prepare(ctx)
                session.begin()
                self.pipeline.run(ctx, prepared=True)
            except HoldMessage as held:
                session.rollback()
                if not dry_run:
                    with session.begin():
                        repo.audit(
                            session, "worker", "message.held", "spool", entry_id, reason=held.reason
                        )
                return Outcome("held", reason=held.reason, notes=tuple(ctx.notes))
            except BaseException:
                session.rollback()
                raise
            if dry_run:
                session.rollback()
            else:
                if before_commit is not None:
                    before_commit(ctx)
                self._commit(session)
            return _outcome(ctx)

    def process_batch(self, items: Sequence[tuple[str, bytes, Envelope]]) -> list[Outcome]:
        """Process several messages (entry id, raw, envelope) in one transaction: one commit
        (one WAL or disk flush) for all, and what each transaction reads first (the hash key,
        the never-log list, the users) is read once. All or nothing: when message ``i`` fails,
        is held or loses a race, everything is rolled back and :class:`BatchFailed` says
        which; the caller processes it on its own with :meth:`process`, which knows how to
        hold, retry or give up on one message."""
        with self.sessions() as session:
            self._open(session)
            contexts = []
            for index, (entry_id, raw, envelope) in enumerate(items):
                ctx = self._context(entry_id, raw, envelope, session)
                try:
                    self.pipeline.prepare(ctx)
                except Exception as exc:
                    raise BatchFailed(index, exc) from exc
                contexts.append(ctx)
            session.begin()
            try:
                # Which of them are copies of emails logged before, and who their people
                # are, in one query each.
                repo.prefetch_emails(session, (c.parsed.dedup_key for c in contexts if c.parsed))
                owners = repo.address_owners(
                    session, (p.email for c in contexts for p in c.participants[:PREFETCH_PEOPLE])
                )
                prefetch_open_deals(session, owners.values())  # and their open deals
                for index, ctx in enumerate(contexts):
                    try:
                        self.pipeline.run(ctx, prepared=True)
                        session.flush()  # a constraint it breaks is its own failure
                    except Exception as exc:
                        raise BatchFailed(index, exc) from exc
            except BaseException:
                session.rollback()
                raise
            self._commit(session)
            return [_outcome(ctx) for ctx in contexts]

    def _open(self, session: Session) -> None:
        txcache.enable(session)
        if self.listening is not None:
            outbox.listen_only(session, self.listening)

    def _context(
        self, entry_id: str, raw: bytes, envelope: Envelope, session: Session
    ) -> MessageContext:
        return MessageContext(
            entry_id=entry_id, raw=raw, envelope=envelope, session=session, plugins=self.plugins
        )

    @staticmethod
    def _commit(session: Session) -> None:
        fault_point("before-commit")
        if faults.armed("inside-commit"):
            faults.kill_inside_commit(session)
        session.commit()


def _outcome(ctx: MessageContext) -> Outcome:
    return Outcome(ctx.outcome or "dropped", ctx.email_id, notes=tuple(ctx.notes))
