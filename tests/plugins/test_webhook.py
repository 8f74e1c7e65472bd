"""The webhook plugin (issue #8): events POSTed as signed JSON to a real HTTP server on
127.0.0.1, retried through the outbox while an endpoint is down, slow or busy, failed for good
when it refuses, and listed by ``bccrm webhooks log`` — on SQLite, and PostgreSQL in CI."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import plugins.webhook as webhook
from gateway.app import App, build_app
from gateway.crm import PluginDelivery, PluginEvent
from gateway.crm.db import upgrade
from gateway.hooks import ReviewDecided, hookimpl
from gateway.outbox import Dispatcher, DispatchStats, emit
from gateway.pipeline import Outcome
from gateway.plugin_host import Installed, PluginError, PluginHost
from gateway.services.webhooks import WebhookDelivery, WebhookLogService
from gateway.spool import Envelope
from tests.conftest import ConfigFactory
from tests.plugins.httpserver import HttpServer, Reply, Request
from tests.support import LOG, Cli, add_user, make_message

FORWARD = Path(__file__).parents[1] / "data" / "parsing" / "fwd-outlook-en-customer-reply.eml"
SECRET = "whsec-test-0123456789"
START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


class Clock:
    """The host's clock: fixed until a test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def installed() -> list[Installed]:
    return [Installed("webhook", webhook, "", True)]


def endpoint(name: str, url: str, **keys: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "secret": SECRET, **keys}


StartHost = Callable[..., PluginHost]


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with HttpServer() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def start(app: App, make_config: ConfigFactory, clock: Clock) -> StartHost:
    """Build the plugin host with these ``[[plugin.webhook.endpoint]]`` tables (and
    ``[plugins]`` overrides) on ``clock``, and make ``app`` use it."""
    add_user(app, "anna@example.com", "Anna Nowak")

    def build(*endpoints: dict[str, Any], **plugins: Any) -> PluginHost:
        tables = {"plugin.webhook.endpoint": list(endpoints)} if endpoints else {}
        config = make_config(plugins={"retry_base": 0, **plugins}, **tables)
        host = PluginHost(config, app.sessions, plugins=installed(), now=clock)
        app._plugins = host
        return host

    return build


@pytest.fixture
def refuse(app: App, make_config: ConfigFactory) -> Callable[..., str]:
    """The PluginError text a host start with these endpoint tables gives."""

    def check(*endpoints: dict[str, Any], **settings: Any) -> str:
        tables: dict[str, Any] = {"plugin.webhook": settings} if settings else {}
        if endpoints:
            tables["plugin.webhook.endpoint"] = list(endpoints)
        with pytest.raises(PluginError) as caught:
            PluginHost(make_config(**tables), app.sessions, plugins=installed())
        return str(caught.value)

    return check


def log_mail(app: App, to: str, subject: str = "") -> Outcome:
    """Anna's outbound mail to ``to``, as the edge spools it from a trusted MTA."""
    raw = make_message(to=to, subject=subject or f"Oferta dla {to}")
    envelope = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)
    outcome = app.processor().process(f"test-{to}-{subject}", raw, envelope)
    assert outcome.status == "logged"
    return outcome


def decide(app: App, email_id: int, item_id: int) -> None:
    """A review decision about ``email_id``: one more event in that email's order."""
    with app.sessions.begin() as session:
        emit(session, ReviewDecided(item_id, "which_deal", "approved", "cli", email_id=email_id))


def events_of(app: App) -> list[int]:
    with app.sessions() as session:
        return list(session.scalars(select(PluginEvent.id).order_by(PluginEvent.id)))


def events_by_email(app: App) -> dict[int, list[int]]:
    """Event ids per email, in the order they were recorded."""
    with app.sessions() as session:
        rows = session.execute(
            select(PluginEvent.email_id, PluginEvent.id)
            .where(PluginEvent.email_id.is_not(None))
            .order_by(PluginEvent.id)
        ).all()
    found: dict[int, list[int]] = {}
    for email_id, event_id in rows:
        found.setdefault(email_id, []).append(event_id)
    return found


def run(host: PluginHost, passes: int = 1) -> None:
    """Delivery passes (each tries a delivery at most once; retry_base 0 makes a retry due at
    once)."""
    dispatcher = Dispatcher(host)
    for _ in range(passes):
        dispatcher.run()


