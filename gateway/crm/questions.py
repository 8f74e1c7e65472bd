"""Questions bccrm asks a person instead of guessing: the review items the pipeline opens.

Each question has a ``key`` naming its subject (``same_person:anna@x.pl``); the key is unique,
so a question is asked once, later evidence joins the open item, and an answered question is
not asked again. :mod:`gateway.services.review` lists them and applies the answers.

Kinds and their payloads (plain JSON; ``bccrm review show`` prints them):

``new_contact``   (``matching.create_contacts = "review"``) ``{"email", "fields"}`` where
                  fields are first_name, last_name, title, company, phones (E.164 list).
``same_person``   ``{"email", "name", "candidates": [{"contact_id", "name", "confidence",
                  "reasons"}], "fields"}``: is this address one of these contacts?
``field_update``  ``{"field": "title"|"phone"|"company", "current", "proposed", "email_id"}``
                  on ``contact_id``: a signature says something new about a known contact.
``merge``         ``{"keep", "other", "confidence", "reasons"}``: two contacts look like one.
``which_deal``    ``{"choices": [{"deal_id", "name", "stage", "updated_at"}]}`` newest first,
                  on ``email_id``: the contacts have several open deals.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from gateway.crm import repo, txcache
from gateway.crm.mail import ReviewItem

KINDS = ("new_contact", "same_person", "field_update", "merge", "which_deal")


def existing(session: Session, key: str) -> ReviewItem | None:
    """The question ``key``, if asked. In a worker's batch (txcache) the answer is kept for
    the transaction: matching asks whether a person was asked about, then logging asks the
    same to open the question."""
    known = txcache.mapping(session, _ITEMS_KEY)
    item = known.get(key, _UNKNOWN)
    if item is _UNKNOWN or (item is not None and not inspect(item).persistent):
        # Unknown, or an item a rolled-back savepoint or a flush removed: ask again.
        item = known[key] = session.scalar(select(ReviewItem).where(ReviewItem.key == key))
    return cast(ReviewItem | None, item)


_ITEMS_KEY = "review items by key"
_UNKNOWN = object()


def ask(
    session: Session,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    email_id: int | None = None,
    contact_id: int | None = None,
) -> tuple[ReviewItem, bool]:
    """Open the question ``key`` unless it exists; returns (item, created). Two workers
    asking at once: the unique key makes one of them retry and find the other's item."""
    if kind not in KINDS:
        raise ValueError(f"unknown review kind {kind!r}")
    found = existing(session, key)
    if found is not None:
        return found, False
    item = ReviewItem(
        kind=kind,
        key=key[:400],
        status="open",
        email_id=email_id,
        contact_id=contact_id,
        payload=payload,
    )
    session.add(item)
    session.flush()
    txcache.mapping(session, _ITEMS_KEY)[key] = item
    repo.audit(session, "worker", "review.opened", "review", item.id, kind=kind)
    return item, True


def same_person_key(address: str) -> str:
    return f"same_person:{address}"


def new_contact_key(address: str) -> str:
    return f"new_contact:{address}"


def field_key(contact_id: int, field: str, value: str) -> str:
    return f"field:{contact_id}:{field}:{value}"


def merge_key(a: int, b: int) -> str:
    return f"merge:{min(a, b)}:{max(a, b)}"


def which_deal_key(email_id: int) -> str:
    return f"which_deal:{email_id}"
