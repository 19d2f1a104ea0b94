"""Processing jobs. `process.process_upload(job_id)` is the one job function; who calls it is a
deployment choice behind the `JobQueue` seam:

- `TableQueue` (now): the jobs table is the queue. `enqueue` only wakes the workers of this process; the
  embedded worker thread (`embedded.EmbeddedWorker`) and standalone `immersive worker` processes poll the
  table and claim jobs with a lease.
- A Redis task queue (next): its `enqueue` sends the job id to the broker and its workers call the same
  `process_upload(job_id)`; the lease logic stays, so a killed worker's job is recovered the same way.
"""

from __future__ import annotations

import threading
from typing import Callable, Protocol


class JobQueue(Protocol):
    def enqueue(self, job_id: str) -> None:
        """Hand a committed, queued job to the workers."""


class TableQueue:
    """The jobs table is the queue; enqueue wakes local pollers so they do not wait for their next poll."""

    def __init__(self) -> None:
        self._wakers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, wake: Callable[[], None]) -> None:
        with self._lock:
            self._wakers.append(wake)

    def unsubscribe(self, wake: Callable[[], None]) -> None:
        with self._lock:
            if wake in self._wakers:
                self._wakers.remove(wake)

    def enqueue(self, job_id: str) -> None:
        with self._lock:
            wakers = list(self._wakers)
        for wake in wakers:
            wake()
