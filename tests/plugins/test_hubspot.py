"""The hubspot plugin against a fake HubSpot on 127.0.0.1 (tests/plugins/fake_hubspot.py),
which rejects request shapes HubSpot's docs do not allow: mail logged through the real
pipeline, delivered by the real outbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import plugins.hubspot
from gateway.app import App, build_app
from gateway.crm import AuditEntry, Contact, Email, PluginDelivery, PluginEvent, utcnow
from gateway.crm.db import upgrade
from gateway.crm.hubspot import HubSpotLink
from gateway.hooks import EmailLogged, event_from_payload
from gateway.outbox import Dispatcher, DispatchStats
from gateway.plugin_host import Installed, PluginError, PluginHost
from gateway.services.legal import LegalBasisService
from gateway.spool import Envelope
from plugins.hubspot import HubSpotRejected, _retry_after
from tests.conftest import ConfigFactory
from tests.plugins.fake_hubspot import TOKEN, FakeHubSpot, Reply, error, rate_limited
from tests.support import LOG, Cli, add_user, make_message

JAN = "Jan Kowalski <jan@acme.pl>"
EWA = "Ewa Lis <ewa@acme.pl>"
HUBSPOT = Installed("hubspot", plugins.hubspot, "", True)


class Clock:
    """The host's clock, moved by hand: retry times are checked exactly, never waited for."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


AppFactory = Callable[..., App]


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(
    make_config: ConfigFactory, hubspot: FakeHubSpot, clock: Clock
) -> Iterator[AppFactory]:
    """An app whose plugin host runs only the hubspot plugin, pointed at the fake; Anna is
    the rep. ``settings`` replace ``[plugin.hubspot]``; ``section=False`` leaves it out."""
    apps: list[App] = []

    def build(settings: dict[str, Any] | None = None, section: bool = True, **sections: Any) -> App:
        settings = settings or {"token": TOKEN, "base_url": hubspot.url}
        extra = {"plugin.hubspot": settings} if section else {}
        config = make_config(plugins={"retry_base": 0}, **extra, **sections)
        app = build_app(config)
        upgrade(app.engine)
        app.spool.ensure()
        app._plugins = PluginHost(config, app.sessions, plugins=[HUBSPOT], now=clock)
        add_user(app, "anna@example.com", "Anna Nowak")
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def app(make_app: AppFactory) -> App:
    return make_app()


def log_mail(app: App, raw: bytes | None = None) -> int:
    raw = raw or make_message(sender="Anna Nowak <anna@example.com>", to=JAN, cc=EWA)
    envelope = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
    outcome = app.processor().process("test", raw, envelope)
    assert outcome.status == "logged" and outcome.email_id is not None
    return outcome.email_id


def deliver(app: App) -> DispatchStats:
    return Dispatcher(app.plugins).run()


def the_delivery(app: App) -> PluginDelivery:
    with app.sessions() as session:
        [delivery] = session.scalars(
            select(PluginDelivery).where(PluginDelivery.plugin == "hubspot")
        )
        return delivery


def by_email(fake: FakeHubSpot) -> dict[str, dict[str, Any]]:
    return {c["email"]: c for c in fake.all("contacts")}


def the_engagement(fake: FakeHubSpot) -> dict[str, Any]:
    [engagement] = fake.objects["emails"].values()
    return engagement


def counts(fake: FakeHubSpot) -> dict[str, int]:
    return {kind: len(objects) for kind, objects in fake.objects.items()}


def contact_id(app: App, address: str) -> int:
    with app.sessions() as session:
        return next(c.id for c in session.scalars(select(Contact)) if c.emails[0].email == address)


# -- what is sent -----------------------------------------------------------------------------


