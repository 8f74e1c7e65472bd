"""ingested: the archived messages ``bccrm ingest`` has finished (issue #9)

One row per message (keyed by the SHA-256 of its raw bytes), written in the message's own
transaction, so re-running an ingest over the same archive skips what is done.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 12:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ingested_messages",
        sa.Column(
            "sha256",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the raw message, hex",
        ),
        sa.Column(
            "outcome", sa.String(length=20), nullable=False, comment="logged, duplicate or dropped"
        ),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_ingested_messages")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("ingested_messages")
