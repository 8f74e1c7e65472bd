"""Real bccrm processes on loopback for the reliability scenarios.

A :class:`Node` is one bccrm installation as an admin runs it with separate units: the SMTP
edge (``bccrm serve --no-worker``) and a worker (``bccrm worker``), each its own process with
its own environment, so a scenario can switch fault points on in one of them
(``BCCRM_FAULT_POINTS``, see :mod:`gateway.faults`), kill it with SIGKILL, and start it again.
Every process appends its stderr to a file under the node's root, so the invariant checker
reads everything bccrm printed across restarts.

Every reply any client of the node received goes into the node's :class:`Ledger`: the entry ids
of ``250 … queued as`` replies are what the node accepted; messages sent with :meth:`Node.send`
also keep their bytes and a secret body marker, so the checker can prove that nothing refused
reached the CRM and no body reached a log line.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from tests.conftest import write_config
from tests.rawsmtp import RawClient
from tests.support import make_message

LOG = "log@crm.example.com"
REP = "anna@example.com"
QUEUED = re.compile(r"^250 2\.0\.0 Ok: queued as (\S+)")
# Bounded repetitions: linear time on long runs of junk without an "@".
ADDRESS = re.compile(rb"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,10}")
PROCESS_START_TIMEOUT = 60.0


@dataclass
class Sent:
    """One message a scenario sent and what became of it at the SMTP level."""

    raw: bytes
    marker: str  # secret text inside the body: must never appear in a log line or reply
    message_id: str
    code: int = 0  # the reply to the end of DATA, or the reply that refused it; 0: dropped
    reply: str = ""
    entry_id: str | None = None
    addresses: frozenset[str] = frozenset()

    @property
    def accepted(self) -> bool:
        return self.entry_id is not None


@dataclass
class Ledger:
    """What the node told its clients: every reply line, the entry ids it accepted."""

    replies: list[str] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)
    sent: list[Sent] = field(default_factory=list)

    def reply(self, code: int, text: str) -> None:
        line = f"{code} {text}"
        self.replies.append(line)
        if match := QUEUED.match(line):
            self.accepted.add(match.group(1))

    def register(self, raw: bytes, marker: str = "", message_id: str = "") -> Sent:
        """Note a message about to be sent, so the checker can do I-3 and I-4 for it (its
        Message-ID never an email unless accepted, its marker never in a log line)."""
        sent = Sent(
            raw=raw,
            marker=marker,
            message_id=message_id,
            addresses=frozenset(a.decode().lower() for a in ADDRESS.findall(raw)),
        )
        self.sent.append(sent)
        return sent

    def refused(self) -> list[Sent]:
        return [sent for sent in self.sent if not sent.accepted]

    def markers(self) -> list[str]:
        return [sent.marker for sent in self.sent]


class LedgerClient(RawClient):
    """The byte-level client of ``tests/rawsmtp.py``, with every reply noted in the ledger."""

    def __init__(self, port: int, ledger: Ledger, timeout: float = 10) -> None:
        super().__init__(port, timeout)
        self.ledger = ledger

    def reply(self) -> tuple[int, str]:
        code, text_ = super().reply()
        self.ledger.reply(code, text_)
        return code, text_


def hostile_message(index: int = 0, **overrides: Any) -> tuple[bytes, str, str]:
    """A message from the rep to a new customer with a secret marker in its body.
    Returns (raw, marker, message_id)."""
    marker = f"BODYMARK{secrets.token_hex(8)}"
    message_id = f"<rel-{secrets.token_hex(8)}@example.com>"
    fields: dict[str, Any] = {
        "sender": f"Anna Nowak <{REP}>",
        "to": f"Klient {index} <klient{index}.{secrets.token_hex(3)}@customer-{index % 7}.pl>",
        "subject": f"Oferta {index}",
        "body": f"Dzień dobry,\n\nw załączeniu oferta. {marker}\n\nAnna\n",
        "message_id": message_id,
    }
    fields.update(overrides)
    if marker not in fields["body"]:
        fields["body"] += f"\n{marker}\n"
    return make_message(**fields), marker, message_id


class Node:
    """One bccrm node: config, database, spool, an edge and a worker process."""

    def __init__(
        self,
        root: Path,
        database_url: str,
        sections: Mapping[str, Mapping[str, Any] | list[Any]] | None = None,
        users: Iterable[tuple[str, str]] = ((REP, "Anna Nowak"),),
    ) -> None:
        self.root = root
        self.database_url = database_url
        self.spool_path = root / "spool"
        self.log_path = root / "bccrm.log"
        self.ledger = Ledger()
        config: dict[str, Any] = {
            "gateway": {"host": "127.0.0.1", "port": 0, "hostname": "bccrm.test"},
            "spool": {"path": str(self.spool_path)},
            "worker": {"retry_delay": 0.2, "poll_interval": 0.05, "max_attempts": 3},
            "database": {"url": database_url},
            "organization": {"domains": ["example.com"], "default_region": "PL"},
            "logging": {"addresses": [LOG]},
        }
        for section, values in (sections or {}).items():
            if isinstance(values, list):
                config[section] = values
            else:
                config.setdefault(section, {}).update(values)
        root.mkdir(parents=True, exist_ok=True)
        self.config_path = write_config(root / "bccrm.toml", config)
        self.edge: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._log_offset = 0
        self._engine: Engine | None = None
        self.cli("db", "upgrade")
        for email, name in users:
            self.cli("users", "add", email, "--name", name)

    # -- processes ----------------------------------------------------------------------

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gateway", "--config", str(self.config_path), *args]

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        """Run a ``bccrm`` command for this node; its output (stdout + stderr) is returned and
        also goes to the node's log, where the checker reads it."""
        result = subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, check=False
        )
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(result.stderr)
        if check and result.returncode != 0:
            raise AssertionError(f"bccrm {' '.join(args)} exited {result.returncode}:\n{result}")
        return result.stdout + result.stderr

    def _spawn(
        self, args: tuple[str, ...], faults: Iterable[str], fsize: int | None
    ) -> subprocess.Popen[bytes]:
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        env.pop("BCCRM_FAULT_POINTS", None)
        if faults:
            env["BCCRM_FAULT_POINTS"] = ",".join(faults)

        def limit() -> None:  # runs in the child: a file-size limit stands in for a full disk
            if fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                self.command(*args),
                stdout=log,
                stderr=log,
                env=env,
                preexec_fn=limit if fsize is not None else None,  # noqa: PLW1509 - no threads here
            )

    def start_edge(self, faults: Iterable[str] = (), fsize: int | None = None) -> int:
        """Start ``bccrm serve --no-worker``; return its port once it listens."""
        assert self.edge is None or self.edge.poll() is not None, "edge already running"
        offset = self._log_size()
        self.edge = self._spawn(("serve", "--no-worker"), faults, fsize)
        match = self.wait_log(r"listening on 127\.0\.0\.1:(\d+)", since=offset, process=self.edge)
        self.port = int(match.group(1))
        return self.port

    def start_worker(self, faults: Iterable[str] = ()) -> None:
        assert self.worker is None or self.worker.poll() is not None, "worker already running"
        offset = self._log_size()
        self.worker = self._spawn(("worker",), faults, None)
        self.wait_log(r"bccrm\.worker: worker started", since=offset, process=self.worker)

    def start(self) -> Node:
        self.start_edge()
        self.start_worker()
        return self

    @staticmethod
    def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> int | None:
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
            try:
                return process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
        return process.wait(10)

    def stop_edge(self, sig: int = signal.SIGTERM) -> int | None:
        code, self.edge = self._stop(self.edge, sig), None
        return code

    def stop_worker(self, sig: int = signal.SIGTERM) -> int | None:
        code, self.worker = self._stop(self.worker, sig), None
        return code

    def stop(self) -> None:
        self.stop_edge()
        self.stop_worker()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def wait_exit(self, process: subprocess.Popen[bytes] | None, timeout: float = 60) -> int:
        """Wait for a process a fault point should kill; its return code (-9 for SIGKILL)."""
        assert process is not None
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"process still running after {timeout}s") from None

    # -- logs ---------------------------------------------------------------------------

    def _log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def logs(self) -> str:
        return (
            self.log_path.read_text(encoding="utf-8", errors="replace")
            if (self.log_path.exists())
            else ""
        )

    def wait_log(
        self,
        pattern: str,
        *,
        since: int = 0,
        timeout: float = PROCESS_START_TIMEOUT,
        process: subprocess.Popen[bytes] | None = None,
    ) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log_path.open("rb") as log:
                log.seek(since)
                chunk = log.read().decode("utf-8", "replace")
            if match := re.search(pattern, chunk):
                return match
            if process is not None and process.poll() is not None:
                raise AssertionError(f"process exited {process.returncode}:\n{chunk}")
            time.sleep(0.05)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout}s:\n{self.logs()}")

    # -- mail ---------------------------------------------------------------------------

    def client(self, timeout: float = 10) -> LedgerClient:
        return LedgerClient(self.port, self.ledger, timeout)

    def send(
        self,
        raw: bytes | None = None,
        *,
        marker: str = "",
        message_id: str = "",
        sender: str = REP,
        rcpts: Iterable[str] = (LOG,),
        index: int = 0,
        source: str = "",
    ) -> Sent:
        """Send one message over SMTP (EHLO, MAIL, RCPT…, DATA) and note what happened.
        Without ``raw`` a fresh message with a secret marker is built. ``source`` is the
        client's address (another loopback address: a client outside the trusted network)."""
        if raw is None:
            raw, marker, message_id = hostile_message(index)
        sent = self.ledger.register(raw, marker, message_id)
        try:
            with smtplib.SMTP(
                "127.0.0.1", self.port, timeout=30, source_address=(source, 0) if source else None
            ) as smtp:
                self._note(smtp.ehlo("client.example.com"))
                code, reply = self._note(smtp.docmd("MAIL", f"FROM:<{sender}>"))
                if code != 250:
                    sent.code, sent.reply = code, reply
                    return sent
                accepted = 0
                for rcpt in rcpts:
                    code, reply = self._note(smtp.docmd("RCPT", f"TO:<{rcpt}>"))
                    if code == 250:
                        accepted += 1
                    else:
                        sent.code, sent.reply = code, reply
                if not accepted:
                    return sent
                code, reply = self._note(smtp.docmd("DATA"))
                if code != 354:
                    sent.code, sent.reply = code, reply
                    return sent
                smtp.send(_dot_stuff(raw) + b".\r\n")
                code, reply = self._note(smtp.getreply())
                sent.code, sent.reply = code, reply
                if match := QUEUED.match(f"{code} {reply}"):
                    sent.entry_id = match.group(1)
                with suppress(smtplib.SMTPException, OSError):
                    self._note(smtp.docmd("QUIT"))
        except (TimeoutError, smtplib.SMTPServerDisconnected, ConnectionError):
            pass  # code 0: no final answer (the edge was killed, or cut the session)
        return sent

    def _note(self, reply: tuple[int, bytes]) -> tuple[int, str]:
        code, message = reply
        text_ = message.decode("utf-8", "replace").replace("\n", " ")
        self.ledger.reply(code, text_)
        return code, text_

    # -- spool and database -------------------------------------------------------------

    def spool_entries(self, state: str) -> list[str]:
        """Entry ids in ``tmp``, ``new``, ``cur`` or ``quarantine`` (without the ``.aN``
        attempt suffix of a claimed or retried entry)."""
        directory = self.spool_path / state
        if not directory.exists():
            return []
        names = (name for name in os.listdir(directory) if not name.endswith(".json"))
        return sorted(name.partition(".")[0] for name in names)

    def drain(self, timeout: float = 120) -> None:
        """Wait until the worker has taken everything out of ``new/`` and ``cur/``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.spool_entries("new") and not self.spool_entries("cur"):
                return
            if self.worker is None or self.worker.poll() is not None:
                raise AssertionError(f"the worker is not running:\n{self.logs()[-4000:]}")
            time.sleep(0.05)
        raise AssertionError(
            f"spool not drained in {timeout}s: new={self.spool_entries('new')} "
            f"cur={self.spool_entries('cur')}\n{self.logs()[-4000:]}"
        )

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_engine(self.database_url, poolclass=NullPool)
        return self._engine

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))


def _dot_stuff(raw: bytes) -> bytes:
    data = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", data)


def wait_until(predicate: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
