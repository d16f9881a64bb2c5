"""Prometheus metrics of the coordinator and the pure-ASGI middleware that records request counts and latency.

Production runs several processes: the API under `uvicorn --workers N`, the indexer, the matcher. Each process
counts on its own, so a scrape of one of them would show a share of the truth. With PROMETHEUS_MULTIPROC_DIR
set (one empty folder shared by all of them, emptied before they start) prometheus_client keeps every
process's values in files there and the API's /metrics merges them all: counters summed, gauges the most
recent value written by any process. Without it (tests, a single process) each Metrics has its own registry,
and the indexer and matcher can serve theirs over HTTP on AGORA_METRICS_PORT.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The shared metrics folder when multiprocess mode is on (prometheus_client reads the same variable)."""
    return os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower()) or None


class Metrics:
    """One registry per app, so tests can build several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "agora_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "agora_http_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        # Gauges are "the latest value written", whichever process wrote it (a reorg moves the block back).
        self.indexed_block = Gauge(
            "agora_indexer_block", "last block the indexer processed", registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.reorgs = Counter("agora_indexer_reorgs_total", "reorgs handled", registry=self.registry)
        self.assignments = Counter("agora_matcher_assignments_total", "jobs assigned", registry=self.registry)
        self.jobs = Gauge("agora_jobs", "jobs by status", ["status"], registry=self.registry,
                          multiprocess_mode="mostrecent")

    def exposition(self) -> bytes:
        """The Prometheus text of every process (multiprocess mode) or of this registry."""
        if multiprocess_dir():
            merged = CollectorRegistry()
            MultiProcessCollector(merged)
            return bytes(generate_latest(merged))
        return bytes(generate_latest(self.registry))


def process_metrics(role: str) -> Metrics:
    """Metrics for a background process (indexer, matcher). In multiprocess mode its values land in the shared
    folder and the API serves them; otherwise AGORA_METRICS_PORT, if set, serves this process's own."""
    metrics = Metrics()
    if multiprocess_dir():
        log.info("%s metrics go to %s (served by the API's /metrics)", role, multiprocess_dir())
        return metrics
    port = os.environ.get("AGORA_METRICS_PORT")
    if port:
        start_http_server(int(port), addr=os.environ.get("AGORA_METRICS_ADDR", "127.0.0.1"),
                          registry=metrics.registry)
        log.info("%s metrics on :%s/metrics", role, port)
    return metrics


class MetricsMiddleware:
    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], path, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)
