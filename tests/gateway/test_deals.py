"""Deals: CSV import (idempotent on the external id), listing, and ``bccrm deals``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.app import App
from gateway.crm import AuditEntry, Company, Contact, DealContact, repo
from gateway.services import deals as deals_module
from gateway.services.deals import CsvImportError, DealImportResult, DealInfo, DealService
from tests.support import Cli, add_user, bccrm

HEADER = "id,name,stage,status,company_domain,contact_emails,owner_email,updated_at\n"
UTC = dt.UTC


def write(tmp_path: Path, text: str, name: str = "deals.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def service(app: App) -> DealService:
    return DealService(app.sessions, app.config.organization)


def by_external_id(app: App) -> dict[str, DealInfo]:
    return {d.external_id or "": d for d in service(app).list_deals()}


def count(app: App, model: Any) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def deal_audits(app: App) -> list[tuple[str, str, dict[str, Any]]]:
    with app.sessions() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "deal.imported").order_by(AuditEntry.id)
        )
        return [(e.actor, e.object_kind, dict(e.details)) for e in entries]


def contact_of(app: App, email: str) -> Contact:
    with app.sessions() as session:
        contact_id = repo.contact_id_by_email(session, email)
        assert contact_id is not None, email
        return session.get_one(Contact, contact_id)


FIRST = (
    HEADER + "D-1,Wdrożenie CRM,proposal,open,acme.pl,Jan@ACME.pl;ewa@gmail.com,anna@example.com,"
    "2026-11-02T09:30:00\n"
    "D-2,Licencje,negotiation,WON,,,,2026-11-01\n"
)


# -- service: creating -------------------------------------------------------------------------


def test_import_creates_deals_companies_and_contacts(app: App, tmp_path: Path) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    result = service(app).import_csv(write(tmp_path, FIRST))
    assert result == DealImportResult(created=2, updated=0, unchanged=0, errors=[], warnings=[])

    with app.sessions() as session:
        [company] = session.scalars(select(Company))
        assert (company.name, company.origin, [d.domain for d in company.domains]) == (
            "acme.pl",
            "import",
            ["acme.pl"],
        )
        company_id = company.id
    deals = service(app).list_deals()
    assert [d.external_id for d in deals] == ["D-1", "D-2"]
    one, two = deals
    assert one == DealInfo(
        id=one.id,
        external_id="D-1",
        name="Wdrożenie CRM",
        stage="proposal",
        status="open",
        company_id=company_id,
        company_domain="acme.pl",
        owner_email="anna@example.com",
        contact_emails=("ewa@gmail.com", "jan@acme.pl"),
        updated_at=dt.datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )
    assert two == DealInfo(
        id=two.id,
        external_id="D-2",
        name="Licencje",
        stage="negotiation",
        status="won",
        company_id=None,
        company_domain=None,
        owner_email=None,
        contact_emails=(),
        updated_at=dt.datetime(2026, 11, 1, tzinfo=UTC),
    )
    jan, ewa = contact_of(app, "jan@acme.pl"), contact_of(app, "ewa@gmail.com")
    assert (jan.company_id, jan.origin, jan.status, jan.name) == (
        company_id,
        "import",
        "active",
        "",
    )
    assert (ewa.company_id, ewa.origin) == (None, "import")
    assert deal_audits(app) == [
        ("cli", "deal", {"external_id": "D-1", "created": True}),
        ("cli", "deal", {"external_id": "D-2", "created": True}),
    ]


def test_only_id_and_name_are_required(app: App, tmp_path: Path) -> None:
    before = dt.datetime.now(UTC)
    result = service(app).import_csv(write(tmp_path, "name,id\nUmowa ramowa,  X-7  \n"))
    assert (result.created, result.errors) == (1, [])
    [deal] = service(app).list_deals()
    assert (deal.external_id, deal.name, deal.stage, deal.status) == (
        "X-7",
        "Umowa ramowa",
        "",
        "open",
    )
    assert (deal.company_id, deal.owner_email, deal.contact_emails) == (None, None, ())
    assert before <= deal.updated_at <= dt.datetime.now(UTC)


def test_empty_status_is_open_and_timezones_become_utc(app: App, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,name,status,updated_at\n"
        "A,Alpha,,2026-11-02T10:30:00+02:00\n"
        "B,Beta, Lost ,2026-11-03T08:00:00Z\n",
    )
    assert service(app).import_csv(path).created == 2
    deals = by_external_id(app)
    assert (deals["A"].status, deals["A"].updated_at) == (
        "open",
        dt.datetime(2026, 11, 2, 8, 30, tzinfo=UTC),
    )
    assert (deals["B"].status, deals["B"].updated_at) == (
        "lost",
        dt.datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
    )


# -- service: idempotency and updates ----------------------------------------------------------


def test_reimporting_the_same_file_changes_nothing(app: App, tmp_path: Path) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    path = write(tmp_path, FIRST + "D-3,Bez daty,,,acme.pl,jan@acme.pl,,\n")
    assert service(app).import_csv(path).created == 3
    before = by_external_id(app)
    again = service(app).import_csv(path)
    assert again == DealImportResult(created=0, updated=0, unchanged=3, errors=[], warnings=[])
    assert by_external_id(app) == before  # D-3's "now" was not bumped either
    assert (count(app, Company), count(app, Contact), count(app, DealContact)) == (1, 2, 3)
    assert len(deal_audits(app)) == 3


def test_a_changed_row_updates_the_deal_and_replaces_its_contacts(app: App, tmp_path: Path) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    add_user(app, "bartek@example.com", "Bartek")
    service(app).import_csv(write(tmp_path, FIRST))
    old = by_external_id(app)
    changed = (
        HEADER
        + "D-1,Wdrożenie CRM,contract,LOST,acme.pl,ewa@gmail.com;piotr@acme.pl,bartek@example.com,"
        "2026-11-05T12:00:00\n"
        "D-2,Licencje,negotiation,WON,,,,2026-11-01\n"
    )
    result = service(app).import_csv(write(tmp_path, changed, "changed.csv"))
    assert result == DealImportResult(created=0, updated=1, unchanged=1, errors=[], warnings=[])
    new = by_external_id(app)
    assert new["D-1"] == DealInfo(
        id=old["D-1"].id,
        external_id="D-1",
        name="Wdrożenie CRM",
        stage="contract",
        status="lost",
        company_id=old["D-1"].company_id,
        company_domain="acme.pl",
        owner_email="bartek@example.com",
        contact_emails=("ewa@gmail.com", "piotr@acme.pl"),
        updated_at=dt.datetime(2026, 11, 5, 12, 0, tzinfo=UTC),
    )
    assert new["D-2"] == old["D-2"]
    # Jan is no longer on the deal but stays a contact; Piotr joined at the deal's company.
    assert count(app, DealContact) == 2
    assert contact_of(app, "jan@acme.pl").id is not None
    assert contact_of(app, "piotr@acme.pl").company_id == old["D-1"].company_id
    assert deal_audits(app)[-1] == ("cli", "deal", {"external_id": "D-1", "created": False})
    assert len(deal_audits(app)) == 3


def test_update_without_updated_at_stamps_now_and_empty_cells_clear(
    app: App, tmp_path: Path
) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    service(app).import_csv(write(tmp_path, FIRST))
    before = dt.datetime.now(UTC)
    path = write(tmp_path, HEADER + "D-1,Wdrożenie CRM v2,,,,,,\n", "clear.csv")
    assert service(app).import_csv(path).updated == 1
    deal = by_external_id(app)["D-1"]
    assert (deal.name, deal.stage, deal.status) == ("Wdrożenie CRM v2", "", "open")
    assert (deal.company_id, deal.owner_email, deal.contact_emails) == (None, None, ())
    assert before <= deal.updated_at <= dt.datetime.now(UTC)
    assert service(app).import_csv(path).unchanged == 1


def test_columns_absent_from_the_file_keep_their_values(app: App, tmp_path: Path) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    service(app).import_csv(write(tmp_path, FIRST))
    old = by_external_id(app)["D-1"]
    path = write(tmp_path, "id,name,status\nD-1,Nowa nazwa,won\n", "partial.csv")
    assert service(app).import_csv(path).updated == 1
    new = by_external_id(app)["D-1"]
    assert (new.name, new.status) == ("Nowa nazwa", "won")
    assert (new.stage, new.company_id, new.owner_email, new.contact_emails) == (
        old.stage,
        old.company_id,
        old.owner_email,
        old.contact_emails,
    )
    assert new.updated_at > old.updated_at


def test_existing_companies_and_contacts_are_reused(app: App, tmp_path: Path) -> None:
    with app.sessions.begin() as session:
        company_id = repo.create_company(session, "ACME Sp. z o.o.", "acme.pl", "manual").id
        jan_id = repo.create_contact(
            session, "jan@acme.pl", first_name="Jan", last_name="Kowalski", origin="manual"
        ).id
    path = write(
        tmp_path,
        HEADER + "D-1,One,,,ACME.PL.,jan@acme.pl,,\n"
        "D-2,Two,,,acme.pl,JAN@acme.pl;jan@acme.pl;ola@acme.pl,,\n"
        "D-3,Three,,,globex.com,ola@acme.pl,,\n",
    )
    assert service(app).import_csv(path).created == 3
    deals = by_external_id(app)
    assert deals["D-1"].company_id == deals["D-2"].company_id == company_id
    assert deals["D-3"].company_domain == "globex.com"
    assert deals["D-2"].contact_emails == ("jan@acme.pl", "ola@acme.pl")
    with app.sessions() as session:
        names = sorted(session.scalars(select(Company.name)))
    assert names == ["ACME Sp. z o.o.", "globex.com"]
    jan = contact_of(app, "jan@acme.pl")
    assert (jan.id, jan.name, jan.company_id, jan.origin) == (
        jan_id,
        "Jan Kowalski",
        None,
        "manual",
    )
    ola = contact_of(app, "ola@acme.pl")
    assert (ola.company_id, ola.origin) == (company_id, "import")
    assert count(app, Contact) == 2


# -- service: problems -------------------------------------------------------------------------


def test_unknown_owner_is_a_warning_and_the_deal_is_imported(app: App, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,name,owner_email\nD-1,One,nobody@example.com\nD-2,Two,not an address\nD-3,Three,\n",
    )
    result = service(app).import_csv(path)
    assert result == DealImportResult(
        created=3,
        errors=[],
        warnings=[
            (2, "owner nobody@example.com is not a registered user; imported without an owner"),
            (3, "owner_email 'not an address' is not a valid address; imported without an owner"),
        ],
    )
    assert {d.external_id: d.owner_email for d in service(app).list_deals()} == {
        "D-1": None,
        "D-2": None,
        "D-3": None,
    }


def test_bad_rows_are_reported_by_line_and_the_others_kept(app: App, tmp_path: Path) -> None:
    add_user(app, "anna.private@gmail.com", "Anna")
    path = write(
        tmp_path,
        HEADER + "D-1,Good,,open,,,,\n"  # line 2
        "D-2,Bad status,,maybe,,,,\n"
        "D-3,Bad date,,,,,,02/11/2026\n"
        "D-4,Bad email,,,,jan@acme.pl;not-an-email,,\n"
        ",No id,,,,,,\n"
        "D-6,,,,,,,\n"
        "D-1,Repeated,,,,,,\n"
        "D-8,Bad domain,,,not a domain,,,\n"
        "D-9,Our address,,,,kasia@example.com,,\n"
        "D-10,A user,,,,anna.private@gmail.com,,\n" + "X" * 101 + ",Long id,,,,,,\n"
        ",,,,,,,\n"  # blank rows are skipped
        "D-13,Also good,,Won,,,,2026-11-03\n",
    )
    result = service(app).import_csv(path)
    assert result.errors == [
        (3, "invalid status 'maybe' (open, won or lost)"),
        (4, "invalid updated_at '02/11/2026' (ISO 8601 date or date-time)"),
        (5, "invalid address 'not-an-email' in contact_emails"),
        (6, "empty id"),
        (7, "empty name"),
        (8, "id 'D-1' repeats line 2"),
        (9, "invalid company_domain 'not a domain'"),
        (10, "kasia@example.com is an address of the organisation, not a contact"),
        (11, "anna.private@gmail.com is a registered user's address, not a contact"),
        (12, "id longer than 100 characters"),
    ]
    assert (result.created, result.updated, result.unchanged, result.warnings) == (2, 0, 0, [])
    assert sorted(by_external_id(app)) == ["D-1", "D-13"]
    # Nothing of the rejected rows was written: no contact for jan@acme.pl, no company.
    assert (count(app, Contact), count(app, Company)) == (0, 0)


def test_semicolon_separated_file_with_bom_and_extra_columns(app: App, tmp_path: Path) -> None:
    """Excel in Polish and German locales saves ';'-separated files with a BOM."""
    path = write(
        tmp_path,
        "\ufeffID;Name;Notatki;Status;Contact_Emails;Company_Domain\n"
        'D-1;Umowa, etap 1;cokolwiek;Won;"łukasz@żółw.pl; ewa@gmail.com";żółw.pl\n',
    )
    result = service(app).import_csv(path)
    assert (result.created, result.errors, result.warnings) == (1, [], [])
    [deal] = service(app).list_deals()
    assert (deal.external_id, deal.name, deal.status) == ("D-1", "Umowa, etap 1", "won")
    assert deal.company_domain == "xn--w-uga1v8h.pl"
    assert deal.contact_emails == ("ewa@gmail.com", "łukasz@xn--w-uga1v8h.pl")
    assert contact_of(app, "łukasz@xn--w-uga1v8h.pl").company_id == deal.company_id


def test_whole_file_problems_raise_and_import_nothing(app: App, tmp_path: Path) -> None:
    deals = service(app)
    with pytest.raises(CsvImportError, match=r"deals\.csv: no 'name' column in the header row$"):
        deals.import_csv(write(tmp_path, "id,title\nD-1,One\n"))
    with pytest.raises(CsvImportError, match=r": no 'id' and 'name' columns in the header row$"):
        deals.import_csv(write(tmp_path, "", "empty.csv"))
    with pytest.raises(CsvImportError, match=r"missing\.csv: no such file$"):
        deals.import_csv(tmp_path / "missing.csv")
    with pytest.raises(CsvImportError, match=r"not UTF-8 text"):
        deals.import_csv(write(tmp_path, "id,name\nD-1,Zażółć\n", "cp.csv", encoding="cp1250"))
    with pytest.raises(CsvImportError, match=r"cannot read"):
        deals.import_csv(tmp_path)
    assert deals.list_deals() == []


def test_files_over_the_row_limit_are_refused(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deals_module, "MAX_ROWS", 2)
    path = write(tmp_path, "id,name\nA,a\nB,b\n")
    assert service(app).import_csv(path).created == 2
    path = write(tmp_path, "id,name\nA,a\nB,b\nC,c\n", "three.csv")
    with pytest.raises(CsvImportError, match=r"more than 2 rows; split the file"):
        service(app).import_csv(path)
    assert sorted(by_external_id(app)) == ["A", "B"]


def test_long_fields_are_cut_to_the_column_sizes(app: App, tmp_path: Path) -> None:
    path = write(tmp_path, f"id,name,stage\nD-1,{'n' * 400},{'s' * 150}\n")
    assert service(app).import_csv(path).created == 1
    [deal] = service(app).list_deals()
    assert (deal.name, deal.stage) == ("n" * 300, "s" * 100)
    assert service(app).import_csv(path).unchanged == 1


def test_a_database_error_rolls_back_the_whole_file(
    app: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    def failing_audit(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 2:
            raise RuntimeError("database went away")

    monkeypatch.setattr(repo, "audit", failing_audit)
    with pytest.raises(RuntimeError, match="database went away"):
        service(app).import_csv(write(tmp_path, FIRST))
    assert service(app).list_deals() == []
    assert (count(app, Company), count(app, Contact)) == (0, 0)


# -- service: listing --------------------------------------------------------------------------


def test_list_is_newest_first_and_filters_by_status(app: App, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "id,name,status,updated_at\n"
        "old,Old,won,2026-01-01\n"
        "new,New,open,2026-11-20T08:00:00\n"
        "mid,Mid,won,2026-06-15T12:00:00\n"
        "lost,Lost,lost,2026-03-01\n",
    )
    service(app).import_csv(path)
    deals = service(app)
    assert [d.external_id for d in deals.list_deals()] == ["new", "mid", "lost", "old"]
    assert [d.external_id for d in deals.list_deals(status="won")] == ["mid", "old"]
    assert [d.external_id for d in deals.list_deals(status="lost")] == ["lost"]
    assert [d.external_id for d in deals.list_deals(limit=2)] == ["new", "mid"]
    with pytest.raises(ValueError, match="unknown deal status 'closed'"):
        deals.list_deals(status="closed")


# -- command line ------------------------------------------------------------------------------


@pytest.fixture
def cli(app: App, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(app.config, capsys)


def test_cli_import_prints_counts_and_problems(cli: Cli, app: App, tmp_path: Path) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    path = write(
        tmp_path,
        FIRST + "D-3,Bad,,maybe,,,,\nD-4,No owner,,,,,zenon@example.com,\n",
    )
    code, out, err = cli("deals", "import", str(path))
    assert code == 1
    assert out == "deals: 3 created, 0 updated, 0 unchanged\n"
    assert err.splitlines() == [
        "line 4: invalid status 'maybe' (open, won or lost)",
        "line 5: warning: owner zenon@example.com is not a registered user; "
        "imported without an owner",
    ]
    good = write(tmp_path, FIRST, "good.csv")
    assert cli("deals", "import", str(good)) == (
        0,
        "deals: 0 created, 0 updated, 2 unchanged\n",
        "",
    )
    warned = write(tmp_path, "id,name,owner_email\nD-4,No owner,zenon@example.com\n", "w.csv")
    code, out, err = cli("deals", "import", str(warned))
    assert (code, out) == (0, "deals: 0 created, 0 updated, 1 unchanged\n")
    assert err.startswith("line 2: warning: owner zenon@example.com is not a registered user")


def test_cli_import_json(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path, "id,name,status\nD-1,One,open\nD-2,Two,maybe\n")
    code, out, err = cli("deals", "import", str(path), "--json")
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "errors": [[3, "invalid status 'maybe' (open, won or lost)"]],
        "warnings": [],
    }


def test_cli_import_refuses_unusable_files(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    assert cli("deals", "import", str(missing)) == (1, "", f"bccrm: {missing}: no such file\n")
    no_name = write(tmp_path, "id;stage\nD-1;x\n")
    assert cli("deals", "import", str(no_name)) == (
        1,
        "",
        f"bccrm: {no_name}: no 'name' column in the header row\n",
    )
    assert cli.json("deals", "list") == []


def test_cli_list_json_and_status_filter(cli: Cli, app: App, tmp_path: Path) -> None:
    add_user(app, "anna@example.com", "Anna Nowak")
    assert cli("deals", "import", str(write(tmp_path, FIRST)))[0] == 0
    deals = cli.json("deals", "list")
    company_id = deals[0]["company_id"]
    assert isinstance(company_id, int)
    assert deals == [
        {
            "id": deals[0]["id"],
            "external_id": "D-1",
            "name": "Wdrożenie CRM",
            "stage": "proposal",
            "status": "open",
            "company_id": company_id,
            "company_domain": "acme.pl",
            "owner_email": "anna@example.com",
            "contact_emails": ["ewa@gmail.com", "jan@acme.pl"],
            "updated_at": "2026-11-02T09:30:00+00:00",
        },
        {
            "id": deals[1]["id"],
            "external_id": "D-2",
            "name": "Licencje",
            "stage": "negotiation",
            "status": "won",
            "company_id": None,
            "company_domain": None,
            "owner_email": None,
            "contact_emails": [],
            "updated_at": "2026-11-01T00:00:00+00:00",
        },
    ]
    assert [d["external_id"] for d in cli.json("deals", "list", "--status", "won")] == ["D-2"]
    assert cli.json("deals", "list", "--status", "lost") == []
    code, out, _ = cli("deals", "list")
    assert code == 0
    assert "D-1" in out and "Licencje" in out and "2026-11-01 00:00" in out


def test_cli_list_rejects_an_unknown_status(cli: Cli) -> None:
    with pytest.raises(SystemExit) as exc:
        cli("deals", "list", "--status", "closed")
    assert exc.value.code == 2


def test_bccrm_deals_end_to_end(app: App, tmp_path: Path) -> None:
    """The installed command, as scripts run it."""
    path = write(tmp_path, "id,name\nD-1,One\n")
    result = bccrm(app.config, "deals", "import", str(path))
    assert (result.returncode, result.stdout) == (0, "deals: 1 created, 0 updated, 0 unchanged\n")
    result = bccrm(app.config, "deals", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert [d["external_id"] for d in json.loads(result.stdout)] == ["D-1"]
