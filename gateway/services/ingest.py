"""``bccrm ingest``: run archived mail (.eml, directories, mbox, Maildir) through the pipeline.

Each message goes through the same pipeline as mail arriving at the logging address, in this
process, so the command can report each outcome. Nothing is spooled: the source files stay
where they are, and a held message is reported with its file so it can be fixed and re-run.

Resumable: a message the pipeline finished (logged, another copy, dropped by policy) is
recorded by the SHA-256 of its raw bytes in the message's own transaction (table
``ingested_messages``), so a re-run skips it without parsing it, a Ctrl-C loses at most the
message in flight, and a database restored from a backup "forgets" exactly the messages whose
rows it lost. Held and unreadable messages are not recorded: a re-run tries them again.

Dry run: every message runs inside ONE outer transaction, each in a SAVEPOINT, so message 2
sees the contact message 1 would have created; at the end the transaction is rolled back.
On SQLite the simulation runs on a private snapshot of the database (the backup API), because
a writing transaction holds SQLite's single write lock until it ends and would stall a running
worker for the whole dry run; on PostgreSQL it runs in the live database at REPEATABLE READ.
"""

from __future__ import annotations

import hashlib
import mailbox
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import DatabaseConfig
from gateway.crm import (
    AuditEntry,
    Company,
    Contact,
    EmailAssociation,
    LegalBasisCheck,
    ReviewItem,
)
from gateway.crm.db import make_engine, session_factory
from gateway.crm.ingest import IngestedMessage
from gateway.pipeline import HoldMessage, MessageContext, MessageProcessor, Outcome
from gateway.spool import Envelope

MBOX_MAGIC = b"From "


@dataclass(frozen=True)
class Source:
    """One message to ingest: a label for reports and how to read its bytes."""

    label: str
    load: Callable[[], bytes]

    def read(self) -> bytes:
        return self.load()


@dataclass
class DryRunReport:
    """What a dry run would have written (new rows; review items and associations by kind)."""

    contacts_created: int = 0
    companies_created: int = 0
    associations: dict[str, int] = field(default_factory=dict)
    review_items: dict[str, int] = field(default_factory=dict)
    legal_basis_checks: int = 0
    privacy_drops: Counter[str] = field(default_factory=Counter)  # by rule
    other_drops: Counter[str] = field(default_factory=Counter)  # by reason (verify)
    redactions: Counter[str] = field(default_factory=Counter)  # by kind
    people_left_out: int = 0

    def to_json(self) -> dict[str, Any]:
        # Not dataclasses.asdict: it rebuilds a Counter from (key, value) pairs as keys.
        return {
            name: dict(sorted(value.items())) if isinstance(value, dict) else value
            for name, value in vars(self).items()
        }


@dataclass
class IngestSummary:
    total: int = 0
    skipped: int = 0  # finished by an earlier run
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)
    dry_run: DryRunReport | None = None

    @property
    def done(self) -> int:
        return self.skipped + self.outcomes.total()


# Called after each message with its status ("skipped", "logged", "held", "failed", ...).
Progress = Callable[[str], None]


def is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


@contextmanager
def open_sources(paths: list[Path]) -> Iterator[list[Source]]:
    """Every message under ``paths``, with the mailboxes they need open until the block ends.

    Raise ``FileNotFoundError`` for a path that does not exist. An mbox is scanned once for
    its "From " lines (the mailbox module's index), so the total is known before the first
    message is processed.
    """
    with ExitStack() as stack:
        sources: list[Source] = []
        for path in paths:
            if not path.exists():
                raise FileNotFoundError(f"{path}: no such file or directory")
            sources.extend(_discover(path, stack))
        yield sources


def _discover(path: Path, stack: ExitStack) -> Iterator[Source]:
    if path.is_dir():
        if is_maildir(path):
            yield from _from_mailbox(path, mailbox.Maildir(path, factory=None, create=False))
            return
        for child in sorted(path.iterdir()):
            if child.is_dir() or child.suffix.lower() in (".eml", ".mbox"):
                yield from _discover(child, stack)
        return
    with path.open("rb") as handle:
        starts_mbox = handle.read(len(MBOX_MAGIC)) == MBOX_MAGIC
    if starts_mbox:
        box = mailbox.mbox(path, create=False)
        stack.callback(box.close)
        yield from _from_mailbox(path, box)
    else:
        yield Source(str(path), path.read_bytes)


