"""The SMTP edge over real loopback sockets with a real smtplib client."""

from __future__ import annotations

import errno
import os
import smtplib
import socket
import threading
import time
from pathlib import Path

import pytest

from gateway.config import Config
from gateway.smtp import replies
from gateway.spool import EntryWriter, Spool
from tests.conftest import ConfigFactory
from tests.rawsmtp import RawClient
from tests.support import LOG, make_message, running_edge


def entries(spool: Spool) -> list[Path]:
    return sorted(spool.new.iterdir())


def test_accepted_copy_is_spooled_byte_for_byte_before_250(config: Config) -> None:
    """250 carries the queue id of an entry holding the exact bytes and the envelope."""
    raw = make_message()
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo("mta.example.com")
        client.mail("anna@example.com")
        client.rcpt(LOG)
        code, reply = client.data(raw)
    assert code == 250
    assert reply.startswith(b"2.0.0 Ok: queued as ")
    queue_id = reply.decode().rsplit(" ", 1)[1]
    [entry] = entries(edge.spool)
    assert entry.name == queue_id
    envelope, stored = edge.spool.peek(entry)
    assert stored == raw
    assert envelope.mail_from == "anna@example.com"
    assert envelope.rcpt_tos == (LOG,)
    assert envelope.helo == "mta.example.com"
    assert envelope.peer == "127.0.0.1"
    assert list(edge.spool.tmp.iterdir()) == []


@pytest.mark.parametrize("rcpt", ["LOG@CRM.Example.COM", "log+deal-42@crm.example.com"])
def test_logging_address_forms_are_accepted(config: Config, rcpt: str) -> None:
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        client.mail("anna@example.com")
        assert client.rcpt(rcpt)[0] == 250


@pytest.mark.parametrize(
    "rcpt",
    [
        "someone@else.example",
        "log@crm.example.com.evil.test",
        "log-x@crm.example.com",
        "xlog@crm.example.com",
    ],
)
def test_other_recipients_are_refused_and_nothing_is_spooled(config: Config, rcpt: str) -> None:
    """Never an open relay: anything but a logging address is 550 5.1.1."""
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        client.mail("anna@example.com")
        code, reply = client.rcpt(rcpt)
        assert (code, reply.decode()) == (550, replies.not_gateway_address(rcpt)[4:])
        assert client.docmd("DATA")[0] == 503  # no valid recipient, no DATA
    assert entries(edge.spool) == []


def test_mixed_recipients_keep_only_the_logging_address(config: Config) -> None:
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        refused = client.sendmail("anna@example.com", [LOG, "jan@acme.pl"], make_message())
    assert set(refused) == {"jan@acme.pl"}
    [entry] = entries(edge.spool)
    assert edge.spool.peek(entry)[0].rcpt_tos == (LOG,)


def test_untrusted_client_is_refused(make_config: ConfigFactory) -> None:
    config = make_config(gateway={"trusted_networks": ["192.0.2.0/24"]})
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        client.mail("anna@example.com")
        code, reply = client.rcpt(LOG)
    assert (code, reply.decode()) == (550, replies.NOT_AUTHORIZED[4:])
    assert entries(edge.spool) == []


def test_null_sender_is_accepted(config: Config) -> None:
    """Bounces of reps' mail arrive with MAIL FROM:<>; they are spooled like any copy."""
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.sendmail("<>", [LOG], make_message())
    [entry] = entries(edge.spool)
    assert edge.spool.peek(entry)[0].mail_from == "<>"


def test_spool_write_failure_answers_451_and_leaves_no_file(config: Config) -> None:
    """An fsync error (EIO) is our failure: a temporary reply, and no partial entry."""
    spool = Spool(config.spool.path)

    def failing_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    spool.fsync = failing_fsync  # type: ignore[method-assign]
    with running_edge(config, spool=spool) as edge, smtplib.SMTP("127.0.0.1", edge.port) as c:
        c.ehlo()
        c.mail("anna@example.com")
        c.rcpt(LOG)
        code, reply = c.data(make_message())
    assert (code, reply.decode()) == (451, replies.QUEUE_WRITE_ERROR[4:])
    assert list(spool.tmp.iterdir()) == []
    assert entries(spool) == []


