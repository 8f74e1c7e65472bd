r"""SMTP: the protocol-abuse cases of ../shared/RELIABILITY.md against a real edge and worker.

Most cases share one module-scoped node (SQLite, STARTTLS configured, a 200 kB message limit,
bare line endings rejected: the shipped default). The timeout cases and the smuggling endings
in ``normalize`` mode use a second node with a 2-second idle timeout. The smuggling endings
also run on PostgreSQL (NUL bytes reach the database), on a node of their own; the handler
exception has a node of its own with the ``smtp-handler-error`` fault point.

Every case ends with the invariant check (I-1..I-4) and asserts its exact accounting: how many
entries the node accepted and logged during the case, compared with before it.
"""

from __future__ import annotations

import select
import socket
import ssl
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import trustme

from gateway.smtp import replies
from gateway.spool import Spool
from tests.conftest import fresh_database
from tests.gateway.smtp.test_limits import SMUGGLING_ENDINGS
from tests.rawsmtp import RawClient
from tests.reliability.conftest import sized
from tests.reliability.harness import (
    LOG,
    QUEUED,
    REP,
    Node,
    Sent,
    hostile_message,
    wait_until,
)
from tests.reliability.invariants import Accounting, check

MAX_SIZE = 200_000  # the main node's gateway.max_message_size
IDLE = 2.0  # the timeout node's limits.idle_timeout, seconds
CUT_BUDGET = 30.0  # a cut client must be gone well within this (generous: loaded CI)

Record = Callable[[str], None]
Nodes = Callable[..., Node]


def catalogue(reply: str) -> tuple[int, str]:
    """A catalogue reply as the client reads it: (code, text)."""
    return int(reply[:3]), reply[4:]


OK = (250, "OK")
START_DATA = (354, "End data with <CR><LF>.<CR><LF>")
TOO_LONG = (500, "Command line too long")  # aiosmtpd's own wording: no catalogue entry
NEED_MAIL = (503, "Error: need MAIL command")
NEED_RCPT = (503, "Error: need RCPT command")


# -- nodes ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Nodes]:
    """``nodes(backend, kind)``: a started node, made on first use and shared by the module.
    ``main``: TLS, MAX_SIZE, defaults otherwise; ``short``: idle timeout IDLE, bare line
    endings normalised."""
    with ExitStack() as stack:
        made: dict[tuple[str, str], Node] = {}

        def get(backend: str = "sqlite", kind: str = "main") -> Node:
            if (backend, kind) in made:
                return made[backend, kind]
            root = tmp_path_factory.mktemp(f"smtp-{backend}-{kind}")
            url = stack.enter_context(fresh_database(backend, root))
            sections: dict[str, dict[str, Any]]
            if kind == "main":
                cert = ca.issue_cert("bccrm.test", "127.0.0.1")
                cert.cert_chain_pems[0].write_to_path(str(root / "cert.pem"))
                cert.private_key_pem.write_to_path(str(root / "key.pem"))
                sections = {
                    "gateway": {"max_message_size": MAX_SIZE},
                    "tls": {"cert_file": str(root / "cert.pem"), "key_file": str(root / "key.pem")},
                }
            else:
                sections = {"limits": {"idle_timeout": IDLE, "bare_line_endings": "normalize"}}
            node = Node(root, url, sections)
            stack.callback(node.stop)
            made[backend, kind] = node.start()
            return node

        yield get


@pytest.fixture
def main(nodes: Nodes) -> Node:
    return nodes("sqlite", "main")


# -- helpers ----------------------------------------------------------------------------------


def register(node: Node, raw: bytes, marker: str, message_id: str) -> Sent:
    return node.ledger.register(raw, marker, message_id)


def answered(sent: Sent, reply: tuple[int, str]) -> tuple[int, str]:
    sent.code, sent.reply = reply
    if match := QUEUED.match(f"{reply[0]} {reply[1]}"):
        sent.entry_id = match.group(1)
    return reply


