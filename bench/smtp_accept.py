"""How fast does bccrm's SMTP edge accept mail, compared with a bare durable aiosmtpd server?

What is measured
    The accept rate (messages per second answered "250" after the final dot) of two servers
    under the same client load, and the peak resident memory (``VmHWM``) of each server process,
    once over plain SMTP and once with STARTTLS (``--modes``):

    * **baseline**: a bare ``aiosmtpd.smtp.SMTP`` (explicit ``hostname=``, so no DNS lookup per
      connection) whose ``handle_DATA`` writes ``envelope.original_content`` with the same
      durability discipline as bccrm's spool: write into ``tmp/``, ``fsync`` the file,
      ``rename`` into ``new/``, ``fsync`` the directory, all in a thread via
      ``loop.run_in_executor`` (default executor, as bccrm), then answers ``250 2.0.0 Ok``.
      Both servers therefore pay the same disk cost, and the ratio bccrm/baseline measures
      bccrm's own overhead only.
    * **bccrm edge**: ``gateway.smtp.server.serve`` with a config from
      ``gateway.config.parse_config`` (127.0.0.1, port 0, one logging address) and a
      ``gateway.spool.Spool`` in a temporary directory. It runs the full set of checks, which
      are always on in the edge, with the production defaults written out explicitly in the
      config: a ``[limits]`` table holding every default of ``LimitsConfig`` (recipients,
      header bytes, MIME depth and parts, sessions in all and per IP, the per-session command
      call limit, the idle timeout, bare CR/LF rejected, the free-disk reserve) and the default
      ``[gateway] max_message_size``. DATA is streamed in pieces through the size, bare-LF
      and MIME-structure checks into the spool, and the recipient and client checks, the
      envelope record, ids and replies come on top. It logs at INFO to a file, as in
      production (one line per accepted message).

    In ``starttls`` mode a throwaway CA and a server certificate for 127.0.0.1 are made with
    ``trustme`` at start (in a temporary directory, deleted at the end). bccrm gets them as
    ``[tls] cert_file/key_file``; the baseline gets an ``ssl.SSLContext`` built the way bccrm
    builds its own (``Purpose.CLIENT_AUTH``, TLS 1.2 minimum), as ``SMTP(..., tls_context=)``.
    Each client connection then says EHLO, STARTTLS, upgrades the stream to TLS, says EHLO again
    and sends its messages over the TLS connection.

    Each server runs in its own process (multiprocessing, "spawn"), so the client's GIL does not
    slow the server, and reports its port back over a queue. The client is one asyncio loop in
    this process with ``--clients`` connections, each sending messages back to back
    (MAIL FROM, RCPT TO log@crm.example.com, DATA; no pipelining) of about 5 KiB with realistic
    headers and a unique Message-ID. A connection carries at most 50 messages (QUIT, then a new
    connection, with a new STARTTLS handshake in that mode), for both servers alike, as a relay
    cycles its connections. Connections are opened and
    warmed up with 100 messages before the clock starts; the timed part sends ``--messages``
    messages in total. The client's and the server's CPU time over the timed part are shown
    per message, so that a saturated client (both sides then look alike) can be told apart.

    Each round measures every mode, and within a mode both servers with the same client mode,
    alternately (order baseline/bccrm in odd rounds, bccrm/baseline in even ones, so that drift
    in the machine does not favour one side), each measurement with a fresh server process and
    a fresh spool; the medians over ``--rounds`` rounds are reported, with target ratio 0.85
    for plain SMTP. Every message must be answered 250; any other reply is counted and reported
    (it would be a bug). The benchmark reports and never asserts: it exits 0 unless something
    crashes.

    The defaults (2000 timed messages, down from 3000 when only plain SMTP was measured;
    3 rounds; both modes: 12 measurements) keep a run to about one minute on a 2-CPU machine,
    and under two minutes when the disk is slow; raise ``--messages`` and ``--rounds`` for
    steadier figures. The fsync cost depends on the file system: ``--tmpdir`` chooses where the
    spools are made (default: the system temporary directory). On tmpfs the figures measure CPU
    only.

How to run (from the repository root)::

    .venv/bin/python bench/smtp_accept.py [--messages N] [--clients N] [--rounds N]
        [--modes plain,starttls] [--tmpdir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import queue
import secrets
import shutil
import signal
import ssl
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
IDLE = "bccrm edge + idle worker"
SATURATED = "bccrm edge + saturated worker"
KINDS = (BASELINE, BCCRM)
WORKER_KINDS = (IDLE, SATURATED)  # plain SMTP only (--workers)
BACKLOG = 1000  # entries waiting for the saturated worker when the load starts
WORKER_TARGET = 0.90  # the edge next to a worker against the baseline; saturated vs idle
PLAIN = "plain"
STARTTLS = "starttls"
MODES = (PLAIN, STARTTLS)

HOST = "127.0.0.1"
GATEWAY_ADDRESS = "log@crm.example.com"
SENDER = "anna.nowak@example.com"
WARMUP_MESSAGES = 100
MESSAGES_PER_CONNECTION = 50  # under bccrm's default command_call_limit (100 MAILs a session)
BODY_BYTES = 5 * 1024
TARGET_RATIO = 0.85  # plain SMTP, full checks, against the baseline of the same run
SERVER_START_TIMEOUT = 60.0
LOAD_TIMEOUT = 600.0


@dataclass(frozen=True)
class TlsFiles:
    """The server certificate (chain) and key, PEM files."""

    cert_file: str
    key_file: str


def production_defaults() -> tuple[dict[str, Any], int]:
    """bccrm's default ``[limits]`` table and ``max_message_size``, from its config classes."""
    # Imported here, not at the top: the baseline process must not carry bccrm's modules.
    from gateway.config import GatewayConfig
    from gateway.config_trust import LimitsConfig

    return dataclasses.asdict(LimitsConfig()), GatewayConfig().max_message_size