def delivery_id(request: Request) -> int:
    return int(request.header("X-Bccrm-Delivery"))


def deliveries(app: App, **filters: Any) -> list[WebhookDelivery]:
    return WebhookLogService(app.sessions).deliveries(**filters)


# -- what is sent -------------------------------------------------------------------------------


def test_request_is_signed_json_with_the_event(
    app: App, start: StartHost, server: HttpServer
) -> None:
    """One logged email → a POST of {id, type, created, data} with the documented headers."""
    host = start(endpoint("crm", server.url()))
    outcome = log_mail(app, "jan@acme.pl", "Zamówienie – ŻÓŁW")
    Dispatcher(host).run()
    [request] = [r for r in server.requests if r.header("X-Bccrm-Event") == "email_logged"]
    document = request.json()
    assert set(document) == {"id", "type", "created", "data"}
    assert document["type"] == "email_logged"
    assert document["id"] == delivery_id(request) > 0
    assert datetime.fromisoformat(document["created"]).tzinfo is not None
    assert document["data"]["email_id"] == outcome.email_id
    assert document["data"]["subject"] == "Zamówienie – ŻÓŁW"
    assert "event_id" not in document["data"]
    assert request.method == "POST" and request.path == "/hook"
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent").startswith("bccrm/")
    assert request.header("X-Bccrm-Signature").startswith(f"t={int(START.timestamp())},v1=")


def test_signature_is_hmac_sha256_of_timestamp_and_body(
    app: App, start: StartHost, server: HttpServer
) -> None:
    """The v1 value is HMAC-SHA256(secret, "<t>.<body>") — receivers can check it without bccrm."""
    host = start(endpoint("crm", server.url()))
    log_mail(app, "jan@acme.pl")
    Dispatcher(host).run()
    request = server.requests[0]
    stamp = int(START.timestamp())
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + request.body, hashlib.sha256)
    assert request.header("X-Bccrm-Signature") == f"t={stamp},v1={expected.hexdigest()}"


def test_verify_signature_accepts_only_the_unchanged_recent_body(
    app: App, start: StartHost, server: HttpServer
) -> None:
    """A changed body, another secret, a stale or future timestamp or a mangled header: False."""
    host = start(endpoint("crm", server.url(), events=["email_logged"]))
    log_mail(app, "jan@acme.pl")
    Dispatcher(host).run()
    [request] = server.requests
    changed = request.body.replace(b"Oferta", b"Offer")
    assert changed != request.body
    header, body, now = request.header("X-Bccrm-Signature"), request.body, START.timestamp()
    assert webhook.verify_signature(SECRET, header, body, now=now)
    assert webhook.verify_signature(SECRET, header, body.decode(), now=now + 299)
    assert not webhook.verify_signature(SECRET, header, changed, now=now)
    assert not webhook.verify_signature("another-secret", header, body, now=now)
    assert not webhook.verify_signature(SECRET, header, body, now=now + 301)  # a replay
    assert not webhook.verify_signature(SECRET, header, body, now=now - 301)
    assert webhook.verify_signature(SECRET, header, body, tolerance=3600, now=now + 3000)
    stamp, signed = header.split(",")
    for broken in ("", "v1=abc", stamp, f"t=x,{signed}", f"t=²,{signed}", f"{stamp},v1=é"):
        assert not webhook.verify_signature(SECRET, broken, body, now=now)
    # A secret being rotated: the header may carry a signature per secret.
    rotated = f"{header},v1={'0' * 64}"
    assert webhook.verify_signature(SECRET, rotated, body, now=now)


def test_each_endpoint_gets_only_the_events_it_takes(
    app: App, start: StartHost, server: HttpServer
) -> None:
    """``events`` filters per endpoint; the log service leaves the skipped kinds out on request."""
    host = start(
        endpoint("emails", server.url("/emails"), events=["email_logged"]),
        endpoint("people", server.url("/people"), events=["contact_created"]),
        endpoint("all", server.url("/all")),
    )
    log_mail(app, "jan@acme.pl")
    log_mail(app, "ewa@beta.pl")
    Dispatcher(host).run()
    seen = Counter((r.path, r.header("X-Bccrm-Event")) for r in server.requests)
    assert seen == {
        ("/emails", "email_logged"): 2,
        ("/people", "contact_created"): 2,
        ("/all", "email_logged"): 2,
        ("/all", "contact_created"): 2,
    }
    # The log shows what was sent: given each endpoint's kinds, skipped events are left out.
    kinds = {"emails": ["email_logged"], "people": ["contact_created"]}
    shown = Counter((d.endpoint, d.event) for d in deliveries(app, kinds=kinds))
    assert shown == {(path.strip("/"), kind): n for (path, kind), n in seen.items()}
    assert len(deliveries(app)) == 12  # without them, every fanned-out delivery


