"""Offline company enrichment (issue #8): company facts from a file the admin provides.

``[plugin.enrichment] file`` names a CSV (header ``domain,name,industry,size,country``, in any
order, every column but ``domain`` optional) or a JSON file (an object keyed by domain, or a
list of objects with a ``domain`` key), relative to the configuration file's directory. When
bccrm creates a contact, the entry for its email domain — or failing that, a parent domain
(``eu.acme.pl`` → ``acme.pl``) — is suggested for the contact's company; bccrm fills only
fields that are still empty and audits what it set.

The file is read and checked when the host starts (a bad row stops bccrm with its line), and
again when it changes if ``reload = true``. Nothing here touches the network: lookups are in a
dictionary held in ``context.state``. Without a ``[plugin.enrichment]`` table the plugin does
nothing.

The file's ``name`` is suggested too, but bccrm names every company it creates (after the
signature's company, else the domain), and only empty fields are filled: today it reaches only
companies whose name is empty.

Decisions: a domain listed twice with different facts is an error naming both lines (which
one the admin meant is a guess); listed twice with the same facts it is accepted. A changed
file that no longer parses is logged and ignored; the previous data stays in use.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gateway.addresses import normalize_domain
from gateway.config_reader import ConfigError
from gateway.hooks import ContactDraft, Evidence, PluginContext, hookimpl

MAX_BYTES = 50 * 1024 * 1024  # an offline company list, not a data warehouse
FACTS = ("name", "industry", "size", "country")
LIMITS = {"name": 300, "industry": 100, "size": 40}  # the companies table's column lengths


class FileError(ValueError):
    """The enrichment file is unusable; the message names the line (CSV) or entry (JSON)."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the file says about one company ("" when it does not say)."""

    name: str = ""
    industry: str = ""
    size: str = ""
    country: str = ""

    def suggestions(self) -> dict[str, str]:
        return {f"company.{key}": value for key in FACTS if (value := getattr(self, key))}


@dataclass
class Table:
    """The parsed file and what it was parsed from (``stamp``: mtime and size)."""

    path: Path
    reload: bool
    stamp: tuple[int, int]
    companies: dict[str, Facts] = field(default_factory=dict)


# -- hooks ----------------------------------------------------------------------------------------


@hookimpl
def bccrm_configure(context: PluginContext) -> None:
    """Read ``[plugin.enrichment]`` and the file it names; refuse to start if either is bad."""
    if context.name not in context.config.plugins.settings:
        return  # not configured: the plugin does nothing
    settings = context.settings
    given = settings.get("file", str, "")
    reload = settings.get("reload", bool, False)
    settings.finish()
    if not given.strip():
        raise ConfigError(f"{settings.name('file')}: required (a .csv or .json file)")
    path = Path(given).expanduser()
    if not path.is_absolute():
        path = context.config.plugins.base_dir / path
    try:
        context.state["table"] = load(path, reload)
    except FileError as exc:
        raise ConfigError(f"{settings.name('file')}: {given}: {exc}") from None


@hookimpl
def bccrm_enrich_contact(
    contact: ContactDraft, evidence: Evidence, context: PluginContext
) -> dict[str, str] | None:
    """The file's facts for the contact's domain or its nearest listed parent domain."""
    table: Table | None = context.state.get("table")
    if table is None or contact.company_id is None or not evidence.domain:
        return None
    if table.reload:
        table = refresh(table, context)
    org = context.config.organization
    try:
        domain = canonical(evidence.domain)
    except ValueError:
        return None
    if domain in org.free_mail_domains or domain in org.domains:
        return None
    for candidate in parents(domain):
        if (facts := table.companies.get(candidate)) is not None:
            return facts.suggestions() or None
    return None


# -- lookup ---------------------------------------------------------------------------------------


def canonical(domain: str) -> str:
    """IDNA ASCII, lower case, without a leading ``www.``; ``ValueError`` if not a domain."""
    ascii_form = normalize_domain(domain)
    if ascii_form.startswith("www.") and ascii_form.count(".") >= 2:
        return ascii_form[4:]
    return ascii_form


def parents(domain: str) -> Iterator[str]:
    """``eu.acme.pl``, then ``acme.pl`` (never a bare top-level domain)."""
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        yield ".".join(labels[start:])


def refresh(table: Table, context: PluginContext) -> Table:
    """Re-read the file if its mtime or size changed; on a bad file keep the old data."""
    try:
        stamp = _stamp(table.path)
    except OSError as exc:
        stamp = (-1, exc.errno or 0)
    if stamp == table.stamp:
        return table
    try:
        fresh = load(table.path, reload=True)
    except FileError as exc:
        # Not again until the file changes once more; the file is the admin's, not mail.
        table.stamp = stamp
        context.log.warning("enrichment file changed but is unusable, kept the old data: %s", exc)
        return table
    context.state["table"] = fresh
    context.log.info("enrichment file reloaded: %d domains", len(fresh.companies))
    return fresh


# -- reading the file -----------------------------------------------------------------------------