def server_tls_context(tls: TlsFiles) -> ssl.SSLContext:
    """The baseline's server context, made as ``gateway.smtp.server.tls_context`` makes it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def make_certificates(directory: Path) -> tuple[TlsFiles, ssl.SSLContext]:
    """A throwaway CA and a server certificate for HOST; the files and a client context."""
    import trustme  # a dev dependency, needed only for STARTTLS

    ca = trustme.CA()
    leaf = ca.issue_cert(HOST, "localhost")
    tls = TlsFiles(str(directory / "server.pem"), str(directory / "server.key"))
    Path(tls.cert_file).write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(tls.key_file)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client)
    return tls, client


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


async def serve_baseline(
    root: Path, tls: TlsFiles | None, stop: asyncio.Event, ready: Callable[[int], None]
) -> None:
    handler = DurableFileHandler(root)
    context = server_tls_context(tls) if tls is not None else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="baseline.localhost", tls_context=context),
        host=HOST,
        port=0,
    )
    ready(server.sockets[0].getsockname()[1])
    await stop.wait()
    server.close()
    await server.wait_closed()


async def serve_bccrm(
    root: Path, tls: TlsFiles | None, stop: asyncio.Event, ready: Callable[[int], None]
) -> None:
    # Imported here, not at the top: the baseline process must not carry bccrm's modules.
    import logging

    from gateway.config import parse_config
    from gateway.smtp.server import serve
    from gateway.spool import Spool

    limits, max_message_size = production_defaults()
    data: dict[str, Any] = {
        "gateway": {"host": HOST, "port": 0, "max_message_size": max_message_size},
        "logging": {"addresses": [GATEWAY_ADDRESS]},
        "spool": {"path": "spool"},
        "limits": limits,  # every check on, with the production defaults
    }
    if tls is not None:
        data["tls"] = {"cert_file": tls.cert_file, "key_file": tls.key_file}
    config = parse_config(data, base_dir=root)
    Spool(config.spool.path).ensure()
    # Production logs one INFO line per accepted message; pay for it here too (to a file).
    log = logging.getLogger("bccrm")
    log.addHandler(logging.FileHandler(root / "bccrm.log"))
    log.setLevel(logging.INFO)
    await serve(config, Spool(config.spool.path), stop, ready=ready)


async def serve_until_terminated(
    kind: str, root: Path, tls: TlsFiles | None, ready: Callable[[int], None]
) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if kind == BCCRM:
        await serve_bccrm(root, tls, stop, ready)
    elif kind in WORKER_KINDS:
        with worker_process(root, saturated=kind == SATURATED) as worker_pid:
            await serve_bccrm(root, tls, stop, lambda port: ready(port) or ready(worker_pid))
    else:
        await serve_baseline(root / "spool", tls, stop, ready)


def worker_config(root: Path, spool: Path) -> Path:
    """The worker's bccrm.toml: a SQLite CRM in ``root``, the given spool, production
    worker settings (INFO logging to stderr, which goes to a file)."""
    path = root / "worker.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{root / "crm.db"}"\n'
        f'[spool]\npath = "{spool}"\n'
        '[organization]\ndomains = ["example.com"]\n'
        f'[logging]\naddresses = ["{GATEWAY_ADDRESS}"]\n',
        encoding="utf-8",
    )
    return path


def fill_backlog(spool: Path, count: int) -> None:
    """``count`` entries in ``new/``, as the edge writes them (a trusted MTA's)."""
    from gateway.spool import MAGIC, Envelope, Spool, new_entry_id

    Spool(spool).ensure()
    factory = MessageFactory()
    envelope = Envelope(SENDER, (GATEWAY_ADDRESS,), peer=HOST, trusted_peer=True)
    head = MAGIC + envelope.to_json() + b"\n"
    for _ in range(count):
        (spool / "new" / new_entry_id()).write_bytes(head + factory.make(0))


@contextlib.contextmanager
def worker_process(root: Path, saturated: bool) -> Iterator[int]:
    """A real ``bccrm worker`` process beside the edge, on a migrated SQLite CRM with the rep
    registered, at the default ``[worker] nice`` (10), as in production. Saturated: it drains
    the edge's own spool, which holds a backlog of BACKLOG entries when the load starts (and
    the load adds more than it can process). Idle: it polls a spool of its own that stays
    empty, as a worker between bursts does."""
    import subprocess

    spool = root / ("spool" if saturated else "idle-spool")
    config = worker_config(root, spool)
    bccrm = [sys.executable, "-m", "gateway", "--config", str(config)]
    for args in (["db", "upgrade"], ["users", "add", SENDER, "--name", "Anna Nowak"]):
        subprocess.run([*bccrm, *args], check=True, capture_output=True)
    if saturated:
        fill_backlog(spool, BACKLOG)
    with (root / "worker.log").open("wb") as log:
        process = subprocess.Popen([*bccrm, "worker"], stdout=log, stderr=log)
    try:
        # Measure from a worker that runs, not one still importing.
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while b"worker started" not in (root / "worker.log").read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the worker did not start; see worker.log")
            time.sleep(0.05)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def server_process(kind: str, root: str, tls: TlsFiles | None, ports: Queue[int]) -> None:
    """Entry point of a server process: serve until SIGTERM, reporting the port on ``ports``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    asyncio.run(serve_until_terminated(kind, Path(root), tls, ports.put))


@dataclass
class Server:
    kind: str
    port: int
    process: BaseProcess
    worker_pid: int | None = None
    root: Path | None = None

    def _proc(self, name: str, pid: int | None = None) -> str:
        return Path(f"/proc/{pid or self.process.pid}/{name}").read_text(encoding="ascii")

    def peak_rss_mib(self, pid: int | None = None) -> float:
        """``VmHWM`` of the server process, or of process ``pid`` (it must still be running)."""
        for line in self._proc("status", pid).splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
        raise RuntimeError(f"no VmHWM in /proc/{pid or self.process.pid}/status")

    def worker_peak_rss_mib(self) -> float:
        return self.peak_rss_mib(self.worker_pid) if self.worker_pid else 0.0

    def worker_cpu_seconds(self) -> float:
        if not self.worker_pid:
            return 0.0
        fields = self._proc("stat", self.worker_pid).rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def backlog(self) -> int:
        """Entries still waiting in the edge's spool (the saturated worker's queue)."""
        return sum(1 for _ in (self.root / "spool" / "new").iterdir()) if self.root else 0

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the server process, all threads (it must be running)."""
        fields = self._proc("stat").rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@contextlib.contextmanager