def test_another_plugin_raising_does_not_touch_webhook_deliveries(
    app: App, make_config: ConfigFactory, server: HttpServer
) -> None:
    """A plugin that fails every delivery fails only its own."""

    class Broken:
        @hookimpl
        def bccrm_email_logged(self) -> None:
            raise RuntimeError("boom")

    add_user(app, "anna@example.com", "Anna Nowak")
    config = make_config(
        plugins={"retry_base": 0},
        **{"plugin.webhook.endpoint": [endpoint("crm", server.url())]},
    )
    plugins = [Installed("broken", Broken()), *installed()]
    app._plugins = host = PluginHost(config, app.sessions, plugins=plugins)
    log_mail(app, "jan@acme.pl")
    log_mail(app, "ewa@beta.pl")
    stats = Dispatcher(host).run()
    assert stats.failed == 2 and stats.errors == {"broken": 2}
    assert Counter(r.header("X-Bccrm-Event") for r in server.delivered()) == {
        "email_logged": 2,
        "contact_created": 2,
    }
    assert {d.status for d in deliveries(app)} == {"done"}


# -- when the endpoint is not well ----------------------------------------------------------------


def test_one_endpoint_down_the_other_still_gets_everything(
    app: App, start: StartHost, server: HttpServer
) -> None:
    """Channels are independent: a refused connection delays only its own endpoint."""
    down = HttpServer().start()
    down.stop()  # a port where nothing listens
    host = start(endpoint("up", server.url()), endpoint("down", down.url()))
    for to in ("jan@acme.pl", "ewa@beta.pl", "ola@gamma.pl"):
        log_mail(app, to)
    stats = Dispatcher(host).run(limit=30)
    assert len(server.delivered()) == 6
    assert {d.status for d in deliveries(app, endpoint="up")} == {"done"}
    waiting = deliveries(app, endpoint="down")
    assert len(waiting) == 6 and {d.status for d in waiting} == {"pending"}
    assert {d.last_error for d in waiting if d.attempts} == {"connection refused"}
    assert stats.failed == 0 and stats.retried > 0


def test_endpoint_down_for_a_while_gets_every_event_once_in_order(
    app: App, start: StartHost, server: HttpServer
) -> None:
    """Up, then down while mail is logged and retries fail, then up again (answering 503 twice
    first): every event arrives exactly once, and each email's events in the order recorded."""
    host = start(endpoint("crm", server.url()))
    dispatcher = Dispatcher(host)
    first = log_mail(app, "jan@acme.pl").email_id
    assert first is not None
    decide(app, first, 1)
    dispatcher.run()
    assert len(server.delivered()) == 3

    server.stop()
    for n, to in enumerate(("ewa@beta.pl", "ola@gamma.pl", "jan@acme.pl"), start=2):
        email = log_mail(app, to, f"Wątek {n}").email_id
        assert email is not None
        decide(app, email, 10 * n)
        decide(app, email, 10 * n + 1)
    decide(app, first, 2)
    run(host, passes=3)
    pending = deliveries(app, status="pending")
    assert len(pending) == len(events_of(app)) - 3 == 12
    assert {d.last_error for d in pending if d.attempts} == {"connection refused"}
    assert len(server.requests) == 3

    server.start()
    server.script(Reply(503), Reply(503, {"Retry-After": "0"}))
    run(host, passes=3)
    assert len(server.requests) == 3 + 12 + 2  # two answered 503, each sent again
    assert deliveries(app, status="pending") == []
    assert {d.status for d in deliveries(app)} == {"done"}

    sent = [delivery_id(r) for r in server.delivered()]
    assert Counter(sent) == dict.fromkeys(events_of(app), 1)  # each event once
    for email, expected in events_by_email(app).items():
        got = [event for event in sent if event in expected]
        assert got == expected, f"email {email}: {got} != {expected}"


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [
        ("120", 120),
        (format_datetime(START + timedelta(minutes=10), usegmt=True), 600),
        ("86400", 3600),  # capped at an hour
        ("soon", 0),  # unreadable: the backoff (retry_base 0)
        ("²", 0),  # a digit, but not an ASCII one
    ],
    ids=["seconds", "http-date", "capped", "unreadable", "superscript"],
)
def test_429_retry_after_sets_the_next_attempt(
    app: App, start: StartHost, server: HttpServer, clock: Clock, retry_after: str, seconds: int
) -> None:
    """``Retry-After`` (seconds or HTTP date, at most an hour) is when the outbox tries again."""
    host = start(endpoint("crm", server.url(), events=["email_logged"]))
    server.script(Reply(429, {"Retry-After": retry_after}))
    log_mail(app, "jan@acme.pl")
    dispatcher = Dispatcher(host)
    if seconds:
        dispatcher.run()
        [waiting] = deliveries(app, status="pending")
        assert waiting.last_error == "HTTP 429" and waiting.attempts == 1
        assert waiting.next_attempt_at == START + timedelta(seconds=seconds)
        clock.now = START + timedelta(seconds=seconds)
    dispatcher.run()
    dispatcher.run()
    [done] = deliveries(app, kinds={"crm": ["email_logged"]})
    assert (done.status, done.attempts, done.delivered_at) == ("done", 2, clock.now)
    assert [r.status for r in server.requests] == [429, 200]


