"""The queue deployment: job ids travel over Redis with RQ, and `immersive worker` processes run them.

Why RQ: a pipeline job is seconds to minutes of CPU in native libraries (open3d, usd-core, Draco, EGL).
RQ runs every job in a forked work-horse, so a crash or memory blow-up in one job takes only that
process down, and the memory a big scan needed goes back to the system when the job ends. It needs only
Redis, and the job function stays ours (`run_job` -> `process_upload`). Dramatiq (threads in a
long-lived process) and Celery (a much larger system for the same job) give less isolation here.

The jobs table stays the truth; Redis only delivers. Each message is named `{job_id}-{attempts}`:
- the API enqueues a new job (`-0`);
- a sweeper in every worker process (one at a time, by a Redis lock) queues again what the table says
  is due but nobody has in hand: retries whose backoff elapsed, jobs whose worker died (lease expired,
  recovered by `recover_expired`), and messages lost with a Redis restart;
- a duplicate delivery is harmless: `process_upload` claims the row first, and only one claim wins.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from datetime import timedelta

from redis import Redis
from rq import Queue, Worker
from rq.job import Job as RqJob
from rq.job import JobStatus
from sqlalchemy import select

from ..catalog import jobs as job_queries
from ..catalog.models import Job, utcnow
from ..config import Settings
from ..janitor import Periodic

log = logging.getLogger("immersive.queue")

# What optimize() imports lazily; loaded in the worker before it forks its work-horses.
PRELOAD = (
    "immersive.jobs.process",
    *(f"asset_pipeline.stages.{name}" for name in ("repair", "reconstruct", "normalize", "bake", "simplify", "textures", "lods", "compress")),
    "asset_pipeline.io.gltf",
    "asset_pipeline.io.usdz",
    "asset_pipeline.io.poster",
    "asset_pipeline.checks",
)
LIVE = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def message_id(job_id: str, attempts: int) -> str:
    return f"{job_id}-{attempts}"


class RedisQueue:
    """JobQueue over RQ."""

    def __init__(self, url: str, name: str, job_timeout: int):
        self.redis = Redis.from_url(url)
        self.queue = Queue(name, connection=self.redis)
        self.job_timeout = job_timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> "RedisQueue":
        return cls(settings.redis_url, settings.queue_name, int(settings.job_timeout_seconds))

    def enqueue(self, job_id: str, attempts: int = 0) -> None:
        self.queue.enqueue_call(
            "immersive.jobs.redis_queue.run_job",
            args=(job_id,),
            job_id=message_id(job_id, attempts),
            timeout=self.job_timeout,
            result_ttl=0,  # the result lives in the jobs table
            failure_ttl=24 * 3600,
            description=f"process job {job_id} (attempt {attempts + 1})",
        )


def run_job(job_id: str) -> str:
    """The RQ entry point, in the work-horse: the same job function as every other deployment."""
    from ..runtime import get_runtime
    from .process import process_upload

    return process_upload(job_id, get_runtime())


class Sweeper:
    """Queues again what is due in the jobs table and not in hand (see the module docstring)."""

    def __init__(self, runtime, queue: RedisQueue, interval: float):
        self.runtime, self.queue, self.interval = runtime, queue, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="immersive-sweeper", daemon=True)
        self._lock_key = f"immersive:{queue.queue.name}:sweeper"
        self._janitor = Periodic(runtime)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                # One sweeper per interval across all worker processes.
                if self.queue.redis.set(self._lock_key, os.getpid(), nx=True, px=int(self.interval * 900)):
                    self.sweep()
                    self._janitor.maybe_run()
            except Exception:  # noqa: BLE001 - Redis or the database briefly away: try again next interval
                log.exception("sweep failed")

    def sweep(self) -> int:
        """One pass; returns how many jobs were queued again."""
        lease = self.runtime.settings.job_lease_seconds
        with self.runtime.sessions() as session:
            job_queries.recover_expired(session)
            due = session.execute(
                select(Job.id, Job.attempts)
                .where(Job.state == "queued", Job.next_attempt_at <= utcnow(), Job.cancel_requested.is_(False))
                .order_by(Job.next_attempt_at)
                .limit(1000)
            ).all()
        if not due:
            return 0
        ids = [message_id(job_id, attempts) for job_id, attempts in due]
        messages = RqJob.fetch_many(ids, connection=self.queue.redis)
        stale_start = utcnow() - timedelta(seconds=lease)
        sent = 0
        for (job_id, attempts), message in zip(due, messages):
            if message is not None:
                status = message.get_status(refresh=False)
                started = message.started_at
                if started is not None and started.tzinfo is None:
                    started = started.replace(tzinfo=stale_start.tzinfo)
                # A message started long ago whose job is still queued lost its worker before the claim.
                if status in LIVE and not (status == JobStatus.STARTED and started and started < stale_start):
                    continue
            self.queue.enqueue(job_id, attempts)
            sent += 1
        if sent:
            log.info("queued %d due job(s) again", sent)
        return sent


def run_worker(runtime, burst: bool = False) -> None:
    """One RQ worker (a work-horse per job) plus the sweeper, until SIGINT/SIGTERM (RQ's own warm shutdown:
    the current job finishes first)."""
    queue = runtime.queue
    if not isinstance(queue, RedisQueue):
        raise RuntimeError("run_worker needs IMMERSIVE_WORKER=queue")
    # Import the pipeline once here, before the work-horses are forked, not once per job in each horse.
    for module in PRELOAD:
        importlib.import_module(module)
    sweeper = Sweeper(runtime, queue, interval=max(0.5, min(5.0, runtime.settings.job_lease_seconds / 3)))
    sweeper.sweep()  # what was due while no worker ran
    sweeper.start()
    try:
        Worker([queue.queue], connection=queue.redis).work(burst=burst, logging_level="INFO", with_scheduler=False)
    finally:
        sweeper.stop()

