"""Housekeeping: two-step uploads never completed are removed with their bytes after the expiry, and so
are spool files of uploads that died; everything younger, or completed, stays."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from immersive.catalog.models import Upload
from immersive.janitor import clean

from .conftest import SAMPLES


def test_stale_uploads_and_spool_files_are_removed(service):
    a, runtime = service.a, service.runtime
    product = service.product(a, "CH-1")
    chair = (SAMPLES / "chair.glb").read_bytes()

    def pending():
        info = service.client.post("/api/v1/uploads", json={"product_id": product["id"], "filename": "c.glb"}, headers=a.headers).json()
        if runtime.settings.storage == "s3":
            import httpx

            httpx.put(info["put_url"], content=chair)
        else:
            service.client.put(info["put_url"], content=chair, headers=a.headers)
        return info["upload"]["id"]

    old, fresh = pending(), pending()
    completed = service.upload(a, product["id"], chair).json()["upload"]["id"]
    with runtime.sessions() as session:
        for upload_id in (old, completed):
            row = session.get(Upload, upload_id)
            row.created_at = row.created_at - timedelta(hours=runtime.settings.upload_expiry_hours + 1)
        session.commit()
    runtime.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    dead_spool = runtime.settings.tmp_dir / "upload-dead.part"
    dead_spool.write_bytes(b"half an upload")
    stale = time.time() - (runtime.settings.upload_expiry_hours + 1) * 3600
    os.utime(dead_spool, (stale, stale))
    live_spool = runtime.settings.tmp_dir / "upload-live.part"
    live_spool.write_bytes(b"arriving now")

    assert clean(runtime) == {"pending_uploads": 1, "spool_files": 1, "saved_looks": 0}
    assert service.client.get(f"/api/v1/uploads/{old}", headers=a.headers).status_code == 404
    assert service.client.get(f"/api/v1/uploads/{fresh}", headers=a.headers).json()["state"] == "pending"
    assert service.client.get(f"/api/v1/uploads/{completed}", headers=a.headers).json()["state"] == "stored"
    if runtime.settings.storage == "s3":
        assert not runtime.storage.exists(f"incoming/{old}") and runtime.storage.exists(f"incoming/{fresh}")
    else:
        parts = runtime.settings.tmp_dir / "uploads"
        assert not (parts / f"{old}.part").exists() and (parts / f"{fresh}.part").exists()
    assert not dead_spool.exists() and live_spool.exists()
    assert clean(runtime) == {"pending_uploads": 0, "spool_files": 0, "saved_looks": 0}
