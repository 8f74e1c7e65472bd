"""The enrichment plugin (issue #8): company facts from the admin's CSV/JSON file, applied by
the outbox to companies of contacts bccrm creates — on SQLite, and PostgreSQL in CI."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import plugins.enrichment as enrichment
from gateway.app import App, build_app
from gateway.crm import AuditEntry, Company, CompanyDomain, repo
from gateway.crm.db import upgrade
from gateway.hooks import ContactDraft, Evidence
from gateway.outbox import Dispatcher
from gateway.pipeline import Outcome
from gateway.plugin_host import Installed, PluginError, PluginHost
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, make_message

DATA = Path(__file__).parents[1] / "data"
CSV = DATA / "enrichment" / "companies.csv"
JSON = DATA / "enrichment" / "companies.json"
# A customer's reply forwarded by rep Hans Weber; Emily Clarke signs as "Brightwave Ltd".
FORWARD = DATA / "parsing" / "fwd-outlook-en-customer-reply.eml"
HEADER = "domain,name,industry,size,country\n"

StartHost = Callable[..., PluginHost]


def installed() -> list[Installed]:
    return [Installed("enrichment", enrichment, "", True)]


@pytest.fixture
def start(app: App, make_config: ConfigFactory) -> StartHost:
    """Build the plugin host with ``[plugin.enrichment]`` = ``settings`` (no table when
    none) and make ``app`` use it."""
    add_user(app, "anna@example.com", "Anna Nowak")

    def build(**settings: Any) -> PluginHost:
        tables = {"plugin.enrichment": settings} if settings else {}
        config = make_config(plugins={"retry_base": 0}, **tables)
        host = PluginHost(config, app.sessions, plugins=installed())
        app._plugins = host
        return host

    return build


@pytest.fixture
def refuse(make_config: ConfigFactory, app: App) -> Callable[..., str]:
    """The PluginError text a host start with ``[plugin.enrichment]`` = ``settings`` gives."""

    def check(**settings: Any) -> str:
        config = make_config(**{"plugin.enrichment": settings})
        with pytest.raises(PluginError) as caught:
            PluginHost(config, app.sessions, plugins=installed())
        return str(caught.value)

    return check


def log_mail(app: App, to: str) -> Outcome:
    """Anna's outbound mail to ``to``, as the edge spools it from a trusted MTA."""
    raw = make_message(to=to, subject=f"Oferta dla {to}")
    envelope = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
    return app.processor().process(f"test-{to.rpartition('@')[2].rstrip('>')}", raw, envelope)


def company_at(app: App, domain: str) -> dict[str, str]:
    with app.sessions() as session:
        company = session.scalars(
            select(Company).join(CompanyDomain).where(CompanyDomain.domain == domain)
        ).one()
        return {
            "name": company.name,
            "industry": company.industry,
            "size": company.size,
            "country": company.country,
        }


def enriched_fields(app: App) -> list[list[str]]:
    with app.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "contact.enriched")
        ).all()
        return [entry.details["fields"] for entry in entries]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- applied through the real path: pipeline → outbox → Dispatcher --------------------------------


@pytest.mark.parametrize("source", [CSV, JSON], ids=["csv", "json"])
def test_new_company_gets_industry_size_country(app: App, start: StartHost, source: Path) -> None:
    """A contact created at a listed domain: its new company gets the file's facts and the
    audit entry names them; the name bccrm gave (the domain, a placeholder) becomes the file's."""
    host = start(file=str(source))
    assert log_mail(app, "Jan Kowalski <jan@acme.pl>").status == "logged"
    stats = Dispatcher(host).run()
    assert stats.enriched == 1
    assert company_at(app, "acme.pl") == {
        "name": "ACME Sp. z o.o.",
        "industry": "Manufacturing",
        "size": "51-200",
        "country": "PL",
    }
    assert enriched_fields(app) == [
        ["company.name", "company.industry", "company.size", "company.country"]
    ]
    assert host.failures == {}


