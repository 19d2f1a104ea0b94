"""Uploads of source files for a product's 3D asset.

- Direct: `POST /api/v1/uploads` as multipart/form-data (fields `product_id` or `sku`, `file`, and the
  options `profile`, `unit`, `up`, `dimensions`, `category`). The body is parsed as it streams in and the
  file part goes straight to a spool file, hashed and size-checked on the way: never whole in memory.
- Two-step, for large files: `POST /api/v1/uploads` with a JSON body returns `put_url` (a presigned S3
  PUT, or this service's `PUT /api/v1/uploads/{id}/content`, which takes the file in one request or in
  chunks with Content-Range), then `POST /api/v1/uploads/{id}/complete` verifies and queues it.

Both take an `Idempotency-Key` header: a retry with the same key returns the first request's upload and
job (or its refusal) instead of making a second asset version. Bad files are refused with 4xx and the
pipeline's error code and message (see immersive.ingest)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from python_multipart import MultipartParser
from sqlalchemy.exc import IntegrityError
from python_multipart.multipart import parse_options_header

from ..catalog import products as product_queries
from ..catalog.merchants import Principal
from ..catalog.uploads import find_by_idempotency_key, get_upload
from ..errors import Conflict, InvalidRequest, TooLarge, UnsupportedMediaType
from ..ingest import Accepted, SpoolWriter, UploadOptions, accept, new_upload, replay, spool_chunks, spool_path
from ..runtime import Runtime
from ..storage import incoming_key
from . import schemas
from .deps import BaseUrlDep, PrincipalDep, RuntimeDep, WriterDep
from .present import job_out, upload_out

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, description="a retry with the same key returns the first result"),
]
OPTION_FIELDS = ("profile", "unit", "up", "dimensions", "category")
CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small fields around the file


def _accepted_json(accepted: Accepted) -> JSONResponse:
    body = schemas.UploadAcceptedOut(upload=upload_out(accepted.upload), job=job_out(accepted.job) if accepted.job else None)
    code = status.HTTP_202_ACCEPTED if accepted.created else status.HTTP_200_OK
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


def _product(session, principal: Principal, product_id: str | None, sku: str | None):
    if product_id:
        return product_queries.get_product(session, principal.merchant_id, product_id)
    if sku:
        return product_queries.get_product_by_sku(session, principal.merchant_id, sku)
    raise InvalidRequest("name the product: product_id or sku")


def _part_path(runtime: Runtime, upload_id: str) -> Path:
    return runtime.settings.tmp_dir / "uploads" / f"{upload_id}.part"


class _MultipartSpooler:
    """Streaming multipart/form-data parser: small fields into a dict, the `file` part into a spool."""

    def __init__(self, boundary: bytes, runtime: Runtime):
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.writer: SpoolWriter | None = None
        self._runtime = runtime
        self._headers: dict[str, str] = {}
        self._field, self._value = b"", b""
        self._name: str | None = None
        self._buffer = bytearray()
        self._in_file = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, s, e: setattr(self, "_field", self._field + d[s:e]),
                "on_header_value": lambda d, s, e: setattr(self, "_value", self._value + d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers, self._name, self._buffer, self._in_file = {}, None, bytearray(), False

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field, self._value = b"", b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" in params:
            if self._name != "file" or self.writer is not None:
                raise InvalidRequest("send exactly one file, in the form field 'file'")
            self.filename = params[b"filename"].decode("utf-8", "replace")
            settings = self._runtime.settings
            self.writer = SpoolWriter(settings.tmp_dir, settings.upload_limit_bytes)
            self._in_file = True

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.writer.write(data[start:end])
            return
        self._buffer.extend(data[start:end])
        if len(self._buffer) > 10_000:
            raise InvalidRequest(f"form field {self._name!r} is too long")

    def _part_end(self) -> None:
        if self._name and not self._in_file:
            self.fields[self._name] = self._buffer.decode("utf-8", "replace")

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.abort()


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.UploadAcceptedOut,
    responses={
        200: {"model": schemas.UploadAcceptedOut, "description": "replay of an earlier request with the same Idempotency-Key"},
        201: {"model": schemas.UploadCreatedOut, "description": "two-step upload created (JSON body)"},
        413: {"model": schemas.ErrorOut},
        415: {"model": schemas.ErrorOut},
        422: {"model": schemas.ErrorOut, "description": "the file cannot be read: the pipeline's error code and message"},
    },
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "product_id": {"type": "string"},
                            "sku": {"type": "string"},
                            **{name: {"type": "string"} for name in OPTION_FIELDS},
                        },
                    }
                },
                "application/json": {"schema": {"$ref": "#/components/schemas/UploadCreateIn"}},
            }
        }
    },
)
async def create_upload(
    request: Request, principal: WriterDep, runtime: RuntimeDep, base: BaseUrlDep, idempotency_key: IdempotencyKey = None
):
    """Direct multipart upload (-> 202 with the upload and its queued job), or, with a JSON body, the
    first step of a two-step upload (-> 201 with `put_url`)."""
    existing = await run_in_threadpool(_replay_existing, runtime, principal, idempotency_key, base)
    if existing is not None:
        return existing
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/json":
        try:
            body = schemas.UploadCreateIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise InvalidRequest(exc.errors(include_url=False, include_input=False)) from None
        return await run_in_threadpool(_create_two_step, runtime, principal, body, idempotency_key, base)
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise UnsupportedMediaType("send multipart/form-data (direct) or application/json (two-step)")
    limit = runtime.settings.upload_limit_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise TooLarge(f"upload of {int(declared):,} bytes is over the {limit:,}-byte limit")
    spooler = _MultipartSpooler(params[b"boundary"], runtime)
    try:
        async for chunk in request.stream():
            spooler.parser.write(chunk)
        spooler.parser.finalize()
    except BaseException:
        spooler.abort()
        raise
    if spooler.writer is None:
        raise InvalidRequest("no file: send it in the multipart field 'file'")
    spool = spooler.writer.finish()
    try:
        return await run_in_threadpool(_accept_direct, runtime, principal, spooler.fields, spooler.filename, spool, idempotency_key)
    finally:
        spool.discard()


def _replay_existing(runtime: Runtime, principal: Principal, key: str | None, base: str) -> JSONResponse | None:
    if not key:
        return None
    with runtime.sessions() as session:
        upload = find_by_idempotency_key(session, principal.merchant_id, key)
        if upload is None:
            return None
        if upload.state == "pending":
            created = _created(runtime, upload, base)
            return JSONResponse(created.model_dump(mode="json"), status_code=status.HTTP_200_OK)
        return _accepted_json(replay(session, upload))


def _options(values: dict) -> UploadOptions:
    return UploadOptions(**{name: (values.get(name) or None) for name in OPTION_FIELDS})


def _accept_direct(runtime: Runtime, principal: Principal, fields: dict, filename: str | None, spool, key: str | None):
    with runtime.sessions() as session:
        product = _product(session, principal, fields.get("product_id"), fields.get("sku"))
        upload = new_upload(principal.merchant_id, product, filename, _options(fields), key)
        return _accepted_json(accept(runtime, session, upload, spool))


def _created(runtime: Runtime, upload, base: str) -> schemas.UploadCreatedOut:
    presigned = runtime.storage.presigned_put(incoming_key(upload.id))
    part = _part_path(runtime, upload.id)
    return schemas.UploadCreatedOut(
        upload=upload_out(upload, received_bytes=None if presigned else (part.stat().st_size if part.exists() else 0)),
        put_url=presigned or f"{base}/api/v1/uploads/{upload.id}/content",
        put_headers={} if presigned else {"Authorization": "Bearer <your API key>"},
        complete_url=f"{base}/api/v1/uploads/{upload.id}/complete",
        expires_in=runtime.settings.s3_presign_expiry_seconds if presigned else None,
    )


def _create_two_step(runtime: Runtime, principal: Principal, body: schemas.UploadCreateIn, key: str | None, base: str):
    limit = runtime.settings.upload_limit_bytes
    if body.size is not None and body.size > limit:
        raise TooLarge(f"upload of {body.size:,} bytes is over the {limit:,}-byte limit")
    with runtime.sessions() as session:
        product = _product(session, principal, body.product_id, body.sku)
        options = _options(body.model_dump())
        options.resolved(product, runtime.settings.profile)  # refuse bad options now, not after the upload
        upload = new_upload(principal.merchant_id, product, body.filename, options, key)
        upload.size = body.size
        session.add(upload)
        try:
            session.commit()
        except IntegrityError:  # a concurrent request with the same idempotency key
            session.rollback()
            existing = _replay_existing(runtime, principal, key, base)
            if existing is None:
                raise
            return existing
        return JSONResponse(_created(runtime, upload, base).model_dump(mode="json"), status_code=status.HTTP_201_CREATED)


@router.put(
    "/{upload_id}/content",
    response_model=schemas.UploadOut,
    responses={409: {"model": schemas.ErrorOut}, 413: {"model": schemas.ErrorOut}},
)
async def put_content(upload_id: str, request: Request, principal: WriterDep, runtime: RuntimeDep):
    """Local storage's upload endpoint: the whole file in one PUT, or chunks in order, each with
    `Content-Range: bytes START-END/TOTAL` (START = the bytes received so far: GET the upload to resume)."""
    upload = await run_in_threadpool(_pending_upload, runtime, principal, upload_id)
    if runtime.settings.storage == "s3":
        raise Conflict("this service stores in S3: PUT the bytes to the presigned put_url")
    part = _part_path(runtime, upload.id)
    part.parent.mkdir(parents=True, exist_ok=True)
    limit = runtime.settings.upload_limit_bytes
    header = request.headers.get("content-range")
    if header:
        match = CONTENT_RANGE.match(header.strip())
        if not match:
            raise InvalidRequest(f"Content-Range {header!r}: expected 'bytes START-END/TOTAL'")
        start, end = int(match[1]), int(match[2])
        have = part.stat().st_size if part.exists() else 0
        if start != have:
            raise Conflict(f"chunk starts at byte {start:,} but {have:,} bytes have been received")
        if end < start:
            raise InvalidRequest("Content-Range END is before START")
        mode = "ab"
    else:
        start, end, mode = 0, None, "wb"
    size = start
    with open(part, mode) as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                out.close()
                part.unlink(missing_ok=True)
                raise TooLarge(f"upload is over the {limit:,}-byte limit")
            out.write(chunk)
    if end is not None and size != end + 1:
        with open(part, "r+b") as out:
            out.truncate(start)
        raise InvalidRequest(f"chunk has {size - start:,} bytes; Content-Range said {end - start + 1:,}")
    return upload_out(upload, received_bytes=size)


def _pending_upload(runtime: Runtime, principal: Principal, upload_id: str):
    with runtime.sessions() as session:
        upload = get_upload(session, principal.merchant_id, upload_id)
        if upload.state != "pending":
            raise Conflict(f"upload {upload_id} is already {upload.state}")
        return upload


@router.post(
    "/{upload_id}/complete",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.UploadAcceptedOut,
    responses={200: {"model": schemas.UploadAcceptedOut}, 409: {"model": schemas.ErrorOut}, 422: {"model": schemas.ErrorOut}},
)
def complete_upload(upload_id: str, principal: WriterDep, runtime: RuntimeDep):
    """The bytes are all there: verify (size, sha256, readable by the pipeline), store and queue the job.
    Completing again returns the same result."""
    with runtime.sessions() as session:
        upload = get_upload(session, principal.merchant_id, upload_id)
        if upload.state != "pending":
            return _accepted_json(replay(session, upload))
        limit = runtime.settings.upload_limit_bytes
        incoming = None
        if runtime.settings.storage == "s3":
            incoming = incoming_key(upload.id)
            if not runtime.storage.exists(incoming):
                raise Conflict("no bytes received yet: PUT the file to put_url first")
            try:
                spool = spool_chunks(runtime.storage.open_range(incoming), runtime.settings.tmp_dir, limit)
            except TooLarge:
                runtime.storage.delete(incoming)
                raise
        else:
            part = _part_path(runtime, upload.id)
            if not part.exists():
                raise Conflict("no bytes received yet: PUT the file to put_url first")
            spool = spool_path(part, limit)
            spool.owned = True
        try:
            if upload.size is not None and spool.size != upload.size:
                raise InvalidRequest(f"received {spool.size:,} bytes; the upload was declared as {upload.size:,}")
            return _accepted_json(accept(runtime, session, upload, spool, incoming=incoming))
        finally:
            spool.discard()


@router.get("/{upload_id}", response_model=schemas.UploadOut)
def read_upload(upload_id: str, principal: PrincipalDep, runtime: RuntimeDep):
    with runtime.sessions() as session:
        upload = get_upload(session, principal.merchant_id, upload_id)
        part = _part_path(runtime, upload.id)
        received = part.stat().st_size if upload.state == "pending" and part.exists() else None
        return upload_out(upload, received_bytes=received)
