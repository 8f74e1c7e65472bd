"""The verify stage end to end: real DKIM signatures, injected DNS, real databases
(../shared/RELIABILITY.md, "Trust" cases)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import select

from gateway.app import App, build_app
from gateway.config import Config
from gateway.crm import AuditEntry
from gateway.crm.db import upgrade
from gateway.pipeline import (
    LogStage,
    MatchStage,
    MessageProcessor,
    Outcome,
    ParseStage,
    Pipeline,
    VerifyStage,
)
from gateway.services.export import export_all
from gateway.services.quarantine import QuarantineService
from gateway.spool import Envelope
from gateway.verify import TemporaryDNSError
from tests.conftest import ConfigFactory
from tests.gateway.verify.keys import FakeDNS, make_message, rsa_key, sign, sign_with_tags
from tests.support import LOG, add_user, drain

EXAMPLE = rsa_key("example.com")
ATTACKER = rsa_key("attacker.test")
MTA = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)


class Gateway:
    """An app whose verify stage asks ``dns`` instead of the internet."""

    def __init__(self, config: Config, dns: FakeDNS) -> None:
        self.app = build_app(config)
        upgrade(self.app.engine)
        self.app.spool.ensure()
        self.pipeline = Pipeline(
            [
                ParseStage(config),
                VerifyStage(config, dnsfunc=dns),
                MatchStage(config),
                LogStage(config),
            ]
        )
        self.processor = MessageProcessor(self.pipeline, self.app.sessions)
        add_user(self.app, "anna@example.com", "Anna Nowak")

    def process(self, raw: bytes, envelope: Envelope = MTA) -> Outcome:
        return self.processor.process("test", raw, envelope)

    def emails(self) -> list[dict[str, Any]]:
        emails: list[dict[str, Any]] = export_all(self.app.sessions)["emails"]
        return emails


@pytest.fixture
def make_gateway(make_config: ConfigFactory) -> Any:
    made: list[Gateway] = []

    def make(
        require: str = "dkim+transport", dns: FakeDNS | None = None, **sections: Any
    ) -> Gateway:
        config = make_config(verify={"require": require} | sections.pop("verify", {}), **sections)
        gateway = Gateway(config, dns or FakeDNS(EXAMPLE, ATTACKER))
        made.append(gateway)
        return gateway

    yield make
    for gateway in made:
        gateway.app.close()


def held(outcome: Outcome, reason: str) -> bool:
    return (outcome.status, outcome.reason) == ("held", reason)


NO_DKIM = "no aligned DKIM signature for the author's domain"


def test_unsigned_mail_claiming_a_rep_is_held_under_dkim_policy(make_gateway: Any) -> None:
    gateway = make_gateway()
    assert held(gateway.process(make_message()), NO_DKIM)
    assert gateway.emails() == []


def test_transport_policy_logs_mta_copies_and_records_the_verdict(make_gateway: Any) -> None:
    gateway = make_gateway(require="transport")
    assert gateway.process(make_message()).status == "logged"
    [email] = gateway.emails()
    auth = email["auth"]
    assert (auth["result"], auth["policy"], auth["proofs"]) == ("pass", "transport", ["network"])
    assert auth["dkim"]["result"] == "none"


def test_valid_aligned_signature_passes(make_gateway: Any) -> None:
    gateway = make_gateway()
    assert gateway.process(sign(make_message(), EXAMPLE)).status == "logged"
    [email] = gateway.emails()
    assert email["auth"]["dkim"]["result"] == "pass"
    assert email["auth"]["dkim"]["domain"] == "example.com"


@pytest.mark.parametrize(
    ("message", "why"),
    [
        (lambda m: sign(m, ATTACKER), "valid signature from another domain"),
        (
            lambda m: sign(m, EXAMPLE, length=True) + b"Appended: pay to IBAN PL00\r\n",
            "l= plus appended content",
        ),
        (lambda m: sign(m, EXAMPLE, algorithm=b"rsa-sha1"), "rsa-sha1"),
        (lambda m: sign(m, rsa_key("example.com", "small", bits=512)), "512-bit key"),
        (lambda m: sign_with_tags(m, EXAMPLE, x=b"1000000000"), "expired x="),
        (lambda m: sign(m, EXAMPLE).replace(b"the offer", b"a new offer"), "body changed"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_signatures_that_do_not_prove_the_author_are_held(
    make_gateway: Any, message: Any, why: str
) -> None:
    small = rsa_key("example.com", "small", bits=512)
    gateway = make_gateway(dns=FakeDNS(EXAMPLE, ATTACKER, small))
    assert held(gateway.process(message(make_message())), NO_DKIM), why
    assert gateway.emails() == []


def test_attacker_signature_on_top_of_a_broken_real_one_is_held(make_gateway: Any) -> None:
    real = sign(make_message(), EXAMPLE).replace(b"the offer", b"the changed offer")
    gateway = make_gateway()
    assert held(gateway.process(sign(real, ATTACKER)), NO_DKIM)


def test_revoked_key_is_held(make_gateway: Any) -> None:
    gateway = make_gateway(dns=FakeDNS(EXAMPLE.revoked()))
    assert held(gateway.process(sign(make_message(), EXAMPLE)), NO_DKIM)


def test_dns_timeout_is_retried_not_judged(make_gateway: Any) -> None:
    """A temporary DNS failure when DKIM is required raises for the worker to retry; the
    worker puts the entry back without counting an attempt, and quarantines it only when
    the retry window has passed."""
    gateway = make_gateway(dns=FakeDNS(failing=[EXAMPLE.name]))
    signed = sign(make_message(), EXAMPLE)
    with pytest.raises(TemporaryDNSError):
        gateway.process(signed)
    worker = gateway.app.worker()
    worker.processor = gateway.processor
    gateway.app.spool.store(signed, MTA)
    worker.drain_once()
    assert worker.stats["retried"] == 1 and worker.stats["quarantined"] == 0
    assert [n for n in gateway.app.spool.new.iterdir() if ".a" in n.name] == []
    worker.dns_retry_window = 0
    for entry in gateway.app.spool.new.iterdir():
        entry.touch()  # due now
    worker.drain_once()
    [note] = gateway.app.spool.quarantined()
    assert note["reason"] == "DKIM keys could not be fetched (DNS unavailable)"


def test_dns_timeout_when_dkim_is_not_required_is_recorded(make_gateway: Any) -> None:
    gateway = make_gateway(require="transport", dns=FakeDNS(failing=[EXAMPLE.name]))
    assert gateway.process(sign(make_message(), EXAMPLE)).status == "logged"
    assert gateway.emails()[0]["auth"]["dkim"]["result"] == "temperror"


def test_copy_without_transport_proof_is_held(make_gateway: Any) -> None:
    """A replayed genuine message is refused at the edge; a copy that somehow has no proof
    (a hand-made spool file) is held too."""
    gateway = make_gateway()
    stranger = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,))
    assert held(gateway.process(sign(make_message(), EXAMPLE), stranger), "no transport proof")


def test_authenticated_user_must_be_the_author(make_gateway: Any) -> None:
    gateway = make_gateway()
    add_user(gateway.app, "bob@example.com")
    as_bob = dataclasses.replace(MTA, trusted_peer=False, auth_user="bob@example.com")
    assert held(gateway.process(make_message(), as_bob), "the author is not the authenticated user")
    as_anna = dataclasses.replace(MTA, trusted_peer=False, auth_user="anna@example.com")
    assert gateway.process(make_message(), as_anna).status == "logged"  # AUTH stands for DKIM
    assert gateway.emails()[0]["logged_by"] == ["anna@example.com"]


def test_token_user_must_take_part_in_inbound_mail(make_gateway: Any) -> None:
    gateway = make_gateway()
    inbound = make_message(sender="Jan Kowalski <jan@acme.pl>")
    by_token = dataclasses.replace(
        MTA, trusted_peer=False, token_user="anna@example.com", mail_from="jan@acme.pl"
    )
    assert held(
        gateway.process(inbound, by_token), "the logging user does not take part in this message"
    )
    to_anna = inbound.replace(b"To: Jan Kowalski <jan@acme.pl>", b"To: anna@example.com")
    assert gateway.process(to_anna, by_token).status == "logged"
    assert gateway.emails()[0]["direction"] == "inbound"


def test_mail_of_people_who_are_not_users_is_dropped_by_policy(make_gateway: Any) -> None:
    """always_bcc copies everything; mail no registered user takes part in is not CRM mail."""
    gateway = make_gateway(require="transport")
    hr = make_message(sender="HR <hr@example.com>")
    assert gateway.process(hr).status == "dropped"
    inbound = make_message(sender="jan@acme.pl").replace(
        b"To: Jan Kowalski <jan@acme.pl>", b"To: hr@example.com"
    )
    assert gateway.process(inbound).status == "dropped"
    assert gateway.emails() == []
    with gateway.app.sessions() as session:
        reasons = [
            a.details["reason"]
            for a in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "message.dropped")
            )
        ]
    assert reasons == ["the author is not a registered user", "no registered user takes part"]


def authentication_results(value: str) -> bytes:
    return f"Authentication-Results: mx.example.com; {value}\r\n".encode()


RECEIVED = b"Received: from client (client [192.0.2.1]) by mx.example.com\r\n"


def test_trusted_authentication_results_count_as_dkim(make_gateway: Any) -> None:
    gateway = make_gateway(verify={"authserv_id": "mx.example.com"})
    ours = authentication_results("dkim=pass header.d=example.com") + RECEIVED
    assert gateway.process(ours + make_message()).status == "logged"
    assert gateway.emails()[0]["auth"]["authentication_results"] == [
        {"method": "dkim", "result": "pass"}
    ]


def test_forged_authentication_results_below_received_are_ignored(make_gateway: Any) -> None:
    gateway = make_gateway(verify={"authserv_id": "mx.example.com"})
    forged = RECEIVED + authentication_results("dkim=pass header.d=example.com")
    assert held(gateway.process(forged + make_message()), NO_DKIM)


def test_dmarc_failure_reported_by_our_mta_is_held(make_gateway: Any) -> None:
    gateway = make_gateway(require="transport", verify={"authserv_id": "mx.example.com"})
    report = authentication_results("dmarc=fail header.from=example.com") + RECEIVED
    assert held(
        gateway.process(report + make_message()),
        "our MTA reports a DMARC failure for our own domain",
    )


def test_team_inbox_copies_are_logged_without_a_user(make_gateway: Any) -> None:
    inbox = {"address": "support@example.com", "route": "support@crm.example.com"}
    gateway = make_gateway(team_inbox=[inbox])
    to_support = make_message(sender="jan@acme.pl").replace(
        b"To: Jan Kowalski <jan@acme.pl>", b"To: support@example.com"
    )
    envelope = Envelope(
        mail_from="jan@acme.pl", rcpt_tos=("support@crm.example.com",), trusted_peer=True
    )
    assert gateway.process(to_support, envelope).status == "logged"
    assert gateway.emails()[0]["auth"]["policy"] == "transport"


def test_released_message_is_logged_with_the_admins_authorization(make_gateway: Any) -> None:
    gateway = make_gateway()
    gateway.app.spool.store(make_message(), MTA)
    worker = gateway.app.worker()
    worker.processor = gateway.processor
    worker.drain_once()
    [note] = gateway.app.spool.quarantined()
    assert note["reason"] == NO_DKIM
    QuarantineService(gateway.app.spool, gateway.app.sessions, "admin@example.com").release(
        note["id"]
    )
    worker.drain_once()
    [email] = gateway.emails()
    assert email["auth"]["proofs"] == ["admin"]
    assert email["auth"]["reason"] == "released by admin@example.com"


def test_forwarded_customer_mail_is_the_forwarders_not_the_customers(make_gateway: Any) -> None:
    """The inner From of a forward is text in the body, not an identity: the copy is
    authorized by (and only by) the rep who forwarded it."""
    gateway = make_gateway()
    forward = make_message(
        subject="Fwd: contract",
        body=(
            "See below.\r\n\r\n---------- Forwarded message ---------\r\n"
            "From: Ceo <ceo@example.com>\r\nSubject: contract\r\n\r\nSigned.\r\n"
        ),
    )
    by_anna = dataclasses.replace(MTA, trusted_peer=False, auth_user="anna@example.com")
    assert gateway.process(forward, by_anna).status == "logged"
    [email] = gateway.emails()
    assert email["auth"]["user"] == "anna@example.com"
    assert email["from"]["email"] == "ceo@example.com"  # logged under the original author
    assert email["forwarded_by"] == {"email": "anna@example.com", "name": "Anna Nowak"}


def test_default_app_pipeline_verifies(app: App) -> None:
    """The composition root wires the verify stage in: its order is parse, verify, ..."""
    names = [stage.name for stage in app.processor().pipeline.stages]
    assert names == ["parse", "verify", "privacy", "match", "log", "associate"]
    app.spool.store(
        b"From: x@example.com\r\nSubject: s\r\n\r\nb\r\n", Envelope(mail_from="", rcpt_tos=(LOG,))
    )
    assert drain(app)["quarantined"] == 1
