"""The job state machine, on the jobs table:

    queued --claim--> running --> succeeded | failed | cancelled
       ^                 |
       +-- retry/lease --+   (transient error with attempts left, or the worker's lease ran out)

Every transition is a conditional UPDATE (compare-and-set on state and lease owner), so any number of
workers, threads or processes on SQLite or PostgreSQL can poll the same table without taking a job twice,
and a worker that lost its lease cannot overwrite what another one did."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..errors import Conflict, NotFound
from .models import JOB_FINAL_STATES, JOB_STATES, Job, utcnow


def get_job(session: Session, merchant_id: str, job_id: str) -> Job:
    job = session.scalar(select(Job).where(Job.id == job_id, Job.merchant_id == merchant_id))
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def list_jobs(
    session: Session, merchant_id: str, *, state: str | None = None, product_id: str | None = None, offset: int = 0, limit: int = 50
) -> tuple[list[Job], int]:
    query = select(Job).where(Job.merchant_id == merchant_id)
    if state:
        query = query.where(Job.state == state)
    if product_id:
        query = query.where(Job.product_id == product_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Job.created_at.desc(), Job.id).offset(offset).limit(limit)).all()
    return list(rows), total


def counts_by_state(session: Session) -> dict[str, int]:
    counts = dict.fromkeys(JOB_STATES, 0)
    counts.update(dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all()))
    return counts


def _claim(session: Session, job_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued", Job.cancel_requested.is_(False))
        .values(
            state="running",
            lease_owner=owner,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount == 1


def claim(session: Session, job_id: str, owner: str, lease_seconds: float) -> bool:
    """Take this queued job (if due). True when `owner` now holds it, also when it already did."""
    now = utcnow()
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        return False
    if job.state == "running" and job.lease_owner == owner:
        return True
    if job.state != "queued" or job.next_attempt_at > now:
        return False
    return _claim(session, job_id, owner, lease_seconds, now)


def claim_next(session: Session, owner: str, lease_seconds: float) -> str | None:
    """Take the oldest due queued job; returns its id, or None when there is none."""
    now = utcnow()
    candidates = session.scalars(
        select(Job.id)
        .where(Job.state == "queued", Job.next_attempt_at <= now, Job.cancel_requested.is_(False))
        .order_by(Job.next_attempt_at, Job.created_at)
        .limit(8)
    ).all()
    session.rollback()
    for job_id in candidates:
        if _claim(session, job_id, owner, lease_seconds, now):
            return job_id
    return None


def heartbeat(
    session: Session, job_id: str, owner: str, lease_seconds: float, *, stage: str | None = None, percent: float | None = None
) -> tuple[bool, bool]:
    """Renew the lease (and record progress). Returns (still the owner, cancel requested)."""
    now = utcnow()
    values: dict = {"lease_expires_at": now + timedelta(seconds=lease_seconds), "updated_at": now}
    if stage is not None:
        values["stage"] = stage
    if percent is not None:
        values["percent"] = round(percent, 1)
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    session.commit()
    return result.rowcount == 1, bool(cancel)


def _finish(session: Session, job_id: str, owner: str, **values) -> bool:
    now = utcnow()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner, Job.state == "running")
        .values(lease_owner=None, lease_expires_at=None, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def succeed(session: Session, job_id: str, owner: str, version_id: str) -> bool:
    """Mark success in the caller's transaction (the same one that adds the version); False = lease lost."""
    return _finish(
        session, job_id, owner, state="succeeded", stage="done", percent=100.0, version_id=version_id,
        error_code=None, error_message=None, finished_at=utcnow(),
    )


def fail(session: Session, job_id: str, owner: str, code: str, message: str) -> bool:
    ok = _finish(session, job_id, owner, state="failed", error_code=code, error_message=message, finished_at=utcnow())
    session.commit()
    return ok


def cancelled(session: Session, job_id: str, owner: str) -> bool:
    ok = _finish(session, job_id, owner, state="cancelled", finished_at=utcnow())
    session.commit()
    return ok


def retry_later(session: Session, job_id: str, owner: str, code: str, message: str, delay_seconds: float) -> bool:
    ok = _finish(
        session, job_id, owner, state="queued", error_code=code, error_message=message,
        next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
    )
    session.commit()
    return ok


def request_cancel(session: Session, job: Job) -> Job:
    """Queued jobs are cancelled at once; a running one stops at its next stage boundary."""
    if job.state in JOB_FINAL_STATES:
        raise Conflict(f"job {job.id} is already {job.state}")
    now = utcnow()
    if job.state == "queued":
        session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == "queued")
            .values(state="cancelled", cancel_requested=True, finished_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Job).where(Job.id == job.id).values(cancel_requested=True, updated_at=now).execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(job)
    return job


def recover_expired(session: Session) -> int:
    """Running jobs whose worker stopped renewing its lease (killed, machine lost): queued again if they
    have attempts left, else failed; cancelled if a cancel was asked for. Returns how many were recovered."""
    now = utcnow()
    expired = session.scalars(
        select(Job).where(Job.state == "running", Job.lease_expires_at < now).with_for_update(skip_locked=True)
    ).all()
    for job in expired:
        if job.cancel_requested:
            job.state, job.finished_at = "cancelled", now
        elif job.attempts >= job.max_attempts:
            job.state, job.finished_at = "failed", now
            job.error_code = "worker_lost"
            job.error_message = f"the worker stopped during attempt {job.attempts} of {job.max_attempts}"
        else:
            job.state, job.next_attempt_at = "queued", now
            job.error_code = "worker_lost"
            job.error_message = f"the worker stopped during attempt {job.attempts}; queued again"
        job.lease_owner = job.lease_expires_at = None
        job.updated_at = now
    session.commit()
    return len(expired)
