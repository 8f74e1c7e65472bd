"""``[retention]``: how long logged mail and held messages are kept (GDPR/RODO storage
limitation). ``bccrm retention run`` applies it; run it daily (cron, a systemd timer).

- ``body_days``: the text of emails received longer ago is removed (``body_text`` and
  ``reply_text``); subject, people, dates and links stay, and ``privacy["body_removed_at"]``
  says when.
- ``email_days``: emails received longer ago are deleted with everything hanging off them
  (participants, attachment records, timeline links, their review items and legal-basis
  checks). Contacts, companies, deals and tickets stay.
- ``spool_days``: quarantined messages received longer ago (by their envelope; by the file's
  modification time when the entry cannot be read) are deleted with their notes.

0 keeps things forever. A run is idempotent: a second run right after the first changes
nothing. Work is done in batches, each in its own short transaction, so the worker is never
held up for long; on SQLite with ``secure_delete`` on, so the removed text is zeroed rather
than left in free pages. The ``retention.run`` audit entry records the counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import Config
from gateway.crm import Email, repo, utcnow
from gateway.services.erasure import secure_delete
from gateway.spool import Spool

log = logging.getLogger("bccrm.retention")

BATCH = 500


@dataclass(frozen=True)
class RetentionReport:
    """What a run did (or, with ``dry_run``, would do)."""

    dry_run: bool
    now: datetime
    body_days: int
    email_days: int
    spool_days: int
    bodies_cleared: int = 0
    emails_deleted: int = 0
    quarantine_removed: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "body_days": self.body_days,
            "email_days": self.email_days,
            "spool_days": self.spool_days,
            "bodies_cleared": self.bodies_cleared,
            "emails_deleted": self.emails_deleted,
            "quarantine_removed": len(self.quarantine_removed),
        }

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        data["quarantine_removed"] = list(self.quarantine_removed)
        return data


class RetentionService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        spool: Spool,
        config: Config,
        clock: Callable[[], datetime] = utcnow,
        actor: str = "cli",
    ) -> None:
        self.sessions = sessions
        self.spool = spool
        self.config = config
        self.clock = clock
        self.actor = actor

    def run(self, dry_run: bool = False) -> RetentionReport:
        retention = self.config.retention
        now = self.clock()
        deleted = cleared = 0
        # Deleting first: bodies of emails about to be deleted are not cleared for nothing.
        kept_from: datetime | None = None  # emails received earlier are deleted
        if retention.email_days:
            kept_from = now - timedelta(days=retention.email_days)
            deleted = self._delete_emails(kept_from, dry_run)
        if retention.body_days:
            cutoff = now - timedelta(days=retention.body_days)
            cleared = self._clear_bodies(cutoff, now, dry_run, kept_from)
        removed: list[str] = []
        if retention.spool_days:
            removed = self._clean_quarantine(now - timedelta(days=retention.spool_days), dry_run)
        report = RetentionReport(
            dry_run=dry_run,
            now=now,
            body_days=retention.body_days,
            email_days=retention.email_days,
            spool_days=retention.spool_days,
            bodies_cleared=cleared,
            emails_deleted=deleted,
            quarantine_removed=tuple(removed),
        )
        if not dry_run:
            with self.sessions.begin() as session:
                repo.audit(session, self.actor, "retention.run", "", "", **report.counts())
        log.info(
            "retention%s: %d email(s) deleted, %d bodies cleared, %d quarantined message(s) "
            "removed",
            " (dry run)" if dry_run else "",
            deleted,
            cleared,
            len(removed),
        )
        return report

    def _delete_emails(self, cutoff: datetime, dry_run: bool) -> int:
        old = Email.received_at < cutoff
        if dry_run:
            with self.sessions() as session:
                return int(session.scalar(select(func.count()).select_from(Email).where(old)) or 0)
        total = 0
        while True:
            with self.sessions.begin() as session, secure_delete(session):
                ids = list(session.scalars(select(Email.id).where(old).limit(BATCH)))
                if not ids:
                    return total
                # The database cascades to participants, loggers, attachments, links, review
                # items and legal-basis checks (ON DELETE CASCADE).
                session.execute(
                    delete(Email)
                    .where(Email.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
                total += len(ids)

    def _clear_bodies(
        self, cutoff: datetime, now: datetime, dry_run: bool, kept_from: datetime | None
    ) -> int:
        due = (Email.received_at < cutoff) & or_(Email.body_text != "", Email.reply_text != "")
        if dry_run:
            if kept_from is not None:  # a real run has deleted these by now
                due = due & (Email.received_at >= kept_from)
            with self.sessions() as session:
                return int(session.scalar(select(func.count()).select_from(Email).where(due)) or 0)
        total = 0
        stamp = now.isoformat()
        while True:
            with self.sessions.begin() as session, secure_delete(session):
                emails = list(session.scalars(select(Email).where(due).limit(BATCH)))
                if not emails:
                    return total
                for email in emails:
                    email.body_text = email.reply_text = ""
                    email.privacy = {**(email.privacy or {}), "body_removed_at": stamp}
                total += len(emails)

    def _clean_quarantine(self, cutoff: datetime, dry_run: bool) -> list[str]:
        limit = cutoff.timestamp()
        removed = []
        for entry_id in self.spool.quarantined_ids():
            try:
                with self.spool.open_quarantined(entry_id) as handle:
                    if self._received(handle) >= limit:
                        continue
                    if not dry_run:
                        self.spool.remove_quarantined(entry_id)
            except (FileNotFoundError, BlockingIOError, ValueError):
                continue  # released, dropped or held by an admin right now: the next run
            removed.append(entry_id)
        return removed

    def _received(self, handle: Any) -> float:
        """When the entry was received: its envelope says; the file's time if unreadable."""
        try:
            envelope, _ = self.spool.read_entry(handle, 0)
        except (ValueError, UnicodeError, TypeError):
            return os.fstat(handle.fileno()).st_mtime
        received = envelope.received_at
        if isinstance(received, int | float) and not isinstance(received, bool):
            return float(received)
        return os.fstat(handle.fileno()).st_mtime