def _from_mailbox(path: Path, box: mailbox.Mailbox[Any]) -> Iterator[Source]:
    """One source per message; all share ``box`` so its index is built once."""
    for index, key in enumerate(sorted(box.keys()), start=1):
        yield Source(f"{path}#{index}", partial(box.get_bytes, key))


class IngestService:
    def __init__(self, processor: MessageProcessor, rcpt: str) -> None:
        self.processor = processor
        self.rcpt = rcpt

    def run(
        self,
        sources: list[Source],
        summary: IngestSummary,
        *,
        reprocess: bool = False,
        progress: Progress | None = None,
    ) -> None:
        """Ingest ``sources`` for real, counting into ``summary`` as it goes (so that after
        an interrupt it says how far the run got); ``reprocess`` ignores earlier runs."""
        summary.total = len(sources)
        for source in sources:
            status = self._one(source, summary, reprocess)
            if progress is not None:
                progress(status)

    def _one(self, source: Source, summary: IngestSummary, reprocess: bool) -> str:
        try:
            raw = source.read()
        except OSError as exc:
            return _failed(summary, source, exc)
        digest = self._digest(raw)
        if not reprocess and self._done(digest):
            summary.skipped += 1
            return "skipped"
        try:
            outcome = self.processor.process(
                _entry_id(digest), raw, self._envelope(), before_commit=partial(_record, digest)
            )
        except ValueError as exc:
            return _failed(summary, source, exc)
        return _count(summary, source, outcome)

    def _digest(self, raw: bytes) -> str:
        """What "already done" is keyed by: the message's bytes and the address it is ingested
        for — the same archive ingested again for a team inbox's route is another copy (it
        adds the route's tickets), not a repeat."""
        return hashlib.sha256(self.rcpt.lower().encode() + b"\n" + raw).hexdigest()

    def _done(self, digest: str) -> bool:
        with self.processor.sessions() as session:
            return session.get(IngestedMessage, digest) is not None

    def _envelope(self) -> Envelope:
        return Envelope(mail_from="", rcpt_tos=(self.rcpt,), transport="ingest")

    def simulate(
        self,
        sources: list[Source],
        summary: IngestSummary,
        *,
        reprocess: bool = False,
        progress: Progress | None = None,
    ) -> None:
        """The dry run: what :meth:`run` would do, with nothing written."""
        summary.total = len(sources)
        report = summary.dry_run = DryRunReport()
        with _simulation_sessions(self.processor.sessions) as sessions, sessions() as session:
            session.begin()
            try:
                if session.get_bind().dialect.name == "postgresql":
                    # Our own snapshot: a worker's commits during the run are not counted.
                    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                before = _tally(session)
                for source in sources:
                    status = self._simulate_one(session, source, summary, reprocess)
                    if progress is not None:
                        progress(status)
                _difference(report, before, _tally(session))
            finally:
                session.rollback()

    def _simulate_one(
        self, session: Session, source: Source, summary: IngestSummary, reprocess: bool
    ) -> str:
        try:
            raw = source.read()
        except OSError as exc:
            return _failed(summary, source, exc)
        digest = self._digest(raw)
        if not reprocess and session.get(IngestedMessage, digest) is not None:
            summary.skipped += 1
            return "skipped"
        ctx = MessageContext(
            entry_id=_entry_id(digest),
            raw=raw,
            envelope=self._envelope(),
            session=session,
            plugins=self.processor.plugins,
        )
        savepoint = session.begin_nested()
        try:
            self.processor.pipeline.run(ctx)
            _record(digest, ctx)
        except HoldMessage as held:
            savepoint.rollback()
            return _count(summary, source, Outcome("held", reason=held.reason))
        except ValueError as exc:
            savepoint.rollback()
            return _failed(summary, source, exc)
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()  # RELEASE: the next message sees this one's rows
        assert summary.dry_run is not None
        _observe(summary.dry_run, ctx)
        return _count(summary, source, Outcome(ctx.outcome or "dropped", ctx.email_id))


