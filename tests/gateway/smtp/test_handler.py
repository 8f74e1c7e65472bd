"""The handler called directly with hand-made aiosmtpd Session and Envelope objects."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from aiosmtpd.smtp import Session

from gateway.smtp import replies
from gateway.smtp.handler import GatewayHandler
from gateway.smtp.routing import Router
from gateway.spool import Spool

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@pytest.fixture
def handler(tmp_path: Path) -> GatewayHandler:
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    return GatewayHandler(Router(["log@crm.example.com"], LOOPBACK), spool)


def session(ip: str) -> Session:
    s = Session(loop=None)  # type: ignore[arg-type]
    s.peer = (ip, 40000)
    s.host_name = "mta.example.com"
    return s


def rcpt(handler: GatewayHandler, ip: str, address: str) -> tuple[str, SmtpEnvelope]:
    envelope = SmtpEnvelope()
    reply = asyncio.run(handler.handle_RCPT(None, session(ip), envelope, address, []))
    return reply, envelope


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_trusted_client_may_log(handler: GatewayHandler, ip: str) -> None:
    reply, envelope = rcpt(handler, ip, "log@crm.example.com")
    assert reply == replies.OK_RCPT
    assert envelope.rcpt_tos == ["log@crm.example.com"]


@pytest.mark.parametrize("ip", ["192.0.2.7", "2001:db8::1", "", "not-an-ip"])
def test_untrusted_client_gets_550_5_7_1(handler: GatewayHandler, ip: str) -> None:
    reply, envelope = rcpt(handler, ip, "log@crm.example.com")
    assert reply == replies.NOT_AUTHORIZED
    assert envelope.rcpt_tos == []


def test_recipient_check_comes_before_client_check(handler: GatewayHandler) -> None:
    """A stranger relaying to a third party learns only that it is not a gateway address."""
    reply, _ = rcpt(handler, "192.0.2.7", "victim@example.org")
    assert reply.startswith("550 5.1.1 <victim@example.org>")


def test_rejection_does_not_echo_control_characters(handler: GatewayHandler) -> None:
    reply, _ = rcpt(handler, "127.0.0.1", "x\x1b[31m@evil.test")
    assert "\x1b" not in reply


def test_entry_records_the_transport_proofs(handler: GatewayHandler) -> None:
    envelope = SmtpEnvelope()
    envelope.mail_from = "anna@example.com"
    envelope.rcpt_tos = ["log@crm.example.com"]
    envelope.token_user = "anna@example.com"
    writer, problem = asyncio.run(handler.open_entry(session("127.0.0.1"), envelope))
    assert writer is not None and problem == ""
    writer.write(b"Subject: t\r\n\r\nbody\r\n")
    reply = asyncio.run(handler.commit_entry(session("127.0.0.1"), envelope, writer))
    assert reply.startswith("250 2.0.0 Ok: queued as ")
    [entry] = handler.spool.new.iterdir()
    meta, raw = handler.spool.peek(entry)
    assert raw == b"Subject: t\r\n\r\nbody\r\n"
    assert (meta.transport, meta.trusted_peer, meta.tls) == ("smtp", True, False)
    assert (meta.token_user, meta.auth_user) == ("anna@example.com", None)


def test_handle_exception_is_temporary_and_opaque(handler: GatewayHandler) -> None:
    reply = asyncio.run(handler.handle_exception(ValueError("/etc/passwd SELECT 1")))
    assert reply == replies.INTERNAL_ERROR
