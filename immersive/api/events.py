"""Analytics events: batched ingestion from viewers (public, no key) and the merchant's listing.

POST /api/v1/events takes `{"events": [...]}` as application/json, or as text/plain holding the same
JSON: that is what navigator.sendBeacon sends, and a text/plain POST is a "simple" cross-origin request
(no CORS preflight), so a page on a merchant's site can send events while it unloads. The body is parsed
here (FastAPI parses JSON bodies only when they are labelled JSON)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from python_multipart.multipart import parse_options_header

from ..catalog import events as queries
from ..errors import TooLarge, UnsupportedMediaType
from ..runtime import Runtime
from . import schemas
from .deps import PrincipalDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/events", tags=["events"])

MAX_BODY_BYTES = 512 * 1024
BODY_TYPES = (b"application/json", b"text/plain")
_BATCH = {"schema": {"$ref": "#/components/schemas/EventBatch"}}


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise TooLarge(f"an events body is at most {MAX_BODY_BYTES:,} bytes, not {int(declared):,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise TooLarge(f"an events body is at most {MAX_BODY_BYTES:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _record(runtime: Runtime, batch: schemas.EventBatch) -> int:
    with runtime.sessions() as session:
        accepted = queries.record_events(session, [queries.NewEvent(**e.model_dump()) for e in batch.events])
        session.commit()
    return accepted


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=schemas.EventsAcceptedOut,
    summary="Ingest a batch of analytics events (no key)",
    responses={
        413: {"model": schemas.ErrorOut},
        415: {"model": schemas.ErrorOut},
        422: {"model": schemas.ErrorOut, "description": "a malformed event, an unknown type, merchant or SKU: nothing is stored"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": _BATCH, "text/plain": _BATCH}}},
)
async def ingest_events(request: Request, runtime: RuntimeDep):
    """Stores 1 to 100 events at once, all or none. Unknown fields in an event are dropped; an unknown
    type, merchant or SKU refuses the batch with the reason."""
    content_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if content_type not in BODY_TYPES:
        raise UnsupportedMediaType("send the events as application/json, or as text/plain holding the JSON (sendBeacon)")
    body = await _read_body(request)
    try:
        batch = schemas.EventBatch.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
    accepted = await run_in_threadpool(_record, runtime, batch)
    return schemas.EventsAcceptedOut(accepted=accepted)


@router.get("", response_model=schemas.EventPage, summary="The merchant's analytics events, oldest first")
def list_events(
    principal: PrincipalDep,
    session: SessionDep,
    type: schemas.EventType | None = None,
    sku: Annotated[str | None, Query(max_length=100)] = None,
    session_id: Annotated[str | None, Query(alias="session", pattern=schemas.EVENT_SESSION_PATTERN)] = None,
    after: Annotated[int, Query(ge=0, description="only events with a larger id: the previous page's next_after")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
):
    flt = queries.EventFilter(type=type, sku=sku, session=session_id)
    rows = queries.list_events(session, principal.merchant_id, flt, after=after, limit=limit + 1)
    more = len(rows) > limit
    items = [
        schemas.EventOut(
            id=row.id, type=row.type, session=row.session, merchant=principal.merchant_slug, sku=row.sku,
            ts=row.client_ts, props=row.props, received_at=row.received_at,
        )
        for row in rows[:limit]
    ]
    return schemas.EventPage(items=items, next_after=items[-1].id if more else None)