def _entry_id(digest: str) -> str:
    # Audit entries name the message by its content, like the ingested_messages row.
    return "ingest:" + digest[:16]


def _record(digest: str, ctx: MessageContext) -> None:
    """Mark the message done, in its own transaction (another ingest may have just done it)."""
    session = ctx.session
    if session.get(IngestedMessage, digest) is None:
        session.add(IngestedMessage(sha256=digest, outcome=ctx.outcome or "dropped"))
        session.flush()


def _failed(summary: IngestSummary, source: Source, exc: Exception) -> str:
    summary.outcomes["failed"] += 1
    summary.problems.append((source.label, f"unreadable ({type(exc).__name__})"))
    return "failed"


def _count(summary: IngestSummary, source: Source, outcome: Outcome) -> str:
    summary.outcomes[outcome.status] += 1
    if outcome.status == "held":
        summary.problems.append((source.label, f"held: {outcome.reason}"))
    return outcome.status


def _observe(report: DryRunReport, ctx: MessageContext) -> None:
    """What only the message's context knows: why it was dropped, what was redacted."""
    verdict = ctx.privacy
    if verdict is not None:
        report.people_left_out += len(verdict.excluded)
        if ctx.outcome != "dropped":
            report.redactions.update(verdict.redactions)
    if ctx.outcome != "dropped":
        return
    if verdict is not None and verdict.level == "drop":
        report.privacy_drops[verdict.reason] += 1
        return
    # Every stage that drops a message audits why (verify: not CRM mail; match: a bounce).
    details = ctx.session.scalar(
        select(AuditEntry.details)
        .where(AuditEntry.action == "message.dropped", AuditEntry.object_id == ctx.entry_id)
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    report.other_drops[str((details or {}).get("reason") or "unknown")] += 1


Tally = dict[str, Any]


def _tally(session: Session) -> Tally:
    def by_kind(column: Any) -> dict[str, int]:
        rows = session.execute(select(column, func.count()).group_by(column)).all()
        return {str(kind): int(n) for kind, n in rows}

    return {
        "contacts": session.scalar(select(func.count()).select_from(Contact)) or 0,
        "companies": session.scalar(select(func.count()).select_from(Company)) or 0,
        "checks": session.scalar(select(func.count()).select_from(LegalBasisCheck)) or 0,
        "associations": by_kind(EmailAssociation.kind),
        "review_items": by_kind(ReviewItem.kind),
    }


def _difference(report: DryRunReport, before: Tally, after: Tally) -> None:
    def grown(key: str) -> dict[str, int]:
        old, new = before[key], after[key]
        return {k: new[k] - old.get(k, 0) for k in sorted(new) if new[k] > old.get(k, 0)}

    report.contacts_created = after["contacts"] - before["contacts"]
    report.companies_created = after["companies"] - before["companies"]
    report.legal_basis_checks = after["checks"] - before["checks"]
    report.associations = grown("associations")
    report.review_items = grown("review_items")


@contextmanager
def _simulation_sessions(sessions: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    """Where the dry run runs: a private copy of a SQLite database, else the database itself.

    SQLite has one write lock, held by a writing transaction until it ends: a dry run in the
    live file would stall the worker (and the admin tools) for as long as it runs. The backup
    API copies the file under a read lock, which in WAL mode does not block writers; the cost
    is a temporary copy of the database (disk space and a few seconds per GB).
    """
    engine = sessions.kw.get("bind")
    if not isinstance(engine, Engine) or engine.dialect.name != "sqlite":
        yield sessions
        return
    with tempfile.TemporaryDirectory(prefix="bccrm-dry-run-") as scratch:
        url = f"sqlite:///{Path(scratch) / 'snapshot.db'}"
        copy = make_engine(DatabaseConfig(url=url))
        try:
            _copy_sqlite(engine, copy)
            yield session_factory(copy)
        finally:
            copy.dispose()


def _copy_sqlite(source: Engine, target: Engine) -> None:
    with source.connect() as src, target.connect() as dst:
        # pysqlite's own connections (SQLAlchemy types them as the generic DB-API protocol).
        src_db: sqlite3.Connection = cast(Any, src.connection.dbapi_connection)
        dst_db: sqlite3.Connection = cast(Any, dst.connection.dbapi_connection)
        src_db.backup(dst_db)
