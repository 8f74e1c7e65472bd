"""How fast does the admin's email log list and search 100,000 emails, compared with naive
ways of listing them?

What is measured
    On one generated SQLite database (100,000 emails by default), each operation is run
    ``--repeat`` times (default 20, after 2 untimed runs) and its p50 and max are printed:

    * **bccrm**: ``gateway.services.emails.EmailLogService.page`` (the admin TUI's call), end
      to end: the keyset query on ``ix_emails_received_at_id`` (migration 0006), subjects
      cut to 300 characters in SQL, and the row's contacts, deals, tickets and open reviews
      in one query each. Operations: the first page; the 500th page (from the cursor page
      499 ended with); a search for a common word (most pages are full at once) and for a
      rare word (the whole table is read) and for an upper-case word with a diacritic
      (SQLite's LIKE folds ASCII only: four case forms are tried); filters by contact, by
      rep and by status
      ``review``; ``count()`` without a filter (exact) and with one (capped at 10,000).
    * **naive OFFSET**: ``SELECT <the list's columns, whole subject> FROM emails ORDER BY
      received_at DESC, id DESC LIMIT 100 OFFSET k``: the first page (k = 0) and the 500th
      (k = 49,900), and the same with the rare-word ``LIKE``; and the two pages once more
      ``FROM emails NOT INDEXED``, as they ran before migration 0006 added the index.
    * **naive load-all**: what a screen that loads every row does before it can show the
      first one: ``SELECT`` every email's list columns (subject whole) newest first into a
      Python list; its search is then a Python filter of that list (timed separately).

    Ratios are naive p50 / bccrm p50. Peak memory: the peak of Python allocations during one
    run of the operation (``tracemalloc``, in a separate untimed run, since tracing slows
    Python down), and the process's peak RSS at the end. The query plans of bccrm's queries
    are printed (``EXPLAIN QUERY PLAN``), so a missing index shows. The benchmark reports
    and never asserts.

Data
    From a fixed seed: 20 reps, 5,000 contacts (each at one of 500 companies), 500 deals,
    300 tickets; emails spread over a year, newest first, every fifth one sharing its
    timestamp with the one before (keyset ties), each with a subject of a few words, a body
    of ~600 characters and a reply of ~150, logged by one rep, on one contact's timeline
    (and its company's), a fifth on a deal, a twentieth on a ticket, 2% metadata-only; 300
    open review items. The schema is made by the product's migrations; rows are inserted
    with SQLAlchemy Core in batches of 10,000 with ``synchronous=OFF`` during the load only.
    The database is cached as ``bench/.cache/email_log-<N>.db`` (``--fresh`` regenerates it;
    it is rebuilt by itself when the generator or the schema revision changes). It is read
    once before measuring, so it is in the OS page cache.

How to run (from the repository root)::

    .venv/bin/python bench/email_log.py [--emails 100000] [--repeat 20] [--fresh]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import platform
import random
import resource
import sqlite3
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent))

import match as directory_bench  # bench/match.py: the cached-database builder

SEED = 20261125
GENERATOR_VERSION = 1  # bump when the generated data changes: cached databases are rebuilt
BATCH = 10_000
DEFAULT_EMAILS = 100_000
DEFAULT_REPEAT = 20
WARMUP = 2
REPS = 20
CONTACTS = 5_000
COMPANIES = 500
DEALS = 500
TICKETS = 300
REVIEWS = 300
PAGE = 100
FAR_PAGE = 500
CACHE = Path(__file__).resolve().with_name(".cache")
NOW = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
COMMON_WORD = "oferta"
RARE_WORD = "zgubionyparasol"  # in exactly one subject, near the oldest end
FIRST = ("Anna", "Jan", "Ewa", "Piotr", "Maria", "Tomasz", "Kasia", "Marek", "Zofia", "Adam")
LAST = ("Kowalska", "Nowak", "Wiśniewski", "Wójcik", "Kamińska", "Lewandowski", "Zielińska")
WORDS = (
    "oferta", "spotkanie", "faktura", "umowa", "wdrożenie", "pytanie", "termin", "projekt",
    "szkolenie", "zamówienie", "reklamacja", "dostawa", "cennik", "prezentacja", "raport",
)  # fmt: skip
LOREM = (
    "Dzień dobry, w nawiązaniu do naszej rozmowy przesyłam szczegóły. Proszę o informację, "
    "czy termin jest aktualny i czy potrzebne są dodatkowe dokumenty. "
)


# -- generation -----------------------------------------------------------------------------


def generate(engine: Engine, n: int, progress: Callable[[str], None]) -> None:
    """Create the schema with the product's migrations and load ``n`` emails."""
    from gateway.crm import (
        Company,
        Contact,
        ContactEmail,
        Deal,
        Email,
        EmailAssociation,
        EmailLogger,
        ReviewItem,
        Ticket,
        User,
        UserAddress,
    )
    from gateway.crm.db import upgrade

    upgrade(engine)
    rng = random.Random(f"{SEED}-{n}")
    people: list[tuple[str, str]] = [(rng.choice(FIRST), rng.choice(LAST)) for _ in range(CONTACTS)]
    with engine.begin() as conn:
        conn.execute(
            insert(User.__table__),
            [{"id": i, "name": f"Rep {i}", "created_at": NOW} for i in range(1, REPS + 1)],
        )
        conn.execute(
            insert(UserAddress.__table__),
            [
                {"id": i, "user_id": i, "email": f"rep{i}@example.com", "is_primary": True}
                for i in range(1, REPS + 1)
            ],
        )
        conn.execute(
            insert(Company.__table__),
            [
                {"id": i, "name": f"Firma {i}", "origin": "import", "created_at": NOW}
                for i in range(1, COMPANIES + 1)
            ],
        )
        conn.execute(insert(Contact.__table__), [contact_row(i, people) for i in range(CONTACTS)])
        conn.execute(
            insert(ContactEmail.__table__),
            [
                {
                    "id": i + 1,
                    "contact_id": i + 1,
                    "email": address_of(i + 1),
                    "domain": f"firma{i % COMPANIES + 1}.pl",
                    "is_primary": True,
                }
                for i in range(CONTACTS)
            ],
        )
        conn.execute(
            insert(Deal.__table__),
            [
                {"id": i, "name": f"Wdrożenie {i}", "stage": "oferta", "updated_at": NOW}
                for i in range(1, DEALS + 1)
            ],
        )
        conn.execute(
            insert(Ticket.__table__),
            [
                {"id": i, "subject": f"Zgłoszenie {i}", "created_at": NOW}
                for i in range(1, TICKETS + 1)
            ],
        )
    started = time.perf_counter()
    for start in range(1, n + 1, BATCH):
        ids = range(start, min(start + BATCH, n + 1))
        emails, links, loggers = [], [], []
        for email_id in ids:
            contact = rng.randrange(1, CONTACTS + 1)
            emails.append(email_row(email_id, n, contact, people, rng))
            company = (contact - 1) % COMPANIES + 1
            links.append(link(email_id, "contact", contact, "exact address"))
            links.append(link(email_id, "company", company, "contact's company"))
            if email_id % 5 == 0:
                links.append(link(email_id, "deal", rng.randrange(1, DEALS + 1), "deal token"))
            if email_id % 20 == 0:
                links.append(link(email_id, "ticket", rng.randrange(1, TICKETS + 1), "tag"))
            loggers.append({"email_id": email_id, "user_id": email_id % REPS + 1, "logged_at": NOW})
        with engine.begin() as conn:
            conn.execute(insert(Email.__table__), emails)
            conn.execute(insert(EmailAssociation.__table__), links)
            conn.execute(insert(EmailLogger.__table__), loggers)
        if (done := ids[-1]) % 50_000 == 0 and done < n:
            progress(f"  {done:,} of {n:,} emails ({time.perf_counter() - started:.0f} s)")
    with engine.begin() as conn:
        picked = rng.sample(range(1, n + 1), min(REVIEWS, n))
        conn.execute(
            insert(ReviewItem.__table__),
            [
                {
                    "kind": "new_contact",
                    "status": "open",
                    "key": f"bench:{email_id}",
                    "email_id": email_id,
                    "payload": {},
                    "created_at": NOW,
                }
                for email_id in picked
            ],
        )


