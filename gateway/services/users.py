"""Reps and admins, and the addresses they send from."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.addresses import normalize_address
from gateway.crm import User, UserAddress, repo
from gateway.passwords import hash_password, new_token, verify_password

MIN_PASSWORD = 12


@functools.cache
def dummy_hash() -> str:
    """A hash to check against when the user does not exist (same time either way); made on
    first use, not at import: scrypt takes 32 MiB and 0.1 s."""
    return hash_password("not a real password")


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


def _user(session: Session, email: str) -> User:
    address = normalize_address(email)
    user = repo.user_by_address(session, address) if address else None
    if user is None:
        raise UserError(f"{email} is not a registered user address")
    return user


class CredentialService:
    """Passwords for SMTP AUTH and secret logging-address tokens."""

    def __init__(self, sessions: sessionmaker[Session], actor: str = "cli") -> None:
        self.sessions = sessions
        self.actor = actor

    def set_password(self, email: str, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise UserError(f"the password must have at least {MIN_PASSWORD} characters")
        with self.sessions.begin() as session:
            user = _user(session, email)
            user.password_hash = hash_password(password)
            repo.audit(session, self.actor, "user.password_set", "user", user.id)

    def token(self, email: str, rotate: bool = False) -> str:
        """The user's token, created on first use; ``rotate`` replaces it (the old address stops
        working at once in the database, within the edge's cache time on running nodes)."""
        with self.sessions.begin() as session:
            user = _user(session, email)
            if user.log_token is None or rotate:
                user.log_token = new_token()
                repo.audit(session, self.actor, "user.token_rotated", "user", user.id)
            return user.log_token

    def check_password(self, login: str, password: str) -> str | None:
        """The user's primary address if ``login`` (any of their addresses) and ``password``
        match; None otherwise. Slow on purpose (scrypt): call it from a thread."""
        with self.sessions() as session:
            address = normalize_address(login)
            user = repo.user_by_address(session, address) if address else None
            stored = user.password_hash if user else None
            if user is None or stored is None:
                verify_password(password, dummy_hash())  # same time whether or not the user exists
                return None
            return user.addresses[0].email if verify_password(password, stored) else None

    def user_for_token(self, token: str) -> str | None:
        with self.sessions() as session:
            user = session.scalar(select(User).where(User.log_token == token))
            return user.addresses[0].email if user else None