def load(path: Path, reload: bool) -> Table:
    """Parse ``path`` (.csv or .json by extension); raise :class:`FileError`."""
    kind = path.suffix.lower()
    if kind not in (".csv", ".json"):
        raise FileError("expected a .csv or .json file")
    try:
        stamp = _stamp(path)
        if stamp[1] > MAX_BYTES:
            raise FileError(f"{stamp[1] / 2**20:.1f} MB, over the limit of {MAX_BYTES // 2**20} MB")
        with path.open("rb") as stream:
            # CSV is streamed line by line: a big file costs the table, not copies of the text.
            rows = _csv_rows(_lines(stream)) if kind == ".csv" else _json_rows(_whole(stream))
            companies = _collect(rows)
    except OSError as exc:
        raise FileError(f"cannot read it: {exc.strerror or type(exc).__name__}") from None
    return Table(path, reload, stamp, companies)


def _stamp(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def _too_big() -> FileError:
    return FileError(f"larger than the limit of {MAX_BYTES // 2**20} MB")


def _lines(stream: IO[bytes]) -> Iterator[str]:
    """The lines as text, each decoded alone so that an encoding error names its line; never
    more than MAX_BYTES in all, even if the file grows while it is read."""
    total = number = 0
    while raw := stream.readline(MAX_BYTES + 1 - total):
        total, number = total + len(raw), number + 1
        if total > MAX_BYTES:
            raise _too_big()
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FileError(f"line {number}: not UTF-8 text") from None
        yield line.removeprefix("\ufeff") if number == 1 else line  # a spreadsheet's BOM


def _whole(stream: IO[bytes]) -> str:
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _too_big()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileError(f"line {line}: not UTF-8 text") from None


Row = tuple[str, Mapping[str, Any]]  # (where: "line 3" / "entry 'acme.pl'", the row's values)


def _csv_rows(lines: Iterator[str]) -> Iterator[Row]:
    reader = csv.reader(lines, strict=True)
    try:
        header = [column.strip().lower() for column in next(reader, [])]
        _check_header(header)
        start = reader.line_num + 1
        for values in reader:
            if any(value.strip() for value in values):
                if len(values) != len(header):
                    raise FileError(
                        f"line {start}: {len(values)} fields, the header has {len(header)}"
                    )
                yield f"line {start}", dict(zip(header, values, strict=True))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise FileError(f"line {reader.line_num}: not valid CSV ({exc})") from None


def _check_header(header: list[str]) -> None:
    known = ("domain", *FACTS)
    if not header:
        raise FileError(f"line 1: empty; expected the header {','.join(known)}")
    for column in header:
        if column not in known:
            raise FileError(f"line 1: unknown column {column!r}; expected {','.join(known)}")
    if len(set(header)) != len(header):
        raise FileError("line 1: a column is named twice")
    if "domain" not in header:
        raise FileError("line 1: no 'domain' column")


def _json_rows(text: str) -> Iterator[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileError(f"line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if isinstance(data, Mapping):
        for domain, values in data.items():
            where = f"entry {domain!r}"
            if not isinstance(values, Mapping):
                raise FileError(f"{where}: expected an object")
            if "domain" in values:
                raise FileError(f"{where}: 'domain' is the key, not a field")
            yield where, {**values, "domain": domain}
    elif isinstance(data, list):
        for number, values in enumerate(data, 1):
            if not isinstance(values, Mapping):
                raise FileError(f"item {number}: expected an object")
            yield f"item {number}", values
    else:
        raise FileError("expected an object keyed by domain or a list of objects")


def _collect(rows: Iterator[Row]) -> dict[str, Facts]:
    companies: dict[str, Facts] = {}
    seen: dict[str, str] = {}
    for where, values in rows:
        domain, facts = _row(where, values)
        if domain in companies and companies[domain] != facts:
            raise FileError(f"{where}: {domain} is also listed, differently, at {seen[domain]}")
        companies[domain] = facts
        seen.setdefault(domain, where)
    return companies


def _row(where: str, values: Mapping[str, Any]) -> tuple[str, Facts]:
    unknown = sorted(set(values) - {"domain", *FACTS})
    if unknown:
        raise FileError(f"{where}: unknown field {unknown[0]!r}")
    text = {key: _text(where, key, values.get(key)) for key in ("domain", *FACTS)}
    try:
        domain = canonical(text["domain"])
    except ValueError:
        raise FileError(f"{where}: domain {text['domain']!r} is not a valid domain") from None
    for key, limit in LIMITS.items():
        if len(text[key]) > limit:
            raise FileError(f"{where}: {key} is longer than {limit} characters")
    country = text["country"].upper()
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise FileError(f"{where}: country {text['country']!r} is not a 2-letter code (PL, DE)")
    # Industries, sizes and countries repeat across rows: share one string for each.
    facts = Facts(text["name"], *(sys.intern(v) for v in (text["industry"], text["size"], country)))
    return domain, facts


def _text(where: str, key: str, value: Any) -> str:
    """A cell as one line of text: whitespace runs (newlines too) become one space."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FileError(f"{where}: {key} must be text, got {type(value).__name__}")
    return " ".join(value.split())
