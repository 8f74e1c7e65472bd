"""Privacy rules through the real pipeline: each rule's hit and miss, what is stored at each
level, redaction, proposed legal bases and legal-basis checks, and ``bccrm never-log``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.app import App, build_app
from gateway.crm import AuditEntry, Contact, LegalBasisCheck, Suppression
from gateway.crm.db import upgrade
from gateway.pipeline import Outcome
from gateway.privacy.keys import address_hash, hash_key
from gateway.services.contacts import ContactService
from gateway.services.erasure import ErasureService
from gateway.services.export import export_all
from gateway.services.never_log import NeverLogService
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, make_message

AppFactory = Callable[..., App]


@pytest.fixture
def make_app(make_config: ConfigFactory) -> Iterator[AppFactory]:
    """An app with config overrides, on a fresh database with Anna the rep."""
    apps: list[App] = []

    def build(**overrides: Any) -> App:
        app = build_app(make_config(**overrides))
        upgrade(app.engine)
        app.spool.ensure()
        if not apps:
            add_user(app, "anna@example.com", "Anna Nowak")
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def process(app: App, raw: bytes, rcpt: str = LOG, mail_from: str = "anna@example.com") -> Outcome:
    envelope = Envelope(mail_from=mail_from, rcpt_tos=(rcpt,), trusted_peer=True)
    return app.processor().process("test", raw, envelope)


def outbound(to: str = "Jan Kowalski <jan@acme.pl>", **kw: Any) -> bytes:
    return make_message(sender="Anna Nowak <anna@example.com>", to=to, **kw)


def only_email(app: App) -> dict[str, Any]:
    [email] = export_all(app.sessions)["emails"]
    return email


def rule(email: dict[str, Any], name: str) -> bool:
    return name in email["privacy"]["rules_hit"]


def dropped_reasons(app: App) -> list[str]:
    with app.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "message.dropped")
        ).all()
        return [e.details["reason"] for e in entries]


def test_a_plain_message_hits_no_rule(make_app: AppFactory) -> None:
    app = make_app()
    assert process(app, outbound()).status == "logged"
    email = only_email(app)
    assert email["privacy"] == {"level": "full", "rules_hit": [], "redactions": {}}
    assert email["privacy_level"] == "full"


@pytest.mark.parametrize("value", ["jan@acme.pl", "acme.pl", "@acme.pl"])
def test_never_log_leaves_the_person_out_and_masks_the_address(
    make_app: AppFactory, value: str
) -> None:
    app = make_app()
    NeverLogService(app.sessions).add(value)
    raw = outbound(
        to="Jan Kowalski <jan@acme.pl>, Ewa Lis <ewa@beta.pl>",
        body="Dzień dobry,\n\nkopia do jan@acme.pl i Ewy.\n\nAnna\n",
    )
    assert process(app, raw).status == "logged"
    email = only_email(app)
    assert [p["email"] for p in email["participants"]] == ["anna@example.com", "ewa@beta.pl"]
    assert "jan@acme.pl" not in email["reply_text"] and "[excluded]" in email["reply_text"]
    assert rule(email, "never_log")
    contacts = export_all(app.sessions)["contacts"]
    assert [c["emails"] for c in contacts] == [["ewa@beta.pl"]]


def test_nothing_external_left_drops_the_message(make_app: AppFactory) -> None:
    app = make_app()
    NeverLogService(app.sessions).add("acme.pl")
    assert process(app, outbound()).status == "dropped"
    assert export_all(app.sessions)["emails"] == []
    assert dropped_reasons(app) == ["privacy: nothing_left"]


def test_a_users_list_applies_to_their_mail_only(make_app: AppFactory) -> None:
    app = make_app()
    add_user(app, "bob@example.com", "Bob")
    NeverLogService(app.sessions).add("jan@acme.pl", user="bob@example.com")
    assert process(app, outbound(message_id="<a@x>")).status == "logged"  # Anna's copy
    bobs = make_message(sender="Bob <bob@example.com>", to="jan@acme.pl", message_id="<b@x>")
    assert process(app, bobs, mail_from="bob@example.com").status == "dropped"


def test_internal_mail_is_dropped_unless_enabled(make_app: AppFactory) -> None:
    app = make_app()
    internal = outbound(to="Bob <bob@example.com>")
    assert process(app, internal).status == "dropped"
    assert dropped_reasons(app) == ["privacy: internal_only"]
    logged = make_app(privacy={"log_internal": True})
    assert process(logged, internal).status == "logged"
    assert not rule(only_email(logged), "internal_only")


@pytest.mark.parametrize(
    ("how", "level"),
    [
        ({"rcpt": "log+private@crm.example.com"}, "metadata"),
        ({"headers": {"X_CRM_Log": "private"}}, "metadata"),
        ({"subject": "Wynagrodzenie [prywatne]"}, "metadata"),
        ({"headers": {"X_CRM_Log": "no"}}, "drop"),
    ],
)
def test_private_markers(make_app: AppFactory, how: dict[str, Any], level: str) -> None:
    app = make_app()
    raw = outbound(
        subject=how.get("subject", "Oferta"),
        body="Tajne szczegóły.\n",
        attachment=("umowa.pdf", b"%PDF"),
        **how.get("headers", {}),
    )
    outcome = process(app, raw, rcpt=how.get("rcpt", LOG))
    if level == "drop":
        assert outcome.status == "dropped"
        assert dropped_reasons(app) == ["privacy: private_marker"]
        return
    email = only_email(app)
    assert (email["privacy_level"], email["reply_text"]) == ("metadata", "")
    assert [a["filename"] for a in email["attachments"]] == [""]
    assert rule(email, "private_marker")
    assert [p["email"] for p in email["participants"]] == ["anna@example.com", "jan@acme.pl"]


def test_private_action_drop(make_app: AppFactory) -> None:
    app = make_app(privacy={"private_action": "drop"})
    assert process(app, outbound(), rcpt="log+private@crm.example.com").status == "dropped"


def test_a_team_inbox_can_be_anonymous(make_app: AppFactory) -> None:
    route = "hr@crm.example.com"
    inbox = {"address": "hr@example.com", "route": route, "privacy": "anonymous"}
    app = make_app(team_inbox=[inbox])
    raw = make_message(sender="Jan Kowalski <jan@acme.pl>", to="hr@example.com")
    assert process(app, raw, rcpt=route, mail_from="jan@acme.pl").status == "logged"
    data = export_all(app.sessions)
    [email] = data["emails"]
    with app.sessions() as session:
        key_hash = address_hash(hash_key(session, app.config.privacy), "jan@acme.pl")
    assert email["from"] == {"email": f"anon-{key_hash[:24]}@invalid", "name": ""}
    assert all(p["email"].startswith("anon-") for p in email["participants"])
    assert email["reply_text"] == "" and data["contacts"] == []
    assert rule(email, "route_level")


def test_configured_level_metadata(make_app: AppFactory) -> None:
    app = make_app(privacy={"level": "metadata"})
    process(app, outbound())
    email = only_email(app)
    assert (email["privacy_level"], email["reply_text"]) == ("metadata", "")
    assert len(email["contact_ids"]) == 1  # people are still matched


def test_an_objecting_contact_gets_metadata_only(make_app: AppFactory, tmp_path: Path) -> None:
    app = make_app()
    path = tmp_path / "c.csv"
    path.write_text("email,first_name,last_name\njan@acme.pl,Jan,Kowalski\n", encoding="utf-8")
    ContactService(app.sessions, app.config.organization).import_csv(path)
    with app.sessions.begin() as session:
        session.scalars(select(Contact)).one().objecting = True
    process(app, outbound())
    email = only_email(app)
    assert email["privacy_level"] == "metadata" and rule(email, "objection")


@pytest.mark.parametrize(("reason", "logged"), [("erased", False), ("objected", True)])
def test_suppressed_people(make_app: AppFactory, reason: str, logged: bool) -> None:
    app = make_app()
    with app.sessions.begin() as session:
        key = hash_key(session, app.config.privacy)
        session.add(Suppression(address_hash=address_hash(key, "jan@acme.pl"), reason=reason))
    outcome = process(app, outbound())
    data = export_all(app.sessions)
    if not logged:
        assert outcome.status == "dropped"
        assert dropped_reasons(app) == ["privacy: nothing_left"]
        assert data["contacts"] == []  # an erased person is never re-created
    else:
        assert only_email(app)["privacy_level"] == "metadata"
        assert rule(only_email(app), "suppressed")


def test_sensitive_data_is_redacted_and_counted(make_app: AppFactory) -> None:
    app = make_app()
    body = (
        "Dzień dobry,\n\nkarta 4111 1111 1111 1111, konto PL61 1090 1014 0000 0712 1981 2874,\n"
        "PESEL 44051401359.\nHasło: Tajne123!\n\nAnna\n"
    )
    process(app, outbound(body=body, subject="Re: PESEL 44051401359"))
    email = only_email(app)
    assert email["subject"] == "Re: PESEL [redacted:pesel]"
    assert email["thread"]["normalized_subject"] == "PESEL [redacted:pesel]"
    text = email["reply_text"]
    for secret in ("4111 1111", "PL61", "44051401359", "Tajne123"):
        assert secret not in text
    assert "[redacted:card]" in text and "[redacted:secret]" in text
    assert email["privacy"]["redactions"] == {"card": 1, "iban": 1, "pesel": 2, "secret": 1}


def test_new_contacts_get_a_proposed_basis_and_a_notice(make_app: AppFactory) -> None:
    app = make_app()
    process(app, outbound())
    [contact] = export_all(app.sessions)["contacts"]
    assert contact["legal_basis"]["basis"] == "legitimate_interest_prospect"
    assert contact["legal_basis"]["status"] == "proposed"
    assert contact["legal_basis"]["notice_due_at"] is not None


def test_required_legal_basis_opens_a_check_for_outbound_mail(make_app: AppFactory) -> None:
    app = make_app(privacy={"require_legal_basis": True})
    process(app, outbound(message_id="<o@x>"))
    email = only_email(app)
    [check] = email["legal_basis_checks"]
    assert (check["reason"], check["status"]) == ("no_confirmed_basis", "open")
    inbound = make_message(sender="Jan Kowalski <jan@acme.pl>", to="anna@example.com")
    process(app, inbound, mail_from="jan@acme.pl")
    with app.sessions() as session:
        assert len(session.scalars(select(LegalBasisCheck)).all()) == 1  # inbound: none


def test_never_log_cli(make_app: AppFactory, capsys: pytest.CaptureFixture[str]) -> None:
    app = make_app()
    cli = Cli(app.config, capsys, "never-log")
    code, out, _ = cli("add", "@Acme.PL")
    assert code == 0 and "never-log domain acme.pl for every user: added" in out
    assert cli("add", "jan@beta.pl", "--user", "anna@example.com")[0] == 0
    assert [e["value"] for e in cli.json("list", "--all")] == ["acme.pl", "jan@beta.pl"]
    assert [e["scope"] for e in cli.json("list", "--user", "anna@example.com")] == [
        "anna@example.com"
    ]
    code, _, err = cli("add", "not an address")
    assert code == 1 and "neither an address nor a domain" in err
    code, _, err = cli("add", "x@y.pl", "--user", "nobody@example.com")
    assert code == 1 and "not a registered user" in err
    assert cli("remove", "acme.pl")[0] == 0
    code, _, err = cli("remove", "acme.pl")
    assert code == 1 and "not on that never-log list" in err


def test_the_audit_log_counts_who_was_left_out_without_naming_them(make_app: AppFactory) -> None:
    app = make_app()
    NeverLogService(app.sessions).add("jan@acme.pl")
    raw = outbound(to="Jan Kowalski <jan@acme.pl>, Ewa Lis <ewa@beta.pl>")
    assert process(app, raw).status == "logged"
    with app.sessions() as session:
        entries = session.scalars(select(AuditEntry)).all()
        [logged] = [e for e in entries if e.action == "email.logged"]
        assert (logged.details["privacy"], logged.details["excluded"]) == (["never_log"], 1)
        assert all("jan@acme.pl" not in repr(e.details) for e in entries)
        assert all("jan@acme.pl" not in e.object_id for e in entries)


def test_an_erased_person_who_writes_again_is_not_recreated(make_app: AppFactory) -> None:
    app = make_app()
    process(app, outbound(to="Jan Kowalski <jan@acme.pl>, Ewa Lis <ewa@beta.pl>"))
    ErasureService(app.sessions, app.spool, app.config).erase("jan@acme.pl")
    again = make_message(
        sender="Jan Kowalski <jan@acme.pl>",
        to="Anna Nowak <anna@example.com>",
        cc="Ewa Lis <ewa@beta.pl>",
        subject="Znowu ja",
        body="Proszę o kontakt: jan@acme.pl\n",
    )
    assert process(app, again, mail_from="jan@acme.pl").status == "logged"
    data = export_all(app.sessions)
    assert [c["emails"] for c in data["contacts"] if c["status"] == "active"] == [["ewa@beta.pl"]]
    [email] = [e for e in data["emails"] if e["subject"] == "Znowu ja"]
    assert email["from"] == {"email": "excluded@invalid", "name": ""}
    assert "jan@acme.pl" not in email["reply_text"]
    assert rule(email, "suppressed")
    # Only Jan writing to Anna: nothing is logged at all.
    alone = make_message(sender="jan@acme.pl", to="anna@example.com", subject="Sam")
    assert process(app, alone, mail_from="jan@acme.pl").status == "dropped"


def test_privacy_end_to_end_through_ingest(
    make_app: AppFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As an administrator works: lists and archives through the command line."""
    app = make_app()
    cli = Cli(app.config, capsys)
    assert cli("never-log", "add", "lawyer@kancelaria.pl")[0] == 0
    messages = {
        "excluded.eml": outbound(
            to="Mecenas <lawyer@kancelaria.pl>, Jan Kowalski <jan@acme.pl>", subject="Umowa"
        ),
        "private.eml": outbound(subject="Premia", X_CRM_Log="no"),
        "card.eml": outbound(subject="Płatność", body="Karta 5555 5555 5555 4444.\n"),
    }
    for name, raw in messages.items():
        (tmp_path / name).write_bytes(raw)
    summary = cli.json("ingest", *(str(tmp_path / n) for n in messages))
    assert summary["outcomes"]["logged"] == 2 and summary["outcomes"]["dropped"] == 1
    data = cli.json("export")
    by_subject = {e["subject"]: e for e in data["emails"]}
    assert "lawyer@kancelaria.pl" not in [p["email"] for p in by_subject["Umowa"]["participants"]]
    assert by_subject["Płatność"]["privacy"]["redactions"] == {"card": 1}
    assert "5555" not in by_subject["Płatność"]["reply_text"]
    code, out, err = cli("erase", "jan@acme.pl", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (len(report["contacts"]), report["suppression_added"]) == (1, True)
    subject = cli.json("export-subject", "jan@acme.pl")
    assert subject["suppressed"] is True
    assert [c["status"] for c in subject["contacts"]] == []