def test_fields_already_set_are_never_overwritten(app: App, start: StartHost) -> None:
    """An existing company with an industry keeps it; only its empty fields are filled."""
    host = start(file=str(CSV))
    with app.sessions.begin() as session:
        company = repo.create_company(session, "ACME", "acme.pl", origin="manual")
        company.industry = "Retail"
    log_mail(app, "Jan Kowalski <jan@acme.pl>")
    Dispatcher(host).run()
    assert company_at(app, "acme.pl") == {
        "name": "ACME",
        "industry": "Retail",
        "size": "51-200",
        "country": "PL",
    }
    assert enriched_fields(app) == [["company.size", "company.country"]]


def test_parent_domain_and_www_entries(app: App, start: StartHost) -> None:
    """eu.acme.pl is found as acme.pl; the file's www.beta.pl is beta.pl; a partial entry
    fills what it has."""
    host = start(file=str(CSV))
    for to in ("jan@eu.acme.pl", "ola@beta.pl", "ewa@gamma.pl"):
        log_mail(app, to)
    assert Dispatcher(host).run().enriched == 3
    assert company_at(app, "eu.acme.pl")["industry"] == "Manufacturing"
    assert company_at(app, "beta.pl")["size"] == "11-50"
    assert company_at(app, "gamma.pl") == {
        "name": "gamma.pl",
        "industry": "Logistics",
        "size": "",
        "country": "",
    }


def test_unknown_and_free_mail_domains_get_nothing(
    app: App, start: StartHost, tmp_path: Path
) -> None:
    """No entry, no change; a free-mail domain is never looked up even if the file lists it."""
    listed = write(tmp_path / "c.csv", HEADER + "gmail.com,Google,Internet,,US\n")
    host = start(file=str(listed))
    log_mail(app, "Jan <jan.kowalski@gmail.com>")
    log_mail(app, "Ola <ola@unlisted.pl>")
    assert Dispatcher(host).run().enriched == 0
    assert company_at(app, "unlisted.pl")["industry"] == ""
    assert enriched_fields(app) == []
    draft = ContactDraft(1, "jan.kowalski@gmail.com", "Jan", "", "", 7, "gmail.com")
    assert host.enrich(draft, Evidence(domain="gmail.com")) == {}


def test_without_a_table_the_plugin_does_nothing(app: App, start: StartHost) -> None:
    """Installed but not configured: it loads and suggests nothing."""
    host = start()
    log_mail(app, "jan@acme.pl")
    assert Dispatcher(host).run().enriched == 0
    assert company_at(app, "acme.pl")["industry"] == ""


def test_relative_file_is_found_next_to_the_config(
    app: App, start: StartHost, tmp_path: Path
) -> None:
    """``file`` is relative to the configuration file's directory, not the working one."""
    (tmp_path / "data").mkdir()
    shutil.copy(JSON, tmp_path / "data" / "companies.json")
    host = start(file="data/companies.json")
    log_mail(app, "jan@acme.pl")
    Dispatcher(host).run()
    assert company_at(app, "acme.pl")["country"] == "PL"


def test_file_forms_are_normalised(tmp_path: Path) -> None:
    """IDNA, lower case, www. stripped, country upper-cased, whitespace collapsed; a JSON
    list of objects works like an object keyed by domain; an identical repeat is fine."""
    items = [
        {"domain": "WWW.Acme.PL", "name": " ACME \n S.A. ", "country": "pl"},
        {"domain": "acme.pl", "name": "ACME S.A.", "country": "PL"},
        {"domain": "Müller.de", "size": "11-50", "industry": None},
    ]
    table = enrichment.load(write(tmp_path / "c.json", json.dumps(items)), reload=False)
    assert table.companies == {
        "acme.pl": enrichment.Facts(name="ACME S.A.", country="PL"),
        "xn--mller-kva.de": enrichment.Facts(size="11-50"),
    }
    assert enrichment.load(CSV, False).companies == enrichment.load(JSON, False).companies


