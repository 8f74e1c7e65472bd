"""How fast does bccrm find who an unknown address is, compared with a naive fuzzy scan?

What is measured
    For each size (10k, 100k and 1M generated contacts by default), the time to resolve ONE
    unknown participant, per probe, p50 and p99, two ways on the same probes in the same run:

    * **bccrm**: ``gateway.matching.resolve.Resolver(config, session).resolve(participant,
      signature, MessageFlags())``, end to end: the exact-address lookup, candidate retrieval by
      index (``contact_name_keys``, ``contact_phones.e164``, ``contact_emails.domain``), the
      candidates' records and the scoring. Each probe runs in its own session whose transaction
      is already open (as the pipeline's is when the match stage runs) and is rolled back
      afterwards: nothing is written. The engine is ``gateway.crm.db.make_engine``'s (WAL,
      ``synchronous=FULL``), the config ``parse_config`` with organization.domains
      ["example.com"] and the default matching settings.
    * **naive**: ``rapidfuzz.process.extractOne(name, names, scorer=fuzz.token_sort_ratio)``
      over every contact's "first last" name, held in a Python list as a naive implementation
      would hold them. At 1M one call takes over 100 ms, so the naive side runs only as many
      probes as fit in ``--naive-budget`` seconds (at least 20; the first ones of the same
      shuffled probe list, so all four kinds are represented); the table says how many.

    The ratios are naive p50 / bccrm p50 and naive p99 / bccrm p99 (bccrm's over all probes;
    its figures over the naive subset alone are printed too). Each side runs in a fresh
    process (multiprocessing, "spawn"), so the peak RSS of each is its own: bccrm's process
    holds the engine and the probes, the naive one the list of N names. (The peak is read from
    ``VmHWM``: ``resource.getrusage``'s ``ru_maxrss`` would also count the parent's peak,
    which Linux carries across fork and exec; it is the fallback where there is no /proc.)
    The size of the SQLite file (or, on PostgreSQL, of the schema's tables and indexes) is
    shown too. Before measuring, the SQLite file is read once so that it is in the OS page
    cache, as the database of a busy server is; 30 further probes warm up each side untimed.

    Targets, printed next to the 1M rows: bccrm p99 ≤ 5 ms and ≥ 50× faster than the naive
    scan (both ratios, p50 and p99). The benchmark reports and never asserts.

Data
    Contacts are generated from a fixed seed: ~300 Polish and English first names and ~2,000
    surnames made of stems and suffixes (-ski/-ska, -cki/-cka, -wicz, -czyk, -ak, -son, -er,
    ...), both drawn with realistic, skewed frequencies (70% Polish, 30% English); N/20
    companies with domains ``firma<i>.pl`` (sizes skewed too), 75% of the contacts at a
    company, the rest with a gmail.com address; each contact has one primary address
    ``first.last<n>@domain`` (unique), 60% a mobile phone (+48 6xx xxx xxx, unique) and the
    name keys of ``gateway.matching.names.blocking_keys``. The schema is made by the product's
    Alembic migrations (``gateway.crm.db.upgrade``); rows are inserted with SQLAlchemy Core in
    batches of 10,000, on SQLite with ``synchronous=OFF`` and an in-memory journal during the
    load only. SQLite databases are cached as ``bench/.cache/match-<N>.db`` (``--fresh``
    regenerates them); they are rebuilt by themselves when the generator or the schema
    revision changes. No ``ANALYZE`` is run on SQLite (the product does not run it); on
    PostgreSQL, the load is followed by ``ANALYZE``, as autovacuum would do soon after.

Probes
    ``--probes`` unknown addresses (default 300; 100 with ``--quick``), a quarter of each kind:

    a. an existing contact's name, with a new address at the contact's company domain;
    b. an existing name with a typo: two adjacent letters of the surname swapped after the
       4th letter; a new address at the contact's domain (company or gmail.com);
    c. a nickname for the first name ("Kasia Kowalska" for "Katarzyna Kowalska"), new address;
    d. an entirely new name, at an unknown company domain or gmail.com.

    Every third probe of each kind also comes with a signature when the contact has a phone
    (its phone and company name; for kind d a new phone and company), so that the phone index
    is exercised too. The outcome counts of each
    kind, and how often each side named the right contact, are printed as a sanity check. The
    plans of the queries one resolve() runs are printed at the end (``EXPLAIN QUERY PLAN`` on
    SQLite, ``EXPLAIN`` on PostgreSQL), and ``--profile`` adds a cProfile of bccrm's side with
    the time spent in each SQL statement.

How to run (from the repository root)::

    .venv/bin/python bench/match.py [--quick] [--sizes 10000,100000,1000000] [--probes N]
        [--naive-budget SECONDS] [--fresh] [--profile] [--database-url URL]

With ``--database-url postgresql+psycopg://...`` the same sizes are also measured on
PostgreSQL: each is generated into a schema ``bench_match`` of that database (dropped first if
it exists, and dropped at the end).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import cProfile
import datetime as dt
import io
import itertools
import json
import math
import multiprocessing
import os
import platform
import pstats
import random
import re
import resource
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert, select, text

SEED = 20261124
GENERATOR_VERSION = 2  # bump when the generated data changes: cached databases are rebuilt
BATCH = 10_000
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
DEFAULT_PROBES = 300
QUICK_PROBES = 100
WARMUP_PROBES = 30
DEFAULT_NAIVE_BUDGET = 30.0
QUICK_NAIVE_BUDGET = 10.0
NAIVE_MINIMUM = 20
SAMPLE = 4_000  # contacts read to choose the probes from
TARGET_SIZE = 1_000_000
TARGET_P99_MS = 5.0
TARGET_RATIO = 50.0
ORG_DOMAIN = "example.com"
FREE_MAIL = "gmail.com"
CACHE = Path(__file__).resolve().with_name(".cache")
PG_SCHEMA = "bench_match"
KINDS = {
    "a": "same name, new address at the company",
    "b": "surname typo",
    "c": "nickname",
    "d": "new person",
}
NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)

# -- names --------------------------------------------------------------------------------
# Roughly by frequency: the first of each list are drawn most often.

PL_FEMALE = (
    "Anna", "Katarzyna", "Maria", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Krystyna",
    "Magdalena", "Elżbieta", "Joanna", "Aleksandra", "Monika", "Zofia", "Teresa", "Danuta",
    "Natalia", "Julia", "Karolina", "Marta", "Beata", "Dorota", "Halina", "Jadwiga", "Jolanta",
    "Iwona", "Grażyna", "Paulina", "Justyna", "Bożena", "Urszula", "Renata", "Alicja", "Hanna",
    "Irena", "Agata", "Sylwia", "Patrycja", "Izabela", "Weronika", "Emilia", "Zuzanna", "Maja",
    "Oliwia", "Lena", "Wiktoria", "Gabriela", "Kinga", "Ilona", "Edyta", "Lucyna", "Mirosława",
    "Janina", "Kamila", "Klaudia", "Martyna", "Amelia", "Milena", "Dominika", "Ewelina",
    "Anita", "Aneta", "Bogumiła", "Celina", "Daria", "Dagmara", "Eliza", "Marzena", "Roksana",
    "Sandra", "Wanda", "Żaneta", "Łucja", "Róża", "Stanisława",
)  # fmt: skip
PL_MALE = (
    "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Jan", "Michał", "Marcin", "Jakub",
    "Adam", "Marek", "Łukasz", "Grzegorz", "Mateusz", "Wojciech", "Mariusz", "Dariusz",
    "Zbigniew", "Jerzy", "Maciej", "Rafał", "Robert", "Kamil", "Józef", "Janusz", "Jacek",
    "Ryszard", "Kazimierz", "Stanisław", "Sławomir", "Przemysław", "Tadeusz", "Bartłomiej",
    "Dawid", "Daniel", "Sebastian", "Arkadiusz", "Artur", "Damian", "Henryk", "Hubert",
    "Ireneusz", "Jarosław", "Leszek", "Mirosław", "Patryk", "Radosław", "Roman", "Szymon",
    "Waldemar", "Wiesław", "Witold", "Zdzisław", "Aleksander", "Antoni", "Franciszek",
    "Filip", "Igor", "Oskar", "Wiktor", "Kacper", "Bartosz", "Dominik", "Emil", "Eryk",
    "Konrad", "Norbert", "Olaf", "Cezary", "Bogdan", "Edward", "Lech", "Włodzimierz", "Zenon",
    "Borys",
)  # fmt: skip
EN_FEMALE = (
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Susan", "Jessica", "Sarah", "Karen",
    "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily", "Donna",
    "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie", "Rebecca",
    "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela", "Shirley", "Brenda", "Pamela",
    "Emma", "Nicole", "Helen", "Samantha", "Katherine", "Christine", "Debra", "Rachel",
    "Carolyn", "Janet", "Catherine", "Heather", "Diane", "Ruth", "Julie", "Olivia", "Joyce",
    "Virginia", "Victoria", "Kelly", "Lauren", "Christina", "Joan", "Evelyn", "Judith",
    "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria", "Ann", "Sara",
    "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice", "Judy", "Sophia",
    "Grace", "Denise",
)  # fmt: skip
EN_MALE = (
    "James", "Robert", "John", "Michael", "David", "William", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven",
    "Paul", "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald",
    "Edward", "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan",
    "Stephen", "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory",
    "Alexander", "Frank", "Patrick", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron",
    "Adam", "Nathan", "Henry", "Douglas", "Zachary", "Peter", "Kyle", "Ethan", "Walter", "Noah",
    "Jeremy", "Christian", "Keith", "Roger", "Terry", "Gerald", "Harold", "Sean", "Austin",
    "Carl", "Arthur", "Lawrence", "Dylan", "Jesse", "Jordan", "Bryan", "Billy",
)  # fmt: skip
PL_STEMS = (
    "Kowal", "Nowak", "Wiśniew", "Wójt", "Kamin", "Lewand", "Zielin", "Szyman", "Dąbrow",
    "Kozł", "Jank", "Mazur", "Kwiat", "Krawc", "Piotr", "Grab", "Pawł", "Michal", "Adam", "Dud",
    "Zając", "Wieczor", "Jabłoń", "Król", "Maj", "Olsz", "Jawor", "Wróbl", "Malin", "Witk",
    "Walc", "Stępn", "Górn", "Rutk", "Sikor", "Ostrow", "Baran", "Szewc", "Tomasz", "Pietrz",
    "Marcin", "Zalew", "Jakub", "Sadow", "Bąk", "Czarn", "Sob", "Kaczm", "Kubi", "Kołodziej",
    "Wilk", "Lis", "Kur", "Mróz", "Kaczor", "Gajew", "Bork", "Przybył", "Urban", "Głow",
    "Chmiel", "Nowic", "Kalin", "Wysok", "Sawic", "Kalisz", "Brzez", "Sok", "Błaszcz", "Kub",
    "Wasil", "Szczep", "Jasin", "Zawadz", "Żak", "Czerw", "Cieśl", "Sow", "Bielaw", "Leśn",
    "Mich", "Andrzej", "Bogdan", "Filip", "Gąsior", "Hajd", "Ignac", "Jarosz", "Kasprz",
    "Lask", "Łuk", "Marcz", "Nieć", "Orł", "Pach", "Rogal", "Szulc", "Tkacz", "Wawrzyn",
    "Zięb", "Żuraw", "Frąck", "Grzel", "Habr", "Idz", "Kraw", "Lech", "Matus", "Nawr", "Osin",
    "Parzych", "Radom", "Siud", "Trzeb", "Wodz",
)  # fmt: skip
PL_SUFFIXES = (
    "ski", "cki", "owski", "ewski", "iński", "ak", "czak", "czyk", "ik", "ek", "ewicz",
    "owicz", "uk", "ała",
)  # fmt: skip
EN_STEMS = (
    "Smith", "John", "Will", "Brown", "Jon", "Mill", "Dav", "Wil", "Ander", "Tay", "Thom",
    "Jack", "Whit", "Harr", "Mart", "Rob", "Clark", "Lew", "Lee", "Walk", "Hall", "All",
    "Young", "King", "Wright", "Scott", "Green", "Bak", "Nel", "Hill", "Camp", "Mitch", "Cart",
    "Phil", "Evan", "Turn", "Park", "Coll", "Edward", "Stew", "Morr", "Murph", "Cook", "Rog",
    "Morg", "Peter", "Coop", "Reed", "Bail", "Bell", "Kell", "Howard", "Ward", "Rich", "Wood",
    "Wat", "Brook", "Benn", "Gray", "Hugh", "Price", "Sand", "Long", "Fost", "Ross", "Powell",
    "Sull", "Russ", "Jenk", "Perr", "Butl", "Barn", "Fish", "Hend", "Cole", "Sim", "Jord",
    "Reyn", "Ham", "Graham", "Wall", "West", "Hay", "Ford", "Ellis", "Glov", "Fletch",
    "Black", "Stone", "Marsh", "Webb",
)  # fmt: skip
EN_SUFFIXES = ("son", "er", "s", "ton", "ley", "man", "ford", "field", "wood", "ington")
PL_SURNAMES = 1_400
EN_SURNAMES = 600
NEW_SYLLABLES = (
    "bra", "dro", "gle", "kru", "mas", "pel", "sto", "tra", "wen", "zor", "fil", "gor", "lu",
    "ne", "ri", "qua", "vex", "yb", "zu", "ox",
)  # fmt: skip
COMPANY_WORDS = (
    "Pol", "Tech", "Bud", "Trans", "Med", "Agro", "Euro", "Inter", "Nord", "Max", "Eko", "Info",
    "Stal", "Drew", "Elektro", "Multi", "North", "Blue", "Green", "Smart", "Prime", "Data",
    "Auto", "Metal", "Chem",
)  # fmt: skip
COMPANY_ENDINGS = (
    "mex", "bud", "pol", "tex", "sys", "net", "soft", "tech", "trans", "plast", "med", "wood",
    "line", "works", "lab", "point", "serwis", "hurt", "gaz", "ster",
)  # fmt: skip
LEGAL_FORMS = ("Sp. z o.o.", "S.A.", "sp.k.", "Ltd", "GmbH", "Inc.")


def female_form(surname: str) -> str:
    """Kowalski -> Kowalska, Nowicki -> Nowicka; other surnames do not change."""
    if surname.endswith("ki") and surname[-3] in "scz":
        return surname[:-1] + "a"
    return surname


@dataclass(frozen=True)
class NamePool:
    """What contacts are drawn from; the same for every size (fixed seed)."""

    first: dict[tuple[str, str], tuple[str, ...]]  # (locale, gender) -> first names
    first_weights: dict[tuple[str, str], list[float]]  # cumulative
    surnames: dict[str, tuple[str, ...]]  # locale -> male forms
    surname_weights: dict[str, list[float]]  # cumulative

    @classmethod
    def make(cls) -> NamePool:
        rng = random.Random(f"{SEED}-surnames")
        pl = [stem + suffix for stem in PL_STEMS for suffix in PL_SUFFIXES]
        en = [stem + suffix for stem in EN_STEMS for suffix in EN_SUFFIXES]
        surnames = {
            "pl": tuple(rng.sample(sorted(set(pl)), PL_SURNAMES)),
            "en": tuple(rng.sample(sorted(set(en)), EN_SURNAMES)),
        }
        first = {
            ("pl", "f"): PL_FEMALE,
            ("pl", "m"): PL_MALE,
            ("en", "f"): EN_FEMALE,
            ("en", "m"): EN_MALE,
        }
        # Skewed like real names: the most common surname about 0.5% of people, the most
        # common first name about 3.5%.
        return cls(
            first=first,
            first_weights={key: skewed(len(names), 10) for key, names in first.items()},
            surnames=surnames,
            surname_weights={key: skewed(len(names), 50) for key, names in surnames.items()},
        )

    def size(self) -> tuple[int, int]:
        firsts = {name for names in self.first.values() for name in names}
        lasts = {s for names in self.surnames.values() for s in names}
        return len(firsts), len(lasts | {female_form(s) for s in lasts})

    def all_surnames(self) -> set[str]:
        lasts = {s for names in self.surnames.values() for s in names}
        return lasts | {female_form(s) for s in lasts}


def skewed(count: int, offset: int) -> list[float]:
    """Cumulative weights 1 / (rank + offset), for ``random.choices(cum_weights=)``."""
    return list(itertools.accumulate(1 / (rank + offset) for rank in range(1, count + 1)))


def ascii_word(text_: str) -> str:
    from gateway.matching.names import fold

    return fold(text_).replace(" ", "")


# -- generation ----------------------------------------------------------------------------


def generate(engine: Engine, n: int, progress: Callable[[str], None]) -> None:
    """Create the schema with the product's migrations and load ``n`` contacts."""
    from gateway.crm.db import upgrade
    from gateway.crm.people import (
        Company,
        CompanyDomain,
        Contact,
        ContactEmail,
        ContactNameKey,
        ContactPhone,
    )
    from gateway.matching.names import blocking_keys

    upgrade(engine)
    pool = NamePool.make()
    rng = random.Random(f"{SEED}-{n}")
    companies = max(1, n // 20)
    domains = [f"firma{i}.pl" for i in range(1, companies + 1)]
    with engine.begin() as conn:
        for start in range(1, companies + 1, BATCH):
            ids = range(start, min(start + BATCH, companies + 1))
            conn.execute(
                insert(Company.__table__),
                [
                    {
                        "id": i,
                        "name": f"{rng.choice(COMPANY_WORDS)}{rng.choice(COMPANY_ENDINGS)} "
                        f"{rng.choice(LEGAL_FORMS)}",
                        "origin": "import",
                        "created_at": NOW,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(CompanyDomain.__table__),
                [{"id": i, "company_id": i, "domain": domains[i - 1]} for i in ids],
            )
    company_weights = skewed(companies, 20)  # a few big customers, many small ones
    keys_of: dict[tuple[str, str], tuple[str, ...]] = {}
    ascii_of: dict[str, str] = {}
    started = time.perf_counter()
    for start in range(1, n + 1, BATCH):
        contacts, emails, phones, keys = [], [], [], []
        for cid in range(start, min(start + BATCH, n + 1)):
            locale = "pl" if rng.random() < 0.7 else "en"
            gender = "f" if rng.random() < 0.5 else "m"
            first = rng.choices(
                pool.first[locale, gender], cum_weights=pool.first_weights[locale, gender]
            )[0]
            last = rng.choices(pool.surnames[locale], cum_weights=pool.surname_weights[locale])[0]
            if gender == "f":
                last = female_form(last)
            company_id = None
            domain = FREE_MAIL
            if rng.random() < 0.75:
                company_id = rng.choices(range(1, companies + 1), cum_weights=company_weights)[0]
                domain = domains[company_id - 1]
            contacts.append(
                {
                    "id": cid,
                    "first_name": first,
                    "last_name": last,
                    "title": "",
                    "company_id": company_id,
                    "owner_id": None,
                    "status": "active",
                    "origin": "import",
                    "merged_into_id": None,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
            for word in (first, last):
                if word not in ascii_of:
                    ascii_of[word] = ascii_word(word)
            emails.append(
                {
                    "id": cid,
                    "contact_id": cid,
                    "email": f"{ascii_of[first]}.{ascii_of[last]}{cid}@{domain}",
                    "domain": domain,
                    "is_primary": True,
                    "bounced_at": None,
                }
            )
            if rng.random() < 0.6:
                # +48 6xx xxx xxx, unique: an affine permutation of the 10^8 numbers
                number = 600_000_000 + (cid * 48_271 + 12_345) % 100_000_000
                phones.append({"contact_id": cid, "e164": f"+48{number}", "kind": "mobile"})
            if (first, last) not in keys_of:
                keys_of[first, last] = tuple(sorted(blocking_keys(first, last)))
            keys.extend(
                {"contact_id": cid, "key": key, "name": f"{first} {last}"}
                for key in keys_of[first, last]
            )
        with engine.begin() as conn:
            conn.execute(insert(Contact.__table__), contacts)
            conn.execute(insert(ContactEmail.__table__), emails)
            if phones:
                conn.execute(insert(ContactPhone.__table__), phones)
            conn.execute(insert(ContactNameKey.__table__), keys)
        done = min(start + BATCH - 1, n)
        if done % 100_000 == 0 and done < n:
            elapsed = time.perf_counter() - started
            progress(f"  {done:,} of {n:,} contacts ({elapsed:.0f} s)")


def bulk_sqlite_engine(path: Path) -> Engine:
    """A plain engine for the load only: no fsync, journal in memory."""
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=MEMORY")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB
        cursor.close()

    return engine


def head_revision() -> str | None:
    from gateway.crm.db import head_revision as head

    return head(create_engine("sqlite://"))


def sqlite_database(n: int, fresh: bool, progress: Callable[[str], None]) -> Path:
    """The cached database of ``n`` contacts, generated if missing, stale or ``fresh``."""
    meta = {"generator": GENERATOR_VERSION, "seed": SEED, "contacts": n}
    return cached_sqlite(
        CACHE / f"match-{n}.db",
        meta,
        f"{n:,} contacts",
        lambda engine: generate(engine, n, progress),
        fresh,
        progress,
    )


def cached_sqlite(
    path: Path,
    meta: dict[str, Any],
    label: str,
    fill: Callable[[Engine], None],
    fresh: bool,
    progress: Callable[[str], None],
) -> Path:
    """A benchmark database at ``path``, built by ``fill`` through the bulk engine unless a
    copy made with the same ``meta`` (and the current schema revision) is cached there."""
    meta = {**meta, "revision": head_revision() or ""}
    meta_path = path.with_suffix(".json")
    shown = path.relative_to(CACHE.parent.parent)
    if not fresh and path.exists() and meta_path.exists():
        with contextlib.suppress(ValueError):
            if json.loads(meta_path.read_text(encoding="utf-8")) == meta:
                progress(f"{label}: cached {shown}")
                return path
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in (path, meta_path, *path.parent.glob(f"{path.name}-*")):
        old.unlink(missing_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    progress(f"{label}: generating {shown}")
    started = time.perf_counter()
    engine = bulk_sqlite_engine(tmp)
    try:
        fill(engine)
    finally:
        engine.dispose()
    tmp.rename(path)
    meta_path.write_text(json.dumps(meta) + "\n", encoding="utf-8")
    size = path.stat().st_size / 2**20
    progress(f"  generated in {time.perf_counter() - started:.0f} s, {size:.0f} MiB")
    return path


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@contextlib.contextmanager
def postgres_database(url: str, n: int, progress: Callable[[str], None]) -> Iterator[str]:
    """A schema ``bench_match`` holding ``n`` generated contacts; dropped on exit."""
    admin = create_engine(url)
    schema_url = with_search_path(url, PG_SCHEMA)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
        progress(f"{n:,} contacts: generating into PostgreSQL schema {PG_SCHEMA}")
        started = time.perf_counter()
        engine = create_engine(schema_url)
        try:
            generate(engine, n, progress)
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
        finally:
            engine.dispose()
        progress(f"  generated in {time.perf_counter() - started:.0f} s")
        yield schema_url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        admin.dispose()


def postgres_size(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text(
                        "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                        "JOIN pg_namespace n ON n.oid = c.relnamespace "
                        "WHERE n.nspname = :schema AND c.relkind = 'r'"
                    ),
                    {"schema": PG_SCHEMA},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def warm_file(path: Path) -> None:
    """Read the database once, so that it is in the OS page cache."""
    with path.open("rb") as handle:
        while handle.read(1 << 24):
            pass


# -- probes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeCase:
    """One unknown participant, and the contact it should be (None for a new person)."""

    kind: str
    name: str
    email: str
    target: int | None
    signature: bool = False
    phones: tuple[str, ...] = ()
    company: str = ""


@dataclass(frozen=True)
class Sampled:
    id: int
    first: str
    last: str
    domain: str
    company: str
    phone: str | None


def sample_contacts(url: str, n: int, rng: random.Random) -> list[Sampled]:
    from gateway.crm.people import Company, Contact, ContactEmail, ContactPhone

    ids = sorted(rng.sample(range(1, n + 1), min(SAMPLE, n)))
    contacts, emails = Contact.__table__, ContactEmail.__table__
    companies, phones = Company.__table__, ContactPhone.__table__
    query = (
        select(
            contacts.c.id,
            contacts.c.first_name,
            contacts.c.last_name,
            emails.c.domain,
            companies.c.name,
            phones.c.e164,
        )
        .join(emails, emails.c.contact_id == contacts.c.id)
        .outerjoin(companies, companies.c.id == contacts.c.company_id)
        .outerjoin(phones, phones.c.contact_id == contacts.c.id)
        .where(contacts.c.id.in_(ids), emails.c.is_primary)
        .order_by(contacts.c.id)
    )
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    finally:
        engine.dispose()
    seen: dict[int, Sampled] = {}
    for row in rows:
        seen.setdefault(row[0], Sampled(row[0], row[1], row[2], row[3], row[4] or "", row[5]))
    return list(seen.values())


def typo(word: str, rng: random.Random) -> str | None:
    """``word`` with two adjacent, different letters swapped after the 4th letter."""
    spots = [i for i in range(4, len(word) - 1) if word[i].lower() != word[i + 1].lower()]
    if not spots:
        return None
    i = rng.choice(spots)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def new_address(local: str, domain: str, serial: int) -> str:
    """A new address: generated ones are ``first.last<n>@``, these never end in digits
    before the @ at company domains, and carry ``.x<serial>`` at gmail.com."""
    if domain == FREE_MAIL:
        return f"{local}.x{serial}@{domain}"
    return f"{local}@{domain}"


def kind_probe(
    kind: str, contact: Sampled, rng: random.Random, nicknames: dict[str, list[str]], serial: int
) -> ProbeCase | None:
    """A probe of kind a, b or c for ``contact`` (None if its name does not allow it)."""
    from gateway.matching.names import fold

    first, last = ascii_word(contact.first), ascii_word(contact.last)
    if kind == "a":
        email = new_address(f"{first[0]}.{last}", contact.domain, serial)
        return ProbeCase("a", f"{contact.first} {contact.last}", email, contact.id)
    if kind == "b":
        misspelt = typo(contact.last, rng)
        if misspelt is None:
            return None
        email = new_address(f"{first}.{last[0]}", contact.domain, serial)
        return ProbeCase("b", f"{contact.first} {misspelt}", email, contact.id)
    short = rng.choice(nicknames[fold(contact.first)])
    email = new_address(f"{short}.{last}", contact.domain, serial)
    return ProbeCase("c", f"{short.capitalize()} {contact.last}", email, contact.id)


def make_probes(url: str, n: int, count: int) -> list[ProbeCase]:
    """``count`` probes (a quarter of each kind, shuffled) plus the warm-up ones at the end."""
    from gateway.matching.names import NICKNAMES, fold

    rng = random.Random(f"{SEED}-{n}-probes")
    sampled = sample_contacts(url, n, rng)
    rng.shuffle(sampled)
    total = count + WARMUP_PROBES
    per_kind = {kind: total // 4 for kind in KINDS}
    per_kind["d"] += total - sum(per_kind.values())
    nicknames: dict[str, list[str]] = {}
    for short, formal in sorted(NICKNAMES.items()):
        nicknames.setdefault(formal, []).append(short)
    pool = NamePool.make()
    known = {fold(s) for s in pool.all_surnames()}
    serial = itertools.count(1)
    by_kind: dict[str, list[ProbeCase]] = {kind: [] for kind in KINDS}

    def add(kind: str, case: ProbeCase, contact: Sampled | None) -> None:
        cases = by_kind[kind]
        if len(cases) % 3 == 2:  # every third probe of a kind comes with a signature
            if contact is None:  # a new person: a phone never generated (+48 5..), new firm
                phone = f"+48{500_000_000 + rng.randrange(100_000_000)}"
                company = f"Nowa Firma {len(cases)} Sp. z o.o."
                case = replace(case, signature=True, phones=(phone,), company=company)
            elif contact.phone is not None:
                case = replace(case, signature=True, phones=(contact.phone,))
                case = replace(case, company=contact.company)
        cases.append(case)

    # Each kind takes its contacts from the shuffled sample on its own (a contact is used
    # once), so kinds b and c get company and gmail.com contacts in their natural mix.
    used: set[int] = set()

    def eligible(kind: str) -> Iterator[Sampled]:
        for contact in sampled:
            if contact.id in used:
                continue
            if kind == "a" and contact.domain == FREE_MAIL:
                continue
            if kind == "c" and fold(contact.first) not in nicknames:
                continue
            yield contact

    sources = {kind: eligible(kind) for kind in "abc"}
    while any(len(by_kind[kind]) < per_kind[kind] for kind in "abc"):
        progressed = False
        for kind in "abc":
            if len(by_kind[kind]) >= per_kind[kind]:
                continue
            for contact in sources[kind]:
                case = kind_probe(kind, contact, rng, nicknames, next(serial))
                if case is not None:
                    used.add(contact.id)
                    add(kind, case, contact)
                    progressed = True
                    break
        if not progressed:
            break
    while len(by_kind["d"]) < per_kind["d"]:
        locale, gender = rng.choice([("pl", "f"), ("pl", "m"), ("en", "f"), ("en", "m")])
        first = rng.choice(pool.first[locale, gender])
        stem = "".join(rng.choice(NEW_SYLLABLES) for _ in range(rng.randint(2, 3)))
        last = stem.capitalize() + rng.choice(PL_SUFFIXES if locale == "pl" else EN_SUFFIXES)
        if gender == "f":
            last = female_form(last)
        if fold(last) in known:
            continue
        domain = f"nowa{next(serial)}.pl" if rng.random() < 0.7 else FREE_MAIL
        email = new_address(f"{ascii_word(first)}.{ascii_word(last)}", domain, next(serial))
        add("d", ProbeCase("d", f"{first} {last}", email, None), None)
    missing = {kind: per_kind[kind] - len(cases) for kind, cases in by_kind.items()}
    if any(missing.values()):
        raise RuntimeError(f"not enough sampled contacts for the probes: {missing}")
    warmup = [by_kind[kind].pop() for kind in KINDS for _ in range(WARMUP_PROBES // 4)]
    warmup += [by_kind["d"].pop() for _ in range(WARMUP_PROBES - len(warmup))]
    probes = [case for cases in by_kind.values() for case in cases]
    rng.shuffle(probes)
    return probes + warmup


# -- measurement (each side in its own process) ----------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def peak_rss_mib() -> float:
    """This process's peak RSS. ``VmHWM`` where there is /proc: in a spawned child,
    ``getrusage``'s ``ru_maxrss`` also counts the parent's peak (Linux keeps it across
    fork and exec), which would hide the difference between the two sides."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def statement_label(statement: str) -> str:
    """ "contact_name_keys by key" for the first table and WHERE column of a statement."""
    table = re.search(r"\bFROM (\w+)", statement)
    where = re.search(r'\bWHERE "?(\w+)"?\."?(\w+)', statement)
    name = table.group(1) if table else "?"
    return f"{name} by {where.group(2)}" if where else name


def measure_bccrm(
    url: str, probes: list[ProbeCase], warmup: list[ProbeCase], explain: bool, profile: bool
) -> dict[str, Any]:
    """bccrm's side: resolve each probe in its own rolled-back session."""
    from gateway.config import parse_config
    from gateway.crm.db import make_engine, session_factory
    from gateway.matching.policy import MessageFlags
    from gateway.matching.resolve import Resolver
    from gateway.parsing import Participant
    from gateway.parsing.signatures import Signature

    config = parse_config(
        {"organization": {"domains": [ORG_DOMAIN]}, "database": {"url": url}}, base_dir=Path(".")
    )
    engine = make_engine(config.database)
    sessions = session_factory(engine)
    flags = MessageFlags()

    def inputs(case: ProbeCase) -> tuple[Participant, Signature | None]:
        signature = None
        if case.signature:
            signature = Signature(
                name=case.name,
                title="",
                company=case.company,
                phones=case.phones,
                emails=(),
                website="",
                address="",
            )
        return Participant(case.email, case.name, "from"), signature

    def once(case: ProbeCase) -> tuple[float, Any]:
        participant, signature = inputs(case)
        with sessions() as session:
            session.execute(text("SELECT 1"))  # the transaction is open, as in the pipeline
            resolver = Resolver(config, session)
            started = time.perf_counter()
            decision = resolver.resolve(participant, signature, flags)
            elapsed = time.perf_counter() - started
            session.rollback()
        return elapsed, decision

    for case in warmup:
        once(case)
    durations, decisions = [], []
    for case in probes:
        elapsed, decision = once(case)
        durations.append(elapsed)
        ids = [s.contact_id for s in decision.candidates]
        decisions.append((decision.outcome, decision.contact_id, ids))
    result: dict[str, Any] = {
        "durations": durations,
        "decisions": decisions,
        "peak_rss": peak_rss_mib(),
    }
    if explain:
        result["plans"] = explain_plans(engine, probes, once)
    if profile:
        result["profile"] = profile_pass(engine, probes, once)
    engine.dispose()
    return result


def captured_statements(engine: Engine, run: Callable[[], object]) -> list[tuple[str, Any, float]]:
    """(statement, parameters, seconds) of every statement ``run`` executes."""
    seen: list[tuple[str, Any, float]] = []
    starts: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        starts.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters, time.perf_counter() - starts.pop()))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return seen


def explain_plans(
    engine: Engine, probes: list[ProbeCase], once: Callable[[ProbeCase], object]
) -> list[tuple[str, str]]:
    """The plan of each query one resolve() runs, for a probe using all three indexes."""
    case = next(
        (p for p in probes if p.signature and p.target and not p.email.endswith(FREE_MAIL)),
        probes[0],
    )
    statements = captured_statements(engine, lambda: once(case))
    plans: list[tuple[str, str]] = []
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        for statement, parameters, _ in statements:
            if statement.strip().upper() in ("SELECT 1", "BEGIN IMMEDIATE"):
                continue
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            if sqlite:
                plan = "; ".join(str(row[-1]) for row in rows)
            else:
                plan = " | ".join(str(row[0]).strip() for row in rows)
                plan = re.sub(r"'\{([^}]{40})[^}]*\}'", r"'{\1…}'", plan)  # long id arrays
            plans.append((statement_label(statement), plan))
        conn.rollback()
    return plans


def profile_pass(
    engine: Engine, probes: list[ProbeCase], once: Callable[[ProbeCase], object]
) -> dict[str, Any]:
    """All probes again under cProfile, with the time spent in each kind of SQL statement."""
    profiler = cProfile.Profile()

    def run() -> None:
        profiler.enable()
        try:
            for case in probes:
                once(case)
        finally:
            profiler.disable()

    started = time.perf_counter()
    statements = captured_statements(engine, run)
    wall = time.perf_counter() - started
    per_label: dict[str, list[float]] = {}
    for statement, _, seconds in statements:
        if statement.strip().upper() in ("SELECT 1", "BEGIN IMMEDIATE"):
            continue
        per_label.setdefault(statement_label(statement), []).append(seconds)
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(20)
    focus = {}
    driver = 0.0  # the DB-API cursor's execute and fetch calls: where the database works
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if "gateway" in filename:
            focus[f"{Path(filename).name}:{function}"] = (row[1], row[3])  # ncalls, cumtime
        if ("sqlite3.Cursor" in function and ("execute" in function or "fetch" in function)) or (
            "psycopg" in filename
            and "cursor" in filename
            and function in ("execute", "fetchall", "fetchmany", "fetchone")
        ):
            driver += row[3]
    return {
        "wall": wall,
        "probes": len(probes),
        "driver": driver,
        "sql": {label: (len(v), sum(v)) for label, v in per_label.items()},
        "text": buffer.getvalue(),
        "focus": focus,
    }


def measure_naive(
    url: str, names: list[str], budget: float, minimum: int, warmup: str
) -> dict[str, Any]:
    """The naive side: every contact's name in a list, one extractOne per probe."""
    from rapidfuzz import fuzz, process

    started = time.perf_counter()
    engine = create_engine(url)
    everyone: list[str] = []
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=BATCH).execute(
            text("SELECT first_name, last_name FROM contacts ORDER BY id")
        )
        for first, last in result:
            everyone.append(" ".join(part for part in (first, last) if part))
    engine.dispose()
    load = time.perf_counter() - started
    process.extractOne(warmup, everyone, scorer=fuzz.token_sort_ratio)
    durations: list[float] = []
    found: list[int] = []
    started = time.perf_counter()
    for name in names:
        if len(durations) >= minimum and time.perf_counter() - started >= budget:
            break
        t0 = time.perf_counter()
        match = process.extractOne(name, everyone, scorer=fuzz.token_sort_ratio)
        durations.append(time.perf_counter() - t0)
        found.append(match[2] + 1)  # contact ids are 1..N in list order
    return {
        "durations": durations,
        "found": found,
        "load": load,
        "names": len(everyone),
        "peak_rss": peak_rss_mib(),
    }


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``function(*args)`` in a fresh process ("spawn"): its peak RSS is its own."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


# -- report ---------------------------------------------------------------------------------


@dataclass
class Row:
    size: int
    backend: str
    probes: list[ProbeCase]
    bccrm: dict[str, Any]
    naive: dict[str, Any]
    db_bytes: int
    notes: list[str] = field(default_factory=list)

    def ms(self, side: str, fraction: float, count: int | None = None) -> float:
        durations = getattr(self, side)["durations"]
        return 1000 * percentile(durations[:count] if count else durations, fraction)

    def ratio(self, fraction: float) -> float:
        return self.ms("naive", fraction) / self.ms("bccrm", fraction)

    def targets(self) -> str:
        if self.size != TARGET_SIZE:
            return ""
        p99 = self.ms("bccrm", 0.99)
        fast = min(self.ratio(0.5), self.ratio(0.99))
        return (
            f"p99 ≤ {TARGET_P99_MS:g} ms {'PASS' if p99 <= TARGET_P99_MS else 'MISS'}, "
            f"≥ {TARGET_RATIO:g}× faster than the naive scan "
            f"{'PASS' if fast >= TARGET_RATIO else 'MISS'}"
        )


def right_contact(case: ProbeCase, decision: tuple[str, int | None, list[int]]) -> bool:
    outcome, contact_id, candidates = decision
    if case.target is None:
        return outcome in ("created", "pending")
    return contact_id == case.target or case.target in candidates


def describe(row: Row) -> list[str]:
    """Per-kind outcomes and hits, and bccrm's timing over the naive subset."""
    lines = []
    naive_n = len(row.naive["durations"])
    for kind, label in KINDS.items():
        index = [i for i, case in enumerate(row.probes) if case.kind == kind]
        outcomes = Counter(row.bccrm["decisions"][i][0] for i in index)
        hits = sum(right_contact(row.probes[i], row.bccrm["decisions"][i]) for i in index)
        naive_index = [i for i in index if i < naive_n]
        if kind == "d":
            naive_hits = "n/a"
        else:
            naive_hits = (
                f"{sum(row.naive['found'][i] == row.probes[i].target for i in naive_index)}"
                f"/{len(naive_index)}"
            )
        shown = ", ".join(f"{o} {c}" for o, c in outcomes.most_common())
        right = "new person" if kind == "d" else "right contact"
        times = [1000 * row.bccrm["durations"][i] for i in index]
        lines.append(
            f"  ({kind}) {label}: bccrm p50 {percentile(times, 0.5):.2f} ms, p99 "
            f"{percentile(times, 0.99):.2f} ms; {shown}; {right} {hits}/{len(index)}"
            f" (naive top-1 is the contact: {naive_hits})"
        )
    lines.append(
        f"  bccrm over the {naive_n} naive probes only: p50 {row.ms('bccrm', 0.5, naive_n):.2f} "
        f"ms, p99 {row.ms('bccrm', 0.99, naive_n):.2f} ms; naive list loaded in "
        f"{row.naive['load']:.1f} s"
    )
    return lines


def times(ratio: float) -> str:
    return f"{ratio:.1f}×" if ratio < 10 else f"{ratio:.0f}×"


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'contacts':>9}  {'backend':<8} {'probes':>6}  {'bccrm p50':>9} {'p99':>8}  "
        f"{'naive n':>7} {'p50':>9} {'p99':>9}  {'ratio p50':>9} {'p99':>7}  "
        f"{'RSS bccrm':>9} {'RSS naive':>9} {'DB size':>8}  targets (1M)"
    )
    print()
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.size:>9,}  {row.backend:<8} {len(row.probes):>6}  "
            f"{row.ms('bccrm', 0.5):>6.2f} ms {row.ms('bccrm', 0.99):>5.2f} ms  "
            f"{len(row.naive['durations']):>7} {row.ms('naive', 0.5):>6.1f} ms "
            f"{row.ms('naive', 0.99):>6.1f} ms  "
            f"{times(row.ratio(0.5)):>9} {times(row.ratio(0.99)):>7}  "
            f"{row.bccrm['peak_rss']:>5.0f} MiB {row.naive['peak_rss']:>5.0f} MiB "
            f"{row.db_bytes / 2**20:>4.0f} MiB  {row.targets()}"
        )


def print_profile(row: Row) -> None:
    data = row.bccrm["profile"]
    probes = data["probes"]
    print(f"\nprofile, {row.size:,} contacts ({row.backend}), {probes} probes under cProfile:")
    print(f"  wall {1000 * data['wall'] / probes:.2f} ms per probe (profiler overhead included)")
    print(
        f"  database driver (cursor execute + fetch calls): "
        f"{1000 * data['driver'] / probes:.2f} ms per probe; per statement, cursor.execute "
        "only (SQLite steps most rows later, in fetchall):"
    )
    for label, (count, seconds) in sorted(data["sql"].items(), key=lambda kv: -kv[1][1]):
        print(
            f"    {label:<32} {count / probes:5.2f}/probe  {1000 * seconds / probes:6.3f} ms/probe"
        )
    wanted = (
        "resolve.py:resolve",
        "directory.py:candidate_ids",
        "directory.py:records",
        "score.py:rank",
        "score.py:score",
        "names.py:name_similarity",
        "score.py:same_company",
        "names.py:address_matches_name",
        "names.py:query_keys",
    )
    print("  cumulative time of bccrm's functions (per probe):")
    for key in wanted:
        if key in data["focus"]:
            calls, cumulative = data["focus"][key]
            print(
                f"    {key:<32} {calls / probes:7.1f} calls  {1000 * cumulative / probes:6.3f} ms"
            )
    print("  top functions by own time:")
    lines = data["text"].splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    for line in lines[start : start + 21]:
        if line.strip():
            print(f"    {line.rstrip()}")


# -- main -----------------------------------------------------------------------------------


def size_list(text_: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text_.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated numbers") from None
    if not sizes or min(sizes) < 1_000:
        raise argparse.ArgumentTypeError("sizes must be at least 1000")
    return sizes


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--sizes", type=size_list, default=None, help="comma-separated contact counts"
    )
    parser.add_argument(
        "--quick", action="store_true", help="10k and 100k contacts, 100 probes, 10 s naive"
    )
    parser.add_argument("--probes", type=int, default=None, help="probes per size")
    parser.add_argument(
        "--naive-budget", type=float, default=None, help="seconds of naive probes per size"
    )
    parser.add_argument("--fresh", action="store_true", help="regenerate cached databases")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile bccrm's side at the largest size"
    )
    parser.add_argument("--database-url", default=None, help="also measure on this PostgreSQL")
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = QUICK_SIZES if args.quick else DEFAULT_SIZES
    if args.probes is None:
        args.probes = QUICK_PROBES if args.quick else DEFAULT_PROBES
    if args.naive_budget is None:
        args.naive_budget = QUICK_NAIVE_BUDGET if args.quick else DEFAULT_NAIVE_BUDGET
    if args.probes < NAIVE_MINIMUM:
        parser.error(f"--probes: at least {NAIVE_MINIMUM}")
    return args


def measure(
    args: argparse.Namespace, n: int, backend: str, url: str, db_bytes: int, largest: bool
) -> Row:
    """Both sides on the same probes; the query plans and the profile at the largest size."""
    cases = make_probes(url, n, args.probes)
    probes, warmup = cases[: args.probes], cases[args.probes :]
    profile = args.profile and largest
    bccrm = in_child(measure_bccrm, url, probes, warmup, largest, profile)
    naive = in_child(
        measure_naive,
        url,
        [case.name for case in probes],
        args.naive_budget,
        NAIVE_MINIMUM,
        warmup[0].name,
    )
    row = Row(n, backend, probes, bccrm, naive, db_bytes)
    print(
        f"  {backend}: bccrm p50 {row.ms('bccrm', 0.5):.2f} ms p99 {row.ms('bccrm', 0.99):.2f} "
        f"ms; naive ({len(naive['durations'])} probes) p50 {row.ms('naive', 0.5):.1f} ms "
        f"p99 {row.ms('naive', 0.99):.1f} ms",
        flush=True,
    )
    for line in describe(row):
        print(line)
    return row


def run(args: argparse.Namespace) -> None:
    pool = NamePool.make()
    firsts, lasts = pool.size()
    print(
        f"sizes {','.join(f'{n:,}' for n in args.sizes)}; {args.probes} probes per size "
        f"(+{WARMUP_PROBES} warm-up), naive budget {args.naive_budget:g} s (at least "
        f"{NAIVE_MINIMUM}); {firsts} first names, {lasts} surname forms; Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPU(s)",
        flush=True,
    )

    def progress(message: str) -> None:
        print(message, flush=True)

    rows: list[Row] = []
    largest = max(args.sizes)
    for n in args.sizes:
        path = sqlite_database(n, args.fresh, progress)
        warm_file(path)
        url = f"sqlite:///{path}"
        rows.append(measure(args, n, "sqlite", url, path.stat().st_size, n == largest))
        if args.database_url:
            with postgres_database(args.database_url, n, progress) as pg_url:
                size = postgres_size(args.database_url)
                rows.append(measure(args, n, "postgres", pg_url, size, n == largest))
    print_table(rows)
    print(
        "(p99 is the nearest-rank 99th percentile; ratios are naive / bccrm; RSS is each "
        "side's own process peak; DB size: the SQLite file, or the PostgreSQL tables and "
        "indexes)"
    )
    for row in rows:
        if "plans" in row.bccrm:
            print(f"\nquery plans of one resolve(), {row.size:,} contacts ({row.backend}):")
            for label, plan in row.bccrm["plans"]:
                print(f"  {label:<32} {plan}")
    for row in rows:
        if "profile" in row.bccrm:
            print_profile(row)


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