def running_server(kind: str, tls: TlsFiles | None, tmp_parent: str | None) -> Iterator[Server]:
    """Start a server process with a fresh spool; stop it and delete the spool on exit."""
    context = multiprocessing.get_context("spawn")
    root = Path(tempfile.mkdtemp(prefix="bccrm-bench-", dir=tmp_parent))
    ports: Queue[int] = context.Queue()
    process = context.Process(
        target=server_process,
        args=(kind, str(root), tls, ports),
        name=f"bench {kind}",
        daemon=True,
    )
    try:
        process.start()
        port = wait_for_port(kind, process, ports)
        worker_pid = wait_for_port(kind, process, ports) if kind in WORKER_KINDS else None
        yield Server(kind, port, process, worker_pid, root)
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
        self.closing = False  # the server said 421: it closes the connection

    @classmethod
    async def connect(cls, port: int, index: int, tls: ssl.SSLContext | None) -> SmtpClient:
        """Connect and say EHLO; with ``tls``, also STARTTLS and EHLO again over TLS."""
        reader, writer = await asyncio.open_connection(HOST, port)
        client = cls(reader, writer)
        await client.expect(220, "greeting")
        await client.ehlo(index)
        if tls is not None:
            writer.write(b"STARTTLS\r\n")
            await client.expect(220, "STARTTLS")
            await writer.start_tls(tls, server_hostname=HOST)
            await client.ehlo(index)
        return client

    async def ehlo(self, index: int) -> None:
        self.writer.write(f"EHLO client{index}.example.com\r\n".encode("ascii"))
        await self.expect(250, "EHLO")

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
                if code == 421:
                    self.closing = True
                else:
                    self.writer.write(b"RSET\r\n")
                    await self.reply()
                return text
        self.writer.write(message)
        self.writer.write(b".\r\n")  # the message ends with CRLF
        await self.writer.drain()
        code, text = await self.reply()
        self.closing = code == 421
        return None if code == 250 else text

    async def close(self, say_quit: bool) -> None:
        """Close the connection, with a QUIT first unless an exchange was cut short."""
        if say_quit and not self.closing:
            with contextlib.suppress(OSError, ConnectionError, TimeoutError):
                self.writer.write(b"QUIT\r\n")
                await asyncio.wait_for(self.reply(), 5)
        self.writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()