def test_csv_from_a_spreadsheet(tmp_path: Path) -> None:
    """A BOM, CRLF line ends, columns in another order, quoted commas and a quoted line break
    all read; an error after a two-line record names the line it starts on."""
    text = 'Country,Domain,Name\r\npl,acme.pl,"ACME, Inc."\r\nde,beta.de,"Beta\r\nGmbH"\r\n'
    path = tmp_path / "c.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert enrichment.load(path, False).companies == {
        "acme.pl": enrichment.Facts(name="ACME, Inc.", country="PL"),
        "beta.de": enrichment.Facts(name="Beta GmbH", country="DE"),
    }
    write(path, text + "x,gamma.pl,Gamma\r\n")
    with pytest.raises(enrichment.FileError, match=r"^line 5: country 'x'"):
        enrichment.load(path, False)


# -- bad files stop the host at start, naming the problem -----------------------------------------

BAD_CSV = [
    ("missing", None, "cannot read it"),
    ("bad country", HEADER + "acme.pl,ACME,,,POL\n", "line 2: country 'POL' is not a 2-letter"),
    ("bad header", "domain,nme,industry\n", "line 1: unknown column 'nme'"),
    ("no domain column", "name,industry\nACME,x\n", "no 'domain' column"),
    ("bad domain", HEADER + "acme.pl,A,,,\nnot a domain,B,,,\n", "line 3: domain 'not a domain'"),
    ("fields", HEADER + "acme.pl,ACME\n", "line 2: 2 fields, the header has 5"),
    ("size", HEADER + f"acme.pl,,,{'9' * 41},\n", "line 2: size is longer than 40"),
    ("conflict", HEADER + "acme.pl,A,,,\nwww.acme.pl,B,,,\n", "line 3: acme.pl is also listed"),
    ("empty", "", "line 1: empty"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in BAD_CSV], ids=[c[0] for c in BAD_CSV]
)
def test_bad_csv_is_a_config_error(
    refuse: Callable[..., str], tmp_path: Path, text: str | None, expected: str
) -> None:
    """Each broken file refuses to start with the key, the file and the line."""
    path = tmp_path / "companies.csv"
    if text is not None:
        write(path, text)
    message = refuse(file=str(path))
    assert "plugin 'enrichment': plugin.enrichment.file" in message
    assert expected in message


