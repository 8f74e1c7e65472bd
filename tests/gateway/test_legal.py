"""Legal basis (GDPR/RODO): proposing a basis for contacts bccrm creates, the checks outbound
mail opens, resolving them through LegalBasisService and ``bccrm legal-basis``; a contact's
basis, subscription and objection; Art. 14 notices."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import ORMExecuteState

from gateway.app import App
from gateway.config_privacy import PrivacyConfig
from gateway.crm import (
    AuditEntry,
    Company,
    Contact,
    ContactEmail,
    Email,
    EmailAssociation,
    LegalBasisCheck,
)
from gateway.crm.privacy import LEGAL_BASES
from gateway.privacy.legal import open_checks, propose_basis
from gateway.services.legal import LegalBasisError, LegalBasisService
from tests.support import Cli, add_user

REQUIRE = PrivacyConfig(require_legal_basis=True)
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
_serial = itertools.count(1)


# -- building rows --------------------------------------------------------------------------------


def add_contact(
    app: App,
    address: str,
    first: str = "Jan",
    last: str = "Kowalski",
    *,
    status: str = "",
    basis: str | None = None,
    subscription: str = "subscribed",
    **fields: Any,
) -> int:
    """A contact with ``address`` as its primary address; ``status`` is its basis status."""
    with app.sessions.begin() as session:
        contact = Contact(
            first_name=first,
            last_name=last,
            origin="manual",
            legal_basis=basis or ("consent" if status else None),
            legal_basis_status=status,
            subscription=subscription,
            **fields,
        )
        contact.emails.append(ContactEmail(email=address, is_primary=True))
        session.add(contact)
        session.flush()
        return contact.id


def add_email(
    app: App,
    *contact_ids: int,
    direction: str = "outbound",
    transactional: bool = False,
    subject: str = "Oferta",
    sent_at: datetime | None = None,
) -> int:
    """A logged email associated with ``contact_ids`` (kind "contact")."""
    n = next(_serial)
    with app.sessions.begin() as session:
        email = Email(
            dedup_key=hashlib.sha256(f"email-{n}".encode()).hexdigest(),
            message_id=f"<m{n}@example.com>",
            subject=subject,
            direction=direction,
            sent_at=sent_at or NOW,
            from_email="anna@example.com",
            body_sha256=hashlib.sha256(b"body").hexdigest(),
            size=100,
            transactional=transactional,
        )
        for contact_id in contact_ids:
            email.associations.append(
                EmailAssociation(kind="contact", contact_id=contact_id, reason="participant")
            )
        session.add(email)
        session.flush()
        return email.id


def run_checks(app: App, email_id: int, config: PrivacyConfig = REQUIRE) -> list[tuple[int, str]]:
    """``open_checks`` for the email, committed; the (contact, reason) of the new checks."""
    with app.sessions.begin() as session:
        email = session.get_one(Email, email_id)
        return [(c.contact_id, c.reason) for c in open_checks(session, email, config)]


def check_id(app: App, email_id: int, contact_id: int) -> int:
    with app.sessions() as session:
        return session.scalars(
            select(LegalBasisCheck.id).where(
                LegalBasisCheck.email_id == email_id, LegalBasisCheck.contact_id == contact_id
            )
        ).one()


def a_check(app: App, contact_id: int, **email: Any) -> int:
    """An open no_confirmed_basis (or, per the contact, unsubscribed) check of a new email."""
    email_id = add_email(app, contact_id, **email)
    assert len(run_checks(app, email_id)) == 1
    return check_id(app, email_id, contact_id)


def get(app: App, model: type[Any], row_id: int) -> Any:
    with app.sessions() as session:
        row = session.get(model, row_id)
        assert row is not None
        session.expunge(row)
        return row


def audits(app: App, action: str) -> list[AuditEntry]:
    with app.sessions() as session:
        rows = list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )
        session.expunge_all()
        return rows


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(app: App, clock: Clock) -> LegalBasisService:
    return LegalBasisService(app.sessions, app.config, "rita@example.com", clock)


@pytest.fixture
def jan(app: App) -> int:
    """Jan Kowalski, proposed basis only."""
    return add_contact(app, "jan@acme.pl", status="proposed", basis="legitimate_interest_prospect")


# -- propose_basis --------------------------------------------------------------------------------


def test_propose_basis_proposes_the_default_and_makes_the_notice_due() -> None:
    config = PrivacyConfig(default_legal_basis="legitimate_interest_customer", notice_days=14)
    contact = Contact(first_name="Jan", origin="gateway")
    propose_basis(contact, config, NOW)
    assert (
        contact.legal_basis,
        contact.legal_basis_status,
        contact.legal_basis_source,
        contact.legal_basis_at,
        contact.legal_basis_by,
        contact.notice_due_at,
        contact.notice_done_at,
    ) == (
        "legitimate_interest_customer", "proposed", "gateway", NOW, "worker",
        NOW + timedelta(14), None,
    )  # fmt: skip


def test_propose_basis_keeps_a_confirmed_basis_and_an_existing_notice() -> None:
    due = NOW + timedelta(days=3)
    contact = Contact(
        origin="gateway",
        legal_basis="contract",
        legal_basis_status="confirmed",
        legal_basis_source="manual",
        legal_basis_by="rita@example.com",
        notice_due_at=due,
    )
    propose_basis(contact, PrivacyConfig(), NOW)
    assert (contact.legal_basis, contact.legal_basis_status, contact.legal_basis_by) == (
        "contract", "confirmed", "rita@example.com",
    )  # fmt: skip
    assert contact.notice_due_at == due


def test_a_proposed_contact_is_stored_and_read_back(app: App) -> None:
    with app.sessions.begin() as session:
        contact = Contact(first_name="Ewa", origin="gateway")
        propose_basis(contact, PrivacyConfig(), NOW)
        session.add(contact)
        session.flush()
        contact_id = contact.id
    stored = get(app, Contact, contact_id)
    assert stored.legal_basis == "legitimate_interest_prospect"
    assert stored.notice_due_at == NOW + timedelta(days=30)


# -- open_checks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "status", "subscription", "transactional", "expected"),
    [
        ("outbound", "", "subscribed", False, "no_confirmed_basis"),
        ("outbound", "proposed", "subscribed", False, "no_confirmed_basis"),
        ("outbound", "proposed", "unsubscribed", False, "no_confirmed_basis"),
        ("outbound", "proposed", "subscribed", True, "no_confirmed_basis"),
        ("outbound", "confirmed", "subscribed", False, None),
        ("outbound", "confirmed", "unsubscribed", False, "unsubscribed"),
        ("outbound", "confirmed", "unsubscribed", True, None),
        ("inbound", "", "unsubscribed", False, None),
        ("inbound", "proposed", "subscribed", False, None),
        ("internal", "", "subscribed", False, None),
    ],
)
def test_open_checks_when_outbound_mail_needs_a_basis(
    app: App,
    direction: str,
    status: str,
    subscription: str,
    transactional: bool,
    expected: str | None,
) -> None:
    contact_id = add_contact(app, "jan@acme.pl", status=status, subscription=subscription)
    email_id = add_email(app, contact_id, direction=direction, transactional=transactional)
    opened = run_checks(app, email_id)
    assert opened == ([(contact_id, expected)] if expected else [])
    with app.sessions() as session:
        stored = session.execute(
            select(LegalBasisCheck.contact_id, LegalBasisCheck.reason, LegalBasisCheck.status)
        ).all()
    assert [tuple(row) for row in stored] == ([(contact_id, expected, "open")] if expected else [])
    entries = audits(app, "legal_basis.check_opened")
    if expected:
        [entry] = entries
        assert (entry.actor, entry.object_kind) == ("worker", "legal_basis_check")
        assert entry.object_id == str(check_id(app, email_id, contact_id))
        assert entry.details == {"email": email_id, "contact": contact_id, "reason": expected}
    else:
        assert entries == []


def test_open_checks_does_nothing_unless_required(app: App, jan: int) -> None:
    email_id = add_email(app, jan)
    assert run_checks(app, email_id, PrivacyConfig(require_legal_basis=False)) == []
    assert run_checks(app, email_id, PrivacyConfig()) == []
    assert audits(app, "legal_basis.check_opened") == []


def test_open_checks_per_contact_of_the_email_only(app: App, jan: int) -> None:
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak", status="confirmed")
    ola = add_contact(app, "ola@acme.pl", "Ola", "Lis")  # no basis at all
    bob = add_contact(app, "bob@acme.pl", "Bob", "Lis")  # not on this email
    email_id = add_email(app, jan, ewa, ola)
    with app.sessions.begin() as session:  # a company link is not a contact
        acme = Company(name="ACME", origin="manual")
        session.add(acme)
        session.flush()
        session.add(
            EmailAssociation(email_id=email_id, kind="company", company_id=acme.id, reason="x")
        )
    assert run_checks(app, email_id) == [
        (jan, "no_confirmed_basis"),
        (ola, "no_confirmed_basis"),
    ]
    with app.sessions() as session:
        checked = set(session.scalars(select(LegalBasisCheck.contact_id)))
    assert checked == {jan, ola}
    assert bob not in checked


def test_open_checks_is_idempotent(app: App, jan: int) -> None:
    email_id = add_email(app, jan)
    assert run_checks(app, email_id) == [(jan, "no_confirmed_basis")]
    assert run_checks(app, email_id) == []  # another copy of the same email
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    with app.sessions.begin() as session:  # a later copy names one more contact
        session.add(
            EmailAssociation(email_id=email_id, kind="contact", contact_id=ewa, reason="cc")
        )
    assert run_checks(app, email_id) == [(ewa, "no_confirmed_basis")]
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LegalBasisCheck)) == 2
    assert len(audits(app, "legal_basis.check_opened")) == 2


def test_open_checks_loses_a_race_quietly(app: App, jan: int) -> None:
    """Another worker inserts the same check between the look-up and the insert: the unique
    (email, contact) refuses the second one and the rest of the transaction goes on."""
    email_id = add_email(app, jan)
    raced: list[bool] = []
    with app.sessions.begin() as session:

        @event.listens_for(session, "do_orm_execute")
        def other_worker(state: ORMExecuteState) -> Any:
            """Right after open_checks looked for existing checks, one appears."""
            if raced or not state.is_select or "legal_basis_checks" not in str(state.statement):
                return None
            found = state.invoke_statement().freeze()
            state.session.connection().execute(
                insert(LegalBasisCheck).values(
                    email_id=email_id, contact_id=jan, reason="no_confirmed_basis",
                    status="open", action="", basis="", note="", resolved_by="", created_at=NOW,
                )
            )  # fmt: skip
            raced.append(True)
            return found()

        assert open_checks(session, session.get_one(Email, email_id), REQUIRE) == []
        assert raced == [True]
    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LegalBasisCheck)) == 1
    assert audits(app, "legal_basis.check_opened") == []


# -- listing and showing --------------------------------------------------------------------------


def test_list_checks_oldest_first_by_status(app: App, service: LegalBasisService, jan: int) -> None:
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    first = a_check(app, jan, subject="Pierwsza", sent_at=NOW - timedelta(days=2))
    second = a_check(app, ewa, subject="Druga")
    third = a_check(app, ewa, subject="Trzecia")
    assert [c.id for c in service.list_checks()] == [first, second, third]
    service.resolve(second, "acknowledge", note="sent by mistake")
    assert [c.id for c in service.list_checks()] == [first, third]
    assert [c.id for c in service.list_checks("resolved")] == [second]
    assert [c.id for c in service.list_checks("all")] == [first, second, third]
    assert [c.id for c in service.list_checks("all", limit=2)] == [first, second]
    info = service.list_checks()[0]
    assert (info.contact_id, info.contact_name, info.email_subject, info.email_sent_at) == (
        jan, "Jan Kowalski", "Pierwsza", NOW - timedelta(days=2),
    )  # fmt: skip
    assert (info.reason, info.status, info.action, info.resolved_at, info.resolved_by) == (
        "no_confirmed_basis", "open", "", None, "",
    )  # fmt: skip
    assert info.created_at.tzinfo is not None
    with pytest.raises(LegalBasisError, match="unknown status 'closed'"):
        service.list_checks("closed")
    with pytest.raises(LegalBasisError, match="limit must be at least 1"):
        service.list_checks(limit=0)
    with pytest.raises(LegalBasisError, match="no legal-basis check 999"):
        service.show(999)


# -- resolving ------------------------------------------------------------------------------------


def test_resolve_one_time_keeps_the_explanation_on_the_email(
    app: App, service: LegalBasisService, jan: int
) -> None:
    email_id = add_email(app, jan)
    run_checks(app, email_id)
    check = check_id(app, email_id, jan)
    why = "Jan asked for this offer on the phone (call 2026-11-20)"
    done = service.resolve(check, "one-time", explanation=f"  {why}\n")
    assert (done.status, done.action, done.basis, done.note) == ("resolved", "one-time", "", why)
    assert (done.resolved_at, done.resolved_by, done.also_resolved) == (
        NOW, "rita@example.com", (),
    )  # fmt: skip
    assert get(app, Email, email_id).one_time_basis == why
    contact = get(app, Contact, jan)
    assert (contact.legal_basis_status, contact.legal_basis) == (
        "proposed", "legitimate_interest_prospect",
    )  # fmt: skip
    [entry] = audits(app, "legal_basis.resolved")
    assert (entry.actor, entry.object_kind, entry.object_id) == (
        "rita@example.com", "legal_basis_check", str(check),
    )  # fmt: skip
    assert entry.details == {"email": email_id, "contact": jan, "resolution": "one-time"}
    assert "phone" not in json.dumps(entry.details)
    assert service.show(check) == done


def test_one_time_on_two_checks_of_one_email_keeps_both_explanations(
    app: App, service: LegalBasisService, jan: int
) -> None:
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    email_id = add_email(app, jan, ewa)
    run_checks(app, email_id)
    service.resolve(check_id(app, email_id, jan), "one-time", explanation="Jan asked")
    service.resolve(check_id(app, email_id, ewa), "one-time", explanation="Ewa asked")
    assert get(app, Email, email_id).one_time_basis == "Jan asked\nEwa asked"


def test_resolve_set_basis_confirms_it_and_closes_the_contacts_other_checks(
    app: App, service: LegalBasisService, jan: int
) -> None:
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    first = a_check(app, jan)
    second = a_check(app, jan)
    acknowledged = a_check(app, jan)
    service.resolve(acknowledged, "acknowledge", note="old")
    ewas = a_check(app, ewa)
    # An unsubscribed check of Jan (his basis was confirmed, then he left): not about a basis.
    with app.sessions.begin() as session:
        contact = session.get_one(Contact, jan)
        contact.legal_basis_status, contact.subscription = "confirmed", "unsubscribed"
    unsubscribed = a_check(app, jan)
    with app.sessions.begin() as session:
        contact = session.get_one(Contact, jan)
        contact.legal_basis_status, contact.subscription = "proposed", "subscribed"
    third = a_check(app, jan)

    done = service.resolve(second, "set-basis", basis="contract", note="contract 2026/17")
    assert (done.status, done.action, done.basis, done.note) == (
        "resolved", "set-basis", "contract", "contract 2026/17",
    )  # fmt: skip
    assert done.also_resolved == (first, third)
    contact = get(app, Contact, jan)
    assert (
        contact.legal_basis,
        contact.legal_basis_status,
        contact.legal_basis_source,
        contact.legal_basis_at,
        contact.legal_basis_by,
    ) == ("contract", "confirmed", f"legal-basis check {second}", NOW, "rita@example.com")
    for other in (first, third):
        closed = service.show(other)
        assert (closed.status, closed.action, closed.basis, closed.resolved_by) == (
            "resolved", "set-basis", "contract", "rita@example.com",
        )  # fmt: skip
        assert closed.note == f"basis set by legal-basis check {second}"
    assert service.show(acknowledged).action == "acknowledge"
    assert service.show(unsubscribed).status == "open"
    assert service.show(ewas).status == "open"

    entries = audits(app, "legal_basis.resolved")
    by_check = {e.object_id: e.details for e in entries}
    assert by_check[str(second)] == {
        "email": done.email_id, "contact": jan, "resolution": "set-basis",
        "basis": "contract", "also_resolved": [first, third],
    }  # fmt: skip
    assert by_check[str(first)]["via"] == second
    assert by_check[str(third)]["basis"] == "contract"
    [changed] = audits(app, "contact.legal_basis")
    assert changed.object_id == str(jan)
    assert changed.details == {
        "basis": "contract", "previous": "legitimate_interest_prospect", "check": second,
    }  # fmt: skip
    assert "2026/17" not in json.dumps([e.details for e in entries])


def test_resolve_acknowledge_changes_nothing_else(
    app: App, service: LegalBasisService, jan: int
) -> None:
    email_id = add_email(app, jan)
    run_checks(app, email_id)
    check = check_id(app, email_id, jan)
    before = get(app, Contact, jan)
    done = service.resolve(check, "acknowledge", note="reply to his own question")
    assert (done.status, done.action, done.note, done.basis) == (
        "resolved", "acknowledge", "reply to his own question", "",
    )  # fmt: skip
    after = get(app, Contact, jan)
    assert (after.legal_basis, after.legal_basis_status, after.updated_at) == (
        before.legal_basis, before.legal_basis_status, before.updated_at,
    )  # fmt: skip
    assert get(app, Email, email_id).one_time_basis == ""
    [entry] = audits(app, "legal_basis.resolved")
    assert entry.details == {"email": email_id, "contact": jan, "resolution": "acknowledge"}
    assert audits(app, "contact.legal_basis") == []


@pytest.mark.parametrize(
    ("action", "kwargs", "message"),
    [
        ("one-time", {}, "one-time needs an explanation"),
        ("one-time", {"explanation": "   "}, "one-time needs an explanation"),
        ("one-time", {"explanation": "why", "basis": "consent"}, "one-time takes no basis"),
        ("set-basis", {}, "unknown legal basis none given"),
        ("set-basis", {"basis": "because"}, "unknown legal basis 'because'"),
        ("set-basis", {"basis": "consent", "explanation": "x"}, "set-basis takes no explanation"),
        ("acknowledge", {}, "acknowledge needs a note"),
        ("acknowledge", {"note": "n", "basis": "consent"}, "acknowledge takes no basis"),
        ("approve", {}, "unknown action 'approve'"),
    ],
)
def test_resolve_refuses_wrong_arguments(
    app: App,
    service: LegalBasisService,
    jan: int,
    action: str,
    kwargs: dict[str, str],
    message: str,
) -> None:
    check = a_check(app, jan)
    with pytest.raises(LegalBasisError, match=message):
        service.resolve(check, action, **kwargs)
    assert service.show(check).status == "open"
    assert audits(app, "legal_basis.resolved") == []


def test_resolve_refuses_a_resolved_or_unknown_check(
    app: App, service: LegalBasisService, jan: int
) -> None:
    check = a_check(app, jan)
    service.resolve(check, "acknowledge", note="seen")
    with pytest.raises(LegalBasisError, match=f"check {check} is already resolved"):
        service.resolve(check, "set-basis", basis="consent")
    assert get(app, Contact, jan).legal_basis_status == "proposed"
    with pytest.raises(LegalBasisError, match="no legal-basis check 999"):
        service.resolve(999, "acknowledge", note="x")
    assert len(audits(app, "legal_basis.resolved")) == 1


def test_set_basis_on_a_merged_contact_rolls_back(
    app: App, service: LegalBasisService, jan: int
) -> None:
    check = a_check(app, jan)
    ewa = add_contact(app, "ewa@acme.pl", "Ewa", "Nowak")
    with app.sessions.begin() as session:
        contact = session.get_one(Contact, jan)
        contact.status, contact.merged_into_id = "merged", ewa
    with pytest.raises(LegalBasisError, match=f"merged into contact {ewa}"):
        service.resolve(check, "set-basis", basis="consent")
    assert service.show(check).status == "open"


# -- a contact's basis, subscription, objection ---------------------------------------------------


def test_set_basis_confirms_and_audits(app: App, service: LegalBasisService, jan: int) -> None:
    check = a_check(app, jan)
    result = service.set_basis(jan, "consent", source="  form on the website  ")
    assert (result.legal_basis, result.legal_basis_status, result.legal_basis_source) == (
        "consent", "confirmed", "form on the website",
    )  # fmt: skip
    assert (result.legal_basis_at, result.legal_basis_by, result.open_checks) == (
        NOW, "rita@example.com", 1,
    )  # fmt: skip
    assert service.show(check).status == "open"  # an email already sent: still decided by hand
    assert service.set_basis(jan, "contract").legal_basis_source == "manual"
    entries = audits(app, "contact.legal_basis")
    assert [(e.object_id, e.details) for e in entries] == [
        (str(jan), {"basis": "consent", "previous": "legitimate_interest_prospect"}),
        (str(jan), {"basis": "contract", "previous": "consent"}),
    ]
    with pytest.raises(LegalBasisError, match="unknown legal basis 'gdpr'"):
        service.set_basis(jan, "gdpr")
    with pytest.raises(LegalBasisError, match="no contact 999"):
        service.set_basis(999, "consent")


def test_set_subscription(app: App, service: LegalBasisService, clock: Clock, jan: int) -> None:
    left = service.set_subscription(jan, subscribed=False)
    assert (left.subscription, left.unsubscribed_at, left.changed) == ("unsubscribed", NOW, True)
    clock.now = NOW + timedelta(days=1)
    again = service.set_subscription(jan, subscribed=False)
    assert (again.unsubscribed_at, again.changed) == (NOW, False)  # when they left is kept
    back = service.set_subscription(jan, subscribed=True)
    assert (back.subscription, back.unsubscribed_at) == ("subscribed", None)
    stored = get(app, Contact, jan)
    assert (stored.subscription, stored.unsubscribed_at) == ("subscribed", None)
    assert [(e.object_id, e.details) for e in audits(app, "contact.subscription")] == [
        (str(jan), {"subscription": "unsubscribed"}),
        (str(jan), {"subscription": "subscribed"}),
    ]


def test_set_objection(app: App, service: LegalBasisService, jan: int) -> None:
    assert service.set_objection(jan, objecting=True).objecting is True
    assert get(app, Contact, jan).objecting is True
    assert service.set_objection(jan, objecting=True).changed is False
    assert service.set_objection(jan, objecting=False).objecting is False
    assert get(app, Contact, jan).objecting is False
    assert [e.details for e in audits(app, "contact.objection")] == [
        {"objecting": True},
        {"objecting": False},
    ]


def test_an_erased_contact_cannot_be_changed(app: App, service: LegalBasisService) -> None:
    gone = add_contact(app, "gone@acme.pl", status="confirmed")
    with app.sessions.begin() as session:
        session.get_one(Contact, gone).status = "erased"
    with pytest.raises(LegalBasisError, match=f"contact {gone} was erased"):
        service.set_objection(gone, objecting=True)
    assert audits(app, "contact.objection") == []


def test_contact_id_for(app: App, service: LegalBasisService, jan: int) -> None:
    assert service.contact_id_for(str(jan)) == jan
    assert service.contact_id_for(" JAN@Acme.PL ") == jan
    assert service.contact_id_for("<jan@acme.pl>") == jan
    with pytest.raises(LegalBasisError, match=r"no contact has the address nobody@acme\.pl"):
        service.contact_id_for("nobody@acme.pl")
    with pytest.raises(LegalBasisError, match="not a contact id or an email address"):
        service.contact_id_for("Jan Kowalski")


# -- Art. 14 notices ------------------------------------------------------------------------------


def test_notices_soonest_first_and_marking_one_done(
    app: App, service: LegalBasisService, clock: Clock
) -> None:
    late = add_contact(app, "late@acme.pl", "Ola", "Late", notice_due_at=NOW + timedelta(days=9))
    soon = add_contact(app, "soon@acme.pl", "Ala", "Soon", notice_due_at=NOW + timedelta(days=2))
    overdue = add_contact(app, "over@acme.pl", "Ela", "Over", notice_due_at=NOW - timedelta(1))
    add_contact(app, "none@acme.pl", "Iza", "None")  # imported: no notice due
    erased = add_contact(app, "er@acme.pl", notice_due_at=NOW - timedelta(days=5))
    with app.sessions.begin() as session:
        session.get_one(Contact, erased).status = "erased"

    due = service.notices()
    assert [n.contact_id for n in due] == [overdue, soon, late]
    assert [n.overdue for n in due] == [True, False, False]
    assert (due[1].name, due[1].email, due[1].notice_due_at, due[1].notice_done_at) == (
        "Ala Soon", "soon@acme.pl", NOW + timedelta(days=2), None,
    )  # fmt: skip

    clock.now = NOW + timedelta(days=3)
    assert [n.overdue for n in service.notices()] == [True, True, False]
    done = service.mark_notice_done(soon)
    assert (done.contact_id, done.notice_done_at, done.overdue) == (soon, clock.now, False)
    assert [n.contact_id for n in service.notices()] == [overdue, late]
    everyone = service.notices(include_done=True)
    assert [n.contact_id for n in everyone] == [overdue, soon, late]
    assert everyone[1].notice_done_at == clock.now
    assert [n.contact_id for n in service.notices(limit=1)] == [overdue]

    [entry] = audits(app, "contact.notice_done")
    assert (entry.object_id, entry.actor) == (str(soon), "rita@example.com")
    with pytest.raises(LegalBasisError, match=f"notice to contact {soon} is already done"):
        service.mark_notice_done(soon)
    imported = service.contact_id_for("none@acme.pl")
    with pytest.raises(LegalBasisError, match="has no information notice due"):
        service.mark_notice_done(imported)


# -- the command line -----------------------------------------------------------------------------


@pytest.fixture
def cli(app: App, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    add_user(app, "rita@example.com", "Rita Lis")
    yield Cli(app.config, capsys, "legal-basis")


def test_cli_list_show_and_resolve_one_time(app: App, cli: Cli, jan: int) -> None:
    assert cli("list") == (0, "no open legal-basis checks\n", "")
    email_id = add_email(app, jan, subject="Oferta na wdrożenie")
    run_checks(app, email_id)
    check = check_id(app, email_id, jan)

    code, out, _ = cli("list")
    assert code == 0
    assert "Jan Kowalski" in out
    assert "Oferta na wdrożenie" in out
    assert "no_confirmed_basis" in out
    [listed] = cli.json("list")
    assert (listed["id"], listed["contact_id"], listed["email_id"], listed["status"]) == (
        check, jan, email_id, "open",
    )  # fmt: skip
    assert datetime.fromisoformat(listed["created_at"]).tzinfo is not None
    assert listed["resolved_at"] is None
    assert cli.json("list", "--status", "resolved") == []

    code, out, _ = cli("show", str(check))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"legal-basis check {check}: no confirmed legal basis, open"
    assert f"  bccrm legal-basis resolve {check} --action one-time --explanation TEXT" in lines
    assert cli.json("show", str(check)) == listed

    code, out, err = cli(
        "resolve", str(check), "--action", "one-time", "--explanation", "asked by phone",
        "--by", "rita@example.com",
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert out == f"resolved {check} (one-time): one-time basis recorded on email {email_id}\n"
    assert get(app, Email, email_id).one_time_basis == "asked by phone"
    shown = cli.json("show", str(check))
    assert (shown["status"], shown["action"], shown["note"], shown["resolved_by"]) == (
        "resolved", "one-time", "asked by phone", "rita@example.com",
    )  # fmt: skip
    code, out, _ = cli("show", str(check))
    assert "note       asked by phone" in out.splitlines()
    [again] = cli.json("list", "--status", "all")
    assert again["id"] == check

    code, _, err = cli("resolve", str(check), "--action", "acknowledge", "--note", "x")
    assert (code, err) == (1, f"bccrm: legal-basis check {check} is already resolved (one-time)\n")


def test_cli_resolve_set_basis_says_what_else_it_resolved(app: App, cli: Cli, jan: int) -> None:
    first, second = a_check(app, jan), a_check(app, jan)
    data = cli.json("resolve", str(second), "--action", "set-basis", "--basis", "contract")
    assert (data["id"], data["basis"], data["also_resolved"]) == (second, "contract", [first])
    resolved_by = data["resolved_by"]
    assert resolved_by.startswith("cli:")
    assert get(app, Contact, jan).legal_basis_by == resolved_by

    third = a_check(app, add_contact(app, "ewa@acme.pl", "Ewa", "Nowak"))
    fourth = a_check(app, service_contact := check_contact(app, third))
    code, out, _ = cli("resolve", str(fourth), "--action", "set-basis", "--basis", "consent")
    assert code == 0
    assert out == (
        f"resolved {fourth} (set-basis): contact {service_contact}'s legal basis is now "
        f"consent (confirmed); also resolved check(s) {third} of the same contact\n"
    )


def check_contact(app: App, check: int) -> int:
    return int(get(app, LegalBasisCheck, check).contact_id)


def test_cli_resolve_usage_errors(app: App, cli: Cli, jan: int) -> None:
    check = str(a_check(app, jan))
    code, _, err = cli("resolve", check, "--action", "one-time")
    assert (code, err) == (2, "bccrm: --action one-time needs --explanation\n")
    code, _, err = cli(
        "resolve", check, "--action", "acknowledge", "--note", "n", "--basis", "consent"
    )
    assert (code, err) == (2, "bccrm: --basis does not apply to --action acknowledge\n")
    code, _, err = cli("resolve", check, "--action", "one-time", "--explanation", "  ")
    assert code == 1
    assert "one-time needs an explanation" in err
    code, _, err = cli("resolve", check, "--action", "acknowledge", "--note", "n", "--by", "x@y.pl")
    assert code == 2
    assert "--by x@y.pl: not a registered user address" in err
    for argv in (
        ("resolve", check),  # --action is required
        ("resolve", check, "--action", "approve"),
        ("resolve", check, "--action", "set-basis", "--basis", "gdpr"),
        ("resolve", "abc", "--action", "acknowledge", "--note", "n"),
        ("list", "--status", "closed"),
    ):
        with pytest.raises(SystemExit) as exc:
            cli(*argv)
        assert exc.value.code == 2, argv
        assert "usage: bccrm legal-basis" in cli.capsys.readouterr().err
    code, _, err = cli("show", "999")
    assert (code, err) == (1, "bccrm: no legal-basis check 999\n")
    assert cli.json("list")[0]["status"] == "open"


def test_cli_contact_consent(app: App, cli: Cli, jan: int) -> None:
    code, out, err = cli("set", "jan@acme.pl", "consent", "--source", "signed form")
    assert (code, err) == (0, "")
    assert out == f"contact {jan} Jan Kowalski: legal basis consent (confirmed, from signed form)\n"
    a_check(app, add_contact(app, "ewa@acme.pl", "Ewa", "Nowak"))
    ewa = service_for(app).contact_id_for("ewa@acme.pl")
    code, out, _ = cli("set", str(ewa), "contract")
    assert out == (
        f"contact {ewa} Ewa Nowak: legal basis contract (confirmed, from manual); 1 open "
        "legal-basis check(s) of this contact stay open ('bccrm legal-basis list')\n"
    )
    data = cli.json("set", "jan@acme.pl", "contract", "--by", "rita@example.com")
    assert (data["legal_basis"], data["legal_basis_by"], data["legal_basis_status"]) == (
        "contract", "rita@example.com", "confirmed",
    )  # fmt: skip

    assert cli("subscription", "jan@acme.pl", "unsubscribed") == (
        0, f"contact {jan} Jan Kowalski: unsubscribed\n", "",
    )  # fmt: skip
    assert cli("subscription", str(jan), "unsubscribed")[1].endswith(": already unsubscribed\n")
    data = cli.json("subscription", str(jan), "subscribed")
    assert (data["subscription"], data["unsubscribed_at"]) == ("subscribed", None)

    assert cli("object", "jan@acme.pl")[1] == f"contact {jan} Jan Kowalski: objects to processing\n"
    assert get(app, Contact, jan).objecting is True
    assert cli.json("object", "jan@acme.pl", "--withdraw")["objecting"] is False

    code, _, err = cli("set", "nobody@acme.pl", "consent")
    assert (code, err) == (1, "bccrm: no contact has the address nobody@acme.pl\n")
    code, _, err = cli("object", "999")
    assert (code, err) == (1, "bccrm: no contact 999\n")
    with pytest.raises(SystemExit) as exc:
        cli("set", str(jan), "gdpr")
    assert exc.value.code == 2
    assert "invalid choice: 'gdpr'" in cli.capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli("subscription", str(jan), "maybe")
    assert exc.value.code == 2


def service_for(app: App) -> LegalBasisService:
    return LegalBasisService(app.sessions, app.config)


def test_cli_notices(app: App, cli: Cli) -> None:
    assert cli("notices") == (0, "no information notices due\n", "")
    now = datetime.now(UTC)
    ola = add_contact(app, "ola@acme.pl", "Ola", "Lis", notice_due_at=now + timedelta(days=5))
    ala = add_contact(app, "ala@acme.pl", "Ala", "Kot", notice_due_at=now - timedelta(days=1))
    code, out, _ = cli("notices")
    assert code == 0
    assert out.index("Ala Kot") < out.index("Ola Lis")
    assert "overdue" in out
    data = cli.json("notices")
    assert [(n["contact_id"], n["email"], n["overdue"]) for n in data] == [
        (ala, "ala@acme.pl", True),
        (ola, "ola@acme.pl", False),
    ]
    assert cli("notice-done", "ala@acme.pl") == (
        0, f"contact {ala} Ala Kot: information notice done\n", "",
    )  # fmt: skip
    assert [n["contact_id"] for n in cli.json("notices")] == [ola]
    everyone = cli.json("notices", "--all")
    assert [n["contact_id"] for n in everyone] == [ala, ola]
    assert everyone[0]["notice_done_at"] is not None
    code, out, _ = cli("notices", "--all")
    assert "Ala Kot" in out
    code, _, err = cli("notice-done", str(ala))
    assert code == 1
    assert f"the notice to contact {ala} is already done" in err
    [entry] = audits(app, "contact.notice_done")
    assert entry.actor.startswith("cli:")


def test_every_basis_is_accepted(app: App, service: LegalBasisService, jan: int) -> None:
    for basis in LEGAL_BASES:
        assert service.set_basis(jan, basis).legal_basis == basis


# -- check_details (the admin TUI's list) --------------------------------------------------------


def test_check_details_carry_the_sender_and_the_contacts_basis_now(
    app: App, service: LegalBasisService, jan: int
) -> None:
    """Each check comes with its email's sender and its contact's address, basis and
    subscription as they are now; status and limit work as in list_checks."""
    ewa = add_contact(
        app, "ewa@acme.pl", "Ewa", "Nowak", status="confirmed", subscription="unsubscribed",
        unsubscribed_at=NOW - timedelta(days=3),
    )  # fmt: skip
    first = a_check(app, jan, subject="Pierwsza", sent_at=NOW - timedelta(days=2))
    second = a_check(app, ewa, subject="Druga")
    details = service.check_details()
    assert [d.check for d in details] == service.list_checks()
    jan_detail, ewa_detail = details
    assert (jan_detail.check.id, ewa_detail.check.id) == (first, second)
    assert (
        jan_detail.email_from, jan_detail.email_direction, jan_detail.contact_email,
        jan_detail.legal_basis, jan_detail.legal_basis_status, jan_detail.subscription,
    ) == (
        "anna@example.com", "outbound", "jan@acme.pl",
        "legitimate_interest_prospect", "proposed", "subscribed",
    )  # fmt: skip
    assert (ewa_detail.check.reason, ewa_detail.subscription, ewa_detail.unsubscribed_at) == (
        "unsubscribed", "unsubscribed", NOW - timedelta(days=3),
    )  # fmt: skip
    service.set_basis(jan, "contract")  # the contact as it is now, not when the check opened
    assert service.check_details()[0].legal_basis_status == "confirmed"
    service.resolve(first, "acknowledge", note="seen")
    assert [d.check.id for d in service.check_details()] == [second]
    assert [d.check.id for d in service.check_details("resolved")] == [first]
    assert [d.check.id for d in service.check_details("all", limit=1)] == [first]
    with pytest.raises(LegalBasisError, match="unknown status 'closed'"):
        service.check_details("closed")
    with pytest.raises(LegalBasisError, match="limit must be at least 1"):
        service.check_details(limit=0)


def test_check_details_of_a_contact_without_an_address(
    app: App, service: LegalBasisService, jan: int
) -> None:
    """A contact whose addresses are gone is listed with "" as its address."""
    check = a_check(app, jan)
    with app.sessions.begin() as session:
        for address in session.scalars(select(ContactEmail)):
            session.delete(address)
    [detail] = service.check_details()
    assert (detail.check.id, detail.contact_email) == (check, "")
