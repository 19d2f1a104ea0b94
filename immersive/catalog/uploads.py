"""Upload records: where a source file is stored, its size and sha256, the options it is to be processed
with, and the idempotency key that makes a retried upload return the first one's result."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import NotFound
from .models import Job, Upload


def get_upload(session: Session, merchant_id: str, upload_id: str) -> Upload:
    upload = session.scalar(select(Upload).where(Upload.id == upload_id, Upload.merchant_id == merchant_id))
    if upload is None:
        raise NotFound(f"no upload {upload_id}")
    return upload


def find_by_idempotency_key(session: Session, merchant_id: str, key: str | None) -> Upload | None:
    if not key:
        return None
    return session.scalar(select(Upload).where(Upload.merchant_id == merchant_id, Upload.idempotency_key == key))


def first_job(session: Session, upload: Upload) -> Job | None:
    """The job the upload started (reprocessing adds later ones)."""
    return session.scalar(select(Job).where(Job.upload_id == upload.id).order_by(Job.created_at, Job.id).limit(1))
