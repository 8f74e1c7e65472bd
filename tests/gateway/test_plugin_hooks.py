"""The plugin host and every hook, through the real pipeline, outbox and CLI. Each hookspec
has a ``test_hook_<name>`` here (``test_every_hook_has_a_test`` fails otherwise), and the
README's example plugin (tests/data/plugins/bccrm_keyword_alert.py) runs end to end."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func, select

import gateway.plugin_host
from gateway.app import App, build_app
from gateway.crm import AuditEntry, Company, Contact, PluginDelivery, PluginEvent, utcnow
from gateway.crm.db import upgrade
from gateway.hooks import (
    HOOK_NAMES,
    ContactCreated,
    EmailLogged,
    LegalBasisFlagged,
    RetryLater,
    ReviewDecided,
    hookimpl,
)
from gateway.outbox import Dispatcher
from gateway.plugin_host import Installed, PluginError, PluginHost, installed_plugins
from gateway.services.review import ReviewService
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.support import LOG, Cli, add_user, make_message

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "data" / "plugins" / "bccrm_keyword_alert.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bccrm_keyword_alert", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Recorder:
    """A plugin that records what it receives; ``fail`` makes a hook raise."""

    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.seen: list[tuple[str, Any, str]] = []
        self.fail = fail or {}

    def _got(self, hook: str, event: Any, channel: str = "") -> None:
        self.seen.append((hook, event, channel))
        if hook in self.fail:
            raise self.fail[hook]

    @hookimpl
    def bccrm_email_logged(self, event: EmailLogged, channel: str) -> None:
        self._got("email_logged", event, channel)

    @hookimpl
    def bccrm_contact_created(self, event: ContactCreated) -> None:
        self._got("contact_created", event)

    @hookimpl
    def bccrm_review_decided(self, event: ReviewDecided) -> None:
        self._got("review_decided", event)

    @hookimpl
    def bccrm_legal_basis_flagged(self, event: LegalBasisFlagged) -> None:
        self._got("legal_basis_flagged", event)

    def of(self, hook: str) -> list[Any]:
        return [event for name, event, _ in self.seen if name == hook]


class EmailOnly:
    """A plugin that takes only bccrm_email_logged; ``fail`` makes it raise."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.seen: list[EmailLogged] = []
        self.fail = fail

    @hookimpl
    def bccrm_email_logged(self, event: EmailLogged) -> None:
        self.seen.append(event)
        if self.fail is not None:
            raise self.fail


AppFactory = Callable[..., App]


@pytest.fixture
def make_app(make_config: ConfigFactory) -> Iterator[AppFactory]:
    """An app whose plugins are exactly ``plugins`` (name → object), Anna the rep registered."""
    apps: list[App] = []

    def build(installed: dict[str, object], **overrides: Any) -> App:
        overrides.setdefault("plugins", {"retry_base": 0})
        app = build_app(make_config(**overrides))
        upgrade(app.engine)
        app.spool.ensure()
        if not apps:  # the apps of one test share its database
            add_user(app, "anna@example.com", "Anna Nowak")
        apps.append(app)  # closed at the end even when the host below refuses to start
        app._plugins = PluginHost(
            app.config, app.sessions, [Installed(n, p) for n, p in installed.items()]
        )
        return app

    yield build
    for app in apps:
        app.close()


def process(app: App, raw: bytes) -> str:
    envelope = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
    return app.processor().process("test", raw, envelope).status


def outbound(to: str = "Jan Kowalski <jan@acme.pl>", **kw: Any) -> bytes:
    return make_message(sender="Anna Nowak <anna@example.com>", to=to, **kw)


def deliver(app: App) -> Any:
    return Dispatcher(app.plugins).run()


def deliveries(app: App) -> list[PluginDelivery]:
    with app.sessions() as session:
        return list(session.scalars(select(PluginDelivery).order_by(PluginDelivery.id)))


# -- the hooks ------------------------------------------------------------------------------


def test_every_hook_has_a_test() -> None:
    """datasette's rule: a hook nobody tests is a hook nobody knows still works."""
    names = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_"):
                names.add(node.name)
    missing = [h for h in HOOK_NAMES if not any(n.startswith(f"test_hook_{h}") for n in names)]
    assert HOOK_NAMES and not missing