def envelope(client: RawClient, rcpts: tuple[str, ...] = (LOG,), sender: str = REP) -> None:
    """Greeting, EHLO, MAIL, RCPT…, DATA, each answered as it must be."""
    assert client.reply()[0] == 220
    assert client.command(b"EHLO client.example.com")[0] == 250
    assert client.command(f"MAIL FROM:<{sender}>".encode()) == OK
    for rcpt in rcpts:
        assert client.command(f"RCPT TO:<{rcpt}>".encode()) == catalogue(replies.OK_RCPT)
    assert client.command(b"DATA") == START_DATA


def deliver(client: RawClient, node: Node, index: int, *, mail: bool = True) -> Sent:
    """An ordinary transaction on an open session (after EHLO; after MAIL when ``mail`` is
    false): must be queued."""
    raw, marker, message_id = hostile_message(index)
    sent = register(node, raw, marker, message_id)
    if mail:
        assert client.command(f"MAIL FROM:<{REP}>".encode()) == OK
    assert client.command(f"RCPT TO:<{LOG}>".encode()) == catalogue(replies.OK_RCPT)
    assert client.command(b"DATA") == START_DATA
    client.send(raw + b".\r\n")
    code, text = answered(sent, client.reply())
    assert (code, text) == catalogue(replies.queued(str(sent.entry_id))), text
    return sent


def email_ids(node: Node, message_id: str) -> list[int]:
    return [
        row[0] for row in node.rows("SELECT id FROM emails WHERE message_id = :m", m=message_id)
    ]


def settle(node: Node, before: Accounting) -> Accounting:
    """Drain, check the invariants, and return what changed during the case."""
    node.drain()
    after = check(node)
    return Accounting(**{k: getattr(after, k) - getattr(before, k) for k in after.__dict__})


def exactly(change: Accounting, *, accepted: int) -> None:
    """Every entry the case accepted was logged as a new email; nothing else happened."""
    assert change == Accounting(accepted, accepted, 0, 0, 0, 0, accepted), change


def silent(sock: socket.socket, wait: float = 0.3) -> bool:
    """Nothing more arrives from the server within ``wait`` seconds."""
    readable, _, _ = select.select([sock], [], [], wait)
    return not readable


# -- smuggling --------------------------------------------------------------------------------

SMUGGLING = r"smuggling endings (`\n.\n`, `\r.\r`, `\n.\r\n`, `\r\n.\n`, NUL variants)"


def smuggled_session(node: Node, ending: bytes, index: int) -> tuple[Sent, Sent]:
    """One DATA whose body ends with ``ending`` followed by a whole second transaction (an
    authorized sender, the logging address, a forged message): the edge must answer that DATA
    exactly once and never start the second transaction."""
    first, first_marker, first_id = hostile_message(index)
    second, second_marker, second_id = hostile_message(index + 1, subject="forged")
    head = first + b"tail" + ending
    one, two = (
        register(node, head, first_marker, first_id),
        register(node, second, second_marker, second_id),
    )
    with node.client() as client:
        envelope(client)
        client.send(
            head + f"MAIL FROM:<{REP}>\r\nRCPT TO:<{LOG}>\r\nDATA\r\n".encode() + second + b".\r\n"
        )
        answered(one, client.reply())
        two.code, two.reply = 0, "never a transaction of its own"
        assert client.command(b"NOOP") == OK  # the next reply is NOOP's: nothing was pending
        assert client.command(b"QUIT") == (221, "Bye")
        assert client.closed()
    return one, two


# The first message's fate: with bare CR/LF refused (the default) only the ending made of
# CRLF and NUL is a well-formed line ("\x00.", content); normalised, every ending is content.
REJECTED = {ending: ending != b"\r\n\x00.\r\n" for ending in SMUGGLING_ENDINGS}


