"""Prometheus metrics, one registry per app (tests create many apps in one process): request latency by
route (this process), and, read from the catalog at scrape time so that they are right whichever process
runs the jobs: jobs by state and pipeline stage durations (catalog.stats)."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _FromCatalog:
    def __init__(self, jobs: Callable[[], dict[str, int]], stages: Callable[[], dict[str, tuple[list[int], float]]]):
        self.jobs, self.stages = jobs, stages

    def collect(self):
        family = GaugeMetricFamily("immersive_jobs", "Processing jobs in the catalog by state", labels=["state"])
        for state, count in self.jobs().items():
            family.add_metric([state], count)
        yield family
        histogram = HistogramMetricFamily(
            "immersive_pipeline_stage_duration_seconds", "Asset pipeline stage durations of finished jobs", labels=["stage"]
        )
        for stage, (counts, total) in sorted(self.stages().items()):
            cumulative, running = [], 0
            for bound, count in zip((*map(str, STAGE_BUCKETS), "+Inf"), counts):
                running += count
                cumulative.append((bound, running))
            histogram.add_metric([stage], cumulative, total)
        yield histogram


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

    def watch_catalog(self, jobs: Callable[[], dict[str, int]], stages: Callable[[], dict[str, tuple[list[int], float]]]) -> None:
        self.registry.register(_FromCatalog(jobs, stages))
