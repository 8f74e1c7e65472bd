"""One small, fixed CRM for screenshots and smoke tests: every screen has something to show,
and nothing depends on the clock (every timestamp is set; ``NOW`` is the dashboard's now)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.app import App
from gateway.crm import (
    AuditEntry,
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Deal,
    DealContact,
    Email,
    EmailAssociation,
    EmailLogger,
    EmailParticipant,
    LegalBasisCheck,
    NeverLog,
    ReviewItem,
    Ticket,
    TicketContact,
    User,
    UserAddress,
    questions,
)
from gateway.spool import Envelope

NOW = datetime(2026, 11, 23, 14, 30, tzinfo=UTC)
QUARANTINE_ID = "187A9B3C00000000ABC123"

TEAM_INBOX = {"address": "support@example.com", "mode": "tickets"}


def at(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


def seed(app: App) -> dict[str, int]:
    """Fill ``app``'s empty database and spool; returns the ids tests refer to."""
    with app.sessions.begin() as session:
        rita = User(name="Rita Rep", created_at=at(30))
        adam = User(name="Adam Admin", is_admin=True, created_at=at(30))
        rita.addresses = [UserAddress(email="rita@example.com", is_primary=True)]
        adam.addresses = [UserAddress(email="adam@example.com", is_primary=True)]
        acme = Company(name="Acme Sp. z o.o.", origin="gateway", created_at=at(20))
        acme.domains = [CompanyDomain(domain="acme.pl")]
        globex = Company(name="Globex Ltd", origin="import", created_at=at(20))
        globex.domains = [CompanyDomain(domain="globex.com")]
        session.add_all([rita, adam, acme, globex])
        session.flush()

        jan = _contact(
            "Jan",
            "Kowalski",
            "Dyrektor IT",
            acme,
            "jan.kowalski@acme.pl",
            "+48601234567",
            basis=("legitimate_interest_customer", "confirmed"),
            owner=rita,
        )
        anna = _contact(
            "Anna",
            "Nowak",
            "Head of Procurement",
            globex,
            "anna.nowak@globex.com",
            None,
            basis=("legitimate_interest_prospect", "proposed"),
        )
        anna.notice_due_at = at(2)
        lukasz = _contact("Łukasz", "Żółw", "", acme, "lukasz@acme.pl", "+48221234567", basis=None)
        session.add_all([jan, anna, lukasz])
        session.flush()

        deal = Deal(
            external_id="D-101",
            name="Wdrożenie CRM",
            stage="oferta",
            company_id=acme.id,
            owner_id=rita.id,
            updated_at=at(3),
        )
        deal.contacts = [DealContact(contact_id=jan.id)]
        other_deal = Deal(
            external_id="D-102",
            name="Szkolenia 2027",
            stage="negocjacje",
            company_id=acme.id,
            updated_at=at(5),
        )
        ticket = Ticket(
            subject="Awaria logowania",
            inbox="support@example.com",
            owner_id=adam.id,
            company_id=acme.id,
            created_at=at(1),
            updated_at=at(1),
        )
        session.add_all([deal, other_deal, ticket])
        session.flush()
        session.add(TicketContact(ticket_id=ticket.id, contact_id=lukasz.id))

        mails = [
            ("inbound", jan, "Re: Oferta na wdrożenie CRM", at(0, 2), deal, None),
            ("outbound", jan, "Oferta na wdrożenie CRM", at(0, 5), deal, None),
            ("inbound", lukasz, "Awaria logowania do panelu", at(1), None, ticket),
            ("outbound", anna, "Introduction: bccrm for Globex", at(1, 3), None, None),
            ("inbound", anna, "Re: Introduction: bccrm for Globex", at(2), None, None),
            ("inbound", jan, "Pytanie o szkolenia", at(3), other_deal, None),
            ("outbound", lukasz, "Re: Awaria logowania do panelu", at(0, 20), None, ticket),
            ("inbound", jan, "Faktura 11/2026", at(5), None, None),
        ]
        emails: list[Email] = []
        for number, (direction, contact, subject, when, on_deal, on_ticket) in enumerate(mails):
            email = _email(number, direction, contact, subject, when)
            session.add(email)
            session.flush()
            emails.append(email)
            session.add(EmailLogger(email_id=email.id, user_id=rita.id, logged_at=when))
            session.add(
                EmailAssociation(
                    email_id=email.id,
                    kind="contact",
                    contact_id=contact.id,
                    reason="exact address",
                    confidence=1.0,
                    created_at=when,
                )
            )
            if contact.company_id is not None:
                session.add(
                    EmailAssociation(
                        email_id=email.id,
                        kind="company",
                        company_id=contact.company_id,
                        reason="contact's company",
                        confidence=1.0,
                        created_at=when,
                    )
                )
            if on_deal is not None:
                session.add(
                    EmailAssociation(
                        email_id=email.id,
                        kind="deal",
                        deal_id=on_deal.id,
                        reason="contact's only open deal",
                        confidence=0.9,
                        created_at=when,
                    )
                )
            if on_ticket is not None:
                session.add(
                    EmailAssociation(
                        email_id=email.id,
                        kind="ticket",
                        ticket_id=on_ticket.id,
                        reason="new thread on a ticket inbox",
                        confidence=1.0,
                        created_at=when,
                    )
                )
            session.add(_audit("email.logged", "email", email.id, when))
        # Rita answered Łukasz's ticket mail: the dashboard has a reply rate to show.
        emails[6].in_reply_to = emails[2].message_id
        for days, reason in ((0.1, "never_log"), (2.5, "internal_only")):
            session.add(_audit("message.dropped", "spool", f"drop{days}", at(days), reason=reason))
        session.add(_audit("message.held", "spool", QUARANTINE_ID, at(0, 1), reason="DKIM failed"))

        new_contact = _ask(
            session,
            "new_contact",
            questions.new_contact_key("piotr@startup.io"),
            {
                "email": "piotr@startup.io",
                "fields": {
                    "first_name": "Piotr",
                    "last_name": "Wiśniewski",
                    "title": "CEO",
                    "company": "Startup.io",
                    "phones": ["+48500100200"],
                },
            },
            email_id=emails[4].id,
            created=at(0, 3),
        )
        _ask(
            session,
            "same_person",
            questions.same_person_key("j.kowalski@gmail.com"),
            {
                "email": "j.kowalski@gmail.com",
                "name": "Jan Kowalski",
                "fields": {"first_name": "Jan", "last_name": "Kowalski"},
                "candidates": [
                    {
                        "contact_id": jan.id,
                        "name": "Jan Kowalski",
                        "confidence": 0.81,
                        "reasons": ["same name", "same phone"],
                    }
                ],
            },
            email_id=emails[5].id,
            created=at(0, 4),
        )
        _ask(
            session,
            "which_deal",
            questions.which_deal_key(emails[5].id),
            {
                "choices": [
                    {
                        "deal_id": deal.id,
                        "name": deal.name,
                        "stage": deal.stage,
                        "updated_at": at(3).isoformat(),
                    },
                    {
                        "deal_id": other_deal.id,
                        "name": other_deal.name,
                        "stage": other_deal.stage,
                        "updated_at": at(5).isoformat(),
                    },
                ]
            },
            email_id=emails[5].id,
            created=at(0, 6),
        )
        session.add(
            LegalBasisCheck(
                email_id=emails[3].id,
                contact_id=anna.id,
                reason="no_confirmed_basis",
                created_at=at(1, 3),
            )
        )
        session.add_all(
            [
                NeverLog(
                    scope="org",
                    kind="domain",
                    value="kancelaria-prawna.pl",
                    created_at=at(10),
                    created_by="cli:adam",
                ),
                NeverLog(
                    scope=f"user:{rita.id}",
                    user_id=rita.id,
                    kind="address",
                    value="lekarz@przychodnia.pl",
                    created_at=at(9),
                    created_by="cli:rita",
                ),
            ]
        )
        ids = {
            "jan": jan.id,
            "anna": anna.id,
            "lukasz": lukasz.id,
            "deal": deal.id,
            "ticket": ticket.id,
            "new_contact": new_contact,
            "first_email": emails[0].id,
        }
    _quarantine(app)
    return ids


