"""Liveness/readiness (/healthz: the database answers, the storage is reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from .deps import RuntimeDep

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(runtime: RuntimeDep):
    checks: dict[str, str] = {}
    try:
        with runtime.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        runtime.storage.exists("healthz/probe")
        checks["storage"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["storage"] = f"error: {type(exc).__name__}"
    worker = getattr(runtime, "worker", None)
    checks["worker"] = runtime.settings.worker if worker is None or worker.alive() else "stopped"
    if runtime.settings.worker == "queue":
        try:
            runtime.queue.redis.ping()
            checks["queue"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["queue"] = f"error: {type(exc).__name__}"
    healthy = all(v in ("ok", "embedded", "external", "queue") for v in checks.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", **checks}, status_code=200 if healthy else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(runtime: RuntimeDep):
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)