def test_an_email_becomes_contacts_a_company_and_one_engagement(
    app: App, hubspot: FakeHubSpot
) -> None:
    """Search, create, associate and the engagement, in HubSpot's documented shapes."""
    log_mail(app)
    stats = deliver(app)
    assert (stats.delivered, stats.failed, hubspot.rejected) == (1, 0, [])
    [company] = hubspot.objects["companies"].values()
    assert {k: company["properties"][k] for k in ("name", "domain")} == {
        "name": "acme.pl",
        "domain": "acme.pl",
    }
    contacts = by_email(hubspot)
    assert set(contacts) == {"jan@acme.pl", "ewa@acme.pl"}
    jan = contacts["jan@acme.pl"]
    assert (jan["firstname"], jan["lastname"], jan["company"]) == ("Jan", "Kowalski", "acme.pl")
    engagement = the_engagement(hubspot)
    props = engagement["properties"]
    assert props["hs_timestamp"] == "2026-11-02T09:30:00.000Z"  # the Date header
    assert (props["hs_email_direction"], props["hs_email_status"]) == ("EMAIL", "SENT")
    assert props["hs_email_subject"] == "Oferta na wdrożenie"
    assert props["hs_email_text"] == "Dzień dobry,\n\nw załączeniu oferta.\n\nAnna"
    headers = json.loads(props["hs_email_headers"])
    assert headers["from"] == {
        "email": "anna@example.com",
        "firstName": "Anna",
        "lastName": "Nowak",
    }
    assert [p["email"] for p in headers["to"] + headers["cc"]] == ["jan@acme.pl", "ewa@acme.pl"]
    ids = {c["email"]: c["hs_object_id"] for c in contacts.values()}
    assert hubspot.associated("emails", engagement["id"], "contacts") == {
        (ids["jan@acme.pl"], 198),
        (ids["ewa@acme.pl"], 198),
    }
    assert hubspot.associated("emails", engagement["id"], "companies") == {(company["id"], 186)}
    for hubspot_id in ids.values():
        assert hubspot.associated("contacts", hubspot_id, "companies") == {(company["id"], 279)}


def test_inbound_mail_is_an_incoming_email(app: App, hubspot: FakeHubSpot) -> None:
    log_mail(app, make_message(sender=JAN, to="Anna Nowak <anna@example.com>"))
    deliver(app)
    assert the_engagement(hubspot)["properties"]["hs_email_direction"] == "INCOMING_EMAIL"


def test_every_link_is_recorded_and_audited(app: App, hubspot: FakeHubSpot) -> None:
    email_id = log_mail(app)
    deliver(app)
    with app.sessions() as session:
        links = {
            (link.kind, link.email_id or link.company_id or link.contact_id)
            for link in session.scalars(select(HubSpotLink))
        }
        actions = sorted(
            a.action for a in session.scalars(select(AuditEntry)) if a.actor == "plugin:hubspot"
        )
    jan, ewa = contact_id(app, "jan@acme.pl"), contact_id(app, "ewa@acme.pl")
    assert ("email", email_id) in links and ("contact", jan) in links and ("contact", ewa) in links
    assert ("contact_company", jan) in links and len(links) == 6  # + company
    assert actions == [
        "hubspot.company_linked",
        "hubspot.contact_linked",
        "hubspot.contact_linked",
        "hubspot.email_synced",
    ]


WRONG_SHAPES = {
    "email without hs_timestamp": (
        "POST",
        "/crm/v3/objects/emails",
        {"properties": {"hs_email_subject": "x"}},
    ),
    "email direction not in the enum": (
        "POST",
        "/crm/v3/objects/emails",
        {"properties": {"hs_timestamp": "1700000000000", "hs_email_direction": "OUTBOUND"}},
    ),
    "headers as an object, not a JSON string": (
        "POST",
        "/crm/v3/objects/emails",
        {"properties": {"hs_timestamp": "1700000000000", "hs_email_headers": {"to": []}}},
    ),
    "email associated with contact→company's type": (
        "POST",
        "/crm/v3/objects/emails",
        {
            "properties": {"hs_timestamp": "1700000000000"},
            "associations": [
                {
                    "to": {"id": "{contact}"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
                }
            ],
        },
    ),
    "association to a contact that does not exist": (
        "POST",
        "/crm/v3/objects/emails",
        {
            "properties": {"hs_timestamp": "1700000000000"},
            "associations": [
                {
                    "to": {"id": "999"},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 198}],
                }
            ],
        },
    ),
    "unknown contact property": (
        "POST",
        "/crm/v3/objects/contacts",
        {"properties": {"job_title": "CTO"}},
    ),
    "properties missing": ("POST", "/crm/v3/objects/contacts", {"email": "a@b.pl"}),
    "a number as a value": (
        "PATCH",
        "/crm/v3/objects/contacts/{contact}",
        {"properties": {"phone": 48}},
    ),
    "search operator misspelt": (
        "POST",
        "/crm/v3/objects/contacts/search",
        {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQUALS", "value": "x"}]}
            ]
        },
    ),
    "v4 association without a type": (
        "PUT",
        "/crm/v4/objects/contacts/{contact}/associations/companies/{company}",
        [],
    ),
}


