"""Transport trust at SMTP time: trusted networks, SMTP AUTH over TLS, secret addresses,
team-inbox routes; STARTTLS, implicit TLS and LMTP."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from gateway.app import App
from gateway.config import Config, DatabaseConfig
from gateway.crm.db import make_engine, session_factory
from gateway.services.users import CredentialService
from gateway.smtp import replies
from gateway.smtp.credentials import EdgeCredentials
from gateway.spool import Envelope, Spool
from tests.conftest import ConfigFactory
from tests.gateway.verify.keys import make_message as keys_message
from tests.gateway.verify.keys import rsa_key, sign
from tests.rawsmtp import RawClient
from tests.support import LOG, add_user, edge_credentials, make_message, running_edge

UNTRUSTED = {"trusted_networks": ["192.0.2.0/24"]}  # loopback clients are strangers here
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> dict[str, str]:
    cert = ca.issue_cert("bccrm.test", "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    return {"cert_file": "cert.pem", "key_file": "key.pem"}


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@contextmanager
def starttls_client(port: int, context: ssl.SSLContext) -> Iterator[RawClient]:
    with RawClient(port) as client:
        client.reply()
        client.command(b"EHLO c")
        assert client.command(b"STARTTLS")[0] == 220
        client.sock = context.wrap_socket(client.sock, server_hostname="bccrm.test")
        assert client.command(b"EHLO c")[0] == 250
        yield client


def spooled(config: Config) -> list[Envelope]:
    spool = Spool(config.spool.path)
    return [spool.peek(p)[0] for p in sorted(spool.new.iterdir())]


def test_auth_without_tls_is_538(
    app: App, make_config: ConfigFactory, tls_files: dict[str, str]
) -> None:
    config = make_config(gateway=UNTRUSTED, tls=tls_files)
    with (
        running_edge(config, credentials=edge_credentials(app)) as edge,
        RawClient(edge.port) as client,
    ):
        client.reply()
        client.command(b"EHLO c")
        code, _ = client.command(b"AUTH PLAIN AGFubmFAZXhhbXBsZS5jb20AeA==")
    assert code == 538


def test_auth_over_starttls_lets_a_user_log(
    app: App, make_config: ConfigFactory, tls_files: dict[str, str], client_tls: ssl.SSLContext
) -> None:
    add_user(app, "anna@example.com")
    CredentialService(app.sessions).set_password("anna@example.com", PASSWORD)
    config = make_config(gateway=UNTRUSTED, tls=tls_files)
    with (
        running_edge(config, credentials=edge_credentials(app)) as edge,
        smtplib.SMTP("127.0.0.1", edge.port) as client,
    ):
        client.starttls(context=client_tls)
        client.login("anna@example.com", PASSWORD)
        client.sendmail("anna@example.com", [LOG], make_message())
    [envelope] = spooled(config)
    assert (envelope.auth_user, envelope.tls, envelope.trusted_peer) == (
        "anna@example.com",
        True,
        False,
    )


def test_untrusted_client_without_proof_is_refused_even_over_tls(
    app: App, make_config: ConfigFactory, tls_files: dict[str, str], client_tls: ssl.SSLContext
) -> None:
    config = make_config(gateway=UNTRUSTED, tls=tls_files)
    with (
        running_edge(config, credentials=edge_credentials(app)) as edge,
        smtplib.SMTP("127.0.0.1", edge.port) as client,
    ):
        client.starttls(context=client_tls)
        client.ehlo()
        client.mail("anna@example.com")
        code, text = client.rcpt(LOG)
    assert (code, text.decode()) == (550, replies.NOT_AUTHORIZED[4:])


def test_repeated_auth_failures_cut_the_session(
    app: App, make_config: ConfigFactory, tls_files: dict[str, str], client_tls: ssl.SSLContext
) -> None:
    add_user(app, "anna@example.com")
    CredentialService(app.sessions).set_password("anna@example.com", PASSWORD)
    config = make_config(gateway=UNTRUSTED, tls=tls_files)
    wrong = base64.b64encode(b"\x00anna@example.com\x00wrong password")
    with (
        running_edge(config, credentials=edge_credentials(app)) as edge,
        starttls_client(edge.port, client_tls) as client,
    ):
        assert client.command(b"AUTH PLAIN " + wrong)[0] == 535
        assert client.command(b"AUTH PLAIN " + wrong)[0] == 535
        assert client.command(b"AUTH PLAIN " + wrong) == (
            421,
            replies.too_many_auth_failures("bccrm.test")[4:],
        )
        assert client.closed()


def test_secret_address_lets_an_untrusted_client_log(app: App, make_config: ConfigFactory) -> None:
    add_user(app, "anna@example.com")
    token = CredentialService(app.sessions).token("anna@example.com")
    config = make_config(gateway=UNTRUSTED)
    with (
        running_edge(config, credentials=edge_credentials(app)) as edge,
        smtplib.SMTP("127.0.0.1", edge.port) as client,
    ):
        client.sendmail(
            "anna@example.com", [f"log+t-{token}+deal-42@crm.example.com"], make_message()
        )
        client.ehlo()
        client.mail("anna@example.com")
        code, text = client.rcpt("log+t-wrongtoken@crm.example.com")
    assert (code, text.decode()) == (550, replies.NOT_AUTHORIZED[4:])
    [envelope] = spooled(config)
    assert (envelope.token_user, envelope.trusted_peer) == ("anna@example.com", False)


def test_rotated_token_stops_working(app: App, make_config: ConfigFactory) -> None:
    add_user(app, "anna@example.com")
    service = CredentialService(app.sessions)
    old = service.token("anna@example.com")
    new = service.token("anna@example.com", rotate=True)
    assert new != old and service.token("anna@example.com") == new
    config = make_config(gateway=UNTRUSTED)
    with (
        running_edge(config, credentials=edge_credentials(app)) as edge,
        smtplib.SMTP("127.0.0.1", edge.port) as client,
    ):
        client.ehlo()
        client.mail("anna@example.com")
        assert client.rcpt(f"log+t-{old}@crm.example.com")[0] == 550
        assert client.rcpt(f"log+t-{new}@crm.example.com")[0] == 250


@pytest.mark.parametrize("token", [b"\xff\xfe", "żółw".encode()])
def test_malformed_token_is_refused_not_looked_up(
    app: App, make_config: ConfigFactory, token: bytes
) -> None:
    """8-bit bytes arrive as lone surrogates no database driver can encode: 550, not 451."""
    config = make_config(gateway=UNTRUSTED)
    with (
        running_edge(config, credentials=edge_credentials(app)) as edge,
        RawClient(edge.port) as client,
    ):
        assert client.reply()[0] == 220
        assert client.command(b"EHLO c")[0] == 250
        assert client.command(b"MAIL FROM:<anna@example.com>")[0] == 250
        reply = client.command(b"RCPT TO:<log+t-" + token + b"@crm.example.com>")
    assert f"{reply[0]} {reply[1]}" == replies.NOT_AUTHORIZED


def test_team_inbox_route_only_from_a_trusted_mta(make_config: ConfigFactory) -> None:
    inbox = {"address": "support@example.com", "route": "support@crm.example.com"}
    trusted = make_config(team_inbox=[inbox])
    with running_edge(trusted) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        client.mail("jan@acme.pl")
        assert client.rcpt("support@crm.example.com")[0] == 250
        assert client.rcpt("sales@crm.example.com")[0] == 550  # not a configured route
    untrusted = make_config(gateway=UNTRUSTED, team_inbox=[inbox])
    with running_edge(untrusted) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        client.mail("jan@acme.pl")
        code, text = client.rcpt("support@crm.example.com")
    assert (code, text.decode()) == (550, replies.NOT_AUTHORIZED[4:])


def test_require_tls_refuses_mail_before_starttls(
    make_config: ConfigFactory, tls_files: dict[str, str], client_tls: ssl.SSLContext
) -> None:
    config = make_config(tls=tls_files | {"require_tls": True})
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        assert client.mail("anna@example.com")[0] == 530
        client.starttls(context=client_tls)
        client.ehlo()
        assert client.mail("anna@example.com")[0] == 250


def test_starttls_discards_pipelined_plaintext(
    make_config: ConfigFactory, tls_files: dict[str, str], client_tls: ssl.SSLContext
) -> None:
    """CVE-2024-34083 class: commands sent in clear after STARTTLS must not run inside TLS."""
    config = make_config(tls=tls_files)
    with running_edge(config) as edge, RawClient(edge.port) as client:
        client.reply()
        client.command(b"EHLO c")
        client.send(b"STARTTLS\r\nMAIL FROM:<evil@evil.test>\r\n")
        assert client.reply()[0] == 220
        client.sock = client_tls.wrap_socket(client.sock, server_hostname="bccrm.test")
        client.buffer = b""
        assert client.command(b"EHLO c")[0] == 250
        code, _ = client.command(b"RCPT TO:<" + LOG.encode() + b">")
        assert code == 503  # the smuggled MAIL never happened


def test_implicit_tls_listener(
    app: App, make_config: ConfigFactory, tls_files: dict[str, str], client_tls: ssl.SSLContext
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    add_user(app, "anna@example.com")
    CredentialService(app.sessions).set_password("anna@example.com", PASSWORD)
    config = make_config(gateway=UNTRUSTED, tls=tls_files | {"implicit_tls_port": port})
    with (
        running_edge(config, credentials=edge_credentials(app)),
        smtplib.SMTP_SSL("127.0.0.1", port, context=client_tls) as client,
    ):
        client.login("anna@example.com", PASSWORD)
        client.sendmail("anna@example.com", [LOG], make_message())
    [envelope] = spooled(config)
    assert (envelope.tls, envelope.auth_user) == (True, "anna@example.com")


def test_lmtp_answers_once_per_recipient(make_config: ConfigFactory) -> None:
    config = make_config(gateway={"protocol": "lmtp"})
    with running_edge(config) as edge, RawClient(edge.port) as raw:
        raw.reply()
        assert raw.command(b"EHLO c")[0] == 500
        assert raw.command(b"LHLO c")[0] == 250
        for body, expected in ((make_message(), 250), (b"Subject: x\r\n\r\nbare\nLF\r\n", 550)):
            raw.command(b"MAIL FROM:<a@example.com>")
            raw.command(f"RCPT TO:<{LOG}>".encode())
            raw.command(b"RCPT TO:<log+y@crm.example.com>")
            assert raw.command(b"DATA")[0] == 354
            raw.send(body + b".\r\n")
            assert [raw.reply()[0], raw.reply()[0]] == [expected, expected]
        assert raw.command(b"NOOP")[0] == 250  # no reply was left over
    [envelope] = spooled(config)
    assert envelope.transport == "lmtp"


def test_replayed_genuine_mail_from_an_untrusted_client_is_refused(
    make_config: ConfigFactory,
) -> None:
    """A valid DKIM signature proves the author wrote it, not that a rep chose to log it:
    anyone who received the mail could replay it. Without a transport proof: 550 5.7.1."""
    signed = sign(keys_message(), rsa_key("example.com"))
    config = make_config(gateway=UNTRUSTED)
    with (
        running_edge(config) as edge,
        smtplib.SMTP("127.0.0.1", edge.port) as client,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        client.sendmail("anna@example.com", [LOG], signed)
    assert refused.value.recipients[LOG] == (550, replies.NOT_AUTHORIZED[4:].encode())
    assert spooled(config) == []


def test_auth_while_the_database_is_down_is_a_temporary_failure(
    make_config: ConfigFactory, tls_files: dict[str, str], client_tls: ssl.SSLContext
) -> None:
    """454 (RFC 4954) lets the client retry; it does not count towards max_failures."""
    down = make_engine(DatabaseConfig(url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    credentials = EdgeCredentials(CredentialService(session_factory(down)))
    config = make_config(gateway=UNTRUSTED, tls=tls_files)
    plain = base64.b64encode(b"\x00anna@example.com\x00" + PASSWORD.encode())
    try:
        with (
            running_edge(config, credentials=credentials) as edge,
            starttls_client(edge.port, client_tls) as client,
        ):
            for _ in range(4):  # more than max_failures: still not cut off
                assert client.command(b"AUTH PLAIN " + plain) == (454, replies.AUTH_UNAVAILABLE[4:])
    finally:
        down.dispose()
