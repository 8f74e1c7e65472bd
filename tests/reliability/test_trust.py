"""Trust: forged, replayed and look-alike senders against real bccrm processes.

One node (edge + worker processes) serves the whole module. Its logging route requires
``dkim+transport``: a copy from the trusted MTA (127.0.0.1 only) whose author claims our domain
needs an aligned DKIM pass, fetched by the worker from a test DNS server on loopback
(``[dkim] nameservers``); a rep's secret address stands in for DKIM. Each scenario asserts what
became of every message (logged with which DKIM verdict / held with which reason / dropped /
refused at RCPT), which key names the worker asked DNS for, and ends with the invariants.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import fresh_database
from tests.gateway.verify.dns_server import DNSServer, dns_server
from tests.gateway.verify.keys import Key, rsa_key, sign
from tests.reliability.harness import LOG, REP, Node, Sent
from tests.reliability.invariants import check, outcome

NO_DKIM = "no aligned DKIM signature for the author's domain"
NOT_AUTHENTICATED_USER = "the author is not the authenticated user"
NO_USER = "no registered user takes part"
NOT_AUTHORIZED = "550 5.7.1 Sender not authorized to log to CRM"
BOB = "bob@example.com"
HOMOGLYPH = "xn--exmple-4nf.com"  # "exаmple.com" with a Cyrillic а (U+0430)

EXAMPLE = rsa_key("example.com", "sel")
ATTACKER = rsa_key("attacker.test", "sel")
SMALL = rsa_key("example.com", "small", bits=512)
OLD = rsa_key("example.com", "old")  # published revoked (empty p=)
SLOW = rsa_key("example.com", "slow")  # its DNS answer is withheld, then given
UPPER = rsa_key("EXAMPLE.COM", "upper")
EVIL_DASH = rsa_key("evil-example.com", "sel")
EVIL_SUFFIX = rsa_key("example.com.evil.test", "sel")
EVIL_IDN = rsa_key(HOMOGLYPH, "sel")
PUBLISHED = (EXAMPLE, ATTACKER, SMALL, SLOW, UPPER, EVIL_DASH, EVIL_SUFFIX, EVIL_IDN)


# -- the node -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dns() -> Iterator[DNSServer]:
    records = {key.name: key.record for key in PUBLISHED} | {OLD.name: OLD.revoked().record}
    with dns_server(records, silent=[SLOW.name]) as server:
        yield server


@pytest.fixture(scope="module")
def trust_node(tmp_path_factory: pytest.TempPathFactory, dns: DNSServer) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("trust")
    with fresh_database("sqlite", root) as url:
        node = Node(
            root,
            url,
            {
                "gateway": {"trusted_networks": ["127.0.0.1/32"]},  # 127.0.0.2 is a stranger
                "verify": {"require": "dkim+transport"},
                "dkim": {"nameservers": [dns.address], "timeout": 0.5},
            },
            users=((REP, "Anna Nowak"), (BOB, "Bob Lis")),
        )
        try:
            node.start()
            yield node
        finally:
            node.stop()


@pytest.fixture
def node(trust_node: Node, dns: DNSServer) -> Iterator[Node]:
    """The shared node; every scenario ends drained and with the invariants holding."""
    dns.queries.clear()
    yield trust_node


# -- helpers --------------------------------------------------------------------------------


class Mail:
    """A hand-built CRLF message (its bytes are exactly what gets signed) with a body marker."""

    def __init__(
        self,
        sender: str = f"Anna Nowak <{REP}>",
        to: str = "Jan Kowalski <jan@acme.pl>",
        subject: str = "Oferta",
        body: str = "Dzień dobry,\n\nw załączeniu oferta.\n\nAnna\n",
    ) -> None:
        self.marker = f"BODYMARK{secrets.token_hex(8)}"
        self.message_id = f"<trust-{secrets.token_hex(8)}@example.com>"
        headers = (
            f"From: {sender}",
            f"To: {to}",
            f"Subject: {subject}",
            "Date: Mon, 02 Nov 2026 09:30:00 +0000",
            f"Message-ID: {self.message_id}",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
        )
        text = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")
        self.raw = (text + f"{self.marker}\r\n").encode()

    def signed(self, key: Key, **options: Any) -> Mail:
        self.raw = sign(self.raw, key, **options)
        return self

    def send(self, node: Node, *, sender: str = REP, rcpt: str = LOG) -> Sent:
        return node.send(
            self.raw, marker=self.marker, message_id=self.message_id, sender=sender, rcpts=[rcpt]
        )


def held(node: Node, sent: Sent, reason: str) -> None:
    """Held: nothing in the CRM, the copy in quarantine with ``reason`` beside it."""
    assert outcome(node, sent) == ("message.held", reason)
    assert sent.entry_id in node.spool_entries("quarantine")
    note = json.loads((node.spool_path / "quarantine" / f"{sent.entry_id}.error.json").read_text())
    assert note["reason"] == reason
    assert not node.rows("SELECT id FROM emails WHERE message_id = :m", m=sent.message_id)


def dropped(node: Node, sent: Sent, reason: str) -> None:
    assert outcome(node, sent) == ("message.dropped", reason)
    assert sent.entry_id not in node.spool_entries("quarantine")
    assert not node.rows("SELECT id FROM emails WHERE message_id = :m", m=sent.message_id)


def logged(node: Node, sent: Sent) -> dict[str, Any]:
    """Logged exactly once; returns the stored email's from address, direction and verdict."""
    action, email_id = outcome(node, sent)
    assert action == "email.logged"
    [(from_email, direction, auth, forwarded_by)] = node.rows(
        "SELECT from_email, direction, auth, forwarded_by_email FROM emails WHERE message_id = :m",
        m=sent.message_id,
    )
    return {
        "id": int(email_id),
        "from": from_email,
        "direction": direction,
        "auth": json.loads(auth) if isinstance(auth, str) else dict(auth),
        "forwarded_by": forwarded_by,
    }


