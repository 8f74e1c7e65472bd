"""The CRM store: SQLAlchemy 2.0 models, Alembic migrations and the engine."""

from gateway.crm.base import Base, utcnow
from gateway.crm.hubspot import HubSpotLink as HubSpotLink  # plugins/hubspot.py
from gateway.crm.ingest import IngestedMessage as IngestedMessage  # bccrm ingest
from gateway.crm.mail import (
    AuditEntry,
    Email,
    EmailAssociation,
    EmailAttachment,
    EmailLogger,
    EmailParticipant,
    ReviewItem,
)
from gateway.crm.people import (
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactNameKey,
    ContactPhone,
    Deal,
    DealContact,
    Ticket,
    TicketContact,
    User,
    UserAddress,
)
from gateway.crm.plugins import PluginDelivery, PluginEvent, Task
from gateway.crm.privacy import LegalBasisCheck, NeverLog, Setting, Suppression

__all__ = [
    "AuditEntry",
    "Base",
    "Company",
    "CompanyDomain",
    "Contact",
    "ContactEmail",
    "ContactNameKey",
    "ContactPhone",
    "Deal",
    "DealContact",
    "Email",
    "EmailAssociation",
    "EmailAttachment",
    "EmailLogger",
    "EmailParticipant",
    "LegalBasisCheck",
    "NeverLog",
    "PluginDelivery",
    "PluginEvent",
    "ReviewItem",
    "Setting",
    "Suppression",
    "Task",
    "Ticket",
    "TicketContact",
    "User",
    "UserAddress",
    "utcnow",
]
