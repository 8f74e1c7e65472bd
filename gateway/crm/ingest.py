"""The record of archived messages ``bccrm ingest`` has finished (gateway/services/ingest.py).

Keyed by the SHA-256 of the message's raw bytes, so a re-run skips what is done without
parsing it again, wherever the archive has moved and whichever mbox it sits in. A row is
written in the same transaction as what the pipeline wrote for the message: after a crash or
Ctrl-C, and after a restore of the database, the record and the CRM agree.
"""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.crm.base import Base, timestamp

__all__ = ["IngestedMessage"]


class IngestedMessage(Base):
    """One archived message the pipeline finished with (logged, another copy, or dropped by
    policy). Held and unreadable messages get no row: a re-run tries them again."""

    __tablename__ = "ingested_messages"
    sha256: Mapped[str] = mapped_column(
        String(64), primary_key=True, comment="SHA-256 of the raw message, hex"
    )
    outcome: Mapped[str] = mapped_column(String(20), comment="logged, duplicate or dropped")
    ingested_at: Mapped[timestamp]