def asked(dns: DNSServer) -> set[str]:
    return set(dns.queries)


def send_from(node: Node, source: str, mail: Mail, rcpt: str = LOG) -> Sent:
    """:meth:`Node.send` from another loopback address (a client outside the trusted
    network)."""
    return node.send(
        mail.raw, marker=mail.marker, message_id=mail.message_id, rcpts=[rcpt], source=source
    )


def finish(node: Node) -> None:
    node.drain()
    check(node)


Record = Callable[[str], None]


# -- scenarios ------------------------------------------------------------------------------


@pytest.mark.scenario("Trust", "unsigned mail claiming a rep's From")
def test_unsigned_mail_claiming_a_rep(node: Node, dns: DNSServer, record: Record) -> None:
    control = Mail(subject="Control").signed(EXAMPLE).send(node)
    unsigned = Mail().send(node)
    # Through Bob's secret address (a transport proof that identifies Bob): Anna's From is a lie.
    token_address = node.cli("users", "token", BOB).strip().splitlines()[-1]
    as_bob = Mail(subject="Od Boba").send(node, sender=BOB, rcpt=token_address)
    finish(node)
    email = logged(node, control)
    assert (email["from"], email["direction"]) == (REP, "outbound")
    assert email["auth"]["dkim"]["result"] == "pass"
    assert email["auth"]["dkim"]["reason"] == "verified and aligned"
    held(node, unsigned, NO_DKIM)
    held(node, as_bob, NOT_AUTHENTICATED_USER)
    assert EXAMPLE.name in asked(dns)
    record("held: no aligned DKIM / author is not the authenticated user; signed control logged")


@pytest.mark.scenario("Trust", "valid signature from another domain")
def test_valid_signature_from_another_domain(node: Node, dns: DNSServer, record: Record) -> None:
    sent = Mail().signed(ATTACKER).send(node)
    finish(node)
    held(node, sent, NO_DKIM)
    assert ATTACKER.name not in asked(dns)  # not aligned: judged before any DNS lookup
    record(f"held: {NO_DKIM}; no DNS lookup")


