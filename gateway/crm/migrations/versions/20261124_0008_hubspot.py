"""hubspot: links between bccrm records and the HubSpot objects the hubspot plugin created
(issue #8)

One row per contact, company or email mirrored to HubSpot (and per contact, the company it
was associated with there), written as soon as the remote object exists so a retried
delivery resumes instead of creating duplicates. Rows go with their record (ON DELETE
CASCADE): SQLite may reuse the id of a deleted newest row, and a reused id must not inherit
another record's HubSpot object.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 08:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "hubspot_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.Column("email_id", sa.Integer(), nullable=True),
        sa.Column("hubspot_id", sa.String(length=40), nullable=False, comment="HubSpot object id"),
        sa.Column(
            "fingerprint",
            sa.String(length=64),
            nullable=False,
            comment="hash of the fields last sent (contacts)",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('contact', 'company', 'email', 'contact_company')",
            name=op.f("ck_hubspot_links_kind"),
        ),
        sa.CheckConstraint(
            "(CASE WHEN contact_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN company_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN email_id IS NULL THEN 0 ELSE 1 END) = 1",
            name=op.f("ck_hubspot_links_one_record"),
        ),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_hubspot_links_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_hubspot_links_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["email_id"],
            ["emails.id"],
            name=op.f("fk_hubspot_links_email_id_emails"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hubspot_links")),
        sa.UniqueConstraint("company_id", "kind", name=op.f("uq_hubspot_links_company_id_kind")),
        sa.UniqueConstraint("contact_id", "kind", name=op.f("uq_hubspot_links_contact_id_kind")),
        sa.UniqueConstraint("email_id", "kind", name=op.f("uq_hubspot_links_email_id_kind")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("hubspot_links")
