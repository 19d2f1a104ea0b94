"""Tenant isolation: every write endpoint (and the reads next to them), in both directions. Another
merchant's resources answer 404 exactly like missing ones, and nothing of theirs changes."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import SAMPLES


def _world(service, tenant):
    """A tenant's catalogue: a product with two asset versions, a pending two-step upload, a finished job."""
    product, job = service.ingest(tenant, "SHARED-SKU", "chair.glb")
    again = service.upload(tenant, product["id"], (SAMPLES / "ring.glb").read_bytes(), "ring.glb")
    service.wait_job(tenant, again.json()["job"]["id"])
    draft = service.product(tenant, "DRAFT-1", name="Unreleased", category="lamp")
    pending = service.client.post(
        "/api/v1/uploads", json={"product_id": product["id"], "filename": "big.glb"}, headers=tenant.headers
    ).json()
    return {"product": product, "job": job, "draft": draft, "pending": pending["upload"]}


def _snapshot(service, tenant, world):
    h = tenant.headers
    pid = world["product"]["id"]
    snapshot = {
        "products": service.client.get("/api/v1/products", headers=h).json(),
        "asset": service.client.get(f"/api/v1/products/{pid}/asset", headers=h).json(),
        "job": service.client.get(f"/api/v1/jobs/{world['job']['id']}", headers=h).json(),
        "jobs": service.client.get("/api/v1/jobs", headers=h).json()["total"],
        "pending": service.client.get(f"/api/v1/uploads/{world['pending']['id']}", headers=h).json(),
    }
    # Presigned URLs carry their signing time: compare what they point at.
    return json.loads(re.sub(r'\?X-Amz-[^"]*', "", json.dumps(snapshot)))


@pytest.mark.parametrize("direction", ["a->b", "b->a"])
def test_no_merchant_reads_or_changes_another(service, direction):
    owner, intruder = (service.a, service.b) if direction == "a->b" else (service.b, service.a)
    world = _world(service, owner)
    before = _snapshot(service, owner, world)
    pid, job_id, upload_id = world["product"]["id"], world["job"]["id"], world["pending"]["id"]
    c, h = service.client, intruder.headers
    chair = (SAMPLES / "chair.glb").read_bytes()

    writes = {
        "patch product": lambda: c.patch(f"/api/v1/products/{pid}", json={"name": "pwned", "status": "published"}, headers=h),
        "delete product": lambda: c.delete(f"/api/v1/products/{pid}", headers=h),
        "upload by product id": lambda: c.post(
            "/api/v1/uploads", data={"product_id": pid}, files={"file": ("c.glb", chair)}, headers=h
        ),
        "two-step create": lambda: c.post("/api/v1/uploads", json={"product_id": pid, "filename": "c.glb"}, headers=h),
        "put content": lambda: c.put(f"/api/v1/uploads/{upload_id}/content", content=chair, headers=h),
        "complete": lambda: c.post(f"/api/v1/uploads/{upload_id}/complete", headers=h),
        "reprocess": lambda: c.post(f"/api/v1/products/{pid}/asset/versions/1/reprocess", json={"profile": "banner"}, headers=h),
        "rollback": lambda: c.post(f"/api/v1/products/{pid}/asset/rollback", json={"version": 1}, headers=h),
        "delete version": lambda: c.delete(f"/api/v1/products/{pid}/asset/versions/1", headers=h),
        "delete asset": lambda: c.delete(f"/api/v1/products/{pid}/asset", headers=h),
        "cancel job": lambda: c.post(f"/api/v1/jobs/{job_id}/cancel", headers=h),
    }
    reads = {
        "product": lambda: c.get(f"/api/v1/products/{pid}", headers=h),
        "draft": lambda: c.get(f"/api/v1/products/{world['draft']['id']}", headers=h),
        "asset": lambda: c.get(f"/api/v1/products/{pid}/asset", headers=h),
        "version": lambda: c.get(f"/api/v1/products/{pid}/asset/versions/1", headers=h),
        "upload": lambda: c.get(f"/api/v1/uploads/{upload_id}", headers=h),
        "job": lambda: c.get(f"/api/v1/jobs/{job_id}", headers=h),
        "job events": lambda: c.get(f"/api/v1/jobs/{job_id}/events", headers=h),
    }
    for name, call in {**writes, **reads}.items():
        response = call()
        assert response.status_code == 404, (name, response.status_code, response.text)
        assert response.json()["error"] == "not_found", name

    # The intruder's own SKU of the same name is a separate product, and their lists hold nothing of the owner's.
    upload_by_sku = c.post("/api/v1/uploads", data={"sku": "SHARED-SKU"}, files={"file": ("c.glb", chair)}, headers=h)
    assert upload_by_sku.status_code == 404
    assert c.get("/api/v1/products", headers=h).json()["total"] == 0
    assert c.get("/api/v1/jobs", headers=h).json()["total"] == 0
    created = c.post("/api/v1/products", json={"sku": "SHARED-SKU", "name": "mine"}, headers=h)
    assert created.status_code == 201  # same SKU, other catalogue
    # The owner's draft is not public either.
    assert c.get(f"/api/v1/public/products/{owner.slug}/DRAFT-1").status_code == 404

    after = _snapshot(service, owner, world)
    assert after == before
    storage = service.runtime.storage
    for version in after["asset"]["versions"]:
        for info in version["files"].values():
            key = "assets/" + info["url"].split("/assets/", 1)[1].split("?")[0]
            assert storage.exists(key)
