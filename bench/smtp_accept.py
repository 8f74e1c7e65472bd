"""How fast does bccrm's SMTP edge accept mail, compared with a bare durable aiosmtpd server?

What is measured
    The accept rate (messages per second answered "250" after the final dot) of two servers
    under the same client load, and the peak resident memory (``VmHWM``) of each server process:

    * **baseline**: a bare ``aiosmtpd.smtp.SMTP`` (explicit ``hostname=``, so no DNS lookup per
      connection) whose ``handle_DATA`` writes ``envelope.original_content`` with the same
      durability discipline as bccrm's spool: write into ``tmp/``, ``fsync`` the file,
      ``rename`` into ``new/``, ``fsync`` the directory, all in a thread via
      ``loop.run_in_executor`` (default executor, as bccrm), then answers ``250 2.0.0 Ok``.
      Both servers therefore pay the same disk cost, and the ratio bccrm/baseline measures
      bccrm's own overhead only (recipient and client checks, the envelope record, ids, replies).
    * **bccrm edge**: ``gateway.smtp.server.serve`` with a config from
      ``gateway.config.parse_config`` (127.0.0.1, port 0, one logging address) and a
      ``gateway.spool.Spool`` in a temporary directory. It logs at INFO to a file, as in
      production (one line per accepted message).

    Each server runs in its own process (multiprocessing, "spawn"), so the client's GIL does not
    slow the server, and reports its port back over a queue. The client is one asyncio loop in
    this process with ``--clients`` connections, each sending messages back to back
    (MAIL FROM, RCPT TO log@crm.example.com, DATA; no pipelining) of about 5 KiB with realistic
    headers and a unique Message-ID. Connections are opened and warmed up with 100 messages
    before the clock starts; the timed part sends ``--messages`` messages in total.

    The servers are measured alternately for ``--rounds`` rounds (order baseline/bccrm, then
    bccrm/baseline, and so on, so that drift in the machine does not favour one side), each
    round with a fresh server process and a fresh spool; the medians are reported. Every
    message must be answered 250; any other reply is counted and reported (it would be a bug).
    The benchmark reports and never asserts: it exits 0 unless something crashes.

    The fsync cost depends on the file system: ``--tmpdir`` chooses where the spools are made
    (default: the system temporary directory). On tmpfs the figures measure CPU only.

How to run (from the repository root)::

    .venv/bin/python bench/smtp_accept.py [--messages N] [--clients N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import multiprocessing
import os
import queue
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

BASELINE = "baseline"
BCCRM = "bccrm edge"
KINDS = (BASELINE, BCCRM)

HOST = "127.0.0.1"
GATEWAY_ADDRESS = "log@crm.example.com"
SENDER = "anna.nowak@example.com"
WARMUP_MESSAGES = 100
BODY_BYTES = 5 * 1024
TARGET_RATIO = 0.90
SERVER_START_TIMEOUT = 60.0
LOAD_TIMEOUT = 600.0


# -- servers (each in its own process) -------------------------------------------------------


class DurableFileHandler:
    """The baseline's aiosmtpd handler: store each message as bccrm's spool does, nothing more."""

    def __init__(self, root: Path) -> None:
        self.tmp = root / "tmp"
        self.new = root / "new"
        for path in (self.tmp, self.new):
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._prefix = f"{os.getpid()}."
        self._serial = itertools.count()

    def store(self, raw: bytes, name: str) -> None:
        """Write into tmp/, fsync the file, rename into new/, fsync new/ (runs in a thread)."""
        tmp_path = self.tmp / name
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(tmp_path, self.new / name)
        dir_fd = os.open(self.new, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{self._prefix}{next(self._serial)}"  # named on the loop thread: no races
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.store, envelope.original_content, name)
        return "250 2.0.0 Ok"


async def serve_baseline(root: Path, stop: asyncio.Event, ready: Callable[[int], None]) -> None:
    handler = DurableFileHandler(root)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="baseline.localhost"), host=HOST, port=0
    )
    ready(server.sockets[0].getsockname()[1])
    await stop.wait()
    server.close()
    await server.wait_closed()


async def serve_bccrm(root: Path, stop: asyncio.Event, ready: Callable[[int], None]) -> None:
    # Imported here, not at the top: the baseline process must not carry bccrm's modules.
    import logging

    from gateway.config import parse_config
    from gateway.smtp.server import serve
    from gateway.spool import Spool

    config = parse_config(
        {
            "gateway": {"host": HOST, "port": 0},
            "logging": {"addresses": [GATEWAY_ADDRESS]},
            "spool": {"path": "spool"},
        },
        base_dir=root,
    )
    Spool(config.spool.path).ensure()
    # Production logs one INFO line per accepted message; pay for it here too (to a file).
    log = logging.getLogger("bccrm")
    log.addHandler(logging.FileHandler(root / "bccrm.log"))
    log.setLevel(logging.INFO)
    await serve(config, Spool(config.spool.path), stop, ready=ready)


async def serve_until_terminated(kind: str, root: Path, ready: Callable[[int], None]) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if kind == BCCRM:
        await serve_bccrm(root, stop, ready)
    else:
        await serve_baseline(root / "spool", stop, ready)


def server_process(kind: str, root: str, ports: Queue[int]) -> None:
    """Entry point of a server process: serve until SIGTERM, reporting the port on ``ports``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    asyncio.run(serve_until_terminated(kind, Path(root), ports.put))


