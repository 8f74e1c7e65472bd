"""``bccrm export --json``: the whole CRM as one JSON-ready document.

The keys are a stable interface that scripts and tests rely on: later versions add keys and
never remove them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from gateway.crm import (
    Company,
    Contact,
    Deal,
    DealContact,
    Email,
    LegalBasisCheck,
    ReviewItem,
    Ticket,
    TicketContact,
    UserAddress,
)
from gateway.services.contacts import contact_info


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _email(
    email: Email,
    user_emails: dict[int, str],
    checks: dict[int, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    ids: dict[str, list[int]] = defaultdict(list)
    for assoc in email.associations:
        ids[assoc.kind].append(assoc.target_id)
    return {
        "id": email.id,
        "message_id": email.message_id,
        "subject": email.subject,
        "direction": email.direction,
        "sent_at": _iso(email.sent_at),
        "received_at": _iso(email.received_at),
        "from": {"email": email.from_email, "name": email.from_name},
        "forwarded_by": {"email": email.forwarded_by_email, "name": email.forwarded_by_name}
        if email.forwarded_by_email
        else None,
        "reply_text": email.reply_text,
        "language": email.language,
        "thread": {
            "in_reply_to": email.in_reply_to,
            "references": email.references,
            "normalized_subject": email.normalized_subject,
        },
        "tokens": email.tokens,
        "flags": email.flags,
        "participants": [
            {
                "email": p.email,
                "name": p.name,
                "role": p.role,
                "contact_id": p.contact_id,
                "match": {"outcome": p.outcome, "reason": p.reason, "confidence": p.confidence},
            }
            for p in email.participants
        ],
        "contact_ids": ids["contact"],
        "company_ids": ids["company"],
        "deal_ids": ids["deal"],
        "ticket_ids": ids["ticket"],
        "associations": [
            {"kind": a.kind, "id": a.target_id, "reason": a.reason, "confidence": a.confidence}
            for a in email.associations
        ],
        "logged_by": [user_emails.get(lg.user_id, "") for lg in email.loggers],
        "privacy_level": email.privacy_level,
        "privacy": {
            "level": email.privacy_level,
            "rules_hit": [r["rule"] for r in (email.privacy or {}).get("rules", []) if r["hit"]],
            "redactions": (email.privacy or {}).get("redactions", {}),
        },
        "legal_basis_checks": (checks or {}).get(email.id, []),
        "one_time_basis": bool(email.one_time_basis),
        "transactional": email.transactional,
        "auth": email.auth,
        "attachments": [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
            }
            for a in email.attachments
        ],
        "size": email.size,
        "defects": email.defects,
    }


def _members(
    session: Session, table: type[DealContact] | type[TicketContact], key: str
) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    for owner, contact_id in session.execute(select(getattr(table, key), table.contact_id)):
        found[owner].append(contact_id)
    return found


def _candidates(item: ReviewItem) -> list[Any]:
    """The records a review item asks about, whatever its kind."""
    payload = item.payload
    if item.kind == "merge":
        return [{"contact_id": payload.get("keep")}, {"contact_id": payload.get("other")}]
    return list(payload.get("candidates") or payload.get("choices") or [])


def export_all(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as session:
        user_emails = {
            row.user_id: row.email
            for row in session.scalars(select(UserAddress).where(UserAddress.is_primary))
        }
        emails = session.scalars(
            select(Email)
            .order_by(Email.id)
            .options(
                selectinload(Email.participants),
                selectinload(Email.associations),
                selectinload(Email.loggers),
                selectinload(Email.attachments),
            )
        )
        contacts = session.scalars(
            select(Contact)
            .order_by(Contact.id)
            .options(selectinload(Contact.emails), selectinload(Contact.phones))
        )
        checks: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for check in session.scalars(select(LegalBasisCheck).order_by(LegalBasisCheck.id)):
            checks[check.email_id].append(
                {
                    "id": check.id,
                    "contact_id": check.contact_id,
                    "reason": check.reason,
                    "status": check.status,
                }
            )
        deal_contacts = _members(session, DealContact, "deal_id")
        ticket_contacts = _members(session, TicketContact, "ticket_id")
        return {
            "emails": [_email(e, user_emails, checks) for e in emails],
            "contacts": [
                vars(contact_info(c))
                | {
                    "emails": [e.email for e in c.emails],
                    "phones": [p.e164 for p in c.phones],
                    "bounced": [e.email for e in c.emails if e.bounced_at is not None],
                    "merged_into_id": c.merged_into_id,
                    "legal_basis": {
                        "basis": c.legal_basis,
                        "status": c.legal_basis_status,
                        "source": c.legal_basis_source,
                        "notice_due_at": _iso(c.notice_due_at),
                    },
                    "subscription": c.subscription,
                    "objecting": c.objecting,
                }
                for c in contacts
            ],
            "companies": [
                {
                    "id": c.id,
                    "name": c.name,
                    "origin": c.origin,
                    "domains": [d.domain for d in c.domains],
                    "industry": c.industry,
                    "size": c.size,
                    "country": c.country,
                }
                for c in session.scalars(
                    select(Company).order_by(Company.id).options(selectinload(Company.domains))
                )
            ],
            "deals": [
                {
                    "id": d.id,
                    "external_id": d.external_id,
                    "name": d.name,
                    "stage": d.stage,
                    "status": d.status,
                    "company_id": d.company_id,
                    "owner_id": d.owner_id,
                    "updated_at": _iso(d.updated_at),
                    "contact_ids": deal_contacts[d.id],
                }
                for d in session.scalars(select(Deal).order_by(Deal.id))
            ],
            "tickets": [
                {
                    "id": t.id,
                    "subject": t.subject,
                    "status": t.status,
                    "inbox": t.inbox,
                    "owner_id": t.owner_id,
                    "company_id": t.company_id,
                    "contact_ids": ticket_contacts[t.id],
                }
                for t in session.scalars(select(Ticket).order_by(Ticket.id))
            ],
            "review_items": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "status": r.status,
                    "email_id": r.email_id,
                    "contact_id": r.contact_id,
                    "candidates": _candidates(r),
                    "payload": r.payload,
                }
                for r in session.scalars(select(ReviewItem).order_by(ReviewItem.id))
            ],
        }