def _contact(
    first: str,
    last: str,
    title: str,
    company: Company,
    address: str,
    phone: str | None,
    basis: tuple[str, str] | None,
    owner: User | None = None,
) -> Contact:
    contact = Contact(
        first_name=first,
        last_name=last,
        title=title,
        company_id=company.id,
        origin="gateway",
        owner_id=owner.id if owner else None,
        created_at=at(15),
        updated_at=at(4),
    )
    contact.emails = [
        ContactEmail(email=address, domain=address.rpartition("@")[2], is_primary=True)
    ]
    if phone:
        contact.phones = [ContactPhone(e164=phone, kind="work")]
    if basis:
        contact.legal_basis, contact.legal_basis_status = basis
        contact.legal_basis_source = "bccrm default"
        contact.legal_basis_at = at(15)
    return contact


def _email(number: int, direction: str, contact: Contact, subject: str, when: datetime) -> Email:
    digest = hashlib.sha256(f"seed-{number}".encode()).hexdigest()
    person = contact.emails[0].email
    name = f"{contact.first_name} {contact.last_name}"
    inbound = direction == "inbound"
    email = Email(
        dedup_key=digest,
        message_id=f"<seed{number}@{'acme.pl' if inbound else 'example.com'}>",
        subject=subject,
        normalized_subject=subject.removeprefix("Re: "),
        direction=direction,
        sent_at=when,
        received_at=when,
        created_at=when,
        from_email=person if inbound else "rita@example.com",
        from_name=name if inbound else "Rita Rep",
        body_text=f"Dzień dobry,\n\n{subject}.\n\nPozdrawiam",
        reply_text=f"Dzień dobry,\n\n{subject}.",
        language="pl",
        body_sha256=digest,
        size=2048 + number,
        auth={"verdict": "pass", "proofs": ["dkim"], "reason": "aligned DKIM signature"},
        privacy={"rules_hit": [], "redactions": {}},
    )
    other = ("to", "rita@example.com", "Rita Rep") if inbound else ("to", person, name)
    email.participants = [
        EmailParticipant(
            role="from",
            email=email.from_email,
            name=email.from_name,
            contact_id=contact.id if inbound else None,
            outcome="linked" if inbound else "",
            reason="exact address" if inbound else "",
            confidence=1.0 if inbound else None,
        ),
        EmailParticipant(
            role=other[0],
            email=other[1],
            name=other[2],
            contact_id=None if inbound else contact.id,
            outcome="" if inbound else "linked",
            reason="" if inbound else "exact address",
            confidence=None if inbound else 1.0,
        ),
    ]
    return email