class Sender:
    """One client: a connection at a time, replaced every MESSAGES_PER_CONNECTION messages."""

    def __init__(self, port: int, index: int, tls: ssl.SSLContext | None) -> None:
        self.port = port
        self.index = index
        self.tls = tls
        self.client: SmtpClient | None = None
        self.sent = 0  # on the current connection

    async def connect(self) -> SmtpClient:
        if self.client is not None:
            await self.close(say_quit=True)
        self.client = await SmtpClient.connect(self.port, self.index, self.tls)
        self.sent = 0
        return self.client

    async def send(self, message: bytes) -> str | None:
        client = self.client
        if client is None or client.closing or self.sent >= MESSAGES_PER_CONNECTION:
            client = await self.connect()
        self.sent += 1
        return await client.send(message)

    async def close(self, say_quit: bool) -> None:
        client, self.client = self.client, None
        if client is not None:
            await client.close(say_quit)


@dataclass
class Failures:
    count: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, reply: str) -> None:
        self.count += 1
        if len(self.samples) < 3:
            self.samples.append(reply)


async def send_all(
    senders: list[Sender], total: int, factory: MessageFactory, failures: Failures
) -> None:
    """Send ``total`` messages spread evenly over ``senders``, all clients at once."""

    async def one_client(sender: Sender, count: int) -> None:
        for _ in range(count):
            reply = await sender.send(factory.make(sender.index))
            if reply is not None:
                failures.add(reply)

    share, extra = divmod(total, len(senders))
    await asyncio.gather(*(one_client(s, share + int(s.index < extra)) for s in senders))


@dataclass
class Measurement:
    mode: str
    kind: str
    messages: int
    seconds: float
    server_cpu: float
    client_cpu: float
    peak_rss_mib: float
    failures: Failures
    worker_rss_mib: float = 0.0
    worker_cpu: float = 0.0
    backlog_left: int = 0

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


@dataclass
class Timing:
    """The timed part of one load: wall time and CPU time of both sides."""

    seconds: float = 0.0
    server_cpu: float = 0.0
    client_cpu: float = 0.0
    worker_cpu: float = 0.0
    backlog_left: int = 0


