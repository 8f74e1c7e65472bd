"""Deals, tickets and the review queue end to end, as an admin runs them: ``bccrm contacts
import``, ``bccrm deals import``, ``bccrm ingest`` (also through a team-inbox route), then
``bccrm export``, ``bccrm review`` and ``bccrm stats``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import App, build_app
from gateway.crm.db import upgrade
from tests.conftest import ConfigFactory
from tests.support import Cli, add_user, make_message

SUPPORT_ROUTE = "support@crm.example.com"

CONTACTS = """email,first_name,last_name,company
anna.kowalska@acme.pl,Anna,Kowalska,ACME
jan.nowak@beta.pl,Jan,Nowak,Beta
ewa.lis@gamma.pl,Ewa,Lis,Gamma
"""

DEALS = """id,name,stage,status,company_domain,contact_emails,owner_email,updated_at
101,ACME wdrożenie,proposal,open,acme.pl,anna.kowalska@acme.pl,anna@example.com,2026-10-01
102,Beta licencje,negotiation,open,beta.pl,jan.nowak@beta.pl,anna@example.com,2026-10-01
103,Beta serwis,proposal,open,beta.pl,jan.nowak@beta.pl,anna@example.com,2026-11-01
104,Gamma projekt,discovery,open,gamma.pl,,anna@example.com,2026-09-01
105,ACME stary,closed,won,acme.pl,anna.kowalska@acme.pl,anna@example.com,2025-01-01
"""


@pytest.fixture
def cli(make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    config = make_config(
        team_inbox=[
            {
                "address": "support@example.com",
                "route": SUPPORT_ROUTE,
                "mode": "tickets",
                "owner": "anna@example.com",
            }
        ]
    )
    app: App = build_app(config)
    upgrade(app.engine)
    add_user(app, "anna@example.com", "Anna Nowak")
    runner = Cli(config, capsys)
    yield runner
    app.close()


@pytest.fixture
def crm(cli: Cli, tmp_path: Path) -> Cli:
    for kind, text in (("contacts", CONTACTS), ("deals", DEALS)):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        code, _, err = cli(kind, "import", str(path))
        assert code == 0, err
    return cli


def ingest(cli: Cli, tmp_path: Path, raw: bytes, *extra: str) -> dict[str, Any]:
    path = tmp_path / f"m{len(list(tmp_path.glob('m*.eml')))}.eml"
    path.write_bytes(raw)
    result: dict[str, Any] = cli.json("ingest", str(path), *extra)
    return result


def email_by_subject(cli: Cli, subject: str) -> dict[str, Any]:
    [email] = [e for e in cli.json("export")["emails"] if e["subject"] == subject]
    return email


def deal_ids(cli: Cli) -> dict[str, int]:
    return {d["external_id"]: d["id"] for d in cli.json("export")["deals"]}


def links(email: dict[str, Any], kind: str) -> list[tuple[int, str]]:
    return [(a["id"], a["reason"]) for a in email["associations"] if a["kind"] == kind]


def outbound(to: str, subject: str, **kw: Any) -> bytes:
    return make_message(sender="Anna Nowak <anna@example.com>", to=to, subject=subject, **kw)


def test_contacts_only_open_deal(crm: Cli, tmp_path: Path) -> None:
    ingest(crm, tmp_path, outbound("anna.kowalska@acme.pl", "Harmonogram"))
    email = email_by_subject(crm, "Harmonogram")
    assert links(email, "deal") == [(deal_ids(crm)["101"], "contact's only open deal")]


def test_several_open_deals_ask_which_newest_first(crm: Cli, tmp_path: Path) -> None:
    ingest(crm, tmp_path, outbound("jan.nowak@beta.pl", "Pytanie"))
    email = email_by_subject(crm, "Pytanie")
    assert links(email, "deal") == []
    assert [a["kind"] for a in email["associations"]] == ["contact", "company"]
    [item] = crm.json("review", "list", "--kind", "which_deal")
    ids = deal_ids(crm)
    assert [c["deal_id"] for c in item["payload"]["choices"]] == [ids["103"], ids["102"]]
    code, out, err = crm("review", "approve", str(item["id"]), "--choice", "2")
    assert code == 0, err
    assert out.startswith(f"approved {item['id']} (which_deal)")
    email = email_by_subject(crm, "Pytanie")
    assert links(email, "deal") == [(ids["102"], "deal chosen in review")]


def test_deal_token_wins_and_the_thread_follows(crm: Cli, tmp_path: Path) -> None:
    ids = deal_ids(crm)
    first = outbound("jan.nowak@beta.pl", "Licencje [deal-102]", message_id="<lic1@example.com>")
    ingest(crm, tmp_path, first)
    assert links(email_by_subject(crm, "Licencje [deal-102]"), "deal") == [
        (ids["102"], "deal token")
    ]
    reply = make_message(
        sender="Jan Nowak <jan.nowak@beta.pl>",
        to="Anna Nowak <anna@example.com>",
        subject="Re: Licencje",
        In_Reply_To="<lic1@example.com>",
        References="<lic1@example.com>",
    )
    ingest(crm, tmp_path, reply)
    assert links(email_by_subject(crm, "Re: Licencje"), "deal") == [(ids["102"], "same thread")]
    assert crm.json("review", "list") == []  # no "which deal?": the thread decided
    # A token in the envelope-visible address works too: Cc log+deal-101@.
    ingest(crm, tmp_path, outbound("jan.nowak@beta.pl", "Inna", cc="log+deal-101@crm.example.com"))
    assert links(email_by_subject(crm, "Inna"), "deal") == [(ids["101"], "deal token")]


def test_company_single_open_deal(crm: Cli, tmp_path: Path) -> None:
    ingest(crm, tmp_path, outbound("ewa.lis@gamma.pl", "Spotkanie"))
    assert links(email_by_subject(crm, "Spotkanie"), "deal") == [
        (deal_ids(crm)["104"], "company's only open deal")
    ]


def test_team_inbox_opens_tickets_and_replies_join(crm: Cli, tmp_path: Path) -> None:
    question = make_message(
        sender="Piotr Lis <piotr@delta.pl>",
        to="support@example.com",
        subject="Problem z fakturą",
        message_id="<q1@delta.pl>",
    )
    ingest(crm, tmp_path, question, "--rcpt", SUPPORT_ROUTE)
    email = email_by_subject(crm, "Problem z fakturą")
    [(ticket_id, reason)] = links(email, "ticket")
    assert reason == "new ticket from support@example.com"
    assert email["transactional"] is True
    [ticket] = crm.json("export")["tickets"]
    assert (ticket["subject"], ticket["inbox"], ticket["status"]) == (
        "Problem z fakturą",
        "support@example.com",
        "open",
    )
    assert ticket["contact_ids"] == email["contact_ids"]
    answer = make_message(
        sender="Anna Nowak <anna@example.com>",
        to="Piotr Lis <piotr@delta.pl>",
        subject="Re: Problem z fakturą",
        In_Reply_To="<q1@delta.pl>",
    )
    ingest(crm, tmp_path, answer, "--rcpt", SUPPORT_ROUTE)
    assert links(email_by_subject(crm, "Re: Problem z fakturą"), "ticket") == [
        (ticket_id, "same thread")
    ]
    tagged = make_message(
        sender="Piotr Lis <piotr@delta.pl>",
        to="support@example.com",
        subject=f"Jeszcze jedno [#T-{ticket_id}]",
    )
    ingest(crm, tmp_path, tagged, "--rcpt", SUPPORT_ROUTE)
    assert links(email_by_subject(crm, f"Jeszcze jedno [#T-{ticket_id}]"), "ticket") == [
        (ticket_id, "ticket tag")
    ]
    assert len(crm.json("export")["tickets"]) == 1


def test_the_same_mail_by_bcc_and_team_inbox_is_one_email(crm: Cli, tmp_path: Path) -> None:
    raw = make_message(
        sender="Piotr Lis <piotr@delta.pl>",
        to="support@example.com",
        cc="Anna Nowak <anna@example.com>",
        subject="Awaria",
        message_id="<awaria@delta.pl>",
    )
    assert ingest(crm, tmp_path, raw)["outcomes"]["logged"] == 1
    assert links(email_by_subject(crm, "Awaria"), "ticket") == []
    assert ingest(crm, tmp_path, raw, "--rcpt", SUPPORT_ROUTE)["outcomes"]["duplicate"] == 1
    email = email_by_subject(crm, "Awaria")
    assert [reason for _, reason in links(email, "ticket")] == [
        "new ticket from support@example.com"
    ]
    assert len(links(email, "contact")) == 1 and email["transactional"] is True


def test_stats_report_outcomes(crm: Cli, tmp_path: Path) -> None:
    ingest(crm, tmp_path, outbound("anna.kowalska@acme.pl", "A"))
    ingest(crm, tmp_path, outbound("Anna Kowalska <a.kowalska@acme.pl>", "B"))
    ingest(crm, tmp_path, outbound("Anna Kowalska <anna.k@gmail.com>", "C"))
    ingest(crm, tmp_path, outbound("Nowy Klient <nowy.klient@epsilon.pl>", "D"))
    ingest(crm, tmp_path, outbound("info@epsilon.pl", "E"))
    stats = crm.json("stats", "--days", "36500")
    assert {k: stats[k] for k in ("linked_exact", "auto_linked", "suggested", "created")} == {
        "linked_exact": 1,
        "auto_linked": 1,
        "suggested": 1,
        "created": 1,
    }
    assert stats["ignored_by_reason"] == {"role address": 1}
    assert stats["duplicate_suggestions"] == 1
    assert stats["linked_without_help"] == 0.75
    code, out, _ = crm("stats")
    assert code == 0 and "linked without help" in out


def test_answering_same_person_puts_the_email_on_the_contacts_deal(
    crm: Cli, tmp_path: Path
) -> None:
    raw = make_message(
        sender="Anna Kowalska <anna.k@gmail.com>", to="anna@example.com", subject="Z domu"
    )
    ingest(crm, tmp_path, raw)
    assert links(email_by_subject(crm, "Z domu"), "deal") == []
    [item] = crm.json("review", "list", "--kind", "same_person")
    code, _, err = crm("review", "approve", str(item["id"]))
    assert code == 0, err
    email = email_by_subject(crm, "Z domu")
    assert links(email, "deal") == [(deal_ids(crm)["101"], "contact's only open deal")]
    assert links(email, "contact")[0][1] == "same person (reviewed)"
