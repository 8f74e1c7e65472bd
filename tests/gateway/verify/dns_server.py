"""A tiny authoritative DNS server on 127.0.0.1 (UDP, ephemeral port, one thread) for tests.

It answers TXT from a dict and NXDOMAIN for anything else; names can be made to answer
SERVFAIL, NOERROR with no records, or nothing at all (the client times out)::

    with dns_server({"sel._domainkey.example.com": record}, servfail=["bad.test"]) as server:
        lookup = make_txt_lookup((server.address,), timeout=1)

Leaving the block stops the thread, then closes the socket (pytest runs with ``-W error``,
so a leaked socket would fail the test).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.ANY.TXT import TXT

POLL_SECONDS = 0.05


@contextmanager
def dns_server(
    txt: Mapping[str, bytes] | None = None,
    *,
    servfail: Iterable[str] = (),
    silent: Iterable[str] = (),
    empty: Iterable[str] = (),
) -> Iterator[DNSServer]:
    """Serve ``txt`` (name -> record) until the block ends."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(POLL_SECONDS)
        server = DNSServer(sock, txt or {}, set(servfail), set(silent), set(empty))
        thread = threading.Thread(target=server.serve, name="test-dns", daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.stopping.set()
            thread.join(timeout=5)


class DNSServer:
    """The answering side; :func:`dns_server` owns its socket and thread."""

    def __init__(
        self,
        sock: socket.socket,
        txt: Mapping[str, bytes],
        servfail: set[str],
        silent: set[str],
        empty: set[str],
    ) -> None:
        self.sock = sock
        self.txt = {_key(name): value for name, value in txt.items()}
        self.servfail = {_key(name) for name in servfail}
        self.silent = {_key(name) for name in silent}
        self.empty = {_key(name) for name in empty}
        self.queries: list[str] = []
        self.stopping = threading.Event()

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, the form ``make_txt_lookup`` takes."""
        host, port = self.sock.getsockname()
        return f"{host}:{port}"

    def serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            reply = self.reply(data)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def reply(self, data: bytes) -> bytes | None:
        """The wire response to one query; ``None`` means stay silent."""
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = _key(question.name.to_text())
        self.queries.append(name)
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name in self.txt and question.rdtype == dns.rdatatype.TXT:
            response.answer.append(_txt_rrset(question.name, self.txt[name]))
        elif name not in self.txt and name not in self.empty:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


def _key(name: str) -> str:
    return name.rstrip(".").lower()


def _txt_rrset(name: dns.name.Name, value: bytes) -> dns.rrset.RRset:
    """One TXT record; values over 255 bytes are split into strings, as DKIM keys are."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [b""]
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.TXT)
    rrset.add(TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks), ttl=60)
    return rrset