async def load(
    server: Server, args: argparse.Namespace, tls: ssl.SSLContext | None, failures: Failures
) -> Timing:
    """Open the connections, warm up, then time ``args.messages`` messages."""
    factory = MessageFactory()
    senders = [Sender(server.port, i, tls) for i in range(args.clients)]
    timing = Timing()
    finished = False
    try:
        await asyncio.gather(*(s.connect() for s in senders))
        await send_all(senders, WARMUP_MESSAGES, factory, failures)
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        worker_cpu = server.worker_cpu_seconds()
        start = time.perf_counter()
        await send_all(senders, args.messages, factory, failures)
        timing.seconds = time.perf_counter() - start
        timing.server_cpu = server.cpu_seconds() - server_cpu
        timing.client_cpu = time.process_time() - client_cpu
        timing.worker_cpu = server.worker_cpu_seconds() - worker_cpu
        timing.backlog_left = server.backlog() if server.kind == SATURATED else 0
        finished = True
        return timing
    finally:
        # After an interruption a connection may be inside DATA: a QUIT would be message text.
        await asyncio.gather(*(s.close(say_quit=finished) for s in senders))


def measure(
    mode: str, kind: str, args: argparse.Namespace, tls: tuple[TlsFiles, ssl.SSLContext] | None
) -> Measurement:
    failures = Failures()
    server_files, client_context = tls if tls is not None else (None, None)
    with running_server(kind, server_files, args.tmpdir) as server:
        timing = asyncio.run(
            asyncio.wait_for(load(server, args, client_context, failures), LOAD_TIMEOUT)
        )
        peak = server.peak_rss_mib()
        worker_peak = server.worker_peak_rss_mib()
    return Measurement(
        mode,
        kind,
        args.messages,
        timing.seconds,
        timing.server_cpu,
        timing.client_cpu,
        peak,
        failures,
        worker_peak,
        timing.worker_cpu,
        timing.backlog_left,
    )


# -- report -------------------------------------------------------------------------------


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def mode_list(text: str) -> tuple[str, ...]:
    modes = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(MODES)}")
    return modes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Accept rate of bccrm's SMTP edge against a bare durable aiosmtpd server."
    )
    parser.add_argument(
        "--messages", type=positive_int, default=2000, help="timed messages per server and round"
    )
    parser.add_argument(
        "--clients", type=positive_int, default=10, help="concurrent SMTP connections"
    )
    parser.add_argument("--rounds", type=positive_int, default=3, help="rounds per server")
    parser.add_argument(
        "--modes",
        type=mode_list,
        default=MODES,
        help=f"comma-separated client modes to measure (default: {','.join(MODES)})",
    )
    parser.add_argument(
        "--no-worker",
        action="store_true",
        help="leave out the plain-SMTP runs with an idle and a saturated worker beside the edge",
    )
    parser.add_argument(
        "--tmpdir", default=None, help="where to create the spools (default: system temp dir)"
    )
    args = parser.parse_args(argv)
    per_ip = production_defaults()[0]["max_sessions_per_ip"]
    if args.clients > per_ip:
        parser.error(f"--clients: bccrm accepts at most {per_ip} sessions per IP by default")
    return args


def run(args: argparse.Namespace) -> None:
    print(
        f"{args.clients} clients, {args.messages} messages of ~{BODY_BYTES // 1024} KiB per "
        f"server, mode and round (+{WARMUP_MESSAGES} warm-up), at most "
        f"{MESSAGES_PER_CONNECTION} per connection, {args.rounds} round(s), "
        f"modes {','.join(args.modes)}, spools under {args.tmpdir or tempfile.gettempdir()}, "
        f"{os.cpu_count()} CPU(s)"
    )
    with contextlib.ExitStack() as cleanup:
        tls = None
        if STARTTLS in args.modes:
            certs = Path(tempfile.mkdtemp(prefix="bccrm-bench-tls-", dir=args.tmpdir))
            cleanup.callback(shutil.rmtree, certs, ignore_errors=True)
            tls = make_certificates(certs)
        results = measure_rounds(args, tls)
    report(args, results)


def kinds_of(mode: str, args: argparse.Namespace) -> tuple[str, ...]:
    """The servers measured in ``mode``: the worker variants over plain SMTP only."""
    return KINDS + (WORKER_KINDS if mode == PLAIN and not args.no_worker else ())


