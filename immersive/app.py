"""`create_app(settings)`: the FastAPI application. Routers per resource under immersive/api/, errors as
{"error": code, "detail": message}, request latency metrics, CORS for what pages on any site may fetch,
and in the embedded deployment the migrations and the job worker started with the app."""

from __future__ import annotations

import gc
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from asset_pipeline.errors import PipelineError

from .api import assets, events, files, health, jobs, merchants, products, public, schemas, tryon_stream, uploads, viewer
from .api.cache import PublicCache
from .api.tryon import router as tryon_router
from .config import Settings
from .errors import DomainError, RangeNotSatisfiable
from .runtime import Runtime

# The pipeline's error codes as HTTP statuses: all are the client's file or options, except a tool the
# server lacks.
PIPELINE_STATUS = {
    "limit_exceeded": 413,
    "unsupported_format": 415,
    "missing_dependency": 503,
}


def pipeline_status(exc: PipelineError) -> int:
    return PIPELINE_STATUS.get(exc.code, 422)


class LatencyMiddleware:
    """Pure ASGI (no per-request task like BaseHTTPMiddleware): observes each request's duration under
    its route template, so /api/v1/products/{product_id} is one series, not one per id."""

    def __init__(self, app, metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            self.metrics.request_seconds.labels(
                method=scope["method"], route=getattr(route, "path", "unmatched"), status=str(status["code"])
            ).observe(time.perf_counter() - start)


class PublicCORS:
    """CORS for what pages on any site may use, so the viewer embeds anywhere: the viewer's files, asset
    files and the public API (GET/HEAD), and event ingestion (POST, with its preflight). No credentials
    (`*`); the merchant API gets no CORS headers."""

    READ_PREFIXES = ("/viewer/", "/files/", "/api/v1/public/")
    EVENTS_PATH = "/api/v1/events"

    def __init__(self, app):
        self.app = app
        self.reads = CORSMiddleware(
            app, allow_origins=["*"], allow_methods=["GET", "HEAD"], allow_headers=["Range"],
            expose_headers=["Content-Range", "Accept-Ranges", "ETag"], max_age=86400,
        )
        self.events = CORSMiddleware(app, allow_origins=["*"], allow_methods=["POST"], allow_headers=["Content-Type"], max_age=86400)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            if scope["path"] == self.EVENTS_PATH and scope["method"] in ("POST", "OPTIONS"):
                return await self.events(scope, receive, send)
            if scope["path"].startswith(self.READ_PREFIXES):
                return await self.reads(scope, receive, send)
        await self.app(scope, receive, send)


# Bodies that routes read themselves (several content types on one route); their operations name them by
# $ref, so the OpenAPI document must carry them.
SELF_PARSED_BODIES: tuple[type[BaseModel], ...] = (schemas.UploadCreateIn, schemas.EventBatch)


def _add_body_schemas(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = generate()
            _, defs = models_json_schema([(m, "validation") for m in SELF_PARSED_BODIES], ref_template="#/components/schemas/{model}")
            known = spec.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in defs.get("$defs", {}).items():
                known.setdefault(name, schema)
        return app.openapi_schema

    app.openapi = openapi


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or (runtime.settings if runtime else Settings())
    viewer.check_web_viewer(settings.web_viewer_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rt = runtime or Runtime.create(settings)
        app.state.runtime = rt
        app.state.public_cache = PublicCache(
            rt.sessions,
            check_seconds=settings.public_cache_seconds,
            max_age=min(60.0, settings.s3_presign_expiry_seconds / 2),
        )
        worker = None
        if settings.worker == "embedded":
            from .jobs.embedded import EmbeddedWorker

            worker = EmbeddedWorker(rt)
            worker.start()
        rt.worker = worker
        # Everything loaded so far lives as long as the process: keep it out of the cyclic GC's scans, so
        # full collections under load stay short (request latency tails).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop(timeout=30)
            if runtime is None:
                rt.close()

    app = FastAPI(
        title="Immersive commerce",
        version="1.0",
        summary="Catalog, uploads, processing jobs and delivery of 3D/AR product assets",
        lifespan=lifespan,
    )
    # Metrics exist before the runtime (the middleware stack is built at the first request).
    metrics_holder = _MetricsProxy(app)
    app.add_middleware(LatencyMiddleware, metrics=metrics_holder)
    app.add_middleware(PublicCORS)

    for module in (merchants, products, uploads, assets, jobs, public, files, events, viewer, tryon_stream, health):
        app.include_router(module.router)
    app.include_router(tryon_router)
    _add_body_schemas(app)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError):
        headers = {"Content-Range": f"bytes */{exc.size}"} if isinstance(exc, RangeNotSatisfiable) else None
        return JSONResponse({"error": exc.code, "detail": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(PipelineError)
    async def pipeline_error(request: Request, exc: PipelineError):
        return JSONResponse({"error": exc.code, "detail": exc.message}, status_code=pipeline_status(exc))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return JSONResponse({"error": "invalid_request", "detail": _plain(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    return app


class _MetricsProxy:
    """The runtime's metrics, looked up per request (the runtime is made in the lifespan)."""

    def __init__(self, app: FastAPI):
        self._app = app

    @property
    def request_seconds(self):
        return self._app.state.runtime.metrics.request_seconds


def _plain(errors: list) -> list:
    """Validation errors as JSON-safe dicts (pydantic puts exception objects in ctx)."""
    out = []
    for err in errors:
        item = {k: v for k, v in err.items() if k in ("loc", "msg", "type")}
        out.append(item)
    return out


def app_from_env() -> FastAPI:
    """The app with settings from the environment (`immersive serve` runs this factory under uvicorn)."""
    return create_app(Settings())
