"""Merging contacts: everything that points at OTHER ends up on KEEP, exactly once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.app import App
from gateway.cli import main
from gateway.crm import (
    AuditEntry,
    Company,
    Contact,
    ContactEmail,
    ContactNameKey,
    ContactPhone,
    Deal,
    DealContact,
    Email,
    EmailAssociation,
    EmailParticipant,
    ReviewItem,
    Ticket,
    TicketContact,
    User,
    repo,
)
from gateway.crm.merge import MergeError, MergeResult, merge_contacts
from gateway.matching.names import blocking_keys


def contact(
    session: Session,
    emails: tuple[str, ...],
    phones: tuple[str, ...] = (),
    *,
    first_name: str = "",
    last_name: str = "",
    **fields: object,
) -> int:
    row = Contact(
        first_name=first_name,
        last_name=last_name,
        origin="manual",
        emails=[ContactEmail(email=e, is_primary=i == 0) for i, e in enumerate(emails)],
        phones=[ContactPhone(e164=p) for p in phones],
        **fields,
    )
    session.add(row)
    session.flush()
    repo.index_contact_name(session, row)
    return row.id


def email(session: Session, name: str, *contact_ids: int, company_id: int | None = None) -> int:
    """A logged email with a participant and a contact link per contact."""
    row = Email(
        dedup_key=hashlib.sha256(name.encode()).hexdigest(),
        message_id=f"<{name}@example.com>",
        direction="outbound",
        from_email="rep@example.com",
        body_sha256=hashlib.sha256(b"body " + name.encode()).hexdigest(),
        size=100,
    )
    session.add(row)
    session.flush()
    for n, contact_id in enumerate(contact_ids):
        session.add(
            EmailParticipant(
                email_id=row.id, role="to", email=f"p{n}@{name}.test", contact_id=contact_id
            )
        )
        session.add(
            EmailAssociation(
                email_id=row.id, kind="contact", contact_id=contact_id, reason="exact email"
            )
        )
    if company_id is not None:
        session.add(
            EmailAssociation(
                email_id=row.id, kind="company", company_id=company_id, reason="domain"
            )
        )
    session.flush()
    return row.id


@dataclass
class World:
    keep: int
    other: int
    earlier: int
    company: int
    owner: int
    emails: dict[str, int]
    deals: dict[str, int]
    tickets: dict[str, int]
    reviews: dict[str, int]


@pytest.fixture
def world(app: App) -> World:
    with app.sessions.begin() as s:
        company = Company(name="ACME", origin="manual")
        owner = User(name="Anna")
        s.add_all([company, owner])
        s.flush()
        keep = contact(s, ("jan@acme.pl",), ("+48601234567",), first_name="Jan")
        other = contact(
            s,
            ("jk@acme.pl", "jan@kowalski.pl"),
            ("+48601234567", "+48221234567"),
            first_name="Janek",
            last_name="Kowalski",
            title="CTO",
            company_id=company.id,
            owner_id=owner.id,
        )
        earlier = contact(s, ("j.k@acme.pl",), status="merged", merged_into_id=other)
        emails = {
            "both": email(s, "both", keep, other, company_id=company.id),
            "other": email(s, "other", other),
            "keep": email(s, "keep", keep),
        }
        deals = {}
        for name, linked in (("both", (keep, other)), ("other", (other,))):
            deal = Deal(name=name, contacts=[DealContact(contact_id=c) for c in linked])
            s.add(deal)
            s.flush()
            deals[name] = deal.id
        tickets = {}
        for name, linked in (("both", (keep, other)), ("other", (other,))):
            ticket = Ticket(subject=name)
            s.add(ticket)
            s.flush()
            s.add_all(TicketContact(ticket_id=ticket.id, contact_id=c) for c in linked)
            tickets[name] = ticket.id
        open_item = ReviewItem(kind="contact.suggested", contact_id=other, key=f"c:{other}")
        done_item = ReviewItem(kind="contact.suggested", contact_id=other, status="approved")
        s.add_all([open_item, done_item])
        s.flush()
        return World(
            keep=keep,
            other=other,
            earlier=earlier,
            company=company.id,
            owner=owner.id,
            emails=emails,
            deals=deals,
            tickets=tickets,
            reviews={"open": open_item.id, "done": done_item.id},
        )


def merge(app: App, keep: int, other: int) -> MergeResult:
    with app.sessions.begin() as s:
        return merge_contacts(s, keep, other, actor="tester")


def test_merge_moves_everything_to_keep(app: App, world: World) -> None:
    keep, other = world.keep, world.other
    result = merge(app, keep, other)
    assert result == MergeResult(
        keep_id=keep,
        other_id=other,
        emails_moved=2,
        phones_moved=1,
        associations_moved=1,
        deals_moved=1,
        tickets_moved=1,
        fields_filled=("last_name", "title", "company_id", "owner_id"),
    )
    with app.sessions() as s:
        kept = s.get_one(Contact, keep)
        gone = s.get_one(Contact, other)
        assert (kept.first_name, kept.last_name, kept.title) == ("Jan", "Kowalski", "CTO")
        assert (kept.company_id, kept.owner_id, kept.status) == (
            world.company,
            world.owner,
            "active",
        )
        assert [(e.email, e.is_primary) for e in kept.emails] == [
            ("jan@acme.pl", True),
            ("jk@acme.pl", False),
            ("jan@kowalski.pl", False),
        ]
        assert [p.e164 for p in kept.phones] == ["+48601234567", "+48221234567"]
        assert (gone.status, gone.merged_into_id) == ("merged", keep)
        assert gone.emails == [] and gone.phones == []
        assert s.get_one(Contact, world.earlier).merged_into_id == keep

        links = s.execute(
            select(
                EmailAssociation.email_id,
                EmailAssociation.kind,
                EmailAssociation.contact_id,
                EmailAssociation.company_id,
            )
        ).all()
        both, only_other, only_keep = (world.emails[k] for k in ("both", "other", "keep"))
        assert sorted(links) == sorted(
            [
                (both, "contact", keep, None),  # OTHER's duplicate link dropped
                (both, "company", None, world.company),  # company links untouched
                (only_other, "contact", keep, None),
                (only_keep, "contact", keep, None),
            ]
        )
        participants = s.scalars(select(EmailParticipant.contact_id)).all()
        assert list(participants) == [keep] * 4

        deal_links = s.execute(select(DealContact.deal_id, DealContact.contact_id)).all()
        assert sorted(deal_links) == sorted(
            [(world.deals["both"], keep), (world.deals["other"], keep)]
        )
        ticket_links = s.execute(select(TicketContact.ticket_id, TicketContact.contact_id)).all()
        assert sorted(ticket_links) == sorted(
            [(world.tickets["both"], keep), (world.tickets["other"], keep)]
        )

        assert s.get_one(ReviewItem, world.reviews["open"]).contact_id == keep
        assert s.get_one(ReviewItem, world.reviews["done"]).contact_id == other

        keys = s.execute(select(ContactNameKey.contact_id, ContactNameKey.key)).all()
        assert sorted(keys) == sorted((keep, k) for k in blocking_keys("Jan", "Kowalski"))

        [entry] = s.scalars(select(AuditEntry).where(AuditEntry.action == "contact.merged"))
        assert (entry.actor, entry.object_kind, entry.object_id) == ("tester", "contact", str(keep))
        assert entry.details["other"] == other
        assert (entry.details["emails"], entry.details["phones"]) == (2, 1)
        assert entry.details["associations"] == 1


def test_keep_values_win_over_other(app: App, world: World) -> None:
    with app.sessions.begin() as s:
        mine = Company(name="Mine", origin="manual")
        s.add(mine)
        s.flush()
        kept = s.get_one(Contact, world.keep)
        kept.company_id, kept.last_name, kept.title = mine.id, "Kowalsky", "CEO"
        company = mine.id
    result = merge(app, world.keep, world.other)
    assert result.fields_filled == ("owner_id",)
    with app.sessions() as s:
        kept = s.get_one(Contact, world.keep)
        assert (kept.company_id, kept.first_name, kept.last_name, kept.title) == (
            company,
            "Jan",
            "Kowalsky",
            "CEO",
        )


def test_other_primary_stays_primary_only_when_keep_has_none(app: App) -> None:
    with app.sessions.begin() as s:
        keep = contact(s, ())
        other = contact(s, ("a@b.pl", "c@b.pl"))
    assert merge(app, keep, other).emails_moved == 2
    with app.sessions() as s:
        assert [(e.email, e.is_primary) for e in s.get_one(Contact, keep).emails] == [
            ("a@b.pl", True),
            ("c@b.pl", False),
        ]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing keep", "contact 999 does not exist"),
        ("missing other", "contact 999 does not exist"),
        ("same", "cannot merge contact {keep} into itself"),
        ("merged", "contact {earlier} is already merged into contact {other}"),
        ("erased", "contact {erased} is erased"),
    ],
)
def test_refused_merges_change_nothing(app: App, world: World, case: str, message: str) -> None:
    with app.sessions.begin() as s:
        erased = contact(s, (), status="erased")
    ids = {"keep": world.keep, "other": world.other, "earlier": world.earlier, "erased": erased}
    keep, other = {
        "missing keep": (999, world.other),
        "missing other": (world.keep, 999),
        "same": (world.keep, world.keep),
        "merged": (world.keep, world.earlier),
        "erased": (erased, world.other),
    }[case]
    with pytest.raises(MergeError) as raised, app.sessions.begin() as s:
        merge_contacts(s, keep, other, actor="tester")
    assert str(raised.value) == message.format(**ids)
    with app.sessions() as s:
        assert s.get_one(Contact, world.other).status == "active"
        assert len(s.get_one(Contact, world.other).emails) == 2
        assert s.scalars(select(AuditEntry)).all() == []


def test_merging_twice_is_refused(app: App, world: World) -> None:
    merge(app, world.keep, world.other)
    with pytest.raises(MergeError, match=f"contact {world.other} is already merged"):
        merge(app, world.keep, world.other)
    with pytest.raises(MergeError, match=f"contact {world.other} is already merged"):
        merge(app, world.other, world.keep)


def run_cli(app: App, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["--config", str(app.config.source), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_merge(app: App, world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(app, capsys, "contacts", "merge", str(world.keep), str(world.other))
    assert (code, err) == (0, "")
    expected = f"merged contact {world.other} into {world.keep}: "
    assert out == expected + "2 emails, 1 phones, 1 timeline entries\n"
    with app.sessions() as s:
        assert s.get_one(Contact, world.other).status == "merged"
        [entry] = s.scalars(select(AuditEntry))
        assert entry.actor == "cli"

    code, out, err = run_cli(app, capsys, "contacts", "merge", str(world.keep), str(world.other))
    assert code == 1 and out == ""
    assert f"contact {world.other} is already merged into contact {world.keep}" in err


def test_cli_merge_json_and_errors(
    app: App, world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(app, capsys, "contacts", "merge", "999", str(world.other))
    assert code == 1 and "contact 999 does not exist" in err
    code, out, _ = run_cli(
        app, capsys, "contacts", "merge", str(world.keep), str(world.other), "--json"
    )
    assert code == 0
    assert json.loads(out) == {
        "keep_id": world.keep,
        "other_id": world.other,
        "emails_moved": 2,
        "phones_moved": 1,
        "associations_moved": 1,
        "deals_moved": 1,
        "tickets_moved": 1,
        "fields_filled": ["last_name", "title", "company_id", "owner_id"],
    }
    with pytest.raises(SystemExit) as exited:
        run_cli(app, capsys, "contacts", "merge", "one", "2")
    assert exited.value.code == 2