def test_handler_bug_answers_451_without_internals(config: Config) -> None:
    """aiosmtpd's default would answer a permanent 500 quoting the exception."""

    class BrokenSpool(Spool):
        def open_entry(self, envelope: object) -> EntryWriter:  # type: ignore[override]
            raise RuntimeError("SELECT secret FROM /var/lib/bccrm")

    spool = BrokenSpool(config.spool.path)
    with running_edge(config, spool=spool) as edge, smtplib.SMTP("127.0.0.1", edge.port) as c:
        c.ehlo()
        c.mail("anna@example.com")
        c.rcpt(LOG)
        code, reply = c.docmd("DATA")
    assert (code, reply.decode()) == (451, replies.INTERNAL_ERROR[4:])
    for secret in ("RuntimeError", "SELECT", "/var/lib"):
        assert secret not in reply.decode()


def open_data_phase(port: int) -> socket.socket:
    """A raw client that has sent EHLO, MAIL, RCPT and DATA."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.recv(1024)
    for line in (
        b"EHLO c\r\n",
        b"MAIL FROM:<anna@example.com>\r\n",
        f"RCPT TO:<{LOG}>\r\n".encode(),
        b"DATA\r\n",
    ):
        sock.sendall(line)
        sock.recv(1024)
    return sock


def test_disconnect_while_spooling_still_completes_the_entry(config: Config) -> None:
    """A write under way when the client disconnects completes as a whole entry, never a
    partial one. (The client saw no 250 and will retry; dedup merges the two copies.)"""
    body = make_message()
    writing, release = threading.Event(), threading.Event()
    spool = Spool(config.spool.path)

    def slow_fsync(fd: int) -> None:
        writing.set()
        release.wait(5)
        os.fsync(fd)

    spool.fsync = slow_fsync  # type: ignore[method-assign]
    with running_edge(config, spool=spool) as edge:
        sock = open_data_phase(edge.port)
        sock.sendall(body + b".\r\n")
        assert writing.wait(5)
        sock.close()
        time.sleep(0.1)  # let the edge notice the disconnect while the write is blocked
        release.set()
        deadline = time.monotonic() + 5
        while not entries(spool) and time.monotonic() < deadline:
            time.sleep(0.02)
    [entry] = entries(spool)
    assert spool.peek(entry)[1] == body
    assert list(spool.tmp.iterdir()) == []


def test_eof_right_after_final_dot_never_leaves_a_partial_entry(config: Config) -> None:
    """Without a 250 the client retries; the spool holds a whole entry or none."""
    body = make_message()
    with running_edge(config) as edge:
        for _ in range(20):
            sock = open_data_phase(edge.port)
            sock.sendall(body + b".\r\n")
            sock.close()
        time.sleep(0.3)
    for entry in entries(edge.spool):
        assert edge.spool.peek(entry)[1] == body
    assert list(edge.spool.tmp.iterdir()) == []


def data_phase(port: int) -> RawClient:
    client = RawClient(port)
    assert client.reply()[0] == 220
    for line, code in (
        (b"EHLO c", 250),
        (b"MAIL FROM:<anna@example.com>", 250),
        (f"RCPT TO:<{LOG}>".encode(), 250),
        (b"DATA", 354),
    ):
        assert client.command(line)[0] == code
    return client


def test_half_close_after_final_dot_still_gets_its_250(config: Config) -> None:
    """A client that shuts down its sending side after the dot still reads the reply (without
    it, it would send the message again: a duplicate), then the edge closes."""
    body = make_message()
    with running_edge(config) as edge, data_phase(edge.port) as client:
        client.send(body + b".\r\n")
        client.sock.shutdown(socket.SHUT_WR)
        code, text = client.reply()
        assert client.closed()
    [entry] = entries(edge.spool)
    assert f"{code} {text}" == replies.queued(entry.name)
    assert edge.spool.peek(entry)[1] == body


def test_half_close_before_final_dot_leaves_nothing(config: Config) -> None:
    with running_edge(config) as edge, data_phase(edge.port) as client:
        client.send(b"Subject: half\r\n\r\nno final dot\r\n")
        client.sock.shutdown(socket.SHUT_WR)
        assert client.closed()  # no reply
        time.sleep(0.2)
    assert entries(edge.spool) == []
    assert list(edge.spool.tmp.iterdir()) == []


def test_disconnect_mid_data_leaves_nothing(config: Config) -> None:
    with running_edge(config) as edge:
        sock = open_data_phase(edge.port)
        sock.sendall(b"Subject: half\r\n\r\nonly half a message")
        sock.close()
        time.sleep(0.2)
    assert entries(edge.spool) == []
    assert list(edge.spool.tmp.iterdir()) == []


def test_oversized_message_is_refused(make_config: ConfigFactory) -> None:
    config = make_config(gateway={"max_message_size": 2048})
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        client.mail("anna@example.com")
        client.rcpt(LOG)
        code, _ = client.data(make_message(body=("x" * 70 + "\n") * 100))
    assert code == 552
    assert entries(edge.spool) == []