@pytest.mark.scenario("SMTP", f"{SMUGGLING} never yield a second message")
@pytest.mark.parametrize("mode", ["reject", "normalize"])
def test_smuggling_endings_never_yield_a_second_message(
    nodes: Nodes, backend: str, mode: str, record: Record
) -> None:
    node = nodes(backend, "main" if mode == "reject" else "short")
    before = check(node)
    outcomes = []
    for index, ending in enumerate(SMUGGLING_ENDINGS):
        one, two = smuggled_session(node, ending, 10 * index)
        refused = mode == "reject" and REJECTED[ending]
        if refused:
            assert (one.code, one.reply) == catalogue(replies.BARE_LF), (ending, one.reply)
        else:
            assert (one.code, one.reply) == catalogue(replies.queued(str(one.entry_id))), ending
        outcomes.append((one, two, refused))
    change = settle(node, before)
    accepted = sum(not refused for _, _, refused in outcomes)
    exactly(change, accepted=accepted)
    for one, two, refused in outcomes:
        assert email_ids(node, two.message_id) == []  # the smuggled message never is an email
        assert len(email_ids(node, one.message_id)) == (0 if refused else 1)
    record(
        f"{mode}: 550 5.5.2 ×{len(outcomes) - accepted}, 250 ×{accepted} (one message each); "
        "smuggled message never an email"
    )


# -- STARTTLS ---------------------------------------------------------------------------------


@pytest.mark.scenario("SMTP", "STARTTLS with pipelined plaintext commands")
def test_starttls_discards_pipelined_plaintext(main: Node, ca: trustme.CA, record: Record) -> None:
    """CVE-2024-34083 class: a whole transaction pipelined in clear behind STARTTLS is neither
    answered in clear nor run inside the TLS session."""
    before = check(main)
    context = ssl.create_default_context()
    ca.configure_trust(context)
    raw, marker, message_id = hostile_message(100, subject="injected")
    evil = register(main, raw, marker, message_id)
    with main.client() as client:
        assert client.reply()[0] == 220
        assert client.command(b"EHLO client.example.com")[0] == 250
        client.send(
            b"STARTTLS\r\n"
            + f"MAIL FROM:<{REP}>\r\nRCPT TO:<{LOG}>\r\nDATA\r\n".encode()
            + raw
            + b".\r\n"
        )
        assert client.reply() == (220, "Ready to start TLS")
        assert client.buffer == b""
        assert silent(client.sock)  # no plaintext answer to the pipelined commands
        client.sock = context.wrap_socket(client.sock, server_hostname="bccrm.test")
        assert client.command(b"EHLO client.example.com")[0] == 250
        assert client.command(f"RCPT TO:<{LOG}>".encode()) == NEED_MAIL  # MAIL never ran
        assert client.command(b"DATA") == NEED_RCPT
        good = deliver(client, main, 101)
        assert client.command(b"QUIT") == (221, "Bye")
    change = settle(main, before)
    exactly(change, accepted=1)
    assert email_ids(main, evil.message_id) == []
    assert len(email_ids(main, good.message_id)) == 1
    record("220, pipelined MAIL/RCPT/DATA discarded (503 inside TLS); 250 over TLS")


# -- long lines -------------------------------------------------------------------------------


@pytest.mark.scenario("SMTP", "1 MiB command line")
def test_a_1_mib_command_line_is_refused_and_the_session_survives(
    main: Node, record: Record
) -> None:
    before = check(main)
    mib = 1 << 20
    lines = [
        b"NOOP " + b"x" * mib,
        b"EHLO " + b"h" * mib,
        b"MAIL FROM:<" + b"a" * mib + b"@example.com>",
        b"RCPT TO:<" + b"l" * mib + b"@crm.example.com>",
        b"X" * mib,  # no command at all, and no space for aiosmtpd to split on
    ]
    with main.client(timeout=30) as client:
        assert client.reply()[0] == 220
        assert client.command(b"EHLO client.example.com")[0] == 250
        for line in lines:
            assert client.command(line) == TOO_LONG, line[:12]
            assert client.command(b"NOOP") == OK  # still in step: one reply per line
        sent = deliver(client, main, 200)
        assert client.command(b"QUIT") == (221, "Bye")
    change = settle(main, before)
    exactly(change, accepted=1)
    assert len(email_ids(main, sent.message_id)) == 1
    record("500 ×5, session kept; the next message 250 and logged")


