"""Limits and protocol hygiene at SMTP time (../shared/RELIABILITY.md, "SMTP" cases)."""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from pathlib import Path

import pytest

from gateway.config import Config
from gateway.smtp import replies
from gateway.spool import Spool
from tests.conftest import ConfigFactory
from tests.rawsmtp import RawClient
from tests.support import LOG, make_message, running_edge


def entries(spool: Spool) -> list[Path]:
    return sorted(spool.new.iterdir())


def open_data(client: RawClient) -> None:
    assert client.reply()[0] == 220
    assert client.command(b"EHLO client.test")[0] == 250
    assert client.command(b"MAIL FROM:<anna@example.com>")[0] == 250
    assert client.command(f"RCPT TO:<{LOG}>".encode())[0] == 250
    assert client.command(b"DATA")[0] == 354


def catalogue(reply: str) -> tuple[int, str]:
    return int(reply[:3]), reply[4:]


def test_size_announced_at_mail_above_the_limit_is_552(make_config: ConfigFactory) -> None:
    config = make_config(gateway={"max_message_size": 10_000})
    with running_edge(config) as edge, RawClient(edge.port) as client:
        client.reply()
        client.command(b"EHLO c")
        assert client.command(b"MAIL FROM:<a@example.com> SIZE=10001") == catalogue(
            replies.MESSAGE_TOO_BIG
        )
        assert client.command(b"MAIL FROM:<a@example.com> SIZE=10000")[0] == 250


def test_data_one_byte_over_the_limit_is_552_and_not_spooled(make_config: ConfigFactory) -> None:
    body = make_message(body=("x" * 70 + "\n") * 30)
    limit = len(body)
    config = make_config(gateway={"max_message_size": limit})
    with running_edge(config) as edge:
        for extra, expected in ((b"", 250), (b"y", 552)):
            with RawClient(edge.port) as client:
                open_data(client)
                client.send(body[:-2] + extra + b"\r\n.\r\n")
                code, text = client.reply()
                assert code == expected, text
        assert len(entries(edge.spool)) == 1
    assert text == replies.MESSAGE_TOO_BIG[4:]


def test_51st_recipient_is_452(config: Config) -> None:
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.ehlo()
        client.mail("anna@example.com")
        codes = [client.rcpt(f"log+{n}@crm.example.com") for n in range(51)]
    assert all(code == 250 for code, _ in codes[:50])
    assert (codes[50][0], codes[50][1].decode()) == catalogue(replies.TOO_MANY_RECIPIENTS)


def test_header_block_over_the_limit_is_554(make_config: ConfigFactory) -> None:
    config = make_config(limits={"max_header_bytes": 2048})
    big = make_message(X_Padding="p" * 3000)  # folded over several lines by the policy
    with running_edge(config) as edge, RawClient(edge.port) as client:
        open_data(client)
        client.send(big + b".\r\n")
        assert client.reply() == catalogue(replies.STRUCTURE_LIMITS)
    assert entries(edge.spool) == []


