"""The settings an admin looks at in one place: the never-log lists (changed here, through
:class:`NeverLogService`, audited), the users and their addresses (secrets never leave this
module: only whether a password or a logging token is set), and what the config file says
about team inboxes, matching and privacy (read-only: the file is edited and bccrm restarted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import Config
from gateway.crm import User
from gateway.services.never_log import NeverLogEntry, NeverLogService
from gateway.services.users import UserService


@dataclass(frozen=True)
class UserSummary:
    id: int
    name: str
    emails: tuple[str, ...]  # the primary first
    is_admin: bool
    has_password: bool  # for SMTP AUTH; the hash itself is never read out
    has_token: bool  # a secret log+t-<token>@ address; the token itself is never read out


@dataclass(frozen=True)
class TeamInboxSummary:
    address: str
    route: str
    mode: str  # log | tickets
    owner: str  # a registered user's address, "" when none
    privacy: str  # the inbox's own level, else [privacy] level
    privacy_inherited: bool  # True when it is [privacy] level
    require: str  # what the copy must prove to be trusted


@dataclass(frozen=True)
class MatchingSummary:
    auto_link: float
    suggest: float
    create_contacts: str  # auto | review | never
    max_participants: int
    role_addresses: tuple[str, ...]


@dataclass(frozen=True)
class PrivacySummary:
    level: str
    log_internal: bool
    require_legal_basis: bool
    default_legal_basis: str
    notice_days: int
    private_action: str
    private_subject_tags: tuple[str, ...]
    redact: tuple[str, ...]
    hash_key_configured: bool  # the key itself is never shown


@dataclass(frozen=True)
class SettingsSnapshot:
    never_log: tuple[NeverLogEntry, ...]
    users: tuple[UserSummary, ...]
    team_inboxes: tuple[TeamInboxSummary, ...]
    matching: MatchingSummary
    privacy: PrivacySummary
    organization_domains: tuple[str, ...]
    logging_addresses: tuple[str, ...]
    config_path: str  # "" when the config was not read from a file


class SettingsService:
    """Read the settings; add and remove never-log entries as ``actor``."""

    def __init__(self, sessions: sessionmaker[Session], config: Config, actor: str = "cli") -> None:
        self.sessions = sessions
        self.config = config
        self.actor = actor
        self.never_log_lists = NeverLogService(sessions, actor)

    def snapshot(self) -> SettingsSnapshot:
        """Everything the settings screen shows, read at once."""
        return SettingsSnapshot(
            never_log=tuple(self.never_log()),
            users=tuple(self.users()),
            team_inboxes=self.team_inboxes(),
            matching=self.matching(),
            privacy=self.privacy(),
            organization_domains=self.config.organization.domains,
            logging_addresses=self.config.logging.addresses,
            config_path=config_path(self.config.source),
        )

    # -- never-log ------------------------------------------------------------------------------

    def never_log(self) -> list[NeverLogEntry]:
        """Every entry: the organisation's and each user's."""
        return self.never_log_lists.list(everything=True)

    def add_never_log(self, value: str, user: str | None = None) -> tuple[NeverLogEntry, bool]:
        """Never log ``value`` (an address, ``@domain`` or a domain) for the organisation or,
        with ``user`` (one of their addresses), for that user's mail; (entry, created).
        Raises :class:`gateway.services.never_log.NeverLogError` for a bad value or user."""
        return self.never_log_lists.add(value, user)

    def remove_never_log(self, value: str, scope: str = "org") -> bool:
        """Remove the entry ``value`` of ``scope`` ("org" or the user's address, as
        :class:`NeverLogEntry` gives it); False when there was none."""
        return self.never_log_lists.remove(value, None if scope == "org" else scope)

    # -- users ----------------------------------------------------------------------------------

    def users(self) -> list[UserSummary]:
        with self.sessions() as session:
            flags = {
                user_id: (has_password, has_token)
                for user_id, has_password, has_token in session.execute(
                    select(User.id, User.password_hash.is_not(None), User.log_token.is_not(None))
                ).tuples()
            }
        return [
            UserSummary(
                id=user.id,
                name=user.name,
                emails=user.emails,
                is_admin=user.is_admin,
                has_password=flags.get(user.id, (False, False))[0],
                has_token=flags.get(user.id, (False, False))[1],
            )
            for user in UserService(self.sessions, self.actor).list()
        ]

    # -- the config file ------------------------------------------------------------------------

    def team_inboxes(self) -> tuple[TeamInboxSummary, ...]:
        level = self.config.privacy.level
        return tuple(
            TeamInboxSummary(
                address=inbox.address,
                route=inbox.route,
                mode=inbox.mode,
                owner=inbox.owner or "",
                privacy=inbox.privacy or level,
                privacy_inherited=not inbox.privacy,
                require=inbox.require,
            )
            for inbox in self.config.team_inboxes
        )

    def matching(self) -> MatchingSummary:
        m = self.config.matching
        return MatchingSummary(
            auto_link=m.auto_link,
            suggest=m.suggest,
            create_contacts=m.create_contacts,
            max_participants=m.max_participants,
            role_addresses=m.role_addresses,
        )

    def privacy(self) -> PrivacySummary:
        p = self.config.privacy
        return PrivacySummary(
            level=p.level,
            log_internal=p.log_internal,
            require_legal_basis=p.require_legal_basis,
            default_legal_basis=p.default_legal_basis,
            notice_days=p.notice_days,
            private_action=p.private_action,
            private_subject_tags=p.private_subject_tags,
            redact=p.redact,
            hash_key_configured=bool(p.hash_key),
        )


def config_path(source: Path | None) -> str:
    """Where the config was read from, absolute, so "edit it and restart" names the file."""
    return str(source.resolve()) if source is not None else ""
