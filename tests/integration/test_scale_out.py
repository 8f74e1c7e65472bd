"""Scale-out: two complete ``bccrm serve`` nodes (own config, spool, port, worker) sharing one
PostgreSQL database. Mail split between them and the same mail delivered to both at once ends
as exactly one email each, one contact per person and one company per domain, with nothing
quarantined and no errors: correctness across nodes comes from database constraints."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from gateway.config import Config, load_config
from gateway.crm import Company, CompanyDomain, Contact, ContactEmail, Email
from gateway.crm.mail import AuditEntry
from tests.conftest import write_config
from tests.support import LOG, LogReader, bccrm, make_message, serve_process

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DISTINCT = 1_000  # messages split between the nodes
BOTH = 100  # messages delivered to both nodes at once
PER_CONNECTION = 40  # under the edge's default of 100 MAIL commands a session
CLIENTS_PER_NODE = 4
DRAIN_TIMEOUT = 75.0

FIRST = [
    *("Agnieszka", "Bartosz", "Cecylia", "Dariusz", "Elżbieta", "Feliks", "Grażyna", "Henryk"),
    *("Irena", "Jerzy", "Kazimiera", "Leszek", "Marianna", "Norbert", "Olga", "Przemysław"),
    *("Renata", "Sławomir", "Teresa", "Urszula", "Wiesław", "Zofia", "Adrian", "Beata", "Cezary"),
]
LAST = ["Wróblewska", "Zalewski", "Jabłońska", "Majewski", "Pawlak", "Szczepański", "Olszewska"]
LAST += ["Dudek"]
COMPANIES = 20


def people() -> list[tuple[str, str]]:
    """~50 external people at 20 companies, names far apart so none is mistaken for another."""
    result = []
    for i in range(50):
        first, last = FIRST[i % len(FIRST)], LAST[(i * 3) % len(LAST)]
        if i >= len(FIRST):
            first, last = f"{first}a", f"{last}-{chr(ord('A') + i % 26)}"
        name = f"{first} {last}"
        result.append((name, f"p{i}@firma{i % COMPANIES}.pl"))
    return result


PEOPLE = people()


def message(n: int, tag: str) -> bytes:
    """Anna to one person, cc another at another company, so new contacts and companies
    come from both nodes at once."""
    to_name, to_addr = PEOPLE[(n * 7) % len(PEOPLE)]
    cc_name, cc_addr = PEOPLE[(n * 11 + 5) % len(PEOPLE)]
    return make_message(
        to=f"{to_name} <{to_addr}>",
        cc=f"{cc_name} <{cc_addr}>" if cc_addr != to_addr else None,
        subject=f"Oferta {tag} {n}",
        body=f"Dzień dobry,\n\nw załączeniu oferta nr {tag}-{n}.\n\nAnna\n",
        message_id=f"<{tag}.{n}@example.com>",
    )


def node_config(root: Path, database_url: str) -> Config:
    root.mkdir()
    sections = {
        "gateway": {"host": "127.0.0.1", "port": 0, "hostname": f"{root.name}.bccrm.test"},
        "spool": {"path": "spool"},
        "worker": {"retry_delay": 0, "poll_interval": 0.05},
        "database": {"url": database_url},
        "organization": {"domains": ["example.com"], "default_region": "PL"},
        "logging": {"addresses": [LOG]},
    }
    return load_config(write_config(root / "bccrm.toml", sections))


class Node:
    """One ``bccrm serve`` process with its stderr collected."""

    def __init__(self, config: Config, process: subprocess.Popen[str], logs: LogReader) -> None:
        self.config, self.process, self.logs = config, process, logs
        self.port = int(logs.wait_for(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        logs.wait_for(r"bccrm\.worker: worker started")
        self.spool = Path(config.spool.path)

    def backlog(self) -> int:
        return sum(1 for d in ("new", "cur") for _ in (self.spool / d).iterdir())


@contextmanager
def node(config: Config) -> Iterator[Node]:
    with serve_process(config) as (process, logs):
        yield Node(config, process, logs)


def send(port: int, messages: list[bytes], start: threading.Barrier | None = None) -> list[int]:
    """Deliver ``messages`` over as few connections as the session limit allows; the final
    reply code of each (DATA's, or the first refusal)."""
    codes: list[int] = []
    if start is not None:
        start.wait(30)
    for first in range(0, len(messages), PER_CONNECTION):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("client.example.com")
            for raw in messages[first : first + PER_CONNECTION]:
                codes.append(one(client, raw))
    return codes


def one(client: smtplib.SMTP, raw: bytes) -> int:
    for code, _ in (client.mail("anna@example.com"), client.rcpt(LOG)):
        if code != 250:
            client.rset()
            return code
    return client.data(raw)[0]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_nodes_share_one_database_without_duplicates(tmp_path: Path, database_url: str) -> None:
    """1,000 messages split between two nodes plus 100 delivered to both at once: 1,100
    emails, one contact per person and one company per domain, no errors on either node."""
    configs = [node_config(tmp_path / f"node{i}", database_url) for i in (1, 2)]
    for args in (("db", "upgrade"), ("users", "add", "anna@example.com", "--name", "Anna Nowak")):
        result = bccrm(configs[0], *args)
        assert result.returncode == 0, result.stderr
    distinct = [message(n, "split") for n in range(DISTINCT)]
    both = [message(n, "both") for n in range(BOTH)]
    with ExitStack() as stack:
        nodes = [stack.enter_context(node(c)) for c in configs]
        assert nodes[0].port != nodes[1].port
        lanes = CLIENTS_PER_NODE * len(nodes)
        together = threading.Barrier(len(nodes))
        with ThreadPoolExecutor(lanes + len(nodes)) as pool:
            split = [
                pool.submit(send, nodes[lane % len(nodes)].port, distinct[lane::lanes])
                for lane in range(lanes)
            ]
            # The same bytes to both nodes, in the same order, released together.
            twice = [pool.submit(send, n.port, both, together) for n in nodes]
            codes = [code for f in split + twice for code in f.result()]
        assert len(codes) == DISTINCT + 2 * BOTH
        assert set(codes) == {250}, f"non-250 replies: {sorted(set(codes) - {250})}"

        deadline = time.monotonic() + DRAIN_TIMEOUT
        while any(n.backlog() for n in nodes) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [n.backlog() for n in nodes] == [0, 0], "spools not drained in time"
        for n in nodes:
            n.process.send_signal(signal.SIGTERM)
            assert n.process.wait(60) == 0
    for n in nodes:
        assert list((n.spool / "quarantine").iterdir()) == []
        bad = [line for line in n.logs.lines if "ERROR" in line or "Traceback" in line]
        assert bad == [], "".join(bad)
        races = sum("lost a race" in line for line in n.logs.lines)
        warnings = [line for line in n.logs.lines if "WARNING" in line]
        print(f"{n.config.gateway.hostname}: {races} races retried, warnings: {warnings[:5]}")

    engine = create_engine(database_url)
    try:
        check_database(engine)
    finally:
        engine.dispose()


def check_database(engine: Engine) -> None:
    """Exactly one email per message, one contact per person, one company per domain."""
    with engine.connect() as db:
        count = lambda q: db.scalar(select(func.count()).select_from(q))  # noqa: E731
        assert count(Email) == DISTINCT + BOTH
        assert count(select(Email.message_id).distinct().subquery()) == DISTINCT + BOTH
        # One contact per person (none created twice, none left as a question) and one
        # company per domain.
        assert count(Contact) == len(PEOPLE)
        assert count(ContactEmail) == len(PEOPLE)
        names = select(Contact.first_name, Contact.last_name, Contact.company_id).distinct()
        assert count(names.subquery()) == len(PEOPLE)
        assert count(Company) == COMPANIES
        assert count(CompanyDomain) == COMPANIES
        actions = dict(
            db.execute(
                select(AuditEntry.action, func.count())
                .where(AuditEntry.action.in_(["email.logged", "email.duplicate"]))
                .group_by(AuditEntry.action)
            ).all()
        )
        assert actions == {"email.logged": DISTINCT + BOTH, "email.duplicate": BOTH}
        assert db.scalar(text("select count(*) from audit_log where action like 'message.%'")) == 0