def test_hook_bccrm_configure_reads_settings_and_refuses_bad_ones(
    make_app: AppFactory, tmp_path: Path
) -> None:
    example = load_example()
    app = make_app(
        {"keyword_alert": example},
        plugin={"keyword_alert": {"words": ["Pilne"], "path": str(tmp_path / "a.jsonl")}},
    )
    assert app.plugins.contexts["keyword_alert"].state["words"] == ("pilne",)
    with pytest.raises(PluginError, match=r"keyword_alert.*path: must be set"):
        make_app({"keyword_alert": load_example()}, plugin={"keyword_alert": {"words": ["x"]}})
    with pytest.raises(PluginError, match=r"plugin.keyword_alert.wrods"):
        make_app({"keyword_alert": load_example()}, plugin={"keyword_alert": {"wrods": ["x"]}})


def test_hook_bccrm_message_parsed_notes_and_failures_are_isolated(make_app: AppFactory) -> None:
    class Broken:
        @hookimpl
        def bccrm_message_parsed(self, ctx: Any) -> None:
            raise RuntimeError("plugin bug")

    example = load_example()
    app = make_app(
        {"broken": Broken(), "keyword_alert": example},
        plugin={"keyword_alert": {"words": ["oferta"], "path": "alerts.jsonl"}},
    )
    envelope = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
    outcome = app.processor().process("t", outbound(subject="Oferta"), envelope)
    assert outcome.status == "logged"  # the broken plugin did not stop the message
    assert ("keyword_alert", "watched word in the subject") in outcome.notes
    assert app.plugins.failures["broken.bccrm_message_parsed"] == 1


def test_hook_bccrm_privacy_rules_run_before_nothing_left(make_app: AppFactory) -> None:
    app = make_app({"keyword_alert": load_example()})
    assert process(app, outbound(subject="[confidential] Fuzja")) == "dropped"
    assert process(app, outbound(subject="Oferta")) == "logged"
    with app.sessions() as session:
        reasons = [
            e.details["reason"]
            for e in session.scalars(
                select(AuditEntry).where(AuditEntry.action == "message.dropped")
            )
        ]
    assert reasons == ["privacy: keyword_alert.confidential"]


def test_hook_bccrm_enrich_contact_fills_empty_fields_only(make_app: AppFactory) -> None:
    class Directory:
        @hookimpl
        def bccrm_enrich_contact(self, contact: Any, evidence: Any) -> dict[str, str] | None:
            if evidence.domain != "acme.pl":
                return None
            return {
                "company.industry": "Software",
                "company.country": "PL",
                "company.name": "ACME from the file",
                "title": "CTO",
                "not.a.field": "ignored",
            }

    app = make_app({"directory": Directory()})
    assert process(app, outbound()) == "logged"
    stats = deliver(app)
    assert stats.enriched == 1
    with app.sessions() as session:
        contact = session.scalars(select(Contact)).one()
        company = session.get_one(Company, contact.company_id)
        assert (company.industry, company.country, company.size) == ("Software", "PL", "")
        assert company.name == "ACME from the file"  # bccrm had only the domain as a name
        assert contact.title == "CTO"
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "contact.enriched")
        ).one()
        assert sorted(audit.details["fields"]) == [
            "company.country",
            "company.industry",
            "company.name",
            "title",
        ]
    # A second contact at the same company: its fields are set now, nothing is overwritten.
    process(app, outbound(to="Ewa Nowak <ewa@acme.pl>"))
    assert deliver(app).enriched == 1  # only Ewa's empty title
    with app.sessions() as session:
        assert {c.title for c in session.scalars(select(Contact))} == {"CTO"}


def test_hook_bccrm_channels_deliver_once_per_channel(make_app: AppFactory) -> None:
    recorder = Recorder()

    class Fanout:
        @hookimpl
        def bccrm_channels(self) -> list[str]:
            return ["eu", "us"]

        @hookimpl
        def bccrm_email_logged(self, event: EmailLogged, channel: str) -> None:
            recorder.seen.append(("email_logged", event, channel))

    app = make_app({"fanout": Fanout()})
    process(app, outbound())
    deliver(app)
    assert sorted(channel for _, _, channel in recorder.seen) == ["eu", "us"]
    assert [d.status for d in deliveries(app)] == ["done", "done"]


