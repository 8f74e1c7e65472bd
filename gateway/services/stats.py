"""How well matching does: outcomes of the participants of the email received in a window.

``linked_without_help`` is the share of people who ended on a contact with no person asked:
linked by exact address, auto-linked or created, out of every participant matching looked
at except those ignored on purpose (role addresses, bulk mail, policy).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.crm import Email, EmailParticipant, ReviewItem, linking, utcnow

_HELPED = (linking.SUGGESTED, linking.PENDING, linking.REVIEWED)
_UNHELPED = (linking.LINKED, linking.AUTO_LINKED, linking.CREATED)


@dataclass(frozen=True)
class MatchStats:
    since: dt.datetime
    until: dt.datetime
    emails: int
    participants: int
    outcomes: dict[str, int]
    ignored_by_reason: dict[str, int]
    duplicate_suggestions: int  # "same person?" and merge questions opened in the window
    open_reviews: dict[str, int] = field(default_factory=dict)

    @property
    def linked_without_help(self) -> float | None:
        unhelped = sum(self.outcomes.get(k, 0) for k in _UNHELPED)
        considered = unhelped + sum(self.outcomes.get(k, 0) for k in _HELPED)
        return round(unhelped / considered, 4) if considered else None

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "emails": self.emails,
            "participants": self.participants,
            "auto_linked": self.outcomes.get(linking.AUTO_LINKED, 0),
            "linked_exact": self.outcomes.get(linking.LINKED, 0),
            "suggested": self.outcomes.get(linking.SUGGESTED, 0),
            "pending_new_contact": self.outcomes.get(linking.PENDING, 0),
            "created": self.outcomes.get(linking.CREATED, 0),
            "reviewed": self.outcomes.get(linking.REVIEWED, 0),
            "ignored": self.outcomes.get(linking.IGNORED, 0),
            "ignored_by_reason": self.ignored_by_reason,
            "duplicate_suggestions": self.duplicate_suggestions,
            "linked_without_help": self.linked_without_help,
            "open_reviews": self.open_reviews,
        }


def match_stats(
    sessions: sessionmaker[Session], days: float = 7.0, until: dt.datetime | None = None
) -> MatchStats:
    end = until or utcnow()
    start = end - dt.timedelta(days=days)
    with sessions() as session:
        in_window = (Email.received_at >= start) & (Email.received_at < end)
        emails = session.scalar(select(func.count(Email.id)).where(in_window)) or 0
        rows = session.execute(
            select(EmailParticipant.outcome, EmailParticipant.reason, func.count())
            .join(Email, Email.id == EmailParticipant.email_id)
            .where(in_window, EmailParticipant.outcome != "")
            .group_by(EmailParticipant.outcome, EmailParticipant.reason)
        ).all()
        outcomes: dict[str, int] = {}
        ignored: dict[str, int] = {}
        for outcome, reason, count in rows:
            outcomes[outcome] = outcomes.get(outcome, 0) + count
            if outcome == linking.IGNORED:
                ignored[reason] = ignored.get(reason, 0) + count
        duplicates = session.scalar(
            select(func.count(ReviewItem.id)).where(
                ReviewItem.kind.in_(("same_person", "merge")),
                ReviewItem.created_at >= start,
                ReviewItem.created_at < end,
            )
        )
        open_reviews = dict(
            session.execute(
                select(ReviewItem.kind, func.count())
                .where(ReviewItem.status == "open")
                .group_by(ReviewItem.kind)
            )
            .tuples()
            .all()
        )
        return MatchStats(
            since=start,
            until=end,
            emails=emails,
            participants=sum(outcomes.values()),
            outcomes=outcomes,
            ignored_by_reason=dict(sorted(ignored.items())),
            duplicate_suggestions=duplicates or 0,
            open_reviews=open_reviews,
        )