def _audit(action: str, kind: str, object_id: object, when: datetime, **details: Any) -> AuditEntry:
    return AuditEntry(
        at=when,
        actor="worker",
        action=action,
        object_kind=kind,
        object_id=str(object_id),
        details=details,
    )


def _ask(
    session: Any,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    email_id: int,
    created: datetime,
) -> int:
    item, _ = questions.ask(session, kind, key, payload, email_id=email_id)
    item.created_at = created
    assert isinstance(item, ReviewItem)
    return item.id


def _quarantine(app: App) -> None:
    """One held message, written the way the worker writes it, with fixed id and times."""
    raw = (
        b"From: Mallory <ceo@acme-pl.example>\r\n"
        b"To: log@crm.example.com\r\n"
        b"Subject: Pilna faktura do zap\xc5\x82aty\r\n"
        b"Message-ID: <held1@acme-pl.example>\r\n"
        b"Date: Mon, 23 Nov 2026 13:30:00 +0000\r\n"
        b"\r\n"
        b"Prosz\xc4\x99 o pilny przelew.\r\n"
    )
    envelope = Envelope(
        mail_from="ceo@acme-pl.example",
        rcpt_tos=("log@crm.example.com",),
        peer="203.0.113.7",
        helo="mail.acme-pl.example",
        received_at=at(0, 1).timestamp(),
    )
    spool = app.spool
    spool.ensure()
    spool.quarantine_dir.mkdir(parents=True, exist_ok=True)
    entry = spool.quarantine_dir / QUARANTINE_ID
    entry.write_bytes(_entry_bytes(spool, raw, envelope))
    note = {
        "id": QUARANTINE_ID,
        "attempts": 1,
        "reason": "DKIM signature did not verify for acme-pl.example",
        "quarantined_at": at(0, 1).timestamp(),
    }
    (spool.quarantine_dir / f"{QUARANTINE_ID}.error.json").write_text(json.dumps(note))


def _entry_bytes(spool: Any, raw: bytes, envelope: Envelope) -> bytes:
    """The bytes of a spool entry, made by the spool itself (its format stays its own)."""
    entry_id = spool.store(raw, envelope)
    path = next(p for p in spool.new.iterdir() if p.name.startswith(entry_id))
    data = path.read_bytes()
    path.unlink()
    return data
