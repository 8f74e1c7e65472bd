"""The legal basis for processing contacts' data (GDPR/RODO Art. 6) and the checks bccrm opens
when mail goes out to people without one.

Contacts bccrm creates from mail get the configured basis *proposed* (a person confirms it)
and an Art. 14 information notice due ``[privacy] notice_days`` later. With ``[privacy]
require_legal_basis``, an outbound email to a contact whose basis is not confirmed, or to an
unsubscribed contact (unless the email is transactional), opens a legal-basis check: a person
then gives a one-time basis, sets the contact's basis, or acknowledges it
(:class:`gateway.services.legal.LegalBasisService`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.config_privacy import PrivacyConfig
from gateway.crm import Contact, Email, EmailAssociation, LegalBasisCheck, repo
from gateway.hooks import LegalBasisFlagged
from gateway.outbox import emit

WORKER = "worker"
# Why a check was opened.
NO_CONFIRMED_BASIS = "no_confirmed_basis"
UNSUBSCRIBED = "unsubscribed"
REASONS = (NO_CONFIRMED_BASIS, UNSUBSCRIBED)


def propose_basis(contact: Contact, config: PrivacyConfig, now: datetime) -> None:
    """Propose ``config.default_legal_basis`` for a contact bccrm creates from mail, and make
    its Art. 14 notice due ``config.notice_days`` from ``now``.

    A basis a person already confirmed is kept, and so is a notice already due or done:
    proposing never weakens or postpones what is there.
    """
    if contact.legal_basis_status != "confirmed":
        contact.legal_basis = config.default_legal_basis
        contact.legal_basis_status = "proposed"
        contact.legal_basis_source = "gateway"
        contact.legal_basis_at = now
        contact.legal_basis_by = WORKER
    if contact.notice_due_at is None and contact.notice_done_at is None:
        contact.notice_due_at = now + timedelta(days=config.notice_days)


def check_reason(contact: Contact, email: Email) -> str | None:
    """Why outbound ``email`` to ``contact`` needs a check, or ``None`` when it does not."""
    if contact.legal_basis_status != "confirmed":
        return NO_CONFIRMED_BASIS
    if contact.subscription == "unsubscribed" and not email.transactional:
        return UNSUBSCRIBED
    return None


def open_checks(session: Session, email: Email, config: PrivacyConfig) -> list[LegalBasisCheck]:
    """Open a check for every contact of outbound ``email`` (its ``contact`` associations) that
    needs one; only when ``config.require_legal_basis``. A contact already checked for this
    email is not checked again (another copy of the same email opens nothing). Returns the
    checks opened now."""
    if not config.require_legal_basis or email.direction != "outbound":
        return []
    session.flush()  # the email's id and its associations
    contact_ids = session.scalars(
        select(EmailAssociation.contact_id)
        .where(EmailAssociation.email_id == email.id, EmailAssociation.kind == "contact")
        .order_by(EmailAssociation.id)
    ).all()
    checked = set(
        session.scalars(
            select(LegalBasisCheck.contact_id).where(LegalBasisCheck.email_id == email.id)
        )
    )
    opened: list[LegalBasisCheck] = []
    for contact_id in dict.fromkeys(contact_ids):
        if contact_id is None or contact_id in checked:
            continue
        contact = session.get(Contact, contact_id)
        if contact is None:
            continue
        reason = check_reason(contact, email)
        if reason is None:
            continue
        check = LegalBasisCheck(email_id=email.id, contact_id=contact_id, reason=reason)
        try:
            # Two workers logging two copies at once: the unique (email, contact) decides.
            with session.begin_nested():
                session.add(check)
        except IntegrityError:
            continue
        repo.audit(
            session,
            WORKER,
            "legal_basis.check_opened",
            "legal_basis_check",
            check.id,
            email=email.id,
            contact=contact_id,
            reason=reason,
        )
        emit(session, LegalBasisFlagged(check.id, email.id, contact_id, reason))
        opened.append(check)
    return opened


__all__ = [
    "NO_CONFIRMED_BASIS",
    "REASONS",
    "UNSUBSCRIBED",
    "check_reason",
    "open_checks",
    "propose_basis",
]
