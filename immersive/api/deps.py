"""Dependencies, declared once: the runtime, a database session per request, and the caller (from the
API key in `Authorization: Bearer imk_...` or `X-API-Key`)."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ..catalog.merchants import Principal, authenticate
from ..runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else request.headers.get("x-api-key")
    principal = authenticate(session, token)
    session.rollback()  # end the read transaction; the handler starts its own
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_writer(principal: PrincipalDep) -> Principal:
    principal.require_write()
    return principal


WriterDep = Annotated[Principal, Depends(get_writer)]


async def base_url(request: Request, runtime: RuntimeDep) -> str:
    """Where this service is reachable from clients: the configured public URL, else the request's."""
    return (runtime.settings.public_base_url or str(request.base_url)).rstrip("/")


BaseUrlDep = Annotated[str, Depends(base_url)]