def test_hook_bccrm_email_logged_carries_people_links_and_no_body(make_app: AppFactory) -> None:
    recorder = Recorder()
    app = make_app({"recorder": recorder})
    process(app, outbound(body="Dzień dobry,\n\nprosimy o wycenę.\n\nAnna\n"))
    process(app, outbound())  # another copy? no: a new Message-ID, a second email
    deliver(app)
    first, second = recorder.of("email_logged")
    assert first.event_id < second.event_id
    assert first.direction == "outbound" and first.subject == "Oferta na wdrożenie"
    assert [c.email for c in first.contacts] == ["jan@acme.pl"]
    assert first.contacts[0].objecting is False
    assert first.loggers == ("anna@example.com",)
    assert "wycenę" in first.reply_text
    assert first.company_ids and first.recipients == ("jan@acme.pl",)


def test_hook_bccrm_email_logged_has_no_text_below_level_full(make_app: AppFactory) -> None:
    recorder = Recorder()
    app = make_app({"recorder": recorder}, privacy={"level": "metadata"})
    process(app, outbound(body="Tajne dane.\n"))
    deliver(app)
    [event] = recorder.of("email_logged")
    assert (event.privacy_level, event.reply_text) == ("metadata", "")


def test_hook_bccrm_contact_created(make_app: AppFactory) -> None:
    recorder = Recorder()
    app = make_app({"recorder": recorder})
    process(app, outbound())
    deliver(app)
    [event] = recorder.of("contact_created")
    assert (event.first_name, event.last_name, event.domain) == ("Jan", "Kowalski", "acme.pl")
    assert event.contact.email == "jan@acme.pl"


def test_hook_bccrm_review_decided(make_app: AppFactory) -> None:
    recorder = Recorder()
    app = make_app({"recorder": recorder}, matching={"create_contacts": "review"})
    process(app, outbound())
    [item] = ReviewService(app.sessions, app.config, "cli:rita").list()
    ReviewService(app.sessions, app.config, "cli:rita").approve(item.id)
    deliver(app)
    [event] = recorder.of("review_decided")
    assert (event.item_id, event.item_kind, event.status) == (item.id, "new_contact", "approved")
    assert event.decided_by == "cli:rita"
    assert all(not isinstance(v, str) for v in event.applied.values())  # ids, no typed text


def test_hook_bccrm_legal_basis_flagged(make_app: AppFactory) -> None:
    recorder = Recorder()
    app = make_app({"recorder": recorder}, privacy={"require_legal_basis": True})
    process(app, outbound())
    deliver(app)
    [event] = recorder.of("legal_basis_flagged")
    assert event.reason == "no_confirmed_basis"
    assert event.email_id == recorder.of("email_logged")[0].email_id


def test_hook_bccrm_tick_runs_from_the_worker_with_the_hosts_clock(make_app: AppFactory) -> None:
    ticks: list[datetime] = []

    class Clock:
        @hookimpl
        def bccrm_tick(self, now: datetime) -> None:
            ticks.append(now)

    app = make_app({"clock": Clock()})
    fixed = datetime(2026, 11, 30, 8, 0, tzinfo=utcnow().tzinfo)
    app.plugins.now = lambda: fixed
    app.worker().plugins_pass(force=True)
    assert ticks == [fixed]


# -- the outbox -------------------------------------------------------------------------------


def test_a_retry_waits_with_backoff_and_then_delivers(make_app: AppFactory) -> None:
    recorder = EmailOnly(fail=RetryLater("HTTP 503"))
    app = make_app({"recorder": recorder}, plugins={"retry_base": 60, "retry_max": 600})
    process(app, outbound())
    start = utcnow()
    app.plugins.now = lambda: start
    stats = deliver(app)
    assert (stats.delivered, stats.retried) == (0, 1)
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 503")
    assert delivery.next_attempt_at == start + timedelta(seconds=60)
    assert deliver(app).retried == 0  # not due yet
    app.plugins.now = lambda: start + timedelta(seconds=61)
    deliver(app)
    assert deliveries(app)[0].next_attempt_at == start + timedelta(seconds=61 + 120)  # doubled
    recorder.fail = None
    app.plugins.now = lambda: start + timedelta(hours=1)
    assert deliver(app).delivered == 1
    assert len(recorder.seen) == 3
    assert deliveries(app)[0].status == "done"