@pytest.mark.scenario("Trust", "attacker signature on top of a broken real one")
def test_attacker_signature_on_top_of_a_broken_real_one(
    node: Node, dns: DNSServer, record: Record
) -> None:
    mail = Mail(body="Dzień dobry,\n\nthe offer is attached.\n").signed(EXAMPLE)
    mail.raw = mail.raw.replace(b"the offer", b"the changed offer")  # the real one breaks
    sent = mail.signed(ATTACKER).send(node)
    finish(node)
    held(node, sent, NO_DKIM)
    assert EXAMPLE.name in asked(dns)  # the real signature was checked (and failed)
    record(f"held: {NO_DKIM}")


@pytest.mark.scenario("Trust", "`l=` signature plus appended content")
def test_length_signature_plus_appended_content(node: Node, dns: DNSServer, record: Record) -> None:
    mail = Mail().signed(EXAMPLE, length=True)
    mail.raw += b"Appended: pay to IBAN PL61109010140000071219812874\r\n"
    sent = mail.send(node)
    finish(node)
    held(node, sent, NO_DKIM)
    assert EXAMPLE.name not in asked(dns)  # l= is refused from the tags alone
    record(f"held: {NO_DKIM}")


@pytest.mark.scenario("Trust", "rsa-sha1")
def test_rsa_sha1(node: Node, dns: DNSServer, record: Record) -> None:
    sent = Mail().signed(EXAMPLE, algorithm=b"rsa-sha1").send(node)
    finish(node)
    held(node, sent, NO_DKIM)
    assert EXAMPLE.name not in asked(dns)
    record(f"held: {NO_DKIM}")


@pytest.mark.scenario("Trust", "512-bit key")
def test_512_bit_key(node: Node, dns: DNSServer, record: Record) -> None:
    sent = Mail().signed(SMALL).send(node)
    finish(node)
    held(node, sent, NO_DKIM)
    assert SMALL.name in asked(dns)  # the key was fetched, and refused as too small
    record(f"held: {NO_DKIM}")


@pytest.mark.scenario("Trust", "revoked key")
def test_revoked_key(node: Node, dns: DNSServer, record: Record) -> None:
    sent = Mail().signed(OLD).send(node)
    finish(node)
    held(node, sent, NO_DKIM)
    assert OLD.name in asked(dns)
    record(f"held: {NO_DKIM}")


@pytest.mark.scenario("Trust", "DNS timeout (temporary, retried)")
def test_dns_timeout_is_retried_then_logged(node: Node, dns: DNSServer, record: Record) -> None:
    """The key server does not answer: the entry stays in new/ (no attempt counted, never
    quarantined, even after more tries than ``max_attempts``); once DNS answers it is logged."""
    since = node.log_path.stat().st_size
    sent = Mail(subject="DNS").signed(SLOW).send(node)
    assert sent.code == 250 and sent.entry_id
    retry = f"entry {sent.entry_id}: DNS unavailable for DKIM keys, will retry"
    max_attempts = 3

    def retries() -> int:
        with node.log_path.open("rb") as log:
            log.seek(since)
            return log.read().decode("utf-8", "replace").count(retry)

    names: set[str] = set()  # what the entry is called while it waits and while it is tried
    deadline = time.monotonic() + 60
    while retries() <= max_attempts:
        assert time.monotonic() < deadline, "no more retries than max_attempts within 60 s"
        names.update(n for n in node.spool_entries("new") if n.startswith(sent.entry_id))
        names.update(n for n in node.spool_entries("cur") if n.startswith(sent.entry_id))
        assert sent.entry_id not in node.spool_entries("quarantine")
        time.sleep(0.02)
    # Put back under its own name each time: the claim's attempt is never counted.
    assert sent.entry_id in names and names <= {sent.entry_id, f"{sent.entry_id}.a1"}, names
    dns.silent.discard(SLOW.name)  # DNS answers again
    finish(node)
    email = logged(node, sent)
    assert email["auth"]["dkim"]["result"] == "pass"
    assert dns.queries.count(SLOW.name) > max_attempts
    assert retries() > max_attempts
    record(f"retried {retries()}x without counting attempts, logged once DNS answered")


