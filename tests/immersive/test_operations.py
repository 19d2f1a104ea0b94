"""/healthz, /metrics, /docs and the migrations (the same scripts on SQLite and PostgreSQL)."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from immersive.catalog.database import current_revision, make_engine, upgrade
from immersive.catalog.models import Base


def test_healthz_and_openapi(service):
    health = service.client.get("/healthz")
    assert health.status_code == 200
    expected = {"status": "ok", "database": "ok", "storage": "ok", "worker": service.runtime.settings.worker}
    if service.runtime.settings.worker == "queue":
        expected["queue"] = "ok"
    assert health.json() == expected
    spec = service.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/v1/me",
        "/api/v1/products",
        "/api/v1/products/{product_id}",
        "/api/v1/uploads",
        "/api/v1/uploads/{upload_id}/content",
        "/api/v1/uploads/{upload_id}/complete",
        "/api/v1/products/{product_id}/asset/versions/{number}/reprocess",
        "/api/v1/products/{product_id}/asset/rollback",
        "/api/v1/jobs/{job_id}/events",
        "/api/v1/public/products/{merchant_slug}/{sku}",
        "/files/{key}",
    } <= paths
    upload_body = spec["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(upload_body)
    assert service.client.get("/docs").status_code == 200


def test_metrics(service):
    a = service.a
    product, job = service.ingest(a, "CH-1")
    service.client.get(f"/api/v1/products/{product['id']}", headers=a.headers)
    service.client.get("/api/v1/products/nope", headers=a.headers)
    text = service.client.get("/metrics").text
    # Latency by route template (ids do not make new series), method and status.
    assert re.search(
        r'immersive_http_request_duration_seconds_count\{method="GET",route="/api/v1/products/\{product_id\}",status="200"\} 1\.0', text
    )
    assert 'route="/api/v1/products/{product_id}",status="404"' in text
    assert "nope" not in text
    assert re.search(r'immersive_jobs\{state="succeeded"\} 1\.0', text)
    assert re.search(r'immersive_jobs\{state="queued"\} 0\.0', text)
    for stage in ("read", "repair", "simplify", "lods", "package"):
        assert re.search(rf'immersive_pipeline_stage_duration_seconds_count\{{stage="{stage}"\}} 1\.0', text), stage
    assert re.search(r'immersive_pipeline_stage_duration_seconds_bucket\{le="\+Inf",stage="read"\} 1\.0', text)


def test_migrations_match_the_models_on_both_databases(request, tmp_path):
    """The Alembic scripts build exactly the schema the models describe, on SQLite and on PostgreSQL."""
    urls = [f"sqlite:///{tmp_path / 'm.sqlite3'}", request.getfixturevalue("postgres").database()]
    for url in urls:
        engine = make_engine(url)
        upgrade(engine)
        assert current_revision(engine) == "0003"
        upgrade(engine)  # running again is a no-op
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        assert diff == [], (url.split(":")[0], diff)
        engine.dispose()