def measure_rounds(
    args: argparse.Namespace, tls: tuple[TlsFiles, ssl.SSLContext] | None
) -> dict[tuple[str, str], list[Measurement]]:
    results: dict[tuple[str, str], list[Measurement]] = {
        (mode, kind): [] for mode in args.modes for kind in kinds_of(mode, args)
    }
    for number in range(1, args.rounds + 1):
        for mode in args.modes:
            kinds = kinds_of(mode, args)
            for kind in kinds if number % 2 else kinds[::-1]:
                m = measure(mode, kind, args, tls if mode == STARTTLS else None)
                results[mode, kind].append(m)
                bad = f", {m.failures.count} non-250" if m.failures.count else ""
                if kind in WORKER_KINDS:
                    bad += (
                        f"; worker: CPU {m.worker_cpu / m.seconds:.0%} of a core, "
                        f"peak RSS {m.worker_rss_mib:.1f} MiB"
                        + (f", backlog left {m.backlog_left}" if kind == SATURATED else "")
                    )
                print(
                    f"round {number}/{args.rounds}  {mode:<8} {kind:<10} {m.rate:6.0f} msg/s  "
                    f"({m.messages} in {m.seconds:.2f} s; CPU per message: server "
                    f"{1000 * m.server_cpu / m.messages:.2f} ms, client "
                    f"{1000 * m.client_cpu / m.messages:.2f} ms; "
                    f"peak RSS {m.peak_rss_mib:.1f} MiB{bad})",
                    flush=True,
                )
    return results


def report(args: argparse.Namespace, results: dict[tuple[str, str], list[Measurement]]) -> None:
    width = max(len(mode) for mode in args.modes) + 1
    for mode in args.modes:
        rate = {kind: statistics.median(m.rate for m in results[mode, kind]) for kind in KINDS}
        target = f" (target >= {TARGET_RATIO:.2f})" if mode == PLAIN else ""
        print(
            f"{mode + ':':<{width}} bccrm edge {rate[BCCRM]:.0f} msg/s, "
            f"baseline {rate[BASELINE]:.0f} msg/s, ratio {rate[BCCRM] / rate[BASELINE]:.2f}{target}"
        )
    if not args.no_worker and PLAIN in args.modes:
        report_workers(results)
    for mode in args.modes:
        rss = {kind: max(m.peak_rss_mib for m in results[mode, kind]) for kind in KINDS}
        print(
            f"peak RSS, {mode + ':':<{width}} bccrm edge {rss[BCCRM]:.1f} MiB, "
            f"baseline {rss[BASELINE]:.1f} MiB"
        )
    for mode in args.modes:
        kinds = kinds_of(mode, args)
        counts = {kind: sum(m.failures.count for m in results[mode, kind]) for kind in kinds}
        print(
            f"non-250 replies, {mode + ':':<{width}} "
            + ", ".join(f"{kind} {counts[kind]}" for kind in kinds)
        )
        for kind in kinds:
            samples = [s for m in results[mode, kind] for s in m.failures.samples][:3]
            if samples:
                print(f"  {mode} {kind} (a bug), e.g. {samples}")


def report_workers(results: dict[tuple[str, str], list[Measurement]]) -> None:
    """The edge next to a real worker: idle, and saturated by a backlog (plain SMTP)."""
    rate = {
        kind: statistics.median(m.rate for m in results[PLAIN, kind])
        for kind in (BASELINE, *WORKER_KINDS)
    }
    base, idle, busy = rate[BASELINE], rate[IDLE], rate[SATURATED]
    print(
        f"plain, worker idle:      bccrm edge {idle:.0f} msg/s, ratio to baseline "
        f"{idle / base:.2f} (target >= {WORKER_TARGET:.2f})"
    )
    print(
        f"plain, worker saturated: bccrm edge {busy:.0f} msg/s, ratio to baseline "
        f"{busy / base:.2f}, to the idle-worker run {busy / idle:.2f} "
        f"(target >= {WORKER_TARGET:.2f}: at most 10% lower)"
    )
    for kind in WORKER_KINDS:
        runs = results[PLAIN, kind]
        edge = max(m.peak_rss_mib for m in runs)
        worker = max(m.worker_rss_mib for m in runs)
        cpu = statistics.median(m.worker_cpu / m.seconds for m in runs)
        left = min(m.backlog_left for m in runs)
        busy_note = f", backlog never emptied (min {left} left)" if kind == SATURATED else ""
        print(
            f"peak RSS, {kind}: edge {edge:.1f} MiB, worker {worker:.1f} MiB; worker CPU "
            f"{cpu:.0%} of a core{busy_note if left else ''}"
        )


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
