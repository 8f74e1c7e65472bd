"""email log: index emails by (received_at, id) for the newest-first list (issue #7)

The admin's email log pages through every logged email newest first by keyset:
``ORDER BY received_at DESC, id DESC`` with ``(received_at, id) < (:last_at, :last_id)``.
Without this index SQLite reads and sorts every row for each page (100,000 emails: a full
scan and a temporary B-tree per page); with it a page reads its 100 rows from the index.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 06:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index("ix_emails_received_at_id", ["received_at", "id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index("ix_emails_received_at_id")