@pytest.mark.parametrize("status", [410, 400, 302])
def test_a_refusal_fails_the_delivery_without_retrying(
    app: App, start: StartHost, server: HttpServer, status: int
) -> None:
    """4xx (but 408/429) and 3xx: failed for good; a redirect is not followed."""
    host = start(endpoint("crm", server.url(), events=["email_logged"]))
    server.script(Reply(status, {"Location": server.url("/elsewhere")}))
    log_mail(app, "jan@acme.pl")
    stats = Dispatcher(host).run()
    assert stats.failed == 1 and stats.retried == 0
    [failed] = deliveries(app, status="failed")
    assert (failed.attempts, failed.last_error) == (1, f"HTTP {status}")
    Dispatcher(host).run()
    assert [(r.path, r.status) for r in server.requests] == [("/hook", status)]


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_are_retried(
    app: App, start: StartHost, server: HttpServer, status: int
) -> None:
    """5xx and 408 are temporary: the delivery is retried and then done."""
    host = start(endpoint("crm", server.url(), events=["email_logged"]))
    server.script(Reply(status))
    log_mail(app, "jan@acme.pl")
    run(host, passes=3)
    [done] = deliveries(app, kinds={"crm": ["email_logged"]})
    assert (done.status, done.attempts) == ("done", 2)
    assert [r.status for r in server.requests] == [status, 200]


def test_a_slow_endpoint_times_out_and_is_tried_again(
    app: App, start: StartHost, server: HttpServer, clock: Clock
) -> None:
    """A server slower than ``timeout``: "timeout" in the log, retried after the backoff."""
    host = start(endpoint("crm", server.url(), events=["email_logged"], timeout=0.2), retry_base=60)
    server.script(Reply(200, delay=60))  # answers only when the server stops
    log_mail(app, "jan@acme.pl")
    Dispatcher(host).run()
    [waiting] = deliveries(app, kinds={"crm": ["email_logged"]})
    assert (waiting.status, waiting.last_error) == ("pending", "timeout")
    assert waiting.next_attempt_at == START + timedelta(seconds=60)
    clock.now = waiting.next_attempt_at
    Dispatcher(host).run()
    [done] = deliveries(app, kinds={"crm": ["email_logged"]})
    assert (done.status, done.attempts) == ("done", 2)
    # The receiver saw the event twice, with one delivery id to drop the duplicate by.
    assert len({delivery_id(r) for r in server.requests}) == 1 < len(server.requests)


def test_an_endpoint_taken_out_of_the_configuration_fails_its_deliveries(
    app: App, start: StartHost, server: HttpServer
) -> None:
    """Events fanned out to an endpoint that a restart no longer knows are failed, not lost
    silently and not sent anywhere else."""
    start(endpoint("kept", server.url("/kept")), endpoint("removed", server.url("/removed")))
    log_mail(app, "jan@acme.pl")
    Dispatcher(app.plugins).fan_out(DispatchStats(), 100)
    host = start(endpoint("kept", server.url("/kept")))
    run(host)
    assert {r.path for r in server.requests} == {"/kept"}
    assert {(d.status, d.last_error) for d in deliveries(app, endpoint="removed")} == {
        ("failed", "EndpointNotConfigured")
    }


