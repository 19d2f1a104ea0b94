"""The embedded worker: threads that poll the jobs table and run `process_upload` on what they claim.
Runs inside `immersive serve` (worker=embedded) or alone as `immersive worker` (any number of processes
on any machines sharing the database and storage).

Restart recovery: on start and then every few seconds it queues again the running jobs whose lease ran
out, so a job whose worker was killed (kill -9, lost machine) is picked up and completes."""

from __future__ import annotations

import logging
import threading
import time

from ..catalog import jobs as job_queries
from ..janitor import Periodic
from ..runtime import Runtime
from .process import process_upload, worker_identity

log = logging.getLogger("immersive.worker")


class EmbeddedWorker:
    def __init__(self, runtime: Runtime, threads: int = 1):
        self.runtime = runtime
        self.threads = threads
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._workers: list[threading.Thread] = []
        self._last_recovery = 0.0
        self._janitor = Periodic(runtime)

    def start(self) -> None:
        self.recover()
        subscribe = getattr(self.runtime.queue, "subscribe", None)  # a local queue wakes us on enqueue
        if subscribe:
            subscribe(self._wake.set)
        for i in range(self.threads):
            thread = threading.Thread(target=self._loop, name=f"immersive-worker-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; a job in progress finishes first (a killed process instead leaves it to recovery)."""
        self._stop.set()
        self._wake.set()
        unsubscribe = getattr(self.runtime.queue, "unsubscribe", None)
        if unsubscribe:
            unsubscribe(self._wake.set)
        for thread in self._workers:
            thread.join(timeout)

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._workers)

    def recover(self) -> int:
        self._last_recovery = time.monotonic()
        with self.runtime.sessions() as session:
            count = job_queries.recover_expired(session)
        if count:
            log.warning("requeued %d job(s) whose worker stopped", count)
        return count

    def run_once(self, owner: str) -> str | None:
        """Claim and run one due job; returns its final state, or None when nothing was due."""
        if time.monotonic() - self._last_recovery > max(1.0, self.runtime.settings.job_lease_seconds / 3):
            self.recover()
            self._janitor.maybe_run()
        with self.runtime.sessions() as session:
            job_id = job_queries.claim_next(session, owner, self.runtime.settings.job_lease_seconds)
        if job_id is None:
            return None
        log.info("job %s: claimed by %s", job_id, owner)
        state = process_upload(job_id, self.runtime, owner=owner)
        log.info("job %s: %s", job_id, state)
        return state

    def _loop(self) -> None:
        owner = worker_identity()
        while not self._stop.is_set():
            try:
                ran = self.run_once(owner)
            except Exception:  # noqa: BLE001 - the database may be briefly unavailable; keep polling
                log.exception("worker poll failed")
                ran = None
            if ran is None:
                self._wake.wait(self.runtime.settings.worker_poll_seconds)
                self._wake.clear()
