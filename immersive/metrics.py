"""Prometheus metrics, one registry per app (tests create many apps in one process): request latency by
route, jobs by state (read from the catalog at scrape time, so it is right whichever process runs the
jobs), and pipeline stage durations from each finished bundle's stage log."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _JobsByState:
    def __init__(self, counts: Callable[[], dict[str, int]]):
        self.counts = counts

    def collect(self):
        family = GaugeMetricFamily("immersive_jobs", "Processing jobs in the catalog by state", labels=["state"])
        for state, count in self.counts().items():
            family.add_metric([state], count)
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "immersive_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_seconds = Histogram(
            "immersive_pipeline_stage_duration_seconds",
            "Asset pipeline stage durations of the jobs run by this process",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "immersive_jobs_finished_total", "Jobs this process finished, by outcome", ["state"], registry=self.registry
        )

    def watch_jobs(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_JobsByState(counts))