def test_a_later_event_of_the_same_email_waits_for_the_earlier(make_app: AppFactory) -> None:
    order: list[str] = []

    class Picky:
        down = True

        @hookimpl
        def bccrm_contact_created(self, event: ContactCreated) -> None:
            if self.down:
                raise RetryLater("down")
            order.append("contact_created")

        @hookimpl
        def bccrm_legal_basis_flagged(self, event: LegalBasisFlagged) -> None:
            order.append("legal_basis_flagged")

        @hookimpl
        def bccrm_email_logged(self, event: EmailLogged) -> None:
            order.append("email_logged")

    picky = Picky()
    app = make_app({"picky": picky}, privacy={"require_legal_basis": True})
    process(app, outbound())
    deliver(app)
    # The contact was created from this email: its event comes first, and the others wait.
    assert order == []
    picky.down = False
    deliver(app)
    assert order == ["contact_created", "legal_basis_flagged", "email_logged"]
    assert {d.status for d in deliveries(app)} == {"done"}


def test_an_email_event_waits_while_an_earlier_one_of_that_email_retries(
    make_app: AppFactory,
) -> None:
    seen: list[str] = []

    class Ordered:
        fail_first = True

        @hookimpl
        def bccrm_legal_basis_flagged(self, event: LegalBasisFlagged) -> None:
            if self.fail_first:
                raise RetryLater("down")
            seen.append("flagged")

        @hookimpl
        def bccrm_email_logged(self, event: EmailLogged) -> None:
            seen.append("logged")

    plugin = Ordered()
    app = make_app({"ordered": plugin}, privacy={"require_legal_basis": True})
    process(app, outbound())
    deliver(app)
    assert seen == []  # email_logged came after the flag, which is waiting
    plugin.fail_first = False
    deliver(app)
    assert seen == ["flagged", "logged"]


def test_a_plugin_that_raises_fails_its_delivery_and_not_the_others(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Recorder(fail={"email_logged": KeyError("bug")})
    healthy = Recorder()
    app = make_app({"broken": broken, "healthy": healthy})
    assert process(app, outbound()) == "logged"
    stats = deliver(app)
    assert stats.failed == 1 and stats.errors == {"broken": 1}
    status = {(d.plugin, d.status, d.last_error) for d in deliveries(app)}
    assert ("broken", "failed", "KeyError") in status  # for the plugin's author, in the outbox
    assert "to broken failed: internal error" in caplog.text  # the log names no class
    assert "KeyError" not in caplog.text
    assert len(healthy.of("email_logged")) == 1
    assert deliver(app).delivered == 0  # a failed delivery is not retried by itself


def test_retries_stop_after_max_attempts(make_app: AppFactory) -> None:
    app = make_app(
        {"recorder": EmailOnly(fail=RetryLater("HTTP 500"))},
        plugins={"retry_base": 0, "max_attempts": 3},
    )
    process(app, outbound())
    for _ in range(5):
        deliver(app)
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts) == ("failed", 3)


def test_an_abandoned_delivery_is_taken_again_after_the_lease(make_app: AppFactory) -> None:
    recorder = EmailOnly()
    app = make_app({"recorder": recorder})
    process(app, outbound())
    dispatcher = Dispatcher(app.plugins)
    dispatcher.fan_out(type(dispatcher.run(limit=0))(), 100)
    with app.sessions.begin() as session:
        for delivery in session.scalars(select(PluginDelivery)):
            delivery.status, delivery.updated_at = "running", utcnow()  # a worker died here
    assert deliver(app).delivered == 0
    later = utcnow() + timedelta(minutes=11)
    app.plugins.now = lambda: later
    assert deliver(app).delivered == 1
    assert len(recorder.seen) == 1