@pytest.mark.scenario("Trust", "replayed genuine mail from an untrusted client")
def test_replayed_genuine_mail(node: Node, dns: DNSServer, record: Record) -> None:
    """Anna's genuinely signed mail, replayed by someone who received it: from a client
    outside the trusted network it is refused at RCPT; through Bob's own secret address it is
    held, since the DKIM pass proves Anna wrote it, not that Anna logged it."""
    genuine = Mail(subject="Genuine").signed(EXAMPLE)
    refused = send_from(node, "127.0.0.2", genuine)
    assert f"{refused.code} {refused.reply}" == NOT_AUTHORIZED
    assert refused.entry_id is None
    token_address = node.cli("users", "token", BOB).strip().splitlines()[-1]
    again = Mail(subject="Genuine 2").signed(EXAMPLE)
    via_bob = send_from(node, "127.0.0.2", again, rcpt=token_address)
    finish(node)
    held(node, via_bob, NOT_AUTHENTICATED_USER)
    assert not node.rows("SELECT id FROM emails WHERE message_id = :m", m=genuine.message_id)
    record("550 5.7.1 at RCPT; via another rep's secret address: held")


@pytest.mark.scenario(
    "Trust", "look-alike domains (case, trailing dot, suffix tricks, IDN homoglyphs)"
)
def test_look_alike_domains(node: Node, dns: DNSServer, record: Record) -> None:
    not_one_address = "From is not exactly one valid address"
    cases: dict[str, tuple[Mail, str, str]] = {
        # case: the same identity, so the same rules: unsigned is held, aligned is logged
        "upper unsigned": (Mail(sender="Anna <ANNA@EXAMPLE.COM>"), "message.held", NO_DKIM),
        "upper signed": (
            Mail(sender="Anna <ANNA@EXAMPLE.COM>").signed(UPPER),
            "email.logged",
            "",
        ),
        # a trailing dot is not a way around the checks of our domain
        "trailing dot": (Mail(sender="Anna <anna@example.com.>"), "message.held", not_one_address),
        "trailing dot d=": (
            Mail().signed(EXAMPLE, domain="example.com."),
            "message.held",
            NO_DKIM,
        ),
        # suffix tricks: valid signatures of look-alike domains never align with ours
        "d=evil-example.com": (Mail().signed(EVIL_DASH), "message.held", NO_DKIM),
        "d=example.com.evil.test": (Mail().signed(EVIL_SUFFIX), "message.held", NO_DKIM),
        "d=com": (Mail().signed(EXAMPLE, domain="com"), "message.held", NO_DKIM),
        "From example.com.evil.test": (
            Mail(sender="Anna <anna@example.com.evil.test>").signed(EVIL_SUFFIX),
            "message.dropped",
            NO_USER,
        ),
        # IDN homoglyph (Cyrillic а): another domain, not Anna, whatever it signs
        "d=homoglyph": (Mail().signed(EVIL_IDN), "message.held", NO_DKIM),
        "From homoglyph": (
            Mail(sender=f"Anna <anna@{HOMOGLYPH}>").signed(EVIL_IDN),
            "message.dropped",
            NO_USER,
        ),
        "From homoglyph U-label": (
            Mail(sender="Anna <anna@exаmple.com>"),
            "message.dropped",
            NO_USER,
        ),
    }
    sent = {name: mail.send(node) for name, (mail, _, _) in cases.items()}
    finish(node)
    got = {name: outcome(node, sent[name]) for name in cases}
    want = {
        name: (action, got[name][1] if action == "email.logged" else reason)
        for name, (_, action, reason) in cases.items()
    }
    assert got == want
    for name, (_, action, reason) in cases.items():
        if action == "message.held":
            held(node, sent[name], reason)
        elif action == "message.dropped":
            dropped(node, sent[name], reason)
        else:
            email = logged(node, sent[name])
            assert (email["from"], email["direction"]) == (REP, "outbound"), name
            assert email["auth"]["dkim"]["domain"] == "example.com", name
    # Never aligned with anybody's From here, so never looked up (the other look-alike keys
    # are: their own mail's DKIM is verified and recorded, then dropped as nobody's mail).
    assert EVIL_DASH.name not in asked(dns)
    contacts = {row[0] for row in node.rows("SELECT email FROM contact_emails")}
    assert not {f"anna@{HOMOGLYPH}", "anna@example.com.evil.test"} & contacts
    record("case/trailing dot: same rules as the rep (held unsigned); look-alikes: held/dropped")


