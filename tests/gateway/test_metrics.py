"""Prometheus metrics: a real endpoint scraped over HTTP and parsed with prometheus_client's
parser; counters moved by the real edge and worker; multiprocess mode across a real
``bccrm serve``; a database outage that leaves the scrape working; JSON logs for journald."""

from __future__ import annotations

import json
import logging
import os
import signal
import smtplib
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics
from gateway.app import App
from gateway.config import Config, ConfigError, DatabaseConfig, DiagnosticsConfig
from gateway.crm.db import make_engine, session_factory
from gateway.logconf import configure_logging
from gateway.pipeline import DEFAULT_STAGES
from gateway.services.health import HealthService
from gateway.spool import Envelope, Spool
from tests.conftest import ConfigFactory
from tests.support import LOG, add_user, drain, make_message, running_edge, serving

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
ENVELOPE = Envelope(mail_from="anna@example.com", rcpt_tos=(LOG,), trusted_peer=True)


def scrape(port: int) -> Samples:
    """Every sample the endpoint serves, keyed by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def endpoint(app: App) -> Iterator[metrics.Endpoint]:
    running = metrics.start_endpoint("127.0.0.1", 0, HealthService(app.sessions, app.spool).summary)
    yield running
    running.close()


def test_metrics_address_is_off_by_default_and_validated(make_config: ConfigFactory) -> None:
    """ "" turns the endpoint off; host:port (IPv6 in brackets) is accepted, anything else is
    a configuration error naming the key."""
    assert not make_config().metrics.enabled
    assert make_config(metrics={"address": "[::1]:9325"}).metrics.host == "::1"
    assert make_config(metrics={"address": "127.0.0.1:0"}).metrics.port == 0
    for bad in ("localhost", "::1:9325", "127.0.0.1:99999", ":9325", "[nonsense]:1"):
        with pytest.raises(ConfigError, match=r"metrics\.address"):
            make_config(metrics={"address": bad})


def test_scrape_shows_spool_gauges_and_counters_move_when_a_message_is_processed(
    app: App, endpoint: metrics.Endpoint
) -> None:
    """A waiting entry shows in the spool gauges; processing it moves the outcome counter
    and every stage's histogram, and empties the spool."""
    add_user(app, "anna@example.com", "Anna Nowak")
    app.spool.store(make_message(), ENVELOPE)
    before = scrape(endpoint.port)
    assert value(before, "bccrm_spool_entries", state="due") == 1
    assert value(before, "bccrm_up", part="database") == 1
    assert value(before, "bccrm_review_open") == 0
    assert drain(app)["logged"] == 1
    after = scrape(endpoint.port)
    logged = ("bccrm_messages_total", {"outcome": "logged"})
    assert value(after, logged[0], **logged[1]) == (value(before, logged[0], **logged[1]) or 0) + 1
    for stage in DEFAULT_STAGES:
        count = value(after, "bccrm_stage_seconds_count", stage=stage)
        assert count == (value(before, "bccrm_stage_seconds_count", stage=stage) or 0) + 1, stage
    assert value(after, "bccrm_spool_entries", state="due") == 0
    assert value(after, "bccrm_spool_oldest_wait_seconds") == 0
    assert value(after, "bccrm_quarantine_entries") == 0
    assert value(after, "bccrm_worker_last_activity_timestamp_seconds") is not None


def test_every_outcome_series_exists_before_its_first_message(endpoint: metrics.Endpoint) -> None:
    samples = scrape(endpoint.port)
    for outcome in metrics.OUTCOMES:
        assert value(samples, "bccrm_messages_total", outcome=outcome) is not None, outcome


def test_edge_counts_queued_messages_and_refusals_by_reply_code(config: Config) -> None:
    """The 250 after DATA and a 550 for a relay attempt are counted; EHLO/MAIL/RCPT 250s
    are not."""

    def replies(code: str) -> float:
        return REGISTRY.get_sample_value("bccrm_smtp_replies_total", {"code": code}) or 0.0

    before = {code: replies(code) for code in ("250", "550")}
    with running_edge(config) as edge, smtplib.SMTP("127.0.0.1", edge.port) as client:
        client.sendmail("anna@example.com", [LOG], make_message())
        client.mail("anna@example.com")
        assert client.rcpt("someone@elsewhere.example")[0] == 550
    assert replies("250") == before["250"] + 1
    assert replies("550") == before["550"] + 1