def test_events_nobody_listens_to_are_not_kept(make_app: AppFactory) -> None:
    app = make_app({})
    process(app, outbound())
    deliver(app)
    with app.sessions() as session:
        assert session.scalars(select(PluginEvent)).all() == []


def test_the_worker_records_only_the_events_an_enabled_plugin_receives(
    make_app: AppFactory,
) -> None:
    """Nobody takes contact_created here: the new contact's event is not even written (the
    dispatcher would delete it unread), the email's is."""
    app = make_app({"email_only": EmailOnly()})
    assert app.processor().listening == {"email_logged"}
    assert process(app, outbound()) == "logged"  # jan@acme.pl becomes a new contact
    with app.sessions() as session:
        assert session.scalars(select(PluginEvent.kind)).all() == ["email_logged"]
        assert session.scalar(select(func.count()).select_from(Contact)) == 1
    silent = make_app({})
    assert silent.processor().listening == frozenset()
    assert process(silent, outbound(to="Ewa <ewa@acme.pl>")) == "logged"
    with silent.sessions() as session:
        assert session.scalars(select(PluginEvent.kind)).all() == ["email_logged"]  # app's


def test_done_events_are_pruned_after_a_week(make_app: AppFactory) -> None:
    app = make_app({"recorder": Recorder()})
    process(app, outbound())
    deliver(app)
    dispatcher = Dispatcher(app.plugins)
    assert dispatcher.prune() == 0
    app.plugins.now = lambda: utcnow() + timedelta(days=8)
    assert dispatcher.prune() == 2  # the email's and the new contact's events
    assert deliveries(app) == []


def test_erasing_the_email_takes_its_undelivered_events(make_app: AppFactory) -> None:
    recorder = Recorder(
        fail={"email_logged": RetryLater("down"), "contact_created": RetryLater("x")}
    )
    app = make_app({"recorder": recorder})
    process(app, outbound())
    deliver(app)
    from gateway.services.erasure import ErasureService

    ErasureService(app.sessions, app.spool, app.config, actor="cli:dpo").erase("jan@acme.pl")
    with app.sessions() as session:
        kinds = {e.kind for e in session.scalars(select(PluginEvent))}
    assert "email_logged" not in kinds and "contact_created" not in kinds


# -- the host -------------------------------------------------------------------------------


def test_a_misspelt_hook_stops_the_host_at_start(make_app: AppFactory) -> None:
    class Typo:
        @hookimpl
        def bccrm_email_loged(self, event: Any) -> None: ...

    with pytest.raises(
        PluginError, match=r"'typo'.*unknown hook 'bccrm_email_loged' in plugin typo"
    ):
        make_app({"typo": Typo()})


def test_enabled_and_disabled_choose_plugins(make_app: AppFactory) -> None:
    one, two = Recorder(), Recorder()
    app = make_app({"one": one, "two": two}, plugins={"disabled": ["two"], "retry_base": 0})
    process(app, outbound())
    deliver(app)
    assert one.of("email_logged") and not two.of("email_logged")
    infos = {i.name: i for i in app.plugins.infos()}
    assert infos["two"].enabled is False and "bccrm_email_logged" in infos["two"].hooks
    only = make_app({"one": Recorder(), "two": Recorder()}, plugins={"enabled": ["two"]})
    assert only.plugins.enabled == ["two"]
    with pytest.raises(PluginError, match="webhok, which is not installed"):
        make_app({"one": Recorder()}, plugins={"disabled": ["webhok"]})


def test_entry_points_are_loaded_unless_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    found = [EntryPoint("jsonish", "json", "bccrm")]
    monkeypatch.setattr(gateway.plugin_host, "entry_points", lambda group: found)
    assert installed_plugins() == []  # the test suite sets BCCRM_ENTRY_POINTS=off
    monkeypatch.setenv("BCCRM_ENTRY_POINTS", "on")
    [item] = installed_plugins()
    assert (item.name, item.plugin, item.builtin) == ("jsonish", sys.modules["json"], False)


# -- the example plugin and the CLI -----------------------------------------------------------