@pytest.mark.scenario(
    "Trust", "a rep forwarding a customer's mail (inner From is unverified text, not an identity)"
)
def test_rep_forwarding_customer_mail(node: Node, dns: DNSServer, record: Record) -> None:
    forward_body = (
        "Zobacz poniżej.\n\n---------- Forwarded message ---------\n"
        "From: Jan Kowalski <jan@acme.pl>\nDate: Mon, 2 Nov 2026 at 08:00\n"
        "Subject: Zamówienie\nTo: Anna Nowak <anna@example.com>\n\n"
        "Zamawiam 10 sztuk.\n"
    )
    by_anna = Mail(subject="Fwd: Zamówienie", to="Bob Lis <bob@example.com>", body=forward_body)
    forward = by_anna.signed(EXAMPLE).send(node)
    # The same forward text, unsigned, claiming Anna as the forwarder: held, whatever it quotes.
    forged = Mail(subject="Fwd: Zamówienie", to="Bob Lis <bob@example.com>", body=forward_body)
    forged_sent = forged.send(node)
    # A stranger "forwarding" a block whose inner From claims Anna: never Anna's mail, whether
    # no user takes part (dropped) or it is sent to Anna herself (her inbound mail).
    stranger_body = forward_body.replace(
        "From: Jan Kowalski <jan@acme.pl>", "From: Anna Nowak <anna@example.com>"
    )
    stranger = Mail(
        sender="Eve <eve@attacker.test>", subject="Fwd: Zamówienie", body=stranger_body
    ).send(node, sender="eve@attacker.test")
    to_anna = Mail(
        sender="Eve <eve@attacker.test>",
        to="Anna Nowak <anna@example.com>",
        subject="Fwd: Zamówienie",
        body=stranger_body.replace("To: Anna Nowak <anna@example.com>", "To: Jan <jan@acme.pl>"),
    ).send(node, sender="eve@attacker.test")
    finish(node)
    email = logged(node, forward)
    assert email["from"] == "jan@acme.pl"  # logged under the original author, as text
    assert email["forwarded_by"] == REP
    assert email["direction"] == "inbound"
    assert email["auth"]["dkim"]["domain"] == "example.com"  # the forwarder's proof, not Jan's
    assert email["auth"]["result"] == "pass"
    assert not any("acme.pl" in name for name in asked(dns))  # the inner From is never verified
    held(node, forged_sent, NO_DKIM)
    dropped(node, stranger, NO_USER)
    # Sent to Anna, the stranger's "forward" is the stranger's own inbound mail, never an
    # outbound email of Anna's (gateway/parsing/analysis.py unwraps only our people's forwards).
    email = logged(node, to_anna)
    assert (email["from"], email["direction"], email["forwarded_by"]) == (
        "eve@attacker.test",
        "inbound",
        None,
    )
    assert email["auth"]["dkim"]["result"] == "none"
    people = node.rows(
        "SELECT role, email FROM email_participants WHERE email_id = :i ORDER BY id",
        i=email["id"],
    )
    assert [tuple(p) for p in people] == [("from", "eve@attacker.test"), ("to", REP)]
    record("rep's forward logged under the inner author with the rep's DKIM; forged forward held")