BAD_JSON = [
    ("syntax", '{"acme.pl": {"name": "A",}}', "line 1: not valid JSON"),
    ("not text", '{"acme.pl": {"size": 50}}', "entry 'acme.pl': size must be text, got int"),
    ("unknown", '[{"domain": "acme.pl", "sector": "x"}]', "item 1: unknown field 'sector'"),
    ("shape", '"acme.pl"', "expected an object keyed by domain or a list"),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON]
)
def test_bad_json_is_a_config_error(
    refuse: Callable[..., str], tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in refuse(file=str(write(tmp_path / "c.json", text)))


def test_other_bad_settings(refuse: Callable[..., str], tmp_path: Path) -> None:
    """No file, another extension, a misspelt key, a non-UTF-8 file."""
    assert "plugin.enrichment.file: required" in refuse(reload=True)
    assert "expected a .csv or .json file" in refuse(file=str(write(tmp_path / "c.txt", "x")))
    assert "plugin.enrichment.relaod: unknown option" in refuse(file=str(CSV), relaod=True)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(HEADER.encode() + "m\xfcller.de,M\xfcller,,,\n".encode("latin-1"))
    assert "line 2: not UTF-8 text" in refuse(file=str(latin))


def test_file_over_the_size_cap_is_refused(refuse: Callable[..., str], tmp_path: Path) -> None:
    """A 51 MB file (sparse: nothing is written) is refused before it is read."""
    path = tmp_path / "huge.csv"
    with path.open("wb") as stream:
        stream.truncate(51 * 2**20)
    assert "51.0 MB, over the limit of 50 MB" in refuse(file=str(path))


# -- reload ---------------------------------------------------------------------------------------


def rewrite(path: Path, text: str, mtime: int) -> None:
    """Replace the file and give it an explicit, different mtime (no sleeping)."""
    write(path, text)
    os.utime(path, ns=(mtime, mtime))


@pytest.mark.parametrize("reload", [True, False])
def test_reload_picks_up_a_changed_file(
    app: App, start: StartHost, tmp_path: Path, reload: bool
) -> None:
    """With ``reload = true`` a changed file is read again; without it the start's data
    stays."""
    path = tmp_path / "companies.csv"
    rewrite(path, HEADER + "acme.pl,,Manufacturing,,\n", 1_700_000_000_000_000_000)
    host = start(file=str(path), reload=reload)
    log_mail(app, "jan@acme.pl")
    Dispatcher(host).run()
    rewrite(path, HEADER + "acme.pl,,Mining,,\nbeta.pl,,Software,,\n", 1_800_000_000_000_000_000)
    log_mail(app, "ola@beta.pl")
    Dispatcher(host).run()
    assert company_at(app, "acme.pl")["industry"] == "Manufacturing"
    assert company_at(app, "beta.pl")["industry"] == ("Software" if reload else "")


def test_reload_keeps_old_data_when_the_new_file_is_bad(
    app: App, start: StartHost, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken edit is logged (with its line) and ignored until the file changes again."""
    path = tmp_path / "companies.csv"
    rewrite(path, HEADER + "acme.pl,,Manufacturing,,\n", 1_700_000_000_000_000_000)
    host = start(file=str(path), reload=True)
    rewrite(path, HEADER + "acme.pl,,Manufacturing,,XYZ\n", 1_800_000_000_000_000_000)
    with caplog.at_level(logging.WARNING, logger="bccrm.plugins.enrichment"):
        log_mail(app, "jan@acme.pl")
        Dispatcher(host).run()
    assert company_at(app, "acme.pl")["industry"] == "Manufacturing"
    [warning] = [r.getMessage() for r in caplog.records if r.name.endswith("enrichment")]
    assert "kept the old data: line 2: country 'XYZ'" in warning
    assert str(tmp_path) not in warning


# -- offline --------------------------------------------------------------------------------------


def test_never_touches_the_network(
    app: App, start: StartHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sockets, connections and name lookups all raise while mail is processed and enrichment
    applied; it still works and nothing tried to connect."""
    host = start(file=str(CSV), reload=True)
    attempts: list[str] = []

    def forbidden(name: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            attempts.append(name)
            raise OSError(f"network use in a test: socket.{name}")

        return refuse

    for name in ("socket", "create_connection", "getaddrinfo"):
        monkeypatch.setattr(socket, name, forbidden(name))
    assert log_mail(app, "jan@acme.pl").status == "logged"
    assert Dispatcher(host).run().enriched == 1
    monkeypatch.undo()
    assert attempts == []
    assert host.failures == {}
    assert company_at(app, "acme.pl")["industry"] == "Manufacturing"


# -- end to end: bccrm ingest + bccrm plugins deliver ---------------------------------------------


@pytest.mark.parametrize("source", [CSV, JSON], ids=["csv", "json"])
def test_ingest_then_deliver_enriches_the_company(
    make_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: Path,
) -> None:
    """A forwarded customer reply through ``bccrm ingest``; ``bccrm plugins deliver`` then
    fills Brightwave's industry, size and country, keeping the name from the signature."""
    monkeypatch.setattr("gateway.plugin_host.installed_plugins", installed)
    config = make_config(plugins={"retry_base": 0}, **{"plugin.enrichment": {"file": str(source)}})
    app = build_app(config)
    try:
        upgrade(app.engine)
        add_user(app, "hans.weber@example.com", "Hans Weber")
        cli = Cli(config, capsys)
        assert cli.json("ingest", str(FORWARD))["outcomes"] == {"logged": 1}
        code, out, err = cli("plugins", "deliver")
        assert code == 0, err
        assert "1 contacts enriched" in out
        assert company_at(app, "brightwave.co.uk") == {
            "name": "Brightwave Ltd",
            "industry": "Logistics technology",
            "size": "51-200",
            "country": "GB",
        }
        assert enriched_fields(app) == [["company.industry", "company.size", "company.country"]]
    finally:
        app.close()
