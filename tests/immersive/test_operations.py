"""/healthz, /metrics, /docs and the migrations (the same scripts on SQLite and PostgreSQL)."""

from __future__ import annotations

import json
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
        "/api/v1/events",
        "/p/{merchant_slug}/{sku}",
        "/viewer/vendor/three/{path}",
        "/viewer/{path}",
    } <= paths
    upload_body = spec["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(upload_body)
    events_body = spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]
    assert set(events_body) == {"application/json", "text/plain"}
    # Every schema an operation names is in the document (bodies the routes parse themselves too).
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(spec)))
    assert refs <= set(spec["components"]["schemas"]), refs - set(spec["components"]["schemas"])
    assert {"UploadCreateIn", "EventBatch", "EventIn"} <= refs
    event_type = spec["components"]["schemas"]["EventIn"]["properties"]["type"]
    assert "hotspot_opened" in event_type["enum"] and "hotspot_opened: a hotspot was opened" in event_type["description"]
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
        assert current_revision(engine) == "0007"
        upgrade(engine)  # running again is a no-op
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
        assert diff == [], (url.split(":")[0], diff)
        engine.dispose()


def test_migration_0004_backfills_version_summaries(tmp_path):
    """Versions made before 0004 get their summary computed from the stored metadata and report."""
    from sqlalchemy import text

    from immersive.catalog.assets import summarize

    engine = make_engine(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    upgrade(engine, "0003")
    metadata = {
        "placement": "floor",
        "dimensions_m": {"width": 0.45, "height": 0.8, "depth": 0.5},
        "variants": ["Oak"],
        "lods": [{"level": 0, "file": "model.glb", "triangles": 5676, "bytes": 90000, "ratio": 1.0, "error": None}],
        "geometry": {"triangles": 5676},
    }
    report = {"targets": [{"target": "shopify", "passed": True, "failures": [], "warnings": []}]}
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO merchants (id, slug, name, created_at, catalog_version) VALUES ('m', 'm', 'M', '2026-01-01', 0)"))
        connection.execute(text(
            "INSERT INTO products (id, merchant_id, sku, name, description, category, variants, status, created_at, updated_at) "
            "VALUES ('p', 'm', 'S', 'N', '', 'chair', '[]', 'published', '2026-01-01', '2026-01-01')"
        ))
        connection.execute(text("INSERT INTO assets (id, merchant_id, product_id, created_at) VALUES ('a', 'm', 'p', '2026-01-01')"))
        connection.execute(
            text(
                "INSERT INTO asset_versions (id, asset_id, number, profile, options, source_sha256, metadata, report, created_at) "
                "VALUES ('v', 'a', 1, 'web-ar', '{}', 'x', :metadata, :report, '2026-01-01')"
            ),
            {"metadata": json.dumps(metadata), "report": json.dumps(report)},
        )
    upgrade(engine)
    with engine.connect() as connection:
        stored = json.loads(connection.execute(text("SELECT summary FROM asset_versions")).scalar_one())
    assert stored == summarize(metadata, report)
    assert stored["targets"] == [{"target": "shopify", "passed": True}] and stored["triangles"] == 5676
    engine.dispose()


def test_processes_starting_together_migrate_once(request, tmp_path):
    """`serve --workers N` or several workers start at once: the migrations take turns, none fails."""
    import subprocess
    import sys

    from .conftest import ROOT

    code = "import sys; from immersive.catalog.database import make_engine, upgrade; upgrade(make_engine(sys.argv[1]))"
    for url in (f"sqlite:///{tmp_path / 'race.sqlite3'}", request.getfixturevalue("postgres").database()):
        processes = [subprocess.Popen([sys.executable, "-c", code, url], cwd=ROOT, stderr=subprocess.PIPE) for _ in range(4)]
        errors = [p.communicate(timeout=120)[1].decode() for p in processes]
        assert all(p.returncode == 0 for p in processes), errors
        engine = make_engine(url)
        assert current_revision(engine) == "0007"
        engine.dispose()
