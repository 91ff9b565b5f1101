"""Prometheus metrics (GET /metrics). One naming convention: `gateway_` prefix, counters end in
`_total`, durations in seconds. Every label is from a fixed set: the configured source names (a
name nobody configured is `unknown`), gateway.errors codes, a few fixed words. Never raw error
text, never a client address.

With several workers (`serve --workers N`) prometheus-client runs in multiprocess mode: the
supervisor points PROMETHEUS_MULTIPROC_DIR at an emptied directory under storage.path before the
workers start, each worker writes its samples there, and a scrape of any worker adds them up.
The spool gauges are read from the shared store at scrape time, so they need no aggregation.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.errors import Outcome, Reason

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNKNOWN = "unknown"
# Publish latency: a send to the broker's ack; the ack timeout (2 s default) caps the interesting range.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


SLOW_STAGES = ("headers", "body", "body_unread")  # gateway_slow_clients_total{stage}

class Metrics:
    """The gateway's metrics. Each app has its own (tests build several apps in one process);
    in multiprocess mode the samples go to the shared directory instead of a registry."""

    def __init__(self, sources: Iterable[str]) -> None:
        self.sources = frozenset(sources)
        # The configured source names now: the app points this at its current runtime's.
        self.known: Callable[[], Container[str]] = lambda: self.sources
        shared = multiprocess()
        # Multiprocess mode: samples live in files, not in a registry (a scrape reads them all).
        self.registry: CollectorRegistry | None = None if shared else CollectorRegistry()
        self.requests = Counter(
            "gateway_requests_total", "Webhook requests answered, by source and outcome.",
            ["source", "outcome"], registry=self.registry)
        self.rejections = Counter(
            "gateway_rejections_total", "Rejected webhook requests, by source and reason.",
            ["source", "reason"], registry=self.registry)
        self.publish_latency = Histogram(
            "gateway_publish_latency_seconds", "From handing a record to the producer to the "
            "broker's ack (acks=all), for events published while the request waits.",
            ["source"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.kafka_errors = Counter(
            "gateway_kafka_errors_total", "Sends Kafka did not acknowledge, by where they happened"
            " (request, drain, replay) and kind (unavailable, timeout).",
            ["operation", "kind"], registry=self.registry)
        self.dedupe_hits = Counter(
            "gateway_dedupe_hits_total", "Deliveries answered as duplicates of an accepted event.",
            ["source"], registry=self.registry)
        self.deadletters = Counter(
            "gateway_deadletters_total", "Authenticated payloads that could not be mapped.",
            ["source"], registry=self.registry)
        self.spooled = Counter(
            "gateway_spooled_total", "Events written to the local spool instead of Kafka.",
            ["source"], registry=self.registry)
        self.drained = Counter(
            "gateway_spool_drained_total", "Spooled events the drainer got into Kafka.",
            registry=self.registry)
        self.id_conflicts = Counter(
            "gateway_id_conflicts_total", "Authenticated deliveries whose id was accepted before "
            "with another body, by source and what was done (record, reject, publish).",
            ["source", "action"], registry=self.registry)
        self.reloads = Counter(
            "gateway_config_reloads_total", "Configuration reloads, by result (ok, rejected).",
            ["result"], registry=self.registry)
        self.log_lines_dropped = Counter(
            "gateway_log_lines_dropped_total", "Log lines dropped because stderr was not taking "
            "them (held lines are bounded; webhooks are never held for a log line).",
            registry=self.registry)
        self.store_write_failures = Counter(
            "gateway_store_write_failures_total", "Commits the local store refused (disk full, "
            "read-only, I/O error): their spooled events were answered 503, their marks or history "
            "rows lost.", registry=self.registry)
        # Which configured secret (its position in `secrets:`, `key:` or `password:`) authenticated
        # requests: secret rotation you can watch (gateway.rotation, SECURITY.md). The last match
        # is the newest of any worker's ("max"), also of workers since gone.
        self.secret_matches = Counter(
            "gateway_secret_matches_total", "Authenticated requests by source and the slot (0-based"
            " position in the configured list) of the secret or credential that matched.",
            ["source", "slot"], registry=self.registry)
        self.secret_last_match = Gauge(
            "gateway_secret_last_match_timestamp_seconds", "When a source's secret in this slot "
            "last matched (unix time).", ["source", "slot"], registry=self.registry,
            multiprocess_mode="max")
        # Counted where the cut happens (slow_client), so with several workers the counts
        # of all of them are summed like every other counter here.
        self.slow_clients = Counter(
            "gateway_slow_clients", "Requests cut off because the client sent too slowly, by "
            "stage (headers, body, body_unread).", ["stage"], registry=self.registry)
        for stage in SLOW_STAGES:
            self.slow_clients.labels(stage)
        self._children: dict[tuple[str, Outcome, Reason | None], list[Any]] = {}
        self._latency: dict[str, Any] = {}
        for name in self.sources:  # present from the first scrape, at 0, so rate() works at once
            for counter in (self.dedupe_hits, self.deadletters, self.spooled):
                counter.labels(name)

    def source(self, name: str) -> str:
        """A label value: the configured name, or `unknown` (the URL segment is attacker-chosen)."""
        return name if name in self.known() else UNKNOWN

    def answered(self, name: str, outcome: Outcome, reason: Reason | None) -> None:
        source = self.source(name)
        # labels() takes a lock and builds a key each call: keep the children (a bounded set).
        children = self._children.get((source, outcome, reason))
        if children is None:
            children = [self.requests.labels(source, outcome.value)]
            if reason is not None:
                children.append(self.rejections.labels(source, reason.value))
            extra = {Outcome.DUPLICATE: self.dedupe_hits, Outcome.DEADLETTERED: self.deadletters,
                     Outcome.SPOOLED: self.spooled}.get(outcome)
            if extra is not None:
                children.append(extra.labels(source))
            self._children[(source, outcome, reason)] = children
        for child in children:
            child.inc()

    def published(self, name: str, secs: float) -> None:
        source = self.source(name)
        child = self._latency.get(source)
        if child is None:
            child = self._latency[source] = self.publish_latency.labels(source)
        child.observe(secs)

    def kafka_error(self, operation: str, kind: str) -> None:
        self.kafka_errors.labels(operation, kind).inc()

    def watch_store(self, store: Counting) -> None:
        """Count the store's refused commits in gateway_store_write_failures_total (its writer
        thread calls the counter, which is thread-safe and, with several workers, shared)."""
        store.count_failures(self.store_write_failures.inc)

    def slow_client(self, stage: str) -> None:
        """A request cut off (gateway_slow_clients_total{stage}): `headers`, connection closed
        (gateway.httpproto); `body`, answered 408 (gateway.guard); `body_unread`, connection
        closed (httpproto, a body nobody read)."""
        self.slow_clients.labels(stage).inc()

    def render(self, spool: SpoolCollector) -> bytes:
        registry = CollectorRegistry()
        if self.registry is None:
            MultiProcessCollector(registry)
        else:
            registry.register(_Forward(self.registry))
        registry.register(spool)
        return generate_latest(registry)


class Counting(Protocol):
    def count_failures(self, count: Callable[[], None]) -> None: ...


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()


class SpoolCollector(Collector):
    """Spool depth and the age of its oldest event, read from the (host-wide) store per scrape."""

    def __init__(self, depth: Callable[[], tuple[int, float | None]],
                 clock: Callable[[], float] = time.time) -> None:
        self._depth = depth
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        count, oldest = self._depth()
        yield GaugeMetricFamily("gateway_spool_depth", "Events in the local spool, waiting for Kafka.",
                                value=count)
        yield GaugeMetricFamily("gateway_spool_oldest_age_seconds",
                                "Age of the oldest spooled event (0 when the spool is empty).",
                                value=max(0.0, self._clock() - oldest) if oldest else 0.0)


def clear_multiprocess_dir(path: os.PathLike[str] | str) -> str:
    """Empty (or create) the samples directory; the supervisor does this once, before any worker."""
    directory = os.fspath(path)
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))
    return directory
