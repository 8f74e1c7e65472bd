"""Links between bccrm records and the HubSpot objects the ``hubspot`` plugin mirrored them to
(plugins/hubspot.py). gateway never talks to HubSpot; it only keeps these rows, so that a
retried delivery finds what was already created instead of creating it a second time."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crm.base import Base, intpk, timestamp

__all__ = ["HUBSPOT_LINK_KINDS", "HubSpotLink"]

# contact, company, email: the HubSpot contact, company or email engagement of that record;
# contact_company: the HubSpot company the contact was last associated with.
HUBSPOT_LINK_KINDS = ("contact", "company", "email", "contact_company")


class HubSpotLink(Base):
    """One bccrm record (exactly one of contact, company, email) and its HubSpot object id.
    Written in its own transaction as soon as the remote object exists; deleted with the
    record it belongs to, so a reused id never inherits another record's link."""

    __tablename__ = "hubspot_links"
    __table_args__ = (
        # Leading with the record's id: the lookup and the cascading delete use one index.
        UniqueConstraint("contact_id", "kind"),
        UniqueConstraint("company_id", "kind"),
        UniqueConstraint("email_id", "kind"),
        CheckConstraint("kind IN ('contact', 'company', 'email', 'contact_company')", name="kind"),
        CheckConstraint(
            "(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN email_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_record",
        ),
    )
    id: Mapped[intpk]
    kind: Mapped[str] = mapped_column(String(20))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    email_id: Mapped[int | None] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    hubspot_id: Mapped[str] = mapped_column(String(40), comment="HubSpot object id")
    fingerprint: Mapped[str] = mapped_column(
        String(64), default="", comment="hash of the fields last sent (contacts)"
    )
    created_at: Mapped[timestamp]
    updated_at: Mapped[timestamp]