def test_database_down_still_answers_the_scrape(tmp_path: Path) -> None:
    """SQLite that cannot open its file: the spool gauges are served, the database gauges are
    left out and bccrm_up{part="database"} is 0."""
    (tmp_path / "db-is-a-directory").mkdir()
    engine = make_engine(DatabaseConfig(url=f"sqlite:///{tmp_path / 'db-is-a-directory'}"))
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    spool.store(b"Subject: x\r\n\r\nx\r\n", ENVELOPE)
    running = metrics.start_endpoint(
        "127.0.0.1", 0, HealthService(session_factory(engine), spool).summary
    )
    try:
        samples = scrape(running.port)
    finally:
        running.close()
        engine.dispose()
    assert value(samples, "bccrm_up", part="database") == 0
    assert value(samples, "bccrm_up", part="spool") == 1
    assert value(samples, "bccrm_spool_entries", state="due") == 1
    assert value(samples, "bccrm_review_open") is None
    assert value(samples, "bccrm_messages_total", outcome="logged") is not None


@pytest.mark.postgres
def test_postgresql_down_still_answers_the_scrape(tmp_path: Path) -> None:
    """Nothing listens on the PostgreSQL port: the scrape answers with the database down."""
    engine = make_engine(DatabaseConfig(url="postgresql+psycopg://postgres@127.0.0.1:9/test"))
    spool = Spool(tmp_path / "spool")
    spool.ensure()
    running = metrics.start_endpoint(
        "127.0.0.1", 0, HealthService(session_factory(engine), spool).summary
    )
    try:
        samples = scrape(running.port)
    finally:
        running.close()
        engine.dispose()
    assert value(samples, "bccrm_up", part="database") == 0
    assert value(samples, "bccrm_spool_entries", state="due") == 0


def test_a_failing_health_summary_never_breaks_the_scrape() -> None:
    def broken() -> object:
        raise RuntimeError("boom")

    running = metrics.start_endpoint("127.0.0.1", 0, broken)  # type: ignore[arg-type]
    try:
        samples = scrape(running.port)
    finally:
        running.close()
    assert value(samples, "bccrm_up", part="health") == 0
    assert value(samples, "bccrm_messages_total", outcome="logged") is not None


def test_json_log_format_writes_one_object_per_line_for_journald(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(DiagnosticsConfig(log_format="json"))
    logging.getLogger("bccrm.worker").info("entry %s: logged (email %d)", "ABC", 7)
    logging.getLogger("bccrm.smtp").warning("refused connection from %s", "192.0.2.1")
    lines = capsys.readouterr().err.splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["level"], r["logger"], r["message"]) for r in records] == [
        ("INFO", "bccrm.worker", "entry ABC: logged (email 7)"),
        ("WARNING", "bccrm.smtp", "refused connection from 192.0.2.1"),
    ]


@pytest.mark.slow
def test_serve_exposes_edge_and_worker_counters_in_multiprocess_mode(
    make_config: ConfigFactory,
) -> None:
    """A real ``bccrm serve``: the 250 counted by the edge and the outcome and stage timings
    counted by its worker process appear in one scrape; a killed worker is restarted and
    counted, and the dead worker's counts stay."""
    config = make_config(metrics={"address": "127.0.0.1:0"})
    with serving(config) as (_process, port, logs):
        metrics_port = int(logs.wait_for(r"metrics on http://127\.0\.0\.1:(\d+)/metrics").group(1))
        worker_pid = int(logs.wait_for(r"worker started \(pid (\d+)\)").group(1))
        with smtplib.SMTP("127.0.0.1", port) as client:
            client.sendmail("anna@example.com", [LOG], make_message())
        samples = wait_for_sample(metrics_port, "bccrm_messages_total", outcome="logged")
        assert value(samples, "bccrm_smtp_replies_total", code="250") == 1
        for stage in DEFAULT_STAGES:
            assert value(samples, "bccrm_stage_seconds_count", stage=stage) == 1, stage
        assert value(samples, "bccrm_up", part="database") == 1
        assert value(samples, "bccrm_worker_restarts_total") == 0
        assert (Path(config.spool.path) / "metrics").is_dir()

        os.kill(worker_pid, signal.SIGKILL)
        samples = wait_for_sample(metrics_port, "bccrm_worker_restarts_total")
        assert value(samples, "bccrm_worker_restarts_total") == 1
        assert value(samples, "bccrm_messages_total", outcome="logged") == 1


def wait_for_sample(port: int, name: str, timeout: float = 30, **labels: str) -> Samples:
    """Scrape until sample ``name`` is at least 1 (the worker runs at its own pace)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(port)
        if (value(samples, name, **labels) or 0) >= 1 or time.monotonic() > deadline:
            return samples
        time.sleep(0.1)
