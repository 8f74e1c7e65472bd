"""Run the stages for one message inside one database transaction."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway import faults, metrics
from gateway.config import Config
from gateway.crm import repo
from gateway.faults import fault_point
from gateway.pipeline.context import HoldMessage, MessageContext, Stage
from gateway.plugin_host import PluginHost
from gateway.spool import Envelope

log = logging.getLogger("bccrm.pipeline")


@dataclass(frozen=True)
class Outcome:
    """What happened to one message: ``logged``, ``duplicate``, ``dropped`` or ``held``."""

    status: str
    email_id: int | None = None
    reason: str = ""
    notes: tuple[tuple[str, str], ...] = ()


class Pipeline:
    """An ordered tuple of stages walked by one loop."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)

    @classmethod
    def from_names(cls, names: Sequence[str], config: Config) -> Pipeline:
        from gateway.pipeline import STAGES  # noqa: PLC0415 - the registry imports this module

        unknown = [n for n in names if n not in STAGES]
        if unknown:
            raise ValueError(f"unknown pipeline stage {unknown[0]!r}")
        return cls([STAGES[name](config) for name in names])

    def run(self, ctx: MessageContext) -> None:
        for stage in self.stages:
            started = time.perf_counter()
            try:
                stage.process(ctx)
            finally:  # a stage that holds or fails the message took its time too
                metrics.observe_stage(stage.name, time.perf_counter() - started)
            if ctx.outcome == "dropped":
                return
            if stage.name == "parse" and ctx.plugins is not None:
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
            ctx = MessageContext(
                entry_id=entry_id,
                raw=raw,
                envelope=envelope,
                session=session,
                plugins=self.plugins,
            )
            session.begin()
            try:
                self.pipeline.run(ctx)
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
                fault_point("before-commit")
                if faults.armed("inside-commit"):
                    faults.kill_inside_commit(session)
                session.commit()
            return Outcome(ctx.outcome or "dropped", ctx.email_id, notes=tuple(ctx.notes))
