"""From received bytes to a queued job, shared by the API (direct and two-step uploads) and the CLI.

1. The bytes are spooled to a temporary file (never held whole in memory), hashed and size-checked as
   they arrive.
2. The source is read once by the pipeline's readers (`validate_uploads`): a hostile or broken file is
   refused at once with the pipeline's typed error and never reaches storage.
3. The source goes to storage under sources/{sha256} (the same bytes are stored once), the upload row
   and its job are committed together, and the job is enqueued.

An idempotency key makes a retried request return the first upload (and its job, or its refusal)."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Iterable

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from asset_pipeline import errors as pipeline_errors
from asset_pipeline.categories import get_category
from asset_pipeline.errors import PipelineError
from asset_pipeline.pipeline import parse_dimensions
from asset_pipeline.profiles import get_profile
from asset_pipeline.stages.normalize import parse_axis, parse_unit

from .catalog.models import Job, Product, Upload, new_id, utcnow
from .catalog.uploads import find_by_idempotency_key, first_job
from .errors import Conflict, TooLarge
from .runtime import Runtime
from .storage import source_key

log = logging.getLogger("immersive.ingest")


@dataclass
class Spool:
    """A received file on local disk with its size and sha256."""

    path: Path
    size: int
    sha256: str
    owned: bool = True  # delete the file when done (False for a file the CLI was given)

    def open(self) -> BinaryIO:
        return open(self.path, "rb")

    def discard(self) -> None:
        if self.owned:
            self.path.unlink(missing_ok=True)


class SpoolWriter:
    """Writes chunks to a temporary file, hashing as it goes; refuses more than `limit` bytes."""

    def __init__(self, tmp_dir: Path, limit: int):
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=".part")
        self._file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(f"upload is over the {self.limit:,}-byte limit")
        self._hash.update(chunk)
        self._file.write(chunk)

    def finish(self) -> Spool:
        self._file.close()
        return Spool(self.path, self.size, self._hash.hexdigest())

    def abort(self) -> None:
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def spool_chunks(chunks: Iterable[bytes], tmp_dir: Path, limit: int) -> Spool:
    writer = SpoolWriter(tmp_dir, limit)
    try:
        for chunk in chunks:
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def spool_path(path: Path, limit: int, chunk_bytes: int = 1 << 20) -> Spool:
    """A local file as a spool, in place (hashed, not copied)."""
    size = path.stat().st_size
    if size > limit:
        raise TooLarge(f"{path.name} is {size:,} bytes, over the {limit:,}-byte limit")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return Spool(path, size, digest.hexdigest(), owned=False)


@dataclass
class UploadOptions:
    """How to process a source: the pipeline profile and what the merchandiser knows about the file."""

    profile: str | None = None
    unit: str | None = None
    up: str | None = None
    dimensions: str | list[float] | None = None
    category: str | None = None

    def resolved(self, product: Product, default_profile: str) -> dict[str, Any]:
        """Checked options as stored on the upload and job (OptionError names a bad value)."""
        out: dict[str, Any] = {"profile": get_profile(self.profile or default_profile).name}
        out["category"] = get_category(self.category or product.category).name
        if self.unit:
            out["unit"] = parse_unit(self.unit)
        if self.up:
            out["up"] = parse_axis(self.up)
        if isinstance(self.dimensions, str):
            out["dimensions"] = list(parse_dimensions(self.dimensions))
        elif self.dimensions:
            out["dimensions"] = list(parse_dimensions("x".join(str(float(v)) for v in self.dimensions)))
        return out


def clean_filename(name: str | None) -> str:
    base = PurePath((name or "").replace("\\", "/")).name.strip()
    return (base or "upload")[:300]


def error_for(code: str | None, message: str | None) -> PipelineError:
    """The typed pipeline error a stored refusal was made of (to answer a retried request the same way)."""
    classes = {cls.code: cls for cls in _subclasses(PipelineError)}
    return classes.get(code or "", PipelineError)(message or "refused")


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def validate_source(runtime: Runtime, spool: Spool, filename: str) -> None:
    """Read the source with the pipeline's readers and limits; raises its typed error when it cannot be read."""
    limits = runtime.settings.limits
    if spool.size > limits.max_input_bytes:
        raise pipeline_errors.LimitExceededError(
            f"{filename} is {spool.size:,} bytes, over the {limits.max_input_bytes:,}-byte input limit"
        )
    if not runtime.settings.validate_uploads:
        return
    from asset_pipeline import io as pipeline_io

    with spool.open() as handle:
        data = handle.read()
    pipeline_io.read(data, filename, limits)


