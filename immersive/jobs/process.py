"""`process_upload(job_id)`: the one job function, whoever runs it (embedded thread, `immersive worker`,
CLI ingest, a queue worker).

source from storage -> asset_pipeline.optimize (progress -> job stage/percent) -> bundle files stored
under content-addressed keys -> new asset version, made current -> job succeeded.

- PipelineError (the input cannot make a bundle): failed with its code and message, never retried.
- Any other exception (storage or database hiccup, a bug): retried with exponential backoff until
  max_attempts, then failed with code "internal_error".
- A heartbeat thread renews the job's lease while the pipeline runs; if the worker dies, the lease runs
  out and the job is queued again (catalog.jobs.recover_expired). The source stays in storage throughout.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import uuid

from asset_pipeline import PipelineError, optimize
from asset_pipeline.pipeline import Progress

from ..catalog import jobs as job_queries
from ..catalog.assets import StoredFile, add_version
from ..catalog.models import Job, Product, Upload
from ..catalog.products import unreferenced_keys
from ..catalog.stats import record_stages
from ..metrics import STAGE_BUCKETS
from ..runtime import Runtime, get_runtime
from ..storage import bundle_key, content_type_for

log = logging.getLogger("immersive.jobs")


class JobCancelled(Exception):
    pass


class LeaseLost(Exception):
    """Another worker holds the job now (this one stalled past its lease): stop without writing."""


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _Heartbeat:
    """Renews the lease every third of its length, records progress, and notices cancel requests."""

    def __init__(self, runtime: Runtime, job_id: str, owner: str, observer: Progress | None = None):
        self.runtime, self.job_id, self.owner, self.observer = runtime, job_id, owner, observer
        self.lease = runtime.settings.job_lease_seconds
        self.lost = False
        self.cancel = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id[:8]}", daemon=True)

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.lease / 3):
            self.beat()

    def beat(self, stage: str | None = None, percent: float | None = None) -> None:
        try:
            with self.runtime.sessions() as session:
                owner, cancel = job_queries.heartbeat(session, self.job_id, self.owner, self.lease, stage=stage, percent=percent)
        except Exception:  # noqa: BLE001 - a missed beat is retried; the lease has slack for it
            log.exception("job %s: heartbeat failed", self.job_id)
            return
        self.lost = self.lost or not owner
        self.cancel = self.cancel or cancel

    def progress(self, stage: str, fraction: float) -> None:
        """The pipeline's progress callback: called before each stage, so also where a cancel takes effect."""
        self.beat(stage=stage, percent=fraction * 100.0)
        if self.observer:
            self.observer(stage, fraction)
        if self.lost:
            raise LeaseLost(self.job_id)
        if self.cancel:
            raise JobCancelled(self.job_id)


def process_upload(
    job_id: str, runtime: Runtime | None = None, owner: str | None = None, progress: Progress | None = None
) -> str:
    """Run the job to an end state, or back to queued for a retry; returns the job's state afterwards.
    Claims the job first unless `owner` already holds it; a job that is not due or taken is left alone.
    `progress(stage, fraction)` is told what the job table is told (the CLI draws its bar from it)."""
    runtime = runtime or get_runtime()
    owner = owner or worker_identity()
    settings = runtime.settings
    with runtime.sessions() as session:
        if not job_queries.claim(session, job_id, owner, settings.job_lease_seconds):
            job = session.get(Job, job_id)
            return job.state if job else "missing"
        job = session.get(Job, job_id, populate_existing=True)
        upload = session.get(Upload, job.upload_id)
        product = session.get(Product, job.product_id)
        spec = dict(profile=job.profile, options=dict(job.options), attempts=job.attempts, max_attempts=job.max_attempts)
        source_key, filename, upload_id = upload.source_key, upload.filename, upload.id

    heartbeat = _Heartbeat(runtime, job_id, owner, progress)
    try:
        with heartbeat:
            source = runtime.storage.get(source_key)
            bundle = optimize(
                source,
                spec["profile"],
                filename=filename,
                limits=settings.limits,
                progress=heartbeat.progress,
                validate=settings.pipeline_validate,
                usdz=settings.pipeline_usdz,
                poster=settings.pipeline_poster,
                **_pipeline_options(spec["options"]),
            )
            heartbeat.progress("store", 0.95)
            stored = []
            for name, data in sorted(bundle.files.items()):
                sha = hashlib.sha256(data).hexdigest()
                key = bundle_key(sha, name)
                if not runtime.storage.exists(key):
                    runtime.storage.put(key, data, content_type=content_type_for(name))
                stored.append(StoredFile(name=name, key=key, bytes=len(data), sha256=sha, content_type=content_type_for(name)))
            with runtime.sessions() as session:
                product = session.get(Product, product.id)
                if product is None:  # deleted while the job ran (its job row went with it)
                    for key in unreferenced_keys(session, {f.key for f in stored}):
                        runtime.storage.delete(key)
                    log.info("job %s: product deleted while processing; result discarded", job_id)
                    return "gone"
                version = add_version(
                    session,
                    product,
                    profile=bundle.metadata.profile,
                    options=spec["options"],
                    upload_id=upload_id,
                    source_sha256=bundle.metadata.source.sha256,
                    metadata=bundle.metadata.model_dump(mode="json"),
                    report=bundle.report.model_dump(mode="json"),
                    files=stored,
                )
                if not job_queries.succeed(session, job_id, owner, version.id):
                    session.rollback()
                    raise LeaseLost(job_id)
                record_stages(session, [(s.stage, (s.ms or 0.0) / 1000.0) for s in bundle.metadata.stage_log], STAGE_BUCKETS)
                session.commit()
        return "succeeded"
    except PipelineError as exc:
        with runtime.sessions() as session:
            job_queries.fail(session, job_id, owner, exc.code, exc.message)
        return "failed"
    except JobCancelled:
        with runtime.sessions() as session:
            job_queries.cancelled(session, job_id, owner)
        return "cancelled"
    except LeaseLost:
        log.warning("job %s: lease lost to another worker; stopping", job_id)
        return "lost"
    except Exception as exc:  # noqa: BLE001 - anything else may be transient: retry with backoff
        log.exception("job %s: attempt %d failed", job_id, spec["attempts"])
        message = f"{type(exc).__name__}: {exc}"
        with runtime.sessions() as session:
            if spec["attempts"] < spec["max_attempts"]:
                delay = settings.job_retry_base_seconds * 2 ** (spec["attempts"] - 1)
                job_queries.retry_later(session, job_id, owner, "internal_error", message, delay)
                return "queued"
            job_queries.fail(session, job_id, owner, "internal_error", message)
        return "failed"


def _pipeline_options(options: dict) -> dict:
    """The merchant's overrides stored on the job, as optimize() takes them (JSON has no tuples)."""
    out = {k: v for k, v in options.items() if k in ("unit", "up", "dimensions", "category") and v is not None}
    if isinstance(out.get("dimensions"), list):
        out["dimensions"] = tuple(out["dimensions"])
    return out
