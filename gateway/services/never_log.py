"""Never-log lists: addresses and whole domains that bccrm never logs, for the whole
organisation or for one user's mail (``bccrm never-log``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.addresses import normalize_address, normalize_domain
from gateway.crm import NeverLog, UserAddress, repo, utcnow


class NeverLogError(ValueError):
    """Shown to the user: a value that is neither an address nor a domain, an unknown user."""


@dataclass(frozen=True)
class NeverLogEntry:
    id: int
    scope: str  # "org" or the user's primary address
    kind: str  # "address" or "domain"
    value: str
    created_at: datetime
    created_by: str


class NeverLogService:
    def __init__(self, sessions: sessionmaker[Session], actor: str = "cli") -> None:
        self.sessions = sessions
        self.actor = actor

    def add(self, value: str, user: str | None = None) -> tuple[NeverLogEntry, bool]:
        """Add ``value`` (an address, a domain or ``@domain``); (entry, created)."""
        kind, normalized = parse_value(value)
        with self.sessions.begin() as session:
            scope, user_id = self._scope(session, user)
            found = session.scalar(
                select(NeverLog).where(NeverLog.scope == scope, NeverLog.value == normalized)
            )
            if found is not None:
                return self._entry(session, found), False
            entry = NeverLog(
                scope=scope,
                user_id=user_id,
                kind=kind,
                value=normalized,
                created_at=utcnow(),
                created_by=self.actor,
            )
            session.add(entry)
            session.flush()
            # The audit names the list entry, not the address.
            repo.audit(session, self.actor, "never_log.added", "never_log", entry.id, kind=kind)
            return self._entry(session, entry), True

    def remove(self, value: str, user: str | None = None) -> bool:
        _, normalized = parse_value(value)
        with self.sessions.begin() as session:
            scope, _ = self._scope(session, user)
            found = session.scalar(
                select(NeverLog).where(NeverLog.scope == scope, NeverLog.value == normalized)
            )
            if found is None:
                return False
            repo.audit(session, self.actor, "never_log.removed", "never_log", found.id)
            session.delete(found)
            return True

    def list(self, user: str | None = None, everything: bool = False) -> list[NeverLogEntry]:
        with self.sessions() as session:
            query = select(NeverLog).order_by(NeverLog.scope, NeverLog.value)
            if not everything:
                scope, _ = self._scope(session, user)
                query = query.where(NeverLog.scope == scope)
            return [self._entry(session, e) for e in session.scalars(query)]

    def _scope(self, session: Session, user: str | None) -> tuple[str, int | None]:
        if user is None:
            return "org", None
        address = normalize_address(user)
        found = repo.user_ids_by_address(session, [address] if address else [])
        if address is None or address not in found:
            raise NeverLogError(f"{user} is not a registered user's address")
        return f"user:{found[address]}", found[address]

    @staticmethod
    def _entry(session: Session, entry: NeverLog) -> NeverLogEntry:
        scope = "org"
        if entry.user_id is not None:
            scope = (
                session.scalar(
                    select(UserAddress.email)
                    .where(UserAddress.user_id == entry.user_id)
                    .order_by(UserAddress.is_primary.desc(), UserAddress.id)
                    .limit(1)
                )
                or entry.scope
            )
        return NeverLogEntry(
            id=entry.id,
            scope=scope,
            kind=entry.kind,
            value=entry.value,
            created_at=entry.created_at,
            created_by=entry.created_by,
        )


def parse_value(value: str) -> tuple[str, str]:
    """("address", normalised) or ("domain", normalised) for ``value``."""
    text = value.strip()
    if "@" in text.lstrip("@"):
        address = normalize_address(text)
        if address is None:
            raise NeverLogError(f"{value!r} is not a valid address")
        return "address", address
    try:
        return "domain", normalize_domain(text.lstrip("@"))
    except ValueError:
        raise NeverLogError(f"{value!r} is neither an address nor a domain") from None