def test_logs_name_the_endpoint_never_the_url_secret_or_mail(
    app: App, start: StartHost, server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The plugin's and the outbox's log lines, tracebacks included, at DEBUG."""
    caplog.set_level(logging.DEBUG)
    down = HttpServer().start()
    down.stop()
    host = start(
        endpoint("refusing", server.url("/t0ken-in-path"), events=["email_logged"]),
        endpoint("down", down.url("/t0ken-in-path")),
    )
    server.script(Reply(403))
    log_mail(app, "jan@acme.pl", "Poufna oferta")
    run(host)
    ours = ("bccrm.plugins", "bccrm.outbox")
    formatter = logging.Formatter()
    text = "\n".join(formatter.format(r) for r in caplog.records if r.name.startswith(ours))
    assert "refusing: HTTP 403" in text and "connection refused" in text
    assert "to webhook failed: HTTP 403" in text  # the reason, not a class name
    for secret in ("t0ken", SECRET, "Poufna", "jan@acme.pl"):
        assert secret not in text


# -- configuration ------------------------------------------------------------------------------


def test_without_settings_the_plugin_does_nothing(app: App, start: StartHost) -> None:
    """No ``[plugin.webhook]``: no channels, so events are not even kept for it."""
    host = start()
    assert host.channels("webhook") == ()
    log_mail(app, "jan@acme.pl")
    assert Dispatcher(host).run().fanned_out == 0
    with app.sessions() as session:
        assert session.scalars(select(PluginDelivery)).all() == []


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "endpoint[0].url: expected an http://"),
        ({"url": "file:///etc/passwd"}, "endpoint[0].url: expected an http://"),
        ({"url": "https://hooks.example.com:44x/tok3n"}, "endpoint[0].url: not a valid URL"),
        ({"url": "https://hooks.example.com/tok3n x"}, "endpoint[0].url: must not contain spaces"),
        ({"url": ""}, "endpoint[0].url: required"),
        ({"url": "https://user:tok3n@hooks.example.com/"}, "must not contain user:password@"),
        ({"events": ["email_logged", "email_sent"]}, "unknown event 'email_sent'"),
        ({"events": []}, "endpoint[0].events: names no event"),
        ({"secret": ""}, "endpoint[0].secret: required"),
        ({"secret.env": "BCCRM_TEST_UNSET_WEBHOOK_SECRET"}, "BCCRM_TEST_UNSET_WEBHOOK_SECRET"),
        ({"name": "a b"}, "endpoint[0].name: required"),
        ({"timeout": 0}, "endpoint[0].timeout: must be"),
        ({"evnets": ["email_logged"]}, "endpoint[0].evnets: unknown option"),
    ],
)
def test_bad_endpoint_settings_stop_the_start(
    refuse: Callable[..., str], table: dict[str, Any], problem: str
) -> None:
    """Each bad endpoint setting stops the host with the key named, never echoing URL or secret."""
    settings = endpoint("crm", "https://hooks.example.com/tok3n") | table
    if "secret.env" in table:
        del settings["secret"]
    text = refuse(settings)
    assert problem in text
    assert "tok3n" not in text and SECRET not in text  # URLs and secrets are never echoed


def test_duplicate_names_and_stray_keys_are_refused(refuse: Callable[..., str]) -> None:
    """Endpoint names are channel names, so unique; a typo in ``[plugin.webhook]`` is an error."""
    one = endpoint("crm", "https://a.example.com/")
    assert "endpoint[1].name: 'crm' is used twice" in refuse(one, one)
    assert "plugin.webhook.retries: unknown option" in refuse(one, retries=3)


def test_secret_and_url_from_the_environment_or_a_file(
    app: App, start: StartHost, server: HttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``{ env = … }`` and ``{ file = … }`` work for the URL and for the secret."""
    monkeypatch.setenv("BCCRM_TEST_WEBHOOK_URL", server.url("/from-env"))
    (tmp_path / "secret").write_text("from-a-file\n", encoding="utf-8")
    host = start(
        {
            "name": "crm",
            "url.env": "BCCRM_TEST_WEBHOOK_URL",
            "secret.file": str(tmp_path / "secret"),
            "events": ["email_logged"],
        }
    )
    log_mail(app, "jan@acme.pl")
    Dispatcher(host).run()
    [request] = server.requests
    assert request.path == "/from-env"
    signature, now = request.header("X-Bccrm-Signature"), START.timestamp()
    assert webhook.verify_signature("from-a-file", signature, request.body, now=now)


# -- bccrm webhooks log, and end to end -----------------------------------------------------------


NAMES = ("good", "gone", "busy")


def test_webhooks_log_lists_deliveries(
    app: App,
    start: StartHost,
    server: HttpServer,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Delivered, failed and waiting deliveries, filtered by endpoint, status and number; events
    an endpoint does not take (here contact_created) are not listed."""
    host = start(
        *(endpoint(name, server.url(f"/{name}"), events=["email_logged"]) for name in NAMES),
        retry_base=60,
    )
    server.script(Reply(410), path="/gone")
    server.script(Reply(503, {"Retry-After": "120"}), path="/busy")
    email = log_mail(app, "jan@acme.pl").email_id
    Dispatcher(host).run()
    cli = Cli(host.config, capsys)

    code, out, err = cli("webhooks", "log")
    assert code == 0, err
    header, *lines = out.splitlines()
    assert header.split() == ["ID", "ENDPOINT", "EVENT", "EMAIL", "STATUS", "TRIES", "WHEN"]
    assert [line.split()[1:6] for line in lines] == [
        ["busy", "email_logged", str(email), "pending", "1"],
        ["gone", "email_logged", str(email), "failed", "1"],
        ["good", "email_logged", str(email), "done", "1"],
    ]
    next_try = (START + timedelta(seconds=120)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert lines[0].endswith(f"next try {next_try}  (HTTP 503)")
    assert lines[1].endswith("(HTTP 410)")
    assert "delivered" in lines[2]

    [failed] = cli.json("webhooks", "log", "--status", "failed")
    assert (failed["endpoint"], failed["attempts"]) == ("gone", 1)
    [busy] = cli.json("webhooks", "log", "--endpoint", "busy")
    assert busy["next_attempt_at"] == (START + timedelta(seconds=120)).isoformat()
    assert busy["delivered_at"] is None and busy["last_error"] == "HTTP 503"
    assert [r["endpoint"] for r in cli.json("webhooks", "log", "--limit", "2")] == ["busy", "gone"]
    assert cli("webhooks", "log", "--endpoint", "nobody") == (0, "(no deliveries)\n", "")
    with pytest.raises(ValueError, match="unknown status 'lost'"):
        deliveries(app, status="lost")
    with pytest.raises(SystemExit) as usage:
        cli("webhooks", "log", "--status", "lost")
    assert usage.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_ingest_then_deliver_posts_the_email(
    make_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    server: HttpServer,
) -> None:
    """A forwarded customer reply through ``bccrm ingest``; ``bccrm plugins deliver`` POSTs
    it, signed now, to the endpoint, and ``bccrm webhooks log`` shows it delivered."""
    monkeypatch.setattr("gateway.plugin_host.installed_plugins", installed)
    config = make_config(
        plugins={"retry_base": 0},
        **{"plugin.webhook.endpoint": [endpoint("crm", server.url(), events=["email_logged"])]},
    )
    app = build_app(config)
    try:
        upgrade(app.engine)
        add_user(app, "hans.weber@example.com", "Hans Weber")
        cli = Cli(config, capsys)
        assert cli.json("ingest", str(FORWARD))["outcomes"] == {"logged": 1}
        code, _, err = cli("plugins", "deliver")
        assert code == 0, err
        [request] = server.requests
        assert webhook.verify_signature(SECRET, request.header("X-Bccrm-Signature"), request.body)
        data = json.loads(request.body)["data"]
        assert "Warehouse scanners – revised delivery schedule" in data["subject"]
        assert "emily.clarke@brightwave.co.uk" in [c["email"] for c in data["contacts"]]
        [row] = cli.json("webhooks", "log")
        assert (row["event_id"], row["status"]) == (delivery_id(request), "done")
    finally:
        app.close()