@pytest.mark.parametrize("case", list(WRONG_SHAPES))
def test_the_fake_rejects_shapes_hubspot_rejects(hubspot: FakeHubSpot, case: str) -> None:
    """The fake's checks are what make the shape assertions above worth something."""
    ids = {
        "contact": hubspot.add("contacts", email="a@acme.pl"),
        "company": hubspot.add("companies"),
    }
    method, path, body = WRONG_SHAPES[case]
    status, answer = call(hubspot, method, path.format(**ids), body)
    assert (status, answer["category"]) == (400, "VALIDATION_ERROR")
    assert hubspot.rejected


def test_the_fake_wants_the_bearer_token(hubspot: FakeHubSpot) -> None:
    status, answer = call(hubspot, "GET", "/crm/v3/objects/contacts/1", None, token="wrong")
    assert (status, answer["category"]) == (401, "INVALID_AUTHENTICATION")


def call(
    fake: FakeHubSpot, method: str, path: str, body: Any, token: str = TOKEN
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        fake.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


# -- idempotency ------------------------------------------------------------------------------


def test_the_same_event_delivered_twice_changes_nothing(app: App, hubspot: FakeHubSpot) -> None:
    """At least once: a worker killed after the calls delivers again; the links make that a
    no-op (no request at all)."""
    log_mail(app)
    deliver(app)
    before, sent = counts(hubspot), len(hubspot.requests)
    with app.sessions.begin() as session:  # what a lease running out does
        session.get_one(PluginDelivery, the_delivery(app).id).status = "pending"
    assert deliver(app).delivered == 1
    assert counts(hubspot) == before == {"contacts": 2, "companies": 1, "emails": 1}
    assert len(hubspot.requests) == sent


def test_a_second_email_reuses_the_linked_contacts(app: App, hubspot: FakeHubSpot) -> None:
    log_mail(app)
    deliver(app)
    searches = hubspot.calls("POST", "/crm/v3/objects/contacts/search")
    log_mail(app, make_message(sender="Anna Nowak <anna@example.com>", to=JAN, subject="Termin"))
    deliver(app)
    assert counts(hubspot) == {"contacts": 2, "companies": 1, "emails": 2}
    assert hubspot.calls("POST", "/crm/v3/objects/contacts/search") == searches
    assert hubspot.calls("PUT", "/crm/v4/") == 2  # each contact→company pair once


def test_existing_hubspot_records_are_found_and_only_their_empty_fields_filled(
    app: App, hubspot: FakeHubSpot
) -> None:
    """bccrm never overwrites what people typed into HubSpot."""
    jan = hubspot.add("contacts", email="jan@acme.pl", firstname="Janek")
    acme = hubspot.add("companies", name="ACME S.A.", domain="acme.pl")
    log_mail(app)
    deliver(app)
    assert counts(hubspot) == {"contacts": 2, "companies": 1, "emails": 1}
    contact = by_email(hubspot)["jan@acme.pl"]
    assert (contact["firstname"], contact["lastname"], contact["company"]) == (
        "Janek",
        "Kowalski",
        "acme.pl",
    )
    assert hubspot.all("companies")[0]["name"] == "ACME S.A."
    assert hubspot.associated("contacts", jan, "companies") == {(acme, 279)}


def test_a_contact_hubspot_has_but_cannot_find_yet_is_read_by_email(
    app: App, hubspot: FakeHubSpot
) -> None:
    """HubSpot's search lags behind writes: create answers 409 CONFLICT, and the plugin reads
    the contact by email instead of failing or duplicating it."""
    hubspot.search_lag = True
    jan = hubspot.add("contacts", email="jan@acme.pl")
    log_mail(app)
    assert deliver(app).delivered == 1
    assert (409, "CONFLICT", "/crm/v3/objects/contacts") in hubspot.rejected
    assert by_email(hubspot)["jan@acme.pl"]["hs_object_id"] == jan
    assert counts(hubspot) == {"contacts": 2, "companies": 1, "emails": 1}


def test_bccrm_changes_are_filled_in_later_without_overwriting(
    app: App, hubspot: FakeHubSpot
) -> None:
    log_mail(app)
    deliver(app)
    jan = by_email(hubspot)["jan@acme.pl"]
    hubspot.objects["contacts"][jan["hs_object_id"]]["properties"]["firstname"] = "Janek"
    with app.sessions.begin() as session:
        contact = session.get_one(Contact, contact_id(app, "jan@acme.pl"))
        contact.title, contact.first_name = "CTO", "Johann"
    reads = hubspot.calls("GET", "/crm/v3/objects/contacts/")
    log_mail(app, make_message(sender="Anna Nowak <anna@example.com>", to=JAN, cc=EWA, subject="x"))
    deliver(app)
    jan = by_email(hubspot)["jan@acme.pl"]
    assert (jan["jobtitle"], jan["firstname"]) == ("CTO", "Janek")
    assert hubspot.calls("GET", "/crm/v3/objects/contacts/") == reads + 1  # Jan only, not Ewa


# -- retries and failures ---------------------------------------------------------------------


def test_429_waits_for_retry_after_then_succeeds(
    app: App, hubspot: FakeHubSpot, clock: Clock
) -> None:
    hubspot.script(Reply(429, rate_limited(), {"Retry-After": "120"}))
    log_mail(app)
    assert deliver(app).retried == 1
    delivery = the_delivery(app)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 429")
    assert delivery.next_attempt_at == clock.now + timedelta(seconds=120)
    clock.now += timedelta(seconds=119)
    assert deliver(app).delivered == 0  # not due yet
    clock.now += timedelta(seconds=1)
    assert deliver(app).delivered == 1
    assert counts(hubspot) == {"contacts": 2, "companies": 1, "emails": 1}


def test_two_500s_then_success_resumes_without_duplicates(app: App, hubspot: FakeHubSpot) -> None:
    """Contacts and the company exist after the first attempt; the retries only create the
    engagement."""
    hubspot.script(
        Reply(500, error(500, "INTERNAL_ERROR", "oops")), Reply(503), path="/crm/v3/objects/emails"
    )
    log_mail(app)
    for _ in range(3):
        deliver(app)
    delivery = the_delivery(app)
    assert (delivery.status, delivery.attempts) == ("done", 3)
    assert counts(hubspot) == {"contacts": 2, "companies": 1, "emails": 1}
    assert hubspot.calls("POST", "/crm/v3/objects/contacts") == 4  # 2 searches, 2 creates
    assert hubspot.calls("POST", "/crm/v3/objects/emails") == 3


def test_connection_refused_is_retried(make_app: AppFactory, hubspot: FakeHubSpot) -> None:
    closed = FakeHubSpot()  # never started: its port refuses connections
    closed._server.server_close()
    app = make_app({"token": TOKEN, "base_url": closed.url})
    log_mail(app)
    assert deliver(app).retried == 1
    assert the_delivery(app).last_error == "HubSpot unreachable (ConnectionRefusedError)"


def test_a_wrong_token_fails_until_fixed_and_retried(
    make_config: ConfigFactory,
    app: App,
    hubspot: FakeHubSpot,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clock: Clock,
) -> None:
    hubspot.token = "pat-na1-rotated"
    log_mail(app)
    assert deliver(app).failed == 1
    delivery = the_delivery(app)
    assert (delivery.status, delivery.last_error) == ("failed", "HTTP 401 INVALID_AUTHENTICATION")
    assert counts(hubspot) == {"contacts": 0, "companies": 0, "emails": 0}
    hubspot.token = TOKEN  # the admin fixes the token ...
    monkeypatch.setattr("gateway.plugin_host.installed_plugins", lambda: [HUBSPOT])
    code, out, _ = Cli(app.config, capsys)("plugins", "retry", "--all")  # ... and retries
    assert (code, out) == (0, "1 deliveries will be tried again\n")
    clock.now = utcnow() + timedelta(seconds=1)  # the command stamps the retry with real time
    assert deliver(app).delivered == 1
    assert counts(hubspot) == {"contacts": 2, "companies": 1, "emails": 1}


def test_a_400_fails_with_status_and_category_only(
    app: App, hubspot: FakeHubSpot, caplog: pytest.LogCaptureFixture
) -> None:
    """HubSpot's message echoes what was sent; it must not reach the outbox or the log."""
    echo = 'Property values were not valid: "jan@acme.pl" Oferta na wdrożenie'
    hubspot.script(Reply(400, error(400, "VALIDATION_ERROR", echo)), path="/crm/v3/objects/emails")
    email_id = log_mail(app)
    caplog.set_level(logging.DEBUG, logger="bccrm")
    assert deliver(app).failed == 1
    assert the_delivery(app).last_error == "HTTP 400 VALIDATION_ERROR"
    assert f"email {email_id} not synced: HTTP 400 VALIDATION_ERROR" in caplog.text
    for secret in ("jan@acme.pl", "Oferta", "Property values", TOKEN):
        assert secret not in caplog.text


def test_the_exception_carries_nothing_but_status_and_category(
    app: App, hubspot: FakeHubSpot
) -> None:
    hubspot.script(Reply(400, error(400, "VALIDATION_ERROR jan@acme.pl", "jan@acme.pl")))
    email_id = log_mail(app)
    with pytest.raises(HubSpotRejected) as raised:
        plugins.hubspot.bccrm_email_logged(event(app, email_id), app.plugins.contexts["hubspot"])
    assert str(raised.value) == "HTTP 400"  # a category that is not one word is dropped


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("0.5", 0.5),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
        ("9999999999", 86400.0),  # capped at a day
        ("soon", None),  # unreadable: the outbox's backoff
        ("nan", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_a_date(header: str | None, seconds: float | None) -> None:
    assert _retry_after(header) == seconds


# -- privacy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("objected", ["before logging", "before delivery"])
def test_an_objecting_contact_never_reaches_hubspot(
    app: App, hubspot: FakeHubSpot, objected: str
) -> None:
    legal = LegalBasisService(app.sessions, app.config, actor="cli:test")
    if objected == "before logging":
        log_mail(app, make_message(sender="Anna Nowak <anna@example.com>", to=EWA, subject="a"))
        legal.set_objection(contact_id(app, "ewa@acme.pl"), True)
        log_mail(app)
    else:
        log_mail(app)
        legal.set_objection(contact_id(app, "ewa@acme.pl"), True)
    deliver(app)
    assert set(by_email(hubspot)) == {"jan@acme.pl"}
    assert counts(hubspot)["emails"] == 1
    assert not hubspot.seen("ewa@acme.pl") and not hubspot.seen("Ewa")


def test_mail_with_only_objecting_contacts_is_not_synced(app: App, hubspot: FakeHubSpot) -> None:
    raw = make_message(sender="Anna Nowak <anna@example.com>", to=EWA, subject="a")
    email_id = log_mail(app, raw)
    LegalBasisService(app.sessions, app.config).set_objection(contact_id(app, "ewa@acme.pl"), True)
    deliver(app)
    assert hubspot.requests == []
    assert the_delivery(app).status == "done"
    with app.sessions() as session:
        assert (
            session.scalars(select(HubSpotLink).where(HubSpotLink.email_id == email_id)).all() == []
        )


def test_anonymous_mail_is_not_synced(make_app: AppFactory, hubspot: FakeHubSpot) -> None:
    app = make_app(privacy={"level": "anonymous"})
    log_mail(app)
    assert deliver(app).delivered == 1
    assert hubspot.requests == []


def test_the_level_in_the_event_decides_even_with_contacts(app: App, hubspot: FakeHubSpot) -> None:
    """An anonymous event is skipped before anything is looked at (here it names contacts,
    which at that level bccrm would not even match)."""
    email_id = log_mail(app)
    anonymous = replace(event(app, email_id), privacy_level="anonymous")
    plugins.hubspot.bccrm_email_logged(anonymous, app.plugins.contexts["hubspot"])
    assert hubspot.requests == []


def test_text_in_a_metadata_event_is_still_not_sent(app: App, hubspot: FakeHubSpot) -> None:
    """Events carry no text below level full; the plugin does not rely on that alone."""
    email_id = log_mail(app)
    metadata = replace(event(app, email_id), privacy_level="metadata")
    assert metadata.reply_text
    plugins.hubspot.bccrm_email_logged(metadata, app.plugins.contexts["hubspot"])
    assert "hs_email_text" not in the_engagement(hubspot)["properties"]


@pytest.mark.parametrize(
    ("level", "sync_bodies", "text"),
    [("full", True, True), ("full", False, False), ("metadata", True, False)],
)
def test_the_text_goes_only_at_level_full_with_sync_bodies(
    make_app: AppFactory, hubspot: FakeHubSpot, level: str, sync_bodies: bool, text: bool
) -> None:
    app = make_app(
        {"token": TOKEN, "base_url": hubspot.url, "sync_bodies": sync_bodies},
        privacy={"level": level},
    )
    log_mail(app)
    deliver(app)
    props = the_engagement(hubspot)["properties"]
    assert props["hs_email_subject"] == "Oferta na wdrożenie"
    assert ("hs_email_text" in props) is text
    assert not hubspot.seen("w załączeniu") or text


def test_links_go_with_their_records(app: App, hubspot: FakeHubSpot) -> None:
    """A deleted email takes its link along, so an id SQLite hands out again starts fresh."""
    email_id = log_mail(app)
    deliver(app)
    with app.sessions.begin() as session:
        session.delete(session.get_one(Email, email_id))
    with app.sessions() as session:
        kinds = sorted(link.kind for link in session.scalars(select(HubSpotLink)))
    assert kinds == ["company", "contact", "contact", "contact_company", "contact_company"]


# -- configuration ----------------------------------------------------------------------------


def test_token_from_the_environment(
    make_app: AppFactory, hubspot: FakeHubSpot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BCCRM_TEST_HUBSPOT_TOKEN", TOKEN)
    app = make_app({"token.env": "BCCRM_TEST_HUBSPOT_TOKEN", "base_url": hubspot.url})
    log_mail(app)
    assert deliver(app).delivered == 1
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in hubspot.requests)


def test_token_from_a_file(make_app: AppFactory, hubspot: FakeHubSpot, tmp_path: Path) -> None:
    (tmp_path / "hubspot.token").write_text(TOKEN + "\n")
    app = make_app({"token.file": str(tmp_path / "hubspot.token"), "base_url": hubspot.url})
    log_mail(app)
    assert deliver(app).delivered == 1


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"token.env": "BCCRM_TEST_HUBSPOT_UNSET"},
            "token: environment variable BCCRM_TEST_HUBSPOT_UNSET unset",
        ),
        ({}, "plugin.hubspot.token: required"),
        ({"token": "pat one"}, "token: must be one line"),
        ({"token": TOKEN, "base_url": "http://api.hubapi.com"}, "base_url: must be https://"),
        ({"token": TOKEN, "timeout": 0}, "timeout: must be 0..300 s"),
        ({"token": TOKEN, "portal": 1}, "plugin.hubspot.portal: unknown option"),
    ],
)
def test_configuration_errors_name_the_setting(
    make_config: ConfigFactory,
    monkeypatch: pytest.MonkeyPatch,
    settings: dict[str, Any],
    problem: str,
) -> None:
    monkeypatch.delenv("BCCRM_TEST_HUBSPOT_UNSET", raising=False)
    config = make_config(**{"plugin.hubspot": settings})
    app = build_app(config)
    try:
        with pytest.raises(PluginError, match="plugin 'hubspot'") as raised:
            PluginHost(config, app.sessions, plugins=[HUBSPOT])
        assert problem in str(raised.value)
    finally:
        app.close()


