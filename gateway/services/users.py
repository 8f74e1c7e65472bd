"""Reps and admins, and the addresses they send from."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.addresses import normalize_address
from gateway.crm import User, UserAddress, repo


class UserError(ValueError):
    """A user change that cannot be made; the message says why."""


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    emails: tuple[str, ...]
    is_admin: bool


def _info(user: User) -> UserInfo:
    return UserInfo(user.id, user.name, tuple(a.email for a in user.addresses), user.is_admin)


class UserService:
    def __init__(self, sessions: sessionmaker[Session], actor: str = "cli") -> None:
        self.sessions = sessions
        self.actor = actor

    def add(
        self, email: str, name: str, aliases: tuple[str, ...] = (), is_admin: bool = False
    ) -> UserInfo:
        """Register a user with a primary address and aliases; addresses must be unused."""
        addresses = []
        for text in (email, *aliases):
            address = normalize_address(text)
            if address is None:
                raise UserError(f"{text!r} is not a valid email address")
            if address not in addresses:
                addresses.append(address)
        with self.sessions.begin() as session:
            taken = session.scalars(
                select(UserAddress.email).where(UserAddress.email.in_(addresses))
            ).all()
            if taken:
                raise UserError(f"{taken[0]} already belongs to a user")
            user = User(
                name=name.strip() or addresses[0],
                is_admin=is_admin,
                addresses=[
                    UserAddress(email=a, is_primary=(i == 0)) for i, a in enumerate(addresses)
                ],
            )
            session.add(user)
            session.flush()
            repo.audit(
                session,
                self.actor,
                "user.added",
                "user",
                user.id,
                addresses=len(addresses),
                admin=is_admin,
            )
            return _info(user)

    def list(self) -> list[UserInfo]:
        with self.sessions() as session:
            return [_info(u) for u in session.scalars(select(User).order_by(User.id))]
