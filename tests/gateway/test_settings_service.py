"""SettingsService: never-log entries added and removed (audited, as the actor), users with
flags for their secrets but never the secrets, and the config's team inboxes, matching and
privacy settings with the file they come from. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.app import App
from gateway.config import Config
from gateway.crm import AuditEntry, User
from gateway.services.never_log import NeverLogError, NeverLogService
from gateway.services.settings import SettingsService
from gateway.services.users import CredentialService
from tests.conftest import ConfigFactory
from tests.support import add_user

ACTOR = "cli:admin"
SUPPORT = {
    "address": "support@example.com",
    "route": "support-route@crm.example.com",
    "mode": "tickets",
    "owner": "anna@example.com",
    "privacy": "metadata",
}
SALES = {"address": "sales@example.com", "route": "sales-route@crm.example.com"}


@pytest.fixture
def config(make_config: ConfigFactory) -> Config:
    return make_config(
        team_inbox=[SUPPORT, SALES],
        matching={
            "auto_link": 0.95,
            "suggest": 0.7,
            "create_contacts": "review",
            "max_participants": 20,
            "role_addresses": ["info", "biuro"],
        },
        privacy={
            "level": "anonymous",
            "log_internal": True,
            "require_legal_basis": True,
            "hash_key": "a-very-secret-hash-key",
        },
    )


def service(app: App) -> SettingsService:
    return SettingsService(app.sessions, app.config, ACTOR)


def audits(app: App, action: str) -> list[tuple[str, str]]:
    with app.sessions() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.object_id).where(AuditEntry.action == action)
        )
        return [(actor, object_id) for actor, object_id in rows]


def test_never_log_entries_are_added_and_removed_with_an_audit_entry(app: App) -> None:
    add_user(app, "anna@example.com", "Anna Nowak", "anna.n@example.com")
    settings = service(app)
    org, created = settings.add_never_log("@Competitor.PL")
    assert created
    assert (org.scope, org.kind, org.value, org.created_by) == (
        "org", "domain", "competitor.pl", ACTOR,
    )  # fmt: skip
    mine, _ = settings.add_never_log("Wife@Gmail.com", user="anna.n@example.com")
    assert (mine.scope, mine.kind, mine.value) == ("anna@example.com", "address", "wife@gmail.com")
    again, created = settings.add_never_log("competitor.pl")
    assert (again.id, created) == (org.id, False)
    assert audits(app, "never_log.added") == [(ACTOR, str(org.id)), (ACTOR, str(mine.id))]

    listed = settings.snapshot().never_log
    assert [(e.scope, e.value) for e in listed] == [
        ("org", "competitor.pl"),
        ("anna@example.com", "wife@gmail.com"),
    ]
    assert settings.remove_never_log("wife@gmail.com", scope="anna@example.com")
    assert not settings.remove_never_log("wife@gmail.com", scope="anna@example.com")
    assert settings.remove_never_log("@competitor.pl")
    assert audits(app, "never_log.removed") == [(ACTOR, str(mine.id)), (ACTOR, str(org.id))]
    assert NeverLogService(app.sessions).list(everything=True) == []


@pytest.mark.parametrize("value", ["", "not a domain", "a@@b", "@", "x@-bad-.pl"])
def test_a_bad_never_log_value_is_refused(app: App, value: str) -> None:
    with pytest.raises(NeverLogError):
        service(app).add_never_log(value)
    assert service(app).never_log() == []
    assert audits(app, "never_log.added") == []


def test_a_never_log_entry_for_an_unknown_user_is_refused(app: App) -> None:
    with pytest.raises(NeverLogError, match="not a registered user"):
        service(app).add_never_log("x@gmail.com", user="nobody@example.com")


def test_users_show_flags_for_their_secrets_and_never_the_secrets(app: App) -> None:
    anna = add_user(app, "anna@example.com", "Anna Nowak", "anna.n@example.com")
    piotr = add_user(app, "piotr@example.com", "Piotr")
    credentials = CredentialService(app.sessions)
    credentials.set_password("anna@example.com", "correct horse battery")
    token = credentials.token("anna@example.com")
    with app.sessions.begin() as session:
        session.get_one(User, piotr).is_admin = True
        password_hash = session.get_one(User, anna).password_hash
    assert password_hash

    snapshot = service(app).snapshot()
    users = {u.id: u for u in snapshot.users}
    assert users[anna].emails == ("anna@example.com", "anna.n@example.com")
    assert (users[anna].name, users[anna].is_admin) == ("Anna Nowak", False)
    assert (users[anna].has_password, users[anna].has_token) == (True, True)
    assert (users[piotr].has_password, users[piotr].has_token, users[piotr].is_admin) == (
        False, False, True,
    )  # fmt: skip
    shown = repr(snapshot)
    for secret in (token, password_hash, "a-very-secret-hash-key"):
        assert secret not in shown


def test_the_config_values_and_the_file_they_come_from(app: App) -> None:
    snapshot = service(app).snapshot()
    support, sales = snapshot.team_inboxes
    assert (support.address, support.mode, support.owner, support.privacy) == (
        "support@example.com", "tickets", "anna@example.com", "metadata",
    )  # fmt: skip
    assert not support.privacy_inherited
    assert (sales.mode, sales.owner, sales.privacy, sales.privacy_inherited) == (
        "log", "", "anonymous", True,
    )  # fmt: skip
    matching = snapshot.matching
    assert (matching.auto_link, matching.suggest, matching.create_contacts) == (
        0.95, 0.7, "review",
    )  # fmt: skip
    assert (matching.max_participants, matching.role_addresses) == (20, ("info", "biuro"))
    privacy = snapshot.privacy
    assert (privacy.level, privacy.log_internal, privacy.require_legal_basis) == (
        "anonymous", True, True,
    )  # fmt: skip
    assert privacy.hash_key_configured
    assert snapshot.organization_domains == ("example.com",)
    assert snapshot.logging_addresses == ("log@crm.example.com",)
    assert app.config.source is not None
    assert snapshot.config_path == str(app.config.source.resolve())
    assert snapshot.config_path.endswith("bccrm.toml")