def test_the_readme_shows_the_example_plugin_as_tested() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert EXAMPLE.read_text(encoding="utf-8").strip() in readme


def test_the_example_plugin_end_to_end_through_the_cli(
    make_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    example = load_example()
    monkeypatch.setattr(
        gateway.plugin_host,
        "installed_plugins",
        lambda: [Installed("keyword_alert", example, "1.0", False)],
    )
    alerts = tmp_path / "alerts.jsonl"
    config = make_config(
        plugin={"keyword_alert": {"words": ["pilne"], "path": str(alerts)}},
        plugins={"retry_base": 0},
    )
    cli = Cli(config, capsys)
    assert cli("db", "upgrade")[0] == 0
    messages = tmp_path / "mail"
    messages.mkdir()
    (messages / "1.eml").write_bytes(outbound(subject="PILNE: umowa"))
    (messages / "2.eml").write_bytes(outbound(subject="Zwykła sprawa"))
    (messages / "3.eml").write_bytes(outbound(subject="[confidential] fuzja"))
    code, out, err = cli("ingest", str(messages))
    assert code == 0, err
    listed = cli.json("plugins", "list")
    assert listed[0]["name"] == "keyword_alert" and listed[0]["enabled"] is True
    assert "bccrm_privacy_rules" in listed[0]["hooks"]
    code, out, _ = cli("plugins", "deliver")
    assert code == 0 and "2 delivered" in out
    lines = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert [line["subject"] for line in lines] == ["PILNE: umowa"]
    alerts.unlink()
    alerts.mkdir()  # a directory: writing fails with an OSError → RetryLater
    (messages / "1.eml").unlink()
    (messages / "4.eml").write_bytes(outbound(subject="pilne znowu"))
    assert cli("ingest", str(messages))[0] == 0
    code, out, _ = cli("plugins", "deliver")
    assert "1 to retry" in out
    outbox = cli.json("plugins", "outbox")
    assert outbox["counts"]["keyword_alert"]["pending"] == 1


def test_plugin_settings_must_be_tables() -> None:
    from gateway.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=r"\[plugin.webhook\]"):
        parse_config({"plugin": {"webhook": 1}}, base_dir=ROOT)
    with pytest.raises(ConfigError, match=r"plugins\.max_attempts: must be 1\.\.100"):
        parse_config({"plugins": {"max_attempts": 0}}, base_dir=ROOT)


def test_failed_deliveries_are_sent_again_with_plugins_retry(
    make_app: AppFactory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = EmailOnly(fail=ValueError("bug"))
    app = make_app({"emails": plugin})
    monkeypatch.setattr(
        gateway.plugin_host, "installed_plugins", lambda: [Installed("emails", plugin)]
    )
    process(app, outbound())
    cli = Cli(app.config, capsys, "plugins")
    code, out, _ = cli("deliver")
    assert code == 1 and "1 failed" in out
    code, out, _ = cli("outbox")
    assert "emails           1 failed" in out and "email_logged" in out and "ValueError" in out
    assert cli("retry")[0] == 2  # names nothing
    plugin.fail = None
    code, out, _ = cli("retry", "--all")
    assert (code, out) == (0, "1 deliveries will be tried again\n")
    code, out, _ = cli("deliver")
    assert code == 0 and "1 delivered" in out
    assert len(plugin.seen) == 2


def test_the_installed_built_in_plugins_load_from_their_entry_points(app: App) -> None:
    """What a user gets: `bccrm plugins list` in a process that loads entry points finds the
    four built-ins (a typo in pyproject.toml's entry points fails here)."""
    command = ["--config", str(app.config.source), "plugins", "list", "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "gateway", *command],
        capture_output=True,
        text=True,
        env={**os.environ, "BCCRM_ENTRY_POINTS": "on"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = {p["name"]: p for p in json.loads(done.stdout)}
    assert {"enrichment", "hubspot", "tasks", "webhook"} <= set(listed)
    for name in ("enrichment", "hubspot", "tasks", "webhook"):
        assert listed[name]["builtin"] and listed[name]["enabled"], name
    assert "bccrm_email_logged" in listed["webhook"]["hooks"]
    assert "bccrm_tick" in listed["tasks"]["hooks"]
