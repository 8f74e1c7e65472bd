"""Prometheus metrics: counters where things happen, gauges computed when scraped.

Counted where they happen (cheap, no I/O beyond prometheus_client's own):

- ``bccrm_smtp_replies_total{code}``: the edge's final reply to each DATA and every refusal
  (4xx/5xx) at any stage, by reply code; a ``250`` is a message durably queued;
- ``bccrm_messages_total{outcome}``: what the worker did with each message: ``logged``,
  ``duplicate``, ``dropped`` (by policy), ``held`` (by a stage, moved to quarantine),
  ``quarantined`` (processing failed) and ``retried`` (put back for a later attempt);
- ``bccrm_stage_seconds{stage}``: time spent in each pipeline stage;
- ``bccrm_worker_restarts_total``: worker processes ``bccrm serve`` had to restart.

Computed at scrape time from the spool and the database (:mod:`gateway.services.health`),
so they are right even after a restart: spool entries, the oldest wait, quarantine size,
review and legal-basis backlog, plugin outbox per status, and ``bccrm_up{part}``. A database
that is down never breaks a scrape: its gauges are left out and ``bccrm_up{part="database"}``
is 0.

The edge and the worker are separate processes. ``bccrm serve`` calls
:func:`enable_multiprocess` before any metric exists, so it and its worker child write to one
directory (prometheus_client's multiprocess mode) that the endpoint reads. Without it (tests,
``bccrm worker`` alone) metrics live in the process's default registry.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, values
from prometheus_client.exposition import start_http_server
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector

from gateway.errors import log_failure

if TYPE_CHECKING:  # the edge and the pipeline import this module: keep it light
    from gateway.services.health import Health

log = logging.getLogger("bccrm.metrics")

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
OUTCOMES = ("logged", "duplicate", "dropped", "held", "quarantined", "retried")
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


@dataclass(frozen=True)
class _Metrics:
    replies: Counter
    messages: Counter
    stages: Histogram
    restarts: Counter


_metrics: _Metrics | None = None
_lock = threading.Lock()


def _get() -> _Metrics:
    """The metrics of this process, created on first use (after :func:`enable_multiprocess`)."""
    global _metrics  # noqa: PLW0603 - one set per process, as prometheus_client wants
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _create()
    return _metrics


def _create() -> _Metrics:
    messages = Counter("bccrm_messages", "Messages the worker finished, by outcome", ["outcome"])
    for outcome in OUTCOMES:  # every series exists from the start, so rate() sees the first
        messages.labels(outcome)
    return _Metrics(
        replies=Counter("bccrm_smtp_replies", "SMTP replies to DATA and refusals", ["code"]),
        messages=messages,
        stages=Histogram(
            "bccrm_stage_seconds",
            "Time spent in a pipeline stage",
            ["stage"],
            buckets=STAGE_BUCKETS,
        ),
        restarts=Counter("bccrm_worker_restarts", "Worker processes restarted by bccrm serve"),
    )


def count_reply(code: str) -> None:
    """One SMTP reply with ``code`` (``"250"``, ``"550"``...)."""
    _get().replies.labels(code).inc()


def count_message(outcome: str) -> None:
    """The worker finished (or put back) one message with ``outcome`` (see :data:`OUTCOMES`)."""
    _get().messages.labels(outcome).inc()


def observe_stage(stage: str, seconds: float) -> None:
    _get().stages.labels(stage).observe(seconds)


def count_worker_restart() -> None:
    _get().restarts.inc()


def multiprocess_dir() -> Path | None:
    value = os.environ.get(ENV_DIR)
    return Path(value) if value else None


def enable_multiprocess(directory: Path) -> None:
    """Share metrics with child processes through ``directory`` (emptied first). Must come
    before this process creates any metric; children inherit it through the environment."""
    if _metrics is not None:
        raise RuntimeError("metrics already exist in this process")
    shutil.rmtree(directory, ignore_errors=True)  # counters of a previous run
    directory.mkdir(mode=0o700, parents=True)
    os.environ[ENV_DIR] = str(directory)
    # prometheus_client picks its value class when imported, which was before serve started.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class HealthCollector:
    """Gauges from :class:`gateway.services.health.Health`, computed at each scrape."""

    def __init__(self, summary: Callable[[], Health]) -> None:
        self.summary = summary

    def describe(self) -> list[Metric]:
        return []  # nothing to check for duplicates; avoids a summary at registration

    def collect(self) -> Iterator[Metric]:
        try:
            health = self.summary()
        except Exception as exc:  # a scrape must answer, whatever failed underneath
            log_failure(log, logging.WARNING, "health summary failed", exc)
            yield _gauge("bccrm_up", "Parts of bccrm that could be read", 0, part="health")
            return
        yield from _spool_gauges(health)
        yield from _database_gauges(health)


def _gauge(name: str, doc: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _spool_gauges(health: Health) -> Iterator[Metric]:
    spool = health.spool
    up = GaugeMetricFamily("bccrm_up", "Parts of bccrm that could be read", labels=["part"])
    up.add_metric(["spool"], 1 if spool.available else 0)
    up.add_metric(["database"], 1 if health.database.available else 0)
    yield up
    if not spool.available:
        return
    entries = GaugeMetricFamily("bccrm_spool_entries", "Spool entries by state", labels=["state"])
    for state, count in (
        ("due", spool.due),
        ("deferred", spool.deferred),
        ("processing", spool.processing),
    ):
        entries.add_metric([state], count)
    yield entries
    yield GaugeMetricFamily(
        "bccrm_spool_oldest_wait_seconds",
        "How long the oldest due spool entry has waited (0 when none)",
        value=spool.oldest_wait or 0.0,
    )
    yield GaugeMetricFamily(
        "bccrm_quarantine_entries", "Entries in quarantine", value=spool.quarantined
    )
    stalled = 1 if health.worker.state == "stalled" else 0
    yield GaugeMetricFamily("bccrm_worker_stalled", "1 when the worker is stalled", value=stalled)


def _database_gauges(health: Health) -> Iterator[Metric]:
    from gateway.services.health import OUTBOX_STATUSES  # noqa: PLC0415 - see the imports

    db = health.database
    if not db.available:
        return
    yield GaugeMetricFamily("bccrm_review_open", "Open review items", value=db.review_open or 0)
    yield GaugeMetricFamily(
        "bccrm_legal_checks_open", "Open legal-basis checks", value=db.legal_checks_open or 0
    )
    outbox = GaugeMetricFamily(
        "bccrm_plugin_outbox", "Plugin deliveries by plugin and status", labels=["plugin", "status"]
    )
    for plugin, counts in sorted(db.outbox.items()):
        for status in OUTBOX_STATUSES:
            outbox.add_metric([plugin, status], counts.get(status, 0))
    yield outbox
    if db.last_worker_activity is not None:
        yield GaugeMetricFamily(
            "bccrm_worker_last_activity_timestamp_seconds",
            "When the worker last finished a message (Unix time)",
            value=db.last_worker_activity.timestamp(),
        )


class _DefaultRegistry:
    """This process's default registry as one collector (no multiprocess directory)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def build_registry(summary: Callable[[], Health]) -> CollectorRegistry:
    """What the endpoint serves: every process's counters plus the scrape-time gauges."""
    registry = CollectorRegistry()
    directory = multiprocess_dir()
    if directory is not None:
        MultiProcessCollector(registry, str(directory))  # type: ignore[no-untyped-call]
        ProcessCollector(registry=registry)  # the edge's own CPU and memory
    else:
        registry.register(_DefaultRegistry())
    registry.register(HealthCollector(summary))
    return registry


@dataclass
class Endpoint:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def start_endpoint(host: str, port: int, summary: Callable[[], Health]) -> Endpoint:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread; OSError if it cannot bind."""
    server, thread = start_http_server(port, host, build_registry(summary))
    endpoint = Endpoint(server, thread)
    shown = f"[{host}]" if ":" in host else host
    log.info("metrics on http://%s:%d/metrics", shown, endpoint.port)
    return endpoint


__all__ = [
    "OUTCOMES",
    "Endpoint",
    "HealthCollector",
    "build_registry",
    "count_message",
    "count_reply",
    "count_worker_restart",
    "enable_multiprocess",
    "observe_stage",
    "start_endpoint",
]