@dataclass
class Accepted:
    upload: Upload
    job: Job | None
    created: bool  # False: an earlier request with the same idempotency key made them


def replay(session: Session, upload: Upload) -> Accepted:
    """The outcome of an earlier request with the same idempotency key."""
    if upload.state == "rejected":
        raise error_for(upload.error_code, upload.error_message)
    return Accepted(upload, first_job(session, upload), created=False)


def accept(
    runtime: Runtime,
    session: Session,
    upload: Upload,
    spool: Spool,
    *,
    incoming: str | None = None,
) -> Accepted:
    """Validate, store and enqueue a received source for `upload` (new, or a pending two-step one).
    `incoming`: the storage key the bytes already sit at (two-step upload to S3), moved into place."""
    product = session.get(Product, upload.product_id)
    upload.size, upload.sha256 = spool.size, spool.sha256
    try:
        options = UploadOptions(**{k: upload.options.get(k) for k in ("profile", "unit", "up", "dimensions", "category")})
        upload.options = options.resolved(product, runtime.settings.profile)
        validate_source(runtime, spool, upload.filename)
    except PipelineError as exc:
        upload.state, upload.error_code, upload.error_message, upload.completed_at = "rejected", exc.code, exc.message, utcnow()
        session.add(upload)
        try:
            session.commit()
        except IntegrityError:
            return _replay_conflict(session, upload)
        finally:
            if incoming:
                runtime.storage.delete(incoming)
        raise

    key = source_key(spool.sha256)
    if runtime.storage.exists(key):
        if incoming:
            runtime.storage.delete(incoming)
    elif incoming:
        runtime.storage.move(incoming, key)
    else:
        with spool.open() as handle:
            runtime.storage.put(key, handle)
    upload.state, upload.source_key, upload.completed_at = "stored", key, utcnow()
    session.add(upload)
    try:
        session.flush()  # the job's foreign key needs the row first (they are not ORM-related)
    except IntegrityError:
        return _replay_conflict(session, upload)
    job = Job(
        id=new_id(),
        merchant_id=upload.merchant_id,
        product_id=upload.product_id,
        upload_id=upload.id,
        profile=upload.options["profile"],
        options={k: v for k, v in upload.options.items() if k != "profile"},
        max_attempts=runtime.settings.job_max_attempts,
    )
    session.add(job)
    session.commit()
    _enqueue(runtime, job.id)
    return Accepted(upload, job, created=True)


def _enqueue(runtime: Runtime, job_id: str) -> None:
    """Hand the committed job to the workers. If the queue is unreachable the job is still safe in the
    table: the queue workers' sweeper sends it when the queue is back."""
    try:
        runtime.queue.enqueue(job_id)
    except Exception:  # noqa: BLE001
        log.exception("job %s: could not enqueue now; the sweeper will", job_id)


def _replay_conflict(session: Session, upload: Upload) -> Accepted:
    """A concurrent request with the same idempotency key committed first: answer as it did."""
    session.rollback()
    existing = find_by_idempotency_key(session, upload.merchant_id, upload.idempotency_key)
    if existing is None:
        raise Conflict("the upload conflicts with another one; retry")
    return replay(session, existing)


def new_upload(
    merchant_id: str, product: Product, filename: str | None, options: UploadOptions, idempotency_key: str | None
) -> Upload:
    return Upload(
        id=new_id(),
        merchant_id=merchant_id,
        product_id=product.id,
        filename=clean_filename(filename),
        idempotency_key=idempotency_key or None,
        options={k: v for k, v in options.__dict__.items() if v is not None},
        state="pending",
    )


def reprocess(runtime: Runtime, session: Session, upload: Upload, product: Product, options: UploadOptions) -> Job:
    """A new job on a stored source with other options (profile); its result is a new version."""
    if upload.state != "stored" or not upload.source_key:
        raise Conflict(f"upload {upload.id} has no stored source to reprocess")
    merged = UploadOptions(
        **{k: getattr(options, k) or upload.options.get(k) for k in ("profile", "unit", "up", "dimensions", "category")}
    )
    resolved = merged.resolved(product, runtime.settings.profile)
    job = Job(
        id=new_id(),
        merchant_id=upload.merchant_id,
        product_id=product.id,
        upload_id=upload.id,
        kind="reprocess",
        profile=resolved["profile"],
        options={k: v for k, v in resolved.items() if k != "profile"},
        max_attempts=runtime.settings.job_max_attempts,
    )
    session.add(job)
    session.commit()
    _enqueue(runtime, job.id)
    return job
