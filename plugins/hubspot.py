"""hubspot: mirrors logged emails, and the contacts and companies they touch, into HubSpot
through its public CRM v3 API, after bccrm committed them (the plugin outbox retries).

For each email (not at privacy level ``anonymous``) with at least one contact to sync:

1. each company (by domain) is found — link table first, then a search by ``domain`` — or
   created;
2. each contact that is live and not objecting (Art. 21) is found — link table, then a
   search by ``email`` — or created; HubSpot fields that are empty are filled from bccrm's
   (``firstname``, ``lastname``, ``jobtitle``, ``phone``, ``company``), never overwritten:
   people edit contacts in HubSpot, bccrm only guesses from mail. Filled again only when
   bccrm's values change;
3. each contact is associated with its company (contact→company);
4. the email engagement is created once, associated with those contacts and companies.

Every remote object is recorded in ``hubspot_links`` (gateway.crm.hubspot) in its own small
transaction as soon as it exists, so a retry after a partial success resumes where it
stopped and never creates a second engagement. (A response lost after HubSpot created an
object is the one window left: HubSpot offers no idempotency key for creates.)

Errors: 429 → retry after ``Retry-After``; 5xx, timeouts and connection errors → retry with
backoff; 401/403 → failed (fix the token, then ``bccrm plugins retry --all``); other 4xx →
failed with the status and HubSpot's ``category`` only — HubSpot's ``message`` can echo data.

Docs (developers.hubspot.com/docs): "Search the CRM" (``/crm/v3/objects/{type}/search``),
"Contacts", "Companies", "Activities | Email" (``/crm/v3/objects/emails``), "Associations
v4" (default association type ids), "Private apps" (``Authorization: Bearer``).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import math
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.config_reader import ConfigError, Reader
from gateway.crm import (
    Company,
    Contact,
    ContactEmail,
    Email,
    EmailParticipant,
    Suppression,
    repo,
    utcnow,
)
from gateway.crm.hubspot import HubSpotLink
from gateway.hooks import DeliveryFailed, EmailLogged, PluginContext, RetryLater, hookimpl
from gateway.privacy.keys import address_hash, hash_key

DEFAULT_BASE_URL = "https://api.hubapi.com"
# HUBSPOT_DEFINED association type ids, from the table "Association type ID values" in
# https://developers.hubspot.com/docs/api/crm/associations (v4) — email to contact 198, email
# to company 186, contact to company 279 (unlabeled; 1 is "primary", which we leave to people).
# The contact→company id is also the example in
# https://developers.hubspot.com/docs/api-reference/latest/crm/associations/overview
EMAIL_TO_CONTACT = 198
EMAIL_TO_COMPANY = 186
CONTACT_TO_COMPANY = 279
# hs_email_direction (docs "Activities | Email"). bccrm unwraps forwards to the original
# message, so the engagement is that message: FORWARDED_EMAIL is never sent.
DIRECTIONS = {"outbound": "EMAIL", "inbound": "INCOMING_EMAIL", "internal": "EMAIL"}
CONTACT_FIELDS = ("firstname", "lastname", "jobtitle", "phone", "company")
LIVE = ("active", "suggested")
MAX_TEXT = 65_000  # HubSpot text properties hold 65,536 characters
MAX_RETRY_AFTER = 86_400.0  # a day: a wrong header must not park a delivery for ever
CATEGORY = re.compile(r"[A-Z][A-Z_]{0,59}")  # VALIDATION_ERROR, CONFLICT, ...: never free text


@dataclass(frozen=True)
class Settings:
    token: str
    base_url: str = DEFAULT_BASE_URL
    timeout: float = 10.0
    sync_bodies: bool = True


def parse_settings(r: Reader, base_dir: Path) -> Settings:
    """``[plugin.hubspot]``; ``token`` is required (inline, ``{ env }`` or ``{ file }``)."""
    d = Settings(token="")
    token = r.secret("token", "", base_dir).strip()
    if not token:
        raise ConfigError(f'{r.name("token")}: required, e.g. token = {{ env = "HUBSPOT_TOKEN" }}')
    if any(c.isspace() for c in token):
        raise ConfigError(f"{r.name('token')}: must be one line without spaces")
    settings = Settings(
        token=token,
        base_url=r.get(
            "base_url", str, d.base_url, _valid_url, "must be https:// (http:// only on loopback)"
        ).rstrip("/"),
        timeout=r.get("timeout", float, d.timeout, lambda v: 0 < v <= 300, "must be 0..300 s"),
        sync_bodies=r.get("sync_bodies", bool, d.sync_bodies),
    )
    r.finish()
    return settings


def _valid_url(url: str) -> bool:
    parts = urlsplit(url)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    return bool(parts.hostname) and (
        parts.scheme == "https" or (parts.scheme == "http" and loopback)
    )


# -- HTTP ------------------------------------------------------------------------------------


class HubSpotError(DeliveryFailed):
    """HubSpot refused a request for good; the reason is the status and HubSpot's category
    (never its message, which can echo the data sent)."""

    def __init__(self, status: int, category: str) -> None:
        super().__init__(f"HTTP {status} {category}".strip())
        self.status = status
        self.category = category


class HubSpotAuthError(HubSpotError):
    """401/403: the token is wrong, revoked or lacks a scope."""


class HubSpotRejected(HubSpotError):
    """Another 4xx: HubSpot did not accept what was sent."""


class Api:
    """HubSpot's CRM API over urllib; every failure is RetryLater or a HubSpotError."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def call(
        self, method: str, path: str, body: Any = None, query: Mapping[str, str] | None = None
    ) -> Any:
        url = self.settings.base_url + path + (f"?{urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {self.settings.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        # S310: the scheme is https, or http on loopback (checked by parse_settings).
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as answer:  # noqa: S310
                raw = answer.read()
        except urllib.error.HTTPError as exc:
            raise _refusal(exc) from None
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            cause = getattr(exc, "reason", exc)
            raise RetryLater(f"HubSpot unreachable ({type(cause).__name__})") from None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise RetryLater("HubSpot answered no JSON") from None

    def search(
        self, kind: str, name: str, value: str, properties: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """The first ``kind`` object whose property ``name`` equals ``value``, or None."""
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": name, "operator": "EQ", "value": value}]}
            ],
            "properties": [name, *properties],
            "limit": 1,
        }
        results = (self.call("POST", f"/crm/v3/objects/{kind}/search", body) or {}).get("results")
        return results[0] if results else None

    def read(
        self, kind: str, key: str, properties: Iterable[str], by_email: bool = False
    ) -> dict[str, Any] | None:
        query = {"properties": ",".join(properties)} | ({"idProperty": "email"} if by_email else {})
        try:
            found = self.call("GET", f"/crm/v3/objects/{kind}/{quote(key, safe='')}", query=query)
        except HubSpotRejected as exc:
            if exc.status == 404:
                return None
            raise
        return found if isinstance(found, dict) else None

    def create(
        self,
        kind: str,
        properties: Mapping[str, str],
        associations: list[dict[str, Any]] | None = None,
    ) -> str:
        body: dict[str, Any] = {"properties": dict(properties)}
        if associations:
            body["associations"] = associations
        created = self.call("POST", f"/crm/v3/objects/{kind}", body)
        if not isinstance(created, dict) or "id" not in created:
            raise RetryLater("HubSpot answered without an id")
        return str(created["id"])

    def update(self, kind: str, object_id: str, properties: Mapping[str, str]) -> None:
        self.call("PATCH", f"/crm/v3/objects/{kind}/{object_id}", {"properties": dict(properties)})

    def associate_contact(self, contact_id: str, company_id: str) -> None:
        """Associations v4: PUT is idempotent, so repeating it is harmless."""
        path = f"/crm/v4/objects/contacts/{contact_id}/associations/companies/{company_id}"
        self.call("PUT", path, [_type(CONTACT_TO_COMPANY)])


