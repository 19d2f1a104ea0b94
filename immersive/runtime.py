"""What the API, the CLI and the workers share: settings, database, storage, job queue and metrics, built
once from the settings. Nothing here is global except `get_runtime()`, the process-wide instance that
job entry points use when they are started by a queue (they receive only a job id)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from .catalog import jobs as job_queries
from .catalog.database import make_engine, make_sessionmaker, upgrade
from .config import Settings
from .jobs import JobQueue, TableQueue
from .metrics import Metrics
from .storage import Storage, make_storage


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage
    queue: JobQueue
    metrics: Metrics = field(default_factory=Metrics)
    worker: Any = None  # the embedded worker, when this process runs one

    @classmethod
    def create(cls, settings: Settings, *, migrate: bool | None = None) -> "Runtime":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.resolved_database_url)
        if settings.auto_migrate if migrate is None else migrate:
            upgrade(engine)
        runtime = cls(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            storage=make_storage(settings),
            queue=make_queue(settings),
        )
        runtime.metrics.watch_catalog(runtime.job_counts, runtime.stage_histograms)
        return runtime

    def job_counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return job_queries.counts_by_state(session)

    def stage_histograms(self) -> dict[str, tuple[list[int], float]]:
        from .catalog.stats import stage_histograms
        from .metrics import STAGE_BUCKETS

        with self.sessions() as session:
            return stage_histograms(session, STAGE_BUCKETS)

    def close(self) -> None:
        self.engine.dispose()


def make_queue(settings: Settings) -> JobQueue:
    if settings.worker == "queue":
        from .jobs.redis_queue import RedisQueue

        return RedisQueue.from_settings(settings)
    return TableQueue()


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    """The process-wide runtime from the environment's settings (for workers that get only a job id).
    The process that starts workers has already migrated the database."""
    return Runtime.create(Settings(), migrate=False)


def _after_fork_in_child() -> None:
    # A forked queue work-horse must not share the parent's database connections or HTTP pools.
    if get_runtime.cache_info().currsize:
        get_runtime().engine.dispose(close=False)
        get_runtime.cache_clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
