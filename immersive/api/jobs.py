"""Processing jobs: state and progress (poll, or follow as server-sent events), list, cancel."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from ..catalog import jobs as queries
from ..catalog.models import JOB_FINAL_STATES
from . import schemas
from .deps import PrincipalDep, RuntimeDep, SessionDep, WriterDep
from .present import job_out

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", response_model=schemas.Page[schemas.JobOut])
def list_jobs(
    principal: PrincipalDep,
    session: SessionDep,
    state: schemas.JobState | None = None,
    product_id: str | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
):
    rows, total = queries.list_jobs(
        session, principal.merchant_id, state=state, product_id=product_id, offset=(page - 1) * per_page, limit=per_page
    )
    return schemas.Page(items=[job_out(j) for j in rows], total=total, page=page, per_page=per_page)


@router.get("/{job_id}", response_model=schemas.JobOut)
def read_job(job_id: str, principal: PrincipalDep, session: SessionDep):
    return job_out(queries.get_job(session, principal.merchant_id, job_id))


@router.post("/{job_id}/cancel", response_model=schemas.JobOut)
def cancel_job(job_id: str, principal: WriterDep, session: SessionDep):
    """A queued job is cancelled at once; a running one at its next pipeline stage."""
    job = queries.get_job(session, principal.merchant_id, job_id)
    return job_out(queries.request_cancel(session, job))


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`progress` events, then one `end` event"}},
)
async def job_events(job_id: str, principal: PrincipalDep, runtime: RuntimeDep):
    """Server-sent events: a `progress` event (the job as JSON) whenever state, stage or percent change,
    and a final `end` event when the job reaches succeeded, failed or cancelled."""

    def snapshot() -> schemas.JobOut:
        with runtime.sessions() as session:
            return job_out(queries.get_job(session, principal.merchant_id, job_id))

    first = await run_in_threadpool(snapshot)  # NotFound here is a plain 404, before the stream starts

    async def stream():
        job, last = first, None
        idle = 0.0
        while True:
            key = (job.state, job.stage, job.percent)
            if key != last:
                last, idle = key, 0.0
                event = "end" if job.state in JOB_FINAL_STATES else "progress"
                yield f"event: {event}\nid: {job.percent}\ndata: {json.dumps(job.model_dump(mode='json'))}\n\n"
                if event == "end":
                    return
            elif idle >= 15.0:
                idle = 0.0
                yield ": keep-alive\n\n"  # comment line: keeps proxies from closing an idle stream
            await asyncio.sleep(0.25)
            idle += 0.25
            job = await run_in_threadpool(snapshot)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