def _type(type_id: int) -> dict[str, Any]:
    return {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}


def _refusal(exc: urllib.error.HTTPError) -> Exception:
    """What an HTTP error status means for the delivery."""
    status = exc.code
    headers = exc.headers
    category = _category(exc)
    exc.close()
    if status == 429 or status >= 500 or status == 408:
        # Retry-After comes with 429 (rate limits) and may come with 503; else the backoff.
        return RetryLater(f"HTTP {status}", after=_retry_after(headers.get("Retry-After")))
    if status in (401, 403):
        return HubSpotAuthError(status, category)
    return HubSpotRejected(status, category)


def _category(exc: urllib.error.HTTPError) -> str:
    """HubSpot's ``category`` (VALIDATION_ERROR, CONFLICT ...) if it is one: an upper-case
    word, so nothing from the message or the request can ride along."""
    try:
        body = json.loads(exc.read(65536) or b"{}")
    except (ValueError, OSError):
        return ""
    value = body.get("category") or body.get("errorType") if isinstance(body, dict) else ""
    text = str(value or "")
    return text if CATEGORY.fullmatch(text) else ""


def _retry_after(value: str | None) -> float | None:
    """Seconds from ``Retry-After``: a number or an HTTP date (RFC 9110, 10.2.3)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


# -- the link table ---------------------------------------------------------------------------

_COLUMN = {
    "contact": "contact_id",
    "contact_company": "contact_id",
    "company": "company_id",
    "email": "email_id",
}


@dataclass(frozen=True)
class Link:
    hubspot_id: str
    fingerprint: str = ""


class Links:
    """``hubspot_links``, each write its own small transaction (committed before the next
    remote call, so a retry resumes)."""

    def __init__(self, sessions: sessionmaker[Session], actor: str) -> None:
        self.sessions = sessions
        self.actor = actor

    def get(self, kind: str, record_id: int) -> Link | None:
        column = getattr(HubSpotLink, _COLUMN[kind])
        with self.sessions() as session:
            row = session.execute(
                select(HubSpotLink.hubspot_id, HubSpotLink.fingerprint).where(
                    HubSpotLink.kind == kind, column == record_id
                )
            ).first()
        return Link(*row) if row else None

    def put(self, kind: str, record_id: int, link: Link, action: str = "") -> str:
        """Record (or change) the link and audit ``action``; if another worker linked the
        record first, its HubSpot id wins and is returned."""
        column = _COLUMN[kind]
        try:
            with self.sessions.begin() as session:
                row = session.scalar(
                    select(HubSpotLink).where(
                        HubSpotLink.kind == kind, getattr(HubSpotLink, column) == record_id
                    )
                )
                if row is None:
                    row = HubSpotLink(kind=kind, **{column: record_id})
                    session.add(row)
                row.hubspot_id, row.fingerprint, row.updated_at = (
                    link.hubspot_id,
                    link.fingerprint,
                    utcnow(),
                )
                if action:
                    record = column.removesuffix("_id")
                    repo.audit(
                        session, self.actor, action, record, record_id, hubspot_id=link.hubspot_id
                    )
        except IntegrityError:
            found = self.get(kind, record_id)  # None: the record itself was deleted meanwhile
            return found.hubspot_id if found else link.hubspot_id
        return link.hubspot_id


# -- what bccrm knows, read once per delivery ------------------------------------------------


@dataclass(frozen=True)
class Person:
    contact_id: int
    company_id: int | None
    fields: Mapping[str, str]  # HubSpot contact properties with a value, email included
    fingerprint: str  # keyed hash of ``fields``: bccrm's values changed since the last sync?


@dataclass(frozen=True)
class Org:
    company_id: int
    name: str
    domain: str


@dataclass(frozen=True)
class Snapshot:
    timestamp: datetime
    people: tuple[Person, ...]
    orgs: tuple[Org, ...]
    headers: Mapping[str, Any]


def snapshot(session: Session, event: EmailLogged, context: PluginContext) -> Snapshot | None:
    """The email's contacts to sync (live, not objecting, now or when logged), its companies
    with a domain, and its participants minus objecting or suppressed people; None when the
    email is gone (deleted, retention)."""
    email = session.get(Email, event.email_id)
    if email is None:
        return None
    key = hash_key(session, context.config.privacy)
    people = [
        person
        for ref in event.contacts
        if not ref.objecting and ref.email
        if (person := _person(session, ref.id, ref.email, key)) is not None
    ]
    company_ids = {*event.company_ids, *(p.company_id for p in people if p.company_id)}
    orgs = [org for cid in sorted(company_ids) if (org := _org(session, cid)) is not None]
    return Snapshot(
        timestamp=email.sent_at or email.received_at,
        people=tuple(people),
        orgs=tuple(orgs),
        headers=_headers(session, email.id, key),
    )


def _person(session: Session, contact_id: int, address: str, key: bytes) -> Person | None:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.status not in LIVE or contact.objecting:
        return None
    values = {
        "email": address,
        "firstname": contact.first_name,
        "lastname": contact.last_name,
        "jobtitle": contact.title,
        "phone": contact.phones[0].e164 if contact.phones else "",
        "company": contact.company.name if contact.company else "",
    }
    fields = {name: value for name, value in values.items() if value}
    blob = json.dumps(fields, sort_keys=True).encode()
    # Keyed: after an erasure the row must not confirm a guessed name or address.
    fingerprint = hmac.new(key, blob, hashlib.sha256).hexdigest()
    return Person(contact.id, contact.company_id, fields, fingerprint)


def _org(session: Session, company_id: int) -> Org | None:
    company = session.get(Company, company_id)
    if company is None or not company.domains:
        return None  # without a domain there is nothing to find it by in HubSpot
    domain = company.domains[0].domain
    return Org(company.id, company.name or domain, domain)


def _headers(session: Session, email_id: int, key: bytes) -> dict[str, Any]:
    """``hs_email_headers`` (docs "Activities | Email", "Set email headers")."""
    rows = session.execute(
        select(EmailParticipant.role, EmailParticipant.email, EmailParticipant.name)
        .outerjoin(Contact, Contact.id == EmailParticipant.contact_id)
        .where(EmailParticipant.email_id == email_id)
        .where((Contact.id.is_(None)) | (Contact.objecting.is_(False)))
        .order_by(EmailParticipant.id)
    ).all()
    objecting = set(
        session.scalars(
            select(ContactEmail.email)
            .join(Contact, Contact.id == ContactEmail.contact_id)
            .where(Contact.objecting.is_(True), ContactEmail.email.in_([r.email for r in rows]))
        )
    )
    hashes = {address_hash(key, r.email) for r in rows}
    suppressed = set(
        session.scalars(
            select(Suppression.address_hash).where(Suppression.address_hash.in_(hashes))
        )
    )
    people: dict[str, list[dict[str, str]]] = {"from": [], "to": [], "cc": []}
    for role, address, name in rows:
        if address in objecting or address_hash(key, address) in suppressed:
            continue
        first, _, last = name.strip().partition(" ")
        people[role].append({"email": address, "firstName": first, "lastName": last.strip()})
    sender = {"from": people["from"][0]} if people["from"] else {}
    return {**sender, "to": people["to"], "cc": people["cc"], "bcc": []}


# -- the sync -------------------------------------------------------------------------------


class Sync:
    """Mirrors one logged email into HubSpot (see the module docstring for the steps)."""

    def __init__(self, settings: Settings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context
        self.api = Api(settings)
        self.links = Links(context.sessions, context.actor)

    def email(self, event: EmailLogged) -> None:
        if event.privacy_level not in ("full", "metadata"):
            return  # anonymous: participants are keyed hashes; nothing to mirror
        if self.links.get("email", event.email_id) is not None:
            return  # already mirrored: a redelivery changes nothing
        with self.context.sessions.begin() as session:
            local = snapshot(session, event, self.context)
        if local is None or not local.people:
            return  # gone, or nobody it may be synced for
        companies = {org.company_id: self.company(org) for org in local.orgs}
        contacts = []
        for person in local.people:
            contact_id = self.contact(person)
            contacts.append(contact_id)
            if person.company_id in companies:
                self.associate(person.contact_id, contact_id, companies[person.company_id])
        self.engagement(event, local, contacts, list(companies.values()))

    def company(self, org: Org) -> str:
        link = self.links.get("company", org.company_id)
        if link is not None:
            return link.hubspot_id
        found = self.api.search("companies", "domain", org.domain)
        if found is not None:
            hubspot_id = str(found["id"])
        else:
            hubspot_id = self.api.create("companies", {"name": org.name, "domain": org.domain})
        return self.links.put("company", org.company_id, Link(hubspot_id), "hubspot.company_linked")

    def contact(self, person: Person) -> str:
        link = self.links.get("contact", person.contact_id)
        if link is not None and link.fingerprint == person.fingerprint:
            return link.hubspot_id
        current = self.api.read("contacts", link.hubspot_id, CONTACT_FIELDS) if link else None
        if current is None:
            current = self.api.search("contacts", "email", person.fields["email"], CONTACT_FIELDS)
        if current is None:
            current = self._create_contact(person)
        hubspot_id = str(current["id"])
        self._fill(person, hubspot_id, current.get("properties") or {})
        action = "" if link and link.hubspot_id == hubspot_id else "hubspot.contact_linked"
        return self.links.put(
            "contact", person.contact_id, Link(hubspot_id, person.fingerprint), action
        )

    def _create_contact(self, person: Person) -> dict[str, Any]:
        try:
            return {"id": self.api.create("contacts", person.fields), "properties": person.fields}
        except HubSpotRejected as exc:
            if exc.status != 409:
                raise
        # CONFLICT: the contact exists but the search index had not caught up (HubSpot's
        # search lags behind writes). Reading by email is immediate.
        found = self.api.read("contacts", person.fields["email"], CONTACT_FIELDS, by_email=True)
        if found is None:
            raise RetryLater("HubSpot contact conflict, not readable yet")
        return found

    def _fill(self, person: Person, hubspot_id: str, current: Mapping[str, Any]) -> None:
        """Set HubSpot's empty fields from bccrm's; never overwrite a value."""
        missing = {
            name: value
            for name, value in person.fields.items()
            if name in CONTACT_FIELDS and not current.get(name)
        }
        if missing:
            self.api.update("contacts", hubspot_id, missing)

    def associate(self, contact_id: int, hubspot_contact: str, hubspot_company: str) -> None:
        """Once per pair: the link keeps the company and, as its fingerprint, the contact."""
        done = Link(hubspot_company, fingerprint=hubspot_contact)
        if self.links.get("contact_company", contact_id) == done:
            return
        self.api.associate_contact(hubspot_contact, hubspot_company)
        self.links.put("contact_company", contact_id, done)

    def engagement(
        self, event: EmailLogged, local: Snapshot, contacts: list[str], companies: list[str]
    ) -> None:
        properties = {
            "hs_timestamp": local.timestamp.astimezone(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "hs_email_direction": DIRECTIONS.get(event.direction, "EMAIL"),
            "hs_email_status": "SENT",
            "hs_email_subject": event.subject[:MAX_TEXT],
            "hs_email_headers": json.dumps(local.headers, ensure_ascii=False),
        }
        if self.settings.sync_bodies and event.privacy_level == "full" and event.reply_text:
            properties["hs_email_text"] = event.reply_text[:MAX_TEXT]
        associations = [
            {"to": {"id": target}, "types": [_type(type_id)]}
            for targets, type_id in ((contacts, EMAIL_TO_CONTACT), (companies, EMAIL_TO_COMPANY))
            for target in dict.fromkeys(targets)
        ]
        hubspot_id = self.api.create("emails", properties, associations)
        self.links.put("email", event.email_id, Link(hubspot_id), "hubspot.email_synced")
        self.context.log.info(
            "email %s synced as HubSpot email %s (%d contacts, %d companies)",
            event.email_id, hubspot_id, len(set(contacts)), len(set(companies)),
        )  # fmt: skip


# -- hooks ----------------------------------------------------------------------------------


@hookimpl
def bccrm_configure(context: PluginContext) -> None:
    """Active only with a ``[plugin.hubspot]`` section, which then needs a ``token``."""
    context.state.pop("sync", None)
    if context.name not in context.config.plugins.settings:
        return
    settings = parse_settings(context.settings, context.config.plugins.base_dir)
    context.state["sync"] = Sync(settings, context)


@hookimpl
def bccrm_channels(context: PluginContext) -> list[str]:
    """One channel when configured; none (no deliveries at all) without the section."""
    return [""] if "sync" in context.state else []


@hookimpl
def bccrm_email_logged(event: EmailLogged, context: PluginContext) -> None:
    sync = context.state.get("sync")
    if not isinstance(sync, Sync):
        return
    try:
        sync.email(event)
    except HubSpotError as exc:
        # The status and HubSpot's category (never HubSpot's message, which can echo data).
        context.log.warning("email %s not synced: %s", event.email_id, exc)
        raise
