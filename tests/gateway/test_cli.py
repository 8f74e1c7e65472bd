"""The ``bccrm`` command line: a stable interface that scripts and other tools rely on."""

from __future__ import annotations

import io
import mailbox
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app import App, build_app
from gateway.config import Config
from gateway.services.users import CredentialService
from tests.conftest import ConfigFactory
from tests.support import Cli, make_message, running_edge

CSV_HEADER = "email,first_name,last_name,title,company,phone,other_emails\n"


@pytest.fixture
def cli(app: App, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    runner = Cli(app.config, capsys)
    yield runner
    for opened in runner.opened:
        opened.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_commands_refuse_an_unmigrated_database(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(config, capsys)
    code, _, err = cli("users", "list")
    assert code == 1
    assert "run 'bccrm db upgrade'" in err
    code, out, _ = cli("doctor")
    assert code == 1 and "FAIL  database" in out
    assert cli("db", "upgrade")[0] == 0
    assert cli("db", "status")[0] == 0
    code, out, _ = cli("doctor")
    assert code == 0 and "FAIL" not in out
    assert "ok    privacy hash key: will be generated at first use; set [privacy]" in out


def test_users_add_and_list(cli: Cli) -> None:
    code, out, _ = cli(
        "users",
        "add",
        "Anna@Example.com",
        "--name",
        "Anna Nowak",
        "--alias",
        "anna.nowak@example.com",
        "--admin",
    )
    assert code == 0 and "Anna Nowak" in out
    [user] = cli.json("users", "list")
    assert user["emails"] == ["anna@example.com", "anna.nowak@example.com"]
    assert user["is_admin"] is True
    code, _, err = cli(
        "users", "add", "bob@example.com", "--name", "Bob", "--alias", "anna@example.com"
    )
    assert code == 1 and "anna@example.com already belongs to a user" in err
    assert cli("users", "add", "not-an-address", "--name", "X")[0] == 1


def test_contacts_import_good_file_and_reimport(cli: Cli, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        CSV_HEADER
        + "jan@acme.pl,Jan,Kowalski,CTO,ACME Sp. z o.o.,601 234 567,jk@acme.pl;jan@kowalski.pl\n"
        "ewa@gmail.com,Ewa,Zielińska,,,+48 22 123 45 67,\n",
    )
    code, out, _ = cli("contacts", "import", str(path))
    assert (code, out.strip()) == (0, "2 created, 0 updated, 0 unchanged, 0 rejected")
    contacts = {c["emails"][0]: c for c in cli.json("contacts", "list")}
    jan = contacts["jan@acme.pl"]
    assert jan["emails"] == ["jan@acme.pl", "jk@acme.pl", "jan@kowalski.pl"]
    assert jan["phones"] == ["+48601234567"]
    assert (jan["title"], jan["origin"]) == ("CTO", "import")
    assert contacts["ewa@gmail.com"]["phones"] == ["+48221234567"]
    assert contacts["ewa@gmail.com"]["company_id"] is None
    code, out, _ = cli("contacts", "import", str(path))
    assert out.strip() == "0 created, 0 updated, 2 unchanged, 0 rejected"
    companies = cli.json("export")["companies"]
    assert [(c["name"], c["domains"]) for c in companies] == [("ACME Sp. z o.o.", ["acme.pl"])]


def test_contacts_import_reports_bad_rows_and_keeps_good_ones(cli: Cli, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        CSV_HEADER + "jan@acme.pl,Jan,,,,,\n"
        "not-an-email,X,,,,,\n"
        "ola@acme.pl,Ola,,,,12,\n"
        "kasia@example.com,Kasia,,,,,\n"
        "piotr@acme.pl,Piotr,,,,,jan@acme.pl\n"
        "ewa@acme.pl,Ewa,,,,,\n",
    )
    code, out, err = cli("contacts", "import", str(path))
    assert code == 1
    assert out.strip() == "2 created, 0 updated, 0 unchanged, 4 rejected"
    assert f"{path}:3: invalid email 'not-an-email'" in err
    assert f"{path}:4: invalid phone number '12'" in err
    assert f"{path}:5: kasia@example.com is an address of the organisation" in err
    assert f"{path}:6: jan@acme.pl already belongs to contact 1" in err
    assert sorted(c["emails"][0] for c in cli.json("contacts", "list")) == [
        "ewa@acme.pl",
        "jan@acme.pl",
    ]


def test_contacts_import_never_turns_a_user_into_a_contact(cli: Cli, tmp_path: Path) -> None:
    cli("users", "add", "anna.private@gmail.com", "--name", "Anna")
    path = write(tmp_path / "c.csv", CSV_HEADER + "anna.private@gmail.com,Anna,,,,,\n")
    code, _, err = cli("contacts", "import", str(path))
    assert code == 1 and "registered user's address" in err
    code, _, err = cli("contacts", "import", str(tmp_path / "missing.csv"))
    assert code == 1 and "no such file" in err


def test_doctor_on_a_live_node_recognises_bccrm(
    make_config: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(gateway={"port": port})
    cli = Cli(config, capsys)
    cli("db", "upgrade")
    with running_edge(config):
        code, out, _ = cli("doctor")
    assert code == 0 and "bccrm is listening" in out
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        code, out, _ = cli("doctor")
    assert code == 1 and "not bccrm" in out


def test_contacts_import_reads_semicolon_csv_with_bom(cli: Cli, tmp_path: Path) -> None:
    """Excel in Polish and German locales saves ';'-separated files with a BOM."""
    path = write(
        tmp_path / "c.csv",
        "\ufeffEmail;First_Name;Last_Name;Notes\nłukasz@żółw.pl;Łukasz;Żółkiewski;ignored\n",
    )
    assert cli("contacts", "import", str(path))[0] == 0
    [contact] = cli.json("contacts", "list")
    assert contact["name"] == "Łukasz Żółkiewski"
    assert contact["emails"] == ["łukasz@xn--w-uga1v8h.pl"]


def test_contacts_import_without_email_column_fails(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("contacts", "import", str(write(tmp_path / "c.csv", "name\nJan\n")))
    assert code == 1 and "no 'email' column" in err


def make_archive(tmp_path: Path) -> list[Path]:
    eml = tmp_path / "one.eml"
    eml.write_bytes(make_message(message_id="<one@x>", to="a@acme.pl"))
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "two.eml").write_bytes(make_message(message_id="<two@x>", to="b@acme.pl"))
    (folder / "sub" / "three.eml").write_bytes(make_message(message_id="<three@x>", to="c@acme.pl"))
    (folder / "notes.txt").write_text("not mail")
    box = mailbox.mbox(tmp_path / "archive.mbox")
    for n in range(3):
        box.add(make_message(message_id=f"<mbox{n}@x>", to=f"m{n}@acme.pl"))
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    for n in range(2):
        maildir.add(make_message(message_id=f"<md{n}@x>", to=f"d{n}@acme.pl"))
    return [eml, folder, tmp_path / "archive.mbox", tmp_path / "Maildir"]


def test_ingest_reads_eml_directories_mbox_and_maildir(cli: Cli, tmp_path: Path) -> None:
    paths = [str(p) for p in make_archive(tmp_path)]
    summary = cli.json("ingest", *paths)
    assert summary["messages"] == 8
    assert summary["outcomes"] == {"logged": 8}
    assert len(cli.json("export")["emails"]) == 8
    again = cli.json("ingest", *paths)  # resumable: what is done is skipped unparsed
    assert again["outcomes"] == {} and again["skipped"] == 8
    forced = cli.json("ingest", "--reprocess", *paths)
    assert forced["outcomes"] == {"duplicate": 8}


def test_ingest_dry_run_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    summary = cli.json("ingest", "--dry-run", *[str(p) for p in make_archive(tmp_path)])
    assert summary["outcomes"] == {"logged": 8} and summary["dry_run"] is True
    data = cli.json("export")
    assert data["emails"] == [] and data["contacts"] == [] and data["companies"] == []


def test_ingest_reports_held_messages_and_bad_arguments(cli: Cli, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.eml", "Subject: no author\n\nbody\n")
    code, out, err = cli("ingest", str(bad))
    assert code == 0
    assert "1 held" in out and "held: From is not exactly one valid address" in err
    code, _, err = cli("ingest", "--rcpt", "someone@else.test", str(bad))
    assert code == 2 and "not a configured logging address" in err
    code, _, err = cli("ingest", str(tmp_path / "missing.eml"))
    assert code == 1 and "no such file" in err


def test_export_is_json_with_stable_keys(cli: Cli, tmp_path: Path) -> None:
    cli("ingest", str(write(tmp_path / "m.eml", make_message().decode())))
    data = cli.json("export")
    assert set(data) >= {"emails", "contacts", "companies", "deals", "tickets", "review_items"}
    [email] = data["emails"]
    assert set(email) >= {
        "id",
        "message_id",
        "subject",
        "direction",
        "sent_at",
        "from",
        "participants",
        "contact_ids",
        "company_ids",
        "deal_ids",
        "ticket_ids",
        "logged_by",
        "privacy_level",
    }
    assert set(data["contacts"][0]) >= {
        "id",
        "name",
        "first_name",
        "last_name",
        "emails",
        "phones",
        "title",
        "company_id",
        "status",
        "origin",
    }
    code, _, err = cli("export")
    assert code == 2 and "--json" in err


def test_console_script_is_installed(app: App) -> None:
    script = Path(sys.executable).with_name("bccrm")
    result = subprocess.run(
        [str(script), "--config", str(app.config.source), "db", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "current" in result.stdout


def test_users_set_password_and_token(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("users", "add", "anna@example.com", "--name", "Anna")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, out, _ = cli("users", "set-password", "anna@example.com", "--password-stdin")
    assert code == 0 and "password set" in out
    service = CredentialService(cli_sessions(cli))
    assert service.check_password("ANNA@example.com", "correct horse battery") == "anna@example.com"
    assert service.check_password("anna@example.com", "wrong") is None
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = cli("users", "set-password", "anna@example.com", "--password-stdin")
    assert code == 1 and "at least 12 characters" in err
    code, first, _ = cli("users", "token", "anna@example.com")
    assert code == 0 and first.startswith("log+t-") and first.strip().endswith("@crm.example.com")
    assert cli("users", "token", "anna@example.com")[1] == first
    rotated = cli("users", "token", "anna@example.com", "--rotate")[1]
    assert rotated != first
    code, _, err = cli("users", "token", "nobody@example.com")
    assert code == 1 and "not a registered user" in err


def cli_sessions(cli: Cli) -> Any:
    app = build_app(cli.config)
    cli.opened.append(app)
    return app.sessions


def test_doctor_says_where_the_privacy_hash_key_is(
    make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(privacy={"hash_key": "s3cret-from-a-file"})
    cli = Cli(config, capsys)
    assert cli("db", "upgrade")[0] == 0
    data = cli.json("doctor")
    [check] = [c for c in data["checks"] if c["name"] == "privacy hash key"]
    assert (check["ok"], check["detail"]) == (True, "[privacy] hash_key is set")


def test_admin_finds_the_tui_by_entry_point(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """gateway never imports admin_tui: `bccrm admin` loads it through the bccrm.tui entry
    point, and says so clearly when it is not installed."""
    from importlib.metadata import entry_points

    [found] = [ep for ep in entry_points(group="bccrm.tui") if ep.name == "admin"]
    assert found.value == "admin_tui.app:run"
    monkeypatch.setattr("gateway.cli.admin.entry_points", lambda group: [])
    code, _, err = cli("admin")
    assert code == 1 and "admin terminal UI is not installed" in err
    started: list[object] = []

    class Fake:
        name = "admin"

        def load(self) -> object:
            return lambda config: started.append(config) or 0

    monkeypatch.setattr("gateway.cli.admin.entry_points", lambda group: [Fake()])
    assert cli("admin")[0] == 0 and len(started) == 1