# -- timeouts ---------------------------------------------------------------------------------


def still_open(client: RawClient) -> bool:
    """False once the server has closed the session; a reply it sends instead is read (and
    lands in the ledger, where the test finds it)."""
    try:
        data = client.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if data == b"":
        return False
    client.reply()
    return True


@pytest.mark.scenario("SMTP", "idle and trickling clients are cut at the timeout")
def test_idle_and_trickling_clients_are_cut_at_the_timeout(nodes: Nodes, record: Record) -> None:
    """Five clients at once on a node with a 2 s idle timeout: idle after the greeting, idle
    inside a transaction, idle inside DATA, a byte at a time never completing a command, and
    a line at a time inside DATA. Each is cut without a reply; an open spool file is removed."""
    node = nodes("sqlite", "short")
    before = check(node)
    raw, marker, message_id = hostile_message(300)
    trickled = register(node, raw, marker, message_id)
    data_lines = iter(raw.splitlines(keepends=True) * 50)
    with ExitStack() as stack:
        clients = {
            name: stack.enter_context(node.client())
            for name in ("idle", "idle-mail", "idle-data", "trickle-command", "trickle-data")
        }
        ready: dict[str, float] = {}  # when each client's last valid command was answered
        for name, client in clients.items():
            if name in ("idle", "trickle-command"):
                assert client.reply()[0] == 220
                assert client.command(b"EHLO client.example.com")[0] == 250
            elif name == "idle-mail":
                assert client.reply()[0] == 220
                assert client.command(b"EHLO client.example.com")[0] == 250
                assert client.command(f"MAIL FROM:<{REP}>".encode()) == OK
                assert client.command(f"RCPT TO:<{LOG}>".encode()) == catalogue(replies.OK_RCPT)
            else:
                envelope(client)
            ready[name] = time.monotonic()
        assert len(node.spool_entries("tmp")) == 2  # the two sessions inside DATA have files
        replies_open = len(node.ledger.replies)
        started = time.monotonic()
        cut: dict[str, float] = {}
        while len(cut) < len(clients) and time.monotonic() - started < CUT_BUDGET:
            for name, client in clients.items():
                if name in cut:
                    continue
                try:
                    if name == "trickle-command":
                        client.send(b"N")  # "NOOP" never completes: no timer reset
                    elif name == "trickle-data":
                        client.send(next(data_lines))
                except OSError:
                    cut[name] = time.monotonic() - ready[name]
                    continue
                if not still_open(client):
                    cut[name] = time.monotonic() - ready[name]
            time.sleep(0.2)
    assert sorted(cut) == sorted(clients), f"not cut within {CUT_BUDGET}s: {cut}"
    # A lower bound only (load makes it later, not sooner): the cut is the timeout.
    assert min(cut.values()) >= IDLE / 2, cut
    assert node.ledger.replies[replies_open:] == []  # cut silently: no reply to anything
    wait_until(lambda: not node.spool_entries("tmp"), 10, "the open spool files to be removed")
    change = settle(node, before)
    exactly(change, accepted=0)
    assert email_ids(node, trickled.message_id) == []
    record(
        f"all 5 cut after {min(cut.values()):.1f}–{max(cut.values()):.1f} s, no reply; tmp/ empty"
    )


# -- disconnects ------------------------------------------------------------------------------