def nested(depth: int) -> bytes:
    head = b"From: a@example.com\r\nTo: b@acme.pl\r\nSubject: deep\r\n"
    lines = []
    for level in range(depth):
        lines.append(
            f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'.encode()
        )
    lines.append(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    lines.extend(f"--b{level}--\r\n".encode() for level in reversed(range(depth)))
    return head + b"".join(lines)


@pytest.mark.parametrize(
    ("depth", "accepted"), [(10, True), (60, False), (300, False), (1000, False)]
)
def test_mime_nesting(config: Config, depth: int, accepted: bool) -> None:
    with running_edge(config) as edge, RawClient(edge.port) as client:
        open_data(client)
        client.send(nested(depth) + b".\r\n")
        code, _ = client.reply()
    assert code == (250 if accepted else 554)
    assert len(entries(edge.spool)) == (1 if accepted else 0)


def test_100000_parts_are_refused_quickly(config: Config) -> None:
    parts = b"".join(b"--p\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(100_000))
    message = (
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n"
        + parts
        + b"--p--\r\n"
    )
    with running_edge(config) as edge, RawClient(edge.port, timeout=60) as client:
        open_data(client)
        client.send(message + b".\r\n")
        assert client.reply() == catalogue(replies.STRUCTURE_LIMITS)


SMUGGLING_ENDINGS = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r\n\x00.\r\n", b"\n\x00.\n"]


@pytest.mark.parametrize("ending", SMUGGLING_ENDINGS, ids=repr)
def test_smuggling_endings_never_yield_a_second_message(config: Config, ending: bytes) -> None:
    """With bare line endings rejected, the smuggled MAIL/RCPT/DATA is never a transaction."""
    smuggled = (
        b"From: a@example.com\r\nSubject: one\r\n\r\nbody"
        + ending
        + b"MAIL FROM:<evil@evil.test>\r\nRCPT TO:<"
        + LOG.encode()
        + b">\r\nDATA\r\n"
        b"From: anna@example.com\r\nSubject: forged\r\n\r\nforged\r\n.\r\n"
    )
    with running_edge(config) as edge, RawClient(edge.port) as client:
        open_data(client)
        client.send(smuggled)
        code, _ = client.reply()
        assert client.command(b"NOOP")[0] == 250  # one reply for one DATA; nothing pending
    assert len(entries(edge.spool)) <= 1
    assert code in (250, 550)
    for entry in entries(edge.spool):
        assert edge.spool.peek(entry)[1].count(b"Subject:") == 2  # one message, content kept


def test_bare_lf_is_rejected_by_default(config: Config) -> None:
    with running_edge(config) as edge, RawClient(edge.port) as client:
        open_data(client)
        client.send(b"Subject: x\r\n\r\nline one\nline two\r\n.\r\n")
        assert client.reply() == catalogue(replies.BARE_LF)
    assert entries(edge.spool) == []


def test_bare_line_endings_can_be_normalised(make_config: ConfigFactory) -> None:
    config = make_config(limits={"bare_line_endings": "normalize"})
    with running_edge(config) as edge, RawClient(edge.port) as client:
        open_data(client)
        client.send(b"Subject: x\r\n\r\nline one\nline two\rline three\r\n.\r\n")
        assert client.reply()[0] == 250
    [entry] = entries(edge.spool)
    assert edge.spool.peek(entry)[1] == b"Subject: x\r\n\r\nline one\r\nline two\r\nline three\r\n"


def test_dot_stuffing_is_undone(config: Config) -> None:
    with running_edge(config) as edge, RawClient(edge.port) as client:
        open_data(client)
        client.send(b"Subject: x\r\n\r\n..leading dot\r\n.\r\n")
        assert client.reply()[0] == 250
    [entry] = entries(edge.spool)
    assert edge.spool.peek(entry)[1].endswith(b"\r\n.leading dot\r\n")


def test_long_lines_are_kept_whole(config: Config) -> None:
    """Lines over 1,000 bytes (common from some mail clients) are stored, not refused."""
    line = b"y" * 5000
    with running_edge(config) as edge, RawClient(edge.port) as client:
        open_data(client)
        client.send(b"Subject: x\r\n\r\n" + line + b"\r\n.\r\n")
        assert client.reply()[0] == 250
    [entry] = entries(edge.spool)
    assert edge.spool.peek(entry)[1] == b"Subject: x\r\n\r\n" + line + b"\r\n"


def test_a_1_mib_command_line_is_refused_and_the_session_survives(config: Config) -> None:
    with running_edge(config) as edge, RawClient(edge.port) as client:
        client.reply()
        code, _ = client.command(b"NOOP " + b"x" * (1 << 20))
        assert code == 500
        assert client.command(b"EHLO c")[0] == 250


def test_too_many_sessions_from_one_ip_get_421(make_config: ConfigFactory) -> None:
    config = make_config(limits={"max_sessions_per_ip": 3})
    with running_edge(config) as edge:
        clients = [RawClient(edge.port) for _ in range(3)]
        try:
            for client in clients:
                assert client.reply()[0] == 220
            with RawClient(edge.port) as extra:
                assert extra.reply() == catalogue(
                    replies.too_many_connections("bccrm.test", "127.0.0.1")
                )
                assert extra.closed()
            clients.pop().sock.close()
            time.sleep(0.2)
            with RawClient(edge.port) as again:
                assert again.reply()[0] == 220  # a freed slot is usable again
        finally:
            for client in clients:
                client.sock.close()


def test_200_concurrent_sessions_get_250_or_421(make_config: ConfigFactory) -> None:
    config = make_config(limits={"max_sessions": 100, "max_sessions_per_ip": 200})
    codes: list[int] = []
    lock = threading.Lock()

    def deliver(n: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", edge.port, timeout=60) as client:
                client.sendmail("anna@example.com", [LOG], make_message(message_id=f"<{n}@x>"))
                code = 250
        except smtplib.SMTPConnectError as exc:
            code = exc.smtp_code
        except smtplib.SMTPServerDisconnected:
            code = 421
        with lock:
            codes.append(code)

    with running_edge(config) as edge:
        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        accepted = len(entries(edge.spool))
    assert len(codes) == 200
    assert set(codes) <= {250, 421}
    assert codes.count(250) == accepted >= 100


def test_idle_client_is_disconnected(make_config: ConfigFactory) -> None:
    config = make_config(limits={"idle_timeout": 0.5})
    with running_edge(config) as edge, RawClient(edge.port) as client:
        client.reply()
        time.sleep(1.5)
        assert client.closed()


def test_trickling_client_is_cut_at_the_timeout(make_config: ConfigFactory) -> None:
    """A byte every 0.2 s never completes a command, so the idle timer is never reset."""
    config = make_config(limits={"idle_timeout": 1})
    with running_edge(config) as edge, RawClient(edge.port) as client:
        client.reply()
        started = time.monotonic()
        with pytest.raises(OSError):
            for _ in range(50):
                client.send(b"N")
                time.sleep(0.2)
                if client.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    raise ConnectionError("closed")
        assert time.monotonic() - started < 8


def test_low_disk_space_is_452_at_mail_and_data(make_config: ConfigFactory) -> None:
    config = make_config(limits={"min_free_factor": 1e12})  # no disk is that large
    with running_edge(config) as edge, RawClient(edge.port) as client:
        client.reply()
        client.command(b"EHLO c")
        assert client.command(b"MAIL FROM:<a@example.com>") == catalogue(
            replies.INSUFFICIENT_STORAGE
        )
    assert entries(edge.spool) == []


def test_command_call_limit_cuts_a_looping_client(make_config: ConfigFactory) -> None:
    config = make_config(limits={"command_call_limit": 10})
    with running_edge(config) as edge, RawClient(edge.port) as client:
        client.reply()
        codes = [client.command(b"NOOP")[0] for _ in range(11)]
        assert codes[:10] == [250] * 10
        assert codes[10] == 421


def test_a_relay_may_send_many_messages_on_one_connection(config: Config) -> None:
    """command_call_limit must not cut a relay that reuses its connection (Postfix's
    connection cache): aiosmtpd counts per session, so per-message commands get more room."""
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        for n in range(150):
            client.sendmail("anna@example.com", [LOG], make_message(message_id=f"<{n}@x>"))
    assert len(entries(edge.spool)) == 150