@dataclass
class Server:
    kind: str
    port: int
    process: BaseProcess

    def peak_rss_mib(self) -> float:
        """``VmHWM`` of the server process (it must still be running)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
        raise RuntimeError(f"no VmHWM in /proc/{self.process.pid}/status")


@contextlib.contextmanager
def running_server(kind: str, tmp_parent: str | None) -> Iterator[Server]:
    """Start a server process with a fresh spool; stop it and delete the spool on exit."""
    context = multiprocessing.get_context("spawn")
    root = Path(tempfile.mkdtemp(prefix="bccrm-bench-", dir=tmp_parent))
    ports: Queue[int] = context.Queue()
    process = context.Process(
        target=server_process, args=(kind, str(root), ports), name=f"bench {kind}", daemon=True
    )
    try:
        process.start()
        yield Server(kind, wait_for_port(kind, process, ports), process)
    finally:
        stop_process(process)
        ports.close()
        shutil.rmtree(root, ignore_errors=True)


def wait_for_port(kind: str, process: BaseProcess, ports: Queue[int]) -> int:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            return ports.get(timeout=0.2)
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(
                    f"{kind} server exited (code {process.exitcode}) before listening"
                ) from None
    raise RuntimeError(f"{kind} server did not listen within {SERVER_START_TIMEOUT:.0f} s")


def stop_process(process: BaseProcess) -> None:
    if process.pid is None or not process.is_alive():
        return
    process.terminate()
    process.join(10)
    if process.is_alive():
        process.kill()
        process.join(5)


# -- client load --------------------------------------------------------------------------


def make_body(size: int) -> bytes:
    """A plain-text business mail of about ``size`` bytes, CRLF lines, no line starting '.'."""
    paragraph = [
        "Dzien dobry Panie Piotrze,",
        "",
        "thank you for the call this morning. As agreed, please find below the updated quote",
        "for the spring order, with delivery to the Poznan warehouse in two parts. Prices are",
        "net, in PLN, valid for 30 days; payment 14 days from the invoice date.",
        "",
        "  item                               qty     unit price     total",
        "  pallet racking, 2.4 m              120       410.00      49200.00",
        "  mesh decking, 1.2 m                240        86.50      20760.00",
        "  installation and inspection          1      7400.00       7400.00",
        "",
        "If the second delivery has to move, let me know by Friday and I will confirm the new",
        "slot with the carrier. Call me at +48 61 123 45 67 with any question.",
        "",
    ]
    signature = ["Best regards,", "Anna Nowak", "Sales, Example Sp. z o.o.", ""]
    lines: list[str] = []
    length = sum(len(line) + 2 for line in signature)
    for line in itertools.cycle(paragraph):
        if length + len(line) + 2 > size:
            break
        lines.append(line)
        length += len(line) + 2
    return "\r\n".join(lines + signature).encode("ascii")


class MessageFactory:
    """Messages with realistic headers and a Message-ID unique across the whole run."""

    def __init__(self) -> None:
        self.run = secrets.token_hex(6)
        self.body = make_body(BODY_BYTES)
        self.serial = itertools.count(1)

    def make(self, client: int) -> bytes:
        n = next(self.serial)
        headers = (
            f"From: Anna Nowak <{SENDER}>\r\n"
            "To: Piotr Kowalski <piotr.kowalski@customer.example.net>\r\n"
            f"Subject: Quote {n} for the spring order\r\n"
            f"Date: {formatdate(localtime=True)}\r\n"
            f"Message-ID: <{self.run}.{client}.{n}@mail.example.com>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n"
        )
        return headers.encode("ascii") + self.body


class SmtpClient:
    """One SMTP connection sending messages one after another (no pipelining)."""

    MAIL = f"MAIL FROM:<{SENDER}>\r\n".encode("ascii")
    RCPT = f"RCPT TO:<{GATEWAY_ADDRESS}>\r\n".encode("ascii")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, index: int) -> SmtpClient:
        reader, writer = await asyncio.open_connection(HOST, port)
        client = cls(reader, writer)
        await client.expect(220, "greeting")
        writer.write(f"EHLO client{index}.example.com\r\n".encode("ascii"))
        await client.expect(250, "EHLO")
        return client

    async def reply(self) -> tuple[int, str]:
        lines = []
        while True:
            line = await self.reader.readline()
            if not line.endswith(b"\n"):
                raise ConnectionError("the server closed the connection")
            lines.append(line)
            if line[3:4] != b"-":
                return int(line[:3]), b"".join(lines).decode("utf-8", "replace").strip()

    async def expect(self, code: int, what: str) -> None:
        got, text = await self.reply()
        if got != code:
            raise RuntimeError(f"{what}: expected {code}, got {text!r}")

    async def send(self, message: bytes) -> str | None:
        """Send one message; ``None`` if it was accepted, else the unexpected reply."""
        for command, want in ((self.MAIL, 250), (self.RCPT, 250), (b"DATA\r\n", 354)):
            self.writer.write(command)
            code, text = await self.reply()
            if code != want:
                self.writer.write(b"RSET\r\n")
                await self.reply()
                return text
        self.writer.write(message)
        self.writer.write(b".\r\n")  # the message ends with CRLF
        await self.writer.drain()
        code, text = await self.reply()
        return None if code == 250 else text

    async def close(self, say_quit: bool) -> None:
        """Close the connection, with a QUIT first unless an exchange was cut short."""
        if say_quit:
            with contextlib.suppress(OSError, ConnectionError, TimeoutError):
                self.writer.write(b"QUIT\r\n")
                await asyncio.wait_for(self.reply(), 5)
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


@dataclass
class Failures:
    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, reply: str) -> None:
        self.count += 1
        if len(self.samples) < 3:
            self.samples.append(reply)


async def send_all(
    clients: list[SmtpClient], total: int, factory: MessageFactory, failures: Failures
) -> None:
    """Send ``total`` messages spread evenly over ``clients``, all connections at once."""

    async def one_client(index: int, client: SmtpClient, count: int) -> None:
        for _ in range(count):
            reply = await client.send(factory.make(index))
            if reply is not None:
                failures.add(reply)

    share, extra = divmod(total, len(clients))
    await asyncio.gather(*(one_client(i, c, share + int(i < extra)) for i, c in enumerate(clients)))


@dataclass
class Measurement:
    kind: str
    messages: int
    seconds: float
    peak_rss_mib: float
    failures: Failures

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def load(port: int, clients: int, messages: int, failures: Failures) -> float:
    """Open the connections, warm up, then return the seconds taken by ``messages`` messages."""
    factory = MessageFactory()
    connections = list(await asyncio.gather(*(SmtpClient.connect(port, i) for i in range(clients))))
    finished = False
    try:
        await send_all(connections, WARMUP_MESSAGES, factory, failures)
        start = time.perf_counter()
        await send_all(connections, messages, factory, failures)
        seconds = time.perf_counter() - start
        finished = True
        return seconds
    finally:
        # After an interruption a connection may be inside DATA: a QUIT would be message text.
        await asyncio.gather(*(c.close(say_quit=finished) for c in connections))


def measure(kind: str, args: argparse.Namespace) -> Measurement:
    failures = Failures()
    with running_server(kind, args.tmpdir) as server:
        seconds = asyncio.run(
            asyncio.wait_for(load(server.port, args.clients, args.messages, failures), LOAD_TIMEOUT)
        )
        peak = server.peak_rss_mib()
    return Measurement(kind, args.messages, seconds, peak, failures)


# -- report -------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Accept rate of bccrm's SMTP edge against a bare durable aiosmtpd server."
    )
    parser.add_argument(
        "--messages", type=positive_int, default=3000, help="timed messages per server and round"
    )
    parser.add_argument(
        "--clients", type=positive_int, default=10, help="concurrent SMTP connections"
    )
    parser.add_argument("--rounds", type=positive_int, default=3, help="rounds per server")
    parser.add_argument(
        "--tmpdir", default=None, help="where to create the spools (default: system temp dir)"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> None:
    print(
        f"{args.clients} clients, {args.messages} messages of ~{BODY_BYTES // 1024} KiB per "
        f"server and round (+{WARMUP_MESSAGES} warm-up), {args.rounds} round(s), "
        f"spools under {args.tmpdir or tempfile.gettempdir()}, {os.cpu_count()} CPU(s)"
    )
    results: dict[str, list[Measurement]] = {kind: [] for kind in KINDS}
    for number in range(1, args.rounds + 1):
        order = KINDS if number % 2 else KINDS[::-1]
        for kind in order:
            m = measure(kind, args)
            results[kind].append(m)
            bad = f", {m.failures.count} non-250" if m.failures.count else ""
            print(
                f"round {number}/{args.rounds}  {kind:<10} {m.rate:7.0f} msg/s  "
                f"({m.messages} in {m.seconds:.2f} s, peak RSS {m.peak_rss_mib:.1f} MiB{bad})",
                flush=True,
            )

    rate = {kind: statistics.median(m.rate for m in results[kind]) for kind in KINDS}
    rss = {kind: max(m.peak_rss_mib for m in results[kind]) for kind in KINDS}
    print(
        f"bccrm edge: {rate[BCCRM]:.0f} msg/s, baseline: {rate[BASELINE]:.0f} msg/s, "
        f"ratio {rate[BCCRM] / rate[BASELINE]:.2f} (target >= {TARGET_RATIO:.2f})"
    )
    print(f"peak RSS: bccrm edge {rss[BCCRM]:.1f} MiB, baseline {rss[BASELINE]:.1f} MiB")
    for kind in KINDS:
        count = sum(m.failures.count for m in results[kind])
        samples = [s for m in results[kind] for s in m.failures.samples][:3]
        if count:
            print(f"{kind}: {count} non-250 replies (a bug), e.g. {samples}")
        else:
            print(f"{kind}: every message answered 250")


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, interrupt)  # clean up (servers, spools) as on Ctrl-C
    try:
        run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