def reset(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.scenario("SMTP", "disconnect mid-DATA leaves nothing")
def test_disconnect_mid_data_leaves_nothing(main: Node, record: Record) -> None:
    before = check(main)
    cases = [
        ("FIN before any data", 0, False),
        ("FIN mid-line", 1, False),
        ("FIN after whole lines", 2, False),
        ("RST mid-line", 1, True),
        ("FIN after the whole message, no final dot", 3, False),
    ]
    refused = []
    for index, (name, cut_at, rst) in enumerate(cases):
        raw, marker, message_id = hostile_message(400 + index)
        sent = register(main, raw, marker, message_id)
        refused.append(sent)
        payload = [b"", raw[: len(raw) // 2], raw[: raw.rfind(b"\r\n", 0, len(raw) // 2) + 2], raw]
        with main.client() as client:
            envelope(client)
            assert len(main.spool_entries("tmp")) == 1, name  # the entry is open
            if payload[cut_at]:
                client.send(payload[cut_at])
            if rst:
                reset(client.sock)
            else:
                client.sock.shutdown(socket.SHUT_WR)
                assert client.closed(), name  # the edge gives up on the session: no reply
        wait_until(lambda: not main.spool_entries("tmp"), 10, f"{name}: tmp/ to be emptied")
    change = settle(main, before)
    exactly(change, accepted=0)
    for sent in refused:
        assert email_ids(main, sent.message_id) == []
    record(f"{len(cases)} ways (FIN/RST, mid-line, whole lines): no reply, tmp/ emptied, no entry")


@pytest.mark.scenario(
    "SMTP", "EOF right after the final dot never leaves a half-written spool file"
)
def test_eof_after_the_final_dot(main: Node, record: Record) -> None:
    """The client half-closes (shutdown SHUT_WR) right after the final dot, at a few delays
    that land in different phases of the edge's commit. Each still reads its 250 (without
    it, it would send the message again), naming a complete entry in new/ holding exactly
    the bytes sent; then the edge closes. tmp/ is always empty; the worker logs every entry."""
    before = check(main)
    delays = [0.0, 0.0005, 0.002, 0.01, 0.05] * sized(1, 4)
    spool = Spool(main.spool_path)
    main.stop_worker()
    messages: list[Sent] = []
    try:
        for index, delay in enumerate(delays):
            raw, marker, message_id = hostile_message(500 + index)
            sent = register(main, raw, marker, message_id)
            messages.append(sent)
            known = set(main.spool_entries("new"))
            with main.client() as client:
                envelope(client)
                client.send(raw + b".\r\n")
                if delay:
                    time.sleep(delay)
                client.sock.shutdown(socket.SHUT_WR)
                answered(sent, client.reply())
                assert client.closed()
            assert (sent.code, sent.reply) == catalogue(replies.queued(str(sent.entry_id)))
            assert main.spool_entries("tmp") == []
            assert sorted(set(main.spool_entries("new")) - known) == [sent.entry_id]
            stored_envelope, body = spool.peek(spool.new / str(sent.entry_id))
            assert body == raw, "a half-written or altered entry"
            assert stored_envelope.rcpt_tos == (LOG,)
    finally:
        main.start_worker()
    change = settle(main, before)
    exactly(change, accepted=len(delays))
    for sent in messages:
        assert len(email_ids(main, sent.message_id)) == 1
    record(f"250 then close x{len(delays)}, each a complete entry; tmp/ empty")


# -- envelopes --------------------------------------------------------------------------------


@pytest.mark.scenario("SMTP", "`MAIL FROM:<>`")
def test_null_sender_is_accepted_and_logged(main: Node, record: Record) -> None:
    """Bounces of reps' mail come with the null reverse-path: spooled and logged like any
    copy (the trusted MTA is the transport proof; the header From is the rep)."""
    before = check(main)
    sent = main.send(sender="", index=600)
    assert (sent.code, sent.reply) == catalogue(replies.queued(str(sent.entry_id)))
    change = settle(main, before)
    exactly(change, accepted=1)
    assert len(email_ids(main, sent.message_id)) == 1
    record("250, logged once")


RELAY_TARGETS = [
    "someone@else.example",
    "log@crm.example.com.evil.test",
    "log%evil.test@crm.example.com",
    "log@[127.0.0.1]",
    "xlog@crm.example.com",
]


@pytest.mark.scenario("SMTP", "relay attempt")
def test_relay_attempts_are_refused(main: Node, record: Record) -> None:
    """Even a trusted client cannot relay: every address but a logging address is 550 5.1.1,
    DATA without one is 503; mixed with the logging address, only the logging copy is kept."""
    before = check(main)
    raw, marker, message_id = hostile_message(700)
    relayed = register(main, raw, marker, message_id)
    with main.client() as client:
        assert client.reply()[0] == 220
        assert client.command(b"EHLO client.example.com")[0] == 250
        assert client.command(f"MAIL FROM:<{REP}>".encode()) == OK
        for target in RELAY_TARGETS:
            reply = client.command(f"RCPT TO:<{target}>".encode())
            assert reply == catalogue(replies.not_gateway_address(target)), target
            relayed.code, relayed.reply = reply
        assert client.command(b"DATA") == NEED_RCPT
        assert client.command(b"RSET") == OK
        raw, marker, message_id = hostile_message(701)
        mixed = register(main, raw, marker, message_id)
        assert client.command(f"MAIL FROM:<{REP}>".encode()) == OK
        assert client.command(b"RCPT TO:<jan@acme.pl>") == catalogue(
            replies.not_gateway_address("jan@acme.pl")
        )
        assert client.command(f"RCPT TO:<{LOG}>".encode()) == catalogue(replies.OK_RCPT)
        assert client.command(b"DATA") == START_DATA
        client.send(raw + b".\r\n")
        assert answered(mixed, client.reply()) == catalogue(replies.queued(str(mixed.entry_id)))
        assert client.command(b"QUIT") == (221, "Bye")
    change = settle(main, before)
    exactly(change, accepted=1)
    assert email_ids(main, relayed.message_id) == []
    assert len(email_ids(main, mixed.message_id)) == 1
    record(f"550 5.1.1 ×{len(RELAY_TARGETS) + 1}, DATA 503; the mixed copy logged once")


@pytest.mark.scenario("SMTP", "51 recipients")
def test_51st_recipient_is_452(main: Node, record: Record) -> None:
    before = check(main)
    raw, marker, message_id = hostile_message(800)
    sent = register(main, raw, marker, message_id)
    with main.client() as client:
        assert client.reply()[0] == 220
        assert client.command(b"EHLO client.example.com")[0] == 250
        assert client.command(f"MAIL FROM:<{REP}>".encode()) == OK
        rcpts = [f"log+r{n}@crm.example.com" for n in range(51)]
        answers = [client.command(f"RCPT TO:<{rcpt}>".encode()) for rcpt in rcpts]
        assert answers[:50] == [catalogue(replies.OK_RCPT)] * 50
        assert answers[50] == catalogue(replies.TOO_MANY_RECIPIENTS)
        assert client.command(f"RCPT TO:<{LOG}>".encode()) == catalogue(replies.TOO_MANY_RECIPIENTS)
        assert client.command(b"DATA") == START_DATA
        client.send(raw + b".\r\n")
        assert answered(sent, client.reply()) == catalogue(replies.queued(str(sent.entry_id)))
        assert client.command(b"QUIT") == (221, "Bye")
    change = settle(main, before)
    exactly(change, accepted=1)  # one entry for 50 recipients, one email
    assert len(email_ids(main, sent.message_id)) == 1
    record("250 ×50, 452 4.5.3 from the 51st; one entry, logged once")


def sized_message(size: int, index: int) -> tuple[bytes, str, str]:
    """A message of exactly ``size`` bytes (CRLF lines, no leading dots)."""
    raw, marker, message_id = hostile_message(index)
    need = size - len(raw)
    lines, rest = divmod(need, 72)
    padding = [b"x" * 70 + b"\r\n"] * lines
    if rest == 1:
        padding[-1] = b"x" * 71 + b"\r\n"
    elif rest:
        padding.append(b"x" * (rest - 2) + b"\r\n")
    raw += b"".join(padding)
    assert len(raw) == size
    return raw, marker, message_id


@pytest.mark.scenario("SMTP", "SIZE= above the limit and DATA one byte over it")
def test_size_limits(main: Node, record: Record) -> None:
    before = check(main)
    exact = register(main, *sized_message(MAX_SIZE, 900))
    over = register(main, *sized_message(MAX_SIZE + 1, 901))
    with main.client() as client:
        assert client.reply()[0] == 220
        assert client.command(b"EHLO client.example.com")[0] == 250
        mail = f"MAIL FROM:<{REP}> SIZE=".encode()
        assert client.command(mail + str(MAX_SIZE + 1).encode()) == catalogue(
            replies.MESSAGE_TOO_BIG
        )
        assert client.command(mail + b"9" * 20) == catalogue(replies.MESSAGE_TOO_BIG)
        assert client.command(f"RCPT TO:<{LOG}>".encode()) == NEED_MAIL  # MAIL was refused
        for sent in (over, exact):
            assert client.command(mail + str(MAX_SIZE).encode()) == OK  # SIZE= understates
            assert client.command(f"RCPT TO:<{LOG}>".encode()) == catalogue(replies.OK_RCPT)
            assert client.command(b"DATA") == START_DATA
            client.send(sent.raw + b".\r\n")
            answered(sent, client.reply())
        assert client.command(b"NOOP") == OK
    assert (over.code, over.reply) == catalogue(replies.MESSAGE_TOO_BIG)
    assert (exact.code, exact.reply) == catalogue(replies.queued(str(exact.entry_id)))
    change = settle(main, before)
    exactly(change, accepted=1)
    assert email_ids(main, over.message_id) == []
    assert len(email_ids(main, exact.message_id)) == 1
    record(f"SIZE={MAX_SIZE + 1}: 552 5.3.4; DATA {MAX_SIZE + 1} B: 552 5.3.4, {MAX_SIZE} B: 250")


# -- handler exception ------------------------------------------------------------------------


@pytest.mark.scenario("SMTP", "a handler exception answers 451 without internals")
def test_a_handler_exception_answers_451_without_internals(
    make_node: Nodes, record: Record
) -> None:
    """The ``smtp-handler-error`` fault point makes the RCPT handler raise, as a bug of ours
    would. aiosmtpd's default would answer "500 Error: (RuntimeError) …", a permanent failure
    that quotes internals; bccrm answers 451 4.3.0 from the catalogue, logs a fixed phrase, and
    the session goes on."""
    node = make_node("sqlite")
    node.start_edge(faults=["smtp-handler-error@1"])
    node.start_worker()
    with node.client() as client:
        assert client.reply()[0] == 220
        assert client.command(b"EHLO client.example.com")[0] == 250
        assert client.command(f"MAIL FROM:<{REP}>".encode()) == OK
        reply = client.command(f"RCPT TO:<{LOG}>".encode())
        assert reply == catalogue(replies.INTERNAL_ERROR)
        sent = deliver(client, node, 1000, mail=False)  # the transaction goes on
        assert client.command(b"QUIT") == (221, "Bye")
    node.wait_log(r"ERROR bccrm\.smtp: session error \(internal error\)")
    node.drain()
    assert check(node).logged == 1  # I-4: no exception name, traceback or path in any line
    assert len(email_ids(node, sent.message_id)) == 1
    record("451 4.3.0 Error: internal error; log 'session error (internal error)'")