def test_without_a_section_the_plugin_does_nothing(
    make_app: AppFactory, hubspot: FakeHubSpot
) -> None:
    app = make_app(section=False)
    assert app.plugins.channels("hubspot") == ()
    log_mail(app)
    deliver(app)
    assert hubspot.requests == []
    with app.sessions() as session:
        assert session.scalars(select(PluginDelivery)).all() == []


# -- end to end -------------------------------------------------------------------------------


def test_ingest_then_plugins_deliver(
    make_config: ConfigFactory,
    hubspot: FakeHubSpot,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As an admin runs it: ``bccrm ingest`` a .eml, then ``bccrm plugins deliver``."""
    monkeypatch.setattr("gateway.plugin_host.installed_plugins", lambda: [HUBSPOT])
    config = make_config(
        plugins={"retry_base": 0}, **{"plugin.hubspot": {"token": TOKEN, "base_url": hubspot.url}}
    )
    cli = Cli(config, capsys)
    assert cli("db", "upgrade")[0] == 0
    assert cli("users", "add", "anna@example.com", "--name", "Anna Nowak")[0] == 0
    eml = tmp_path / "offer.eml"
    eml.write_bytes(make_message(sender="Anna Nowak <anna@example.com>", to=JAN, cc=EWA))
    assert cli.json("ingest", str(eml))["outcomes"] == {"logged": 1}
    assert hubspot.requests == []  # nothing is sent before the outbox delivers
    code, out, err = cli("plugins", "deliver")
    assert code == 0, err
    assert "1 delivered" in out and "0 failed" in out
    assert counts(hubspot) == {"contacts": 2, "companies": 1, "emails": 1}
    assert hubspot.rejected == []
    outbox = cli.json("plugins", "outbox")
    assert outbox["counts"] == {"hubspot": {"done": 1}}


def event(app: App, email_id: int) -> EmailLogged:
    """The email_logged event the outbox holds for ``email_id``."""
    with app.sessions() as session:
        row = session.scalars(
            select(PluginEvent).where(
                PluginEvent.kind == "email_logged", PluginEvent.email_id == email_id
            )
        ).one()
        found = event_from_payload(row.kind, row.payload, row.id)
    assert isinstance(found, EmailLogged)
    return found