def contact_row(index: int, people: list[tuple[str, str]]) -> dict[str, Any]:
    first, last = people[index]
    return {
        "id": index + 1,
        "first_name": first,
        "last_name": last,
        "company_id": index % COMPANIES + 1,
        "status": "active",
        "origin": "import",
        "created_at": NOW,
        "updated_at": NOW,
    }


def address_of(contact_id: int) -> str:
    return f"kontakt{contact_id}@firma{(contact_id - 1) % COMPANIES + 1}.pl"


def email_row(
    email_id: int, n: int, contact: int, people: list[tuple[str, str]], rng: random.Random
) -> dict[str, Any]:
    """Email ``email_id``: the higher the id the newer, every fifth sharing the previous
    one's timestamp."""
    step = email_id - email_id // 5  # ids 4 and 5 share a step: equal timestamps
    received = NOW - dt.timedelta(minutes=5 * (n - step))
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
    if email_id == max(1, n // 100):
        words += f" {RARE_WORD}"
    first, last = people[contact - 1]
    inbound = email_id % 3 != 0
    digest = hashlib.sha256(str(email_id).encode()).hexdigest()
    return {
        "id": email_id,
        "dedup_key": digest,
        "message_id": f"<{email_id}@bench.example>",
        "subject": f"Re: {words}".capitalize(),
        "direction": "inbound" if inbound else "outbound",
        "sent_at": received,
        "received_at": received,
        "from_email": address_of(contact) if inbound else f"rep{email_id % REPS + 1}@example.com",
        "from_name": f"{first} {last}" if inbound else f"Rep {email_id % REPS + 1}",
        "forwarded_by_email": None,
        "forwarded_by_name": "",
        "body_text": LOREM * 4,
        "reply_text": LOREM,
        "language": "pl",
        "in_reply_to": "",
        "references": [],
        "normalized_subject": words,
        "tokens": {},
        "flags": {},
        "body_sha256": digest,
        "size": 2_000,
        "privacy_level": "metadata" if email_id % 50 == 0 else "full",
        "privacy": {},
        "one_time_basis": "",
        "transactional": email_id % 20 == 0,
        "auth": {"transport": "network"},
        "defects": [],
        "created_at": received,
    }


def link(email_id: int, kind: str, target: int, reason: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "email_id": email_id,
        "kind": kind,
        "contact_id": None,
        "company_id": None,
        "deal_id": None,
        "ticket_id": None,
        "reason": reason,
        "confidence": 1.0,
        "created_at": NOW,
    }
    row[f"{kind}_id"] = target
    return row


def sqlite_database(n: int, fresh: bool, progress: Callable[[str], None]) -> Path:
    """The cached database of ``n`` emails, generated if missing, stale or ``fresh``."""
    meta = {"generator": GENERATOR_VERSION, "seed": SEED, "emails": n}
    return directory_bench.cached_sqlite(
        CACHE / f"email_log-{n}.db",
        meta,
        f"{n:,} emails",
        lambda engine: generate(engine, n, progress),
        fresh,
        progress,
    )


def warm_file(path: Path) -> None:
    """Read the database once, so that it is in the OS page cache."""
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


# -- measuring ------------------------------------------------------------------------------


def timed(operation: Callable[[], object], repeat: int) -> list[float]:
    for _ in range(WARMUP):
        operation()
    durations = []
    for _ in range(repeat):
        started = time.perf_counter()
        operation()
        durations.append(time.perf_counter() - started)
    return durations


def peak_memory(operation: Callable[[], object]) -> int:
    """Peak bytes of Python allocations during one run of ``operation``."""
    tracemalloc.start()
    try:
        operation()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@contextlib.contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (and parameters) run on ``engine`` inside the block."""
    statements: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def plans(engine: Engine, operation: Callable[[], object]) -> list[str]:
    """``EXPLAIN QUERY PLAN`` of each SELECT ``operation`` runs."""
    with captured(engine) as statements:
        operation()
    found = []
    with engine.connect() as conn:
        for statement, parameters in statements:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            found.append("; ".join(str(row[-1]) for row in rows))
        conn.rollback()
    return found


def run(args: argparse.Namespace) -> None:
    from gateway.config import parse_config
    from gateway.crm.db import make_engine, session_factory
    from gateway.services.emails import EmailFilter, EmailLogService

    print(
        f"{args.emails:,} emails, {args.repeat} timed runs per operation (+{WARMUP} warm-up); "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
        flush=True,
    )
    path = sqlite_database(args.emails, args.fresh, lambda m: print(m, flush=True))
    warm_file(path)
    url = f"sqlite:///{path}"
    config = parse_config({"database": {"url": url}}, base_dir=Path.cwd())
    engine = make_engine(config.database)
    service = EmailLogService(session_factory(engine), config, "bench")
    cursor = None
    for _ in range(FAR_PAGE - 1):
        cursor = service.page(after=cursor).next_cursor
    far = cursor
    bccrm: dict[str, Callable[[], object]] = {
        "page 1": service.page,
        f"page {FAR_PAGE}": lambda: service.page(after=far),
        f"search '{COMMON_WORD}'": lambda: service.page(EmailFilter(text=COMMON_WORD)),
        f"search '{RARE_WORD}'": lambda: service.page(EmailFilter(text=RARE_WORD)),
        "contact:1": lambda: service.page(EmailFilter(contact_id=1)),
        "rep:rep3@example.com": lambda: service.page(EmailFilter(rep="rep3@example.com")),
        "status:review": lambda: service.page(EmailFilter(status="review")),
        "search 'WDROŻENIE'": lambda: service.page(EmailFilter(text="WDROŻENIE")),
        "count()": service.count,
        f"count('{COMMON_WORD}')": lambda: service.count(EmailFilter(text=COMMON_WORD)),
    }
    naive = naive_operations(engine)
    far_offset = f"OFFSET {(FAR_PAGE - 1) * PAGE:,}"
    pairs = {
        "page 1": ("OFFSET 0", "OFFSET 0, no index", "load all"),
        f"page {FAR_PAGE}": (far_offset, f"{far_offset}, no index"),
        f"search '{RARE_WORD}'": ("LIKE, OFFSET 0", "filter loaded"),
    }
    results: dict[str, tuple[list[float], int]] = {}
    for label, operation in [*bccrm.items(), *naive.items()]:
        results[label] = (timed(operation, args.repeat), peak_memory(operation))
        print(f"  {label}: p50 {ms(results[label][0]):.2f} ms", flush=True)
    print_table(bccrm, pairs, results)
    print(f"\npeak RSS of this process: {peak_rss_mib():.0f} MiB (the load-all baseline's list)")
    print("\nquery plans (EXPLAIN QUERY PLAN) of bccrm's statements:")
    for label in ("page 1", f"page {FAR_PAGE}", "contact:1", "rep:rep3@example.com"):
        for number, plan in enumerate(plans(engine, bccrm[label]), start=1):
            print(f"  {label} #{number}: {plan}")
    engine.dispose()


def naive_operations(engine: Engine) -> dict[str, Callable[[], object]]:
    columns = "id, received_at, direction, from_name, from_email, subject, privacy_level"
    order = "ORDER BY received_at DESC, id DESC"
    loaded: list[Any] = []

    def query(sql: str, **params: Any) -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())

    def load_all() -> list[Any]:
        loaded[:] = query(f"SELECT {columns} FROM emails {order}")
        return loaded

    def filter_loaded() -> list[Any]:
        if not loaded:
            load_all()
        word = RARE_WORD.lower()
        return [row for row in loaded if word in row[5].lower() or word in row[3].lower()][:PAGE]

    offset_sql = f"SELECT {columns} FROM emails {order} LIMIT :limit OFFSET :offset"
    # As before migration 0006: no index on (received_at, id), every page sorts the table.
    unindexed_sql = offset_sql.replace("FROM emails", "FROM emails NOT INDEXED")
    like_sql = (
        f"SELECT {columns} FROM emails WHERE subject LIKE :word OR from_name LIKE :word "
        f"OR from_email LIKE :word {order} LIMIT :limit OFFSET 0"
    )
    far = (FAR_PAGE - 1) * PAGE
    return {
        "OFFSET 0": lambda: query(offset_sql, limit=PAGE, offset=0),
        f"OFFSET {far:,}": lambda: query(offset_sql, limit=PAGE, offset=far),
        "OFFSET 0, no index": lambda: query(unindexed_sql, limit=PAGE, offset=0),
        f"OFFSET {far:,}, no index": lambda: query(unindexed_sql, limit=PAGE, offset=far),
        "LIKE, OFFSET 0": lambda: query(like_sql, word=f"%{RARE_WORD}%", limit=PAGE),
        "load all": load_all,
        "filter loaded": filter_loaded,
    }


# -- report ---------------------------------------------------------------------------------


def ms(durations: list[float]) -> float:
    return 1000 * statistics.median(durations)


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 1024:.0f} KiB"


def print_table(
    bccrm: dict[str, Any],
    pairs: dict[str, tuple[str, ...]],
    results: dict[str, tuple[list[float], int]],
) -> None:
    header = (
        f"{'operation':<28} {'bccrm p50':>10} {'max':>9} {'peak mem':>10}   "
        f"{'naive':<24} {'p50':>10} {'peak mem':>10} {'ratio':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for label in bccrm:
        durations, memory = results[label]
        mine = (
            f"{label:<28} {ms(durations):>7.2f} ms {1000 * max(durations):>6.2f} ms "
            f"{mib(memory):>10}"
        )
        baselines = pairs.get(label, ())
        if not baselines:
            print(mine)
            continue
        for number, baseline in enumerate(baselines):
            other, other_memory = results[baseline]
            ratio = ms(other) / ms(durations)
            prefix = mine if number == 0 else " " * len(mine)
            print(
                f"{prefix}   {baseline:<24} {ms(other):>7.2f} ms {mib(other_memory):>10} "
                f"{ratio:>7.1f}×"
            )
    print(
        "(ratio: naive p50 / bccrm p50; 'filter loaded' is the search once everything is "
        "loaded, after 'load all'; peak mem: Python allocations during one run)"
    )


def peak_rss_mib() -> float:
    """This process's peak RSS (``VmHWM``; ``getrusage`` where there is no /proc)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--emails", type=int, default=DEFAULT_EMAILS, help="emails to generate")
    parser.add_argument("--repeat", type=int, default=DEFAULT_REPEAT, help="timed runs each")
    parser.add_argument("--fresh", action="store_true", help="regenerate the cached database")
    args = parser.parse_args(argv)
    if args.emails < FAR_PAGE * PAGE:
        parser.error(f"--emails: at least {FAR_PAGE * PAGE:,} (the {FAR_PAGE}th page)")
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
