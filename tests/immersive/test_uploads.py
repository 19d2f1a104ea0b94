"""/api/v1/uploads: direct multipart upload (streamed, hashed, size-limited), two-step upload (local chunked
PUT or presigned S3 PUT) with complete, Idempotency-Key replays, refusals with the pipeline's codes."""

from __future__ import annotations

import hashlib
import threading

import httpx

from .conftest import SAMPLES

CHAIR = (SAMPLES / "chair.glb").read_bytes()


def test_direct_upload_processes_into_a_version(service):
    a = service.a
    product = service.product(a, "CH-1")
    response = service.upload(a, product["id"], CHAIR, "chair.glb", unit="m", up="+Y")
    assert response.status_code == 202, response.text
    body = response.json()
    upload, job = body["upload"], body["job"]
    assert upload["state"] == "stored" and upload["size"] == len(CHAIR)
    assert upload["sha256"] == hashlib.sha256(CHAIR).hexdigest()
    assert upload["options"] == {"profile": "web-ar", "category": "chair", "unit": "m", "up": "+Y"}
    assert job["state"] in ("queued", "running", "succeeded") and job["profile"] == "web-ar"

    done = service.wait_job(a, job["id"])
    assert done["state"] == "succeeded" and done["percent"] == 100.0 and done["attempts"] == 1
    asset = service.client.get(f"/api/v1/products/{product['id']}/asset", headers=a.headers).json()
    assert asset["current_version"] == 1
    version = asset["versions"][0]
    assert version["source_sha256"] == upload["sha256"] and version["upload_id"] == upload["id"]
    assert {"model.glb", "model.lod1.glb", "metadata.json", "report.json"} <= set(version["files"])
    # The source is kept under its content address.
    assert service.runtime.storage.exists(f"sources/{upload['sha256']}")
    again = service.client.get(f"/api/v1/uploads/{upload['id']}", headers=a.reader_headers).json()
    assert again["state"] == "stored" and again["sha256"] == upload["sha256"]


def test_upload_by_sku_and_option_errors(service):
    a = service.a
    service.product(a, "CH-1")
    by_sku = service.client.post(
        "/api/v1/uploads", data={"sku": "CH-1"}, files={"file": ("c.glb", CHAIR)}, headers=a.headers
    )
    assert by_sku.status_code == 202, by_sku.text
    bad_profile = service.client.post(
        "/api/v1/uploads", data={"sku": "CH-1", "profile": "ultra"}, files={"file": ("c.glb", CHAIR)}, headers=a.headers
    )
    assert bad_profile.status_code == 422 and bad_profile.json()["error"] == "invalid_option"
    assert "unknown profile" in bad_profile.json()["detail"]
    no_product = service.client.post("/api/v1/uploads", files={"file": ("c.glb", CHAIR)}, headers=a.headers)
    assert no_product.status_code == 422 and "product_id or sku" in no_product.json()["detail"]
    no_file = service.client.post("/api/v1/uploads", data={"sku": "CH-1"}, files={"other": ("x", b"1")}, headers=a.headers)
    assert no_file.status_code == 422
    text = service.client.post("/api/v1/uploads", content=b"hello", headers={**a.headers, "Content-Type": "text/plain"})
    assert text.status_code == 415
    unknown = service.client.post("/api/v1/uploads", data={"sku": "NOPE"}, files={"file": ("c.glb", CHAIR)}, headers=a.headers)
    assert unknown.status_code == 404


def test_size_limit_refuses_while_streaming(settings_factory):
    from .conftest import Service, running

    with running(settings_factory(max_upload_bytes=50_000)) as client:
        service = Service(client)
        product = service.product(service.a, "CH-1")
        response = service.upload(service.a, product["id"], CHAIR, "chair.glb")
        assert response.status_code == 413 and response.json()["error"] == "limit_exceeded"
        assert "50,000" in response.json()["detail"]
        # Nothing was kept: no spool file, no source, no upload row.
        assert not list(service.runtime.settings.tmp_dir.glob("upload-*"))
        assert client.get("/api/v1/jobs", headers=service.a.headers).json()["total"] == 0


def test_idempotency_key_returns_the_first_upload(service):
    a = service.a
    product = service.product(a, "CH-1")
    first = service.upload(a, product["id"], CHAIR, key="order-42")
    assert first.status_code == 202
    second = service.upload(a, product["id"], CHAIR, key="order-42")
    assert second.status_code == 200
    assert second.json()["upload"]["id"] == first.json()["upload"]["id"]
    assert second.json()["job"]["id"] == first.json()["job"]["id"]
    service.wait_job(a, first.json()["job"]["id"])
    # Even with other bytes, the key decides: still the first upload, no second version.
    third = service.upload(a, product["id"], (SAMPLES / "ring.glb").read_bytes(), "ring.glb", key="order-42")
    assert third.status_code == 200 and third.json()["upload"]["id"] == first.json()["upload"]["id"]
    jobs = service.client.get("/api/v1/jobs", headers=a.headers).json()
    assert jobs["total"] == 1
    asset = service.client.get(f"/api/v1/products/{product['id']}/asset", headers=a.headers).json()
    assert len(asset["versions"]) == 1
    # Keys are per merchant: B's identical key is B's own upload.
    b_product = service.product(service.b, "CH-1")
    other = service.upload(service.b, b_product["id"], CHAIR, key="order-42")
    assert other.status_code == 202 and other.json()["upload"]["id"] != first.json()["upload"]["id"]


def test_concurrent_retries_with_one_key_make_one_upload(service):
    a = service.a
    product = service.product(a, "CH-1")
    responses = []

    def send():
        responses.append(service.upload(a, product["id"], CHAIR, key="same-key"))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(responses) == 4
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 202], [r.text for r in responses]
    assert len({r.json()["upload"]["id"] for r in responses}) == 1
    assert service.client.get("/api/v1/jobs", headers=a.headers).json()["total"] == 1


def test_refused_upload_replays_its_refusal(service):
    a = service.a
    product = service.product(a, "CH-1")
    first = service.upload(a, product["id"], b"not a model at all" * 10, "chair.glb", key="k1")
    assert first.status_code == 415 and first.json()["error"] == "unsupported_format"
    second = service.upload(a, product["id"], CHAIR, key="k1")
    assert second.status_code == 415 and second.json() == first.json()


def _two_step(service, tenant, product_id, data, key=None, chunk=None, declared=True):
    headers = dict(tenant.headers)
    if key:
        headers["Idempotency-Key"] = key
    body = {"product_id": product_id, "filename": "chair.glb", "size": len(data) if declared else None}
    created = service.client.post("/api/v1/uploads", json=body, headers=headers)
    assert created.status_code in (200, 201), created.text
    info = created.json()
    if info["put_url"].startswith(str(service.client.base_url)):
        assert info["expires_in"] is None
        if chunk:
            for start in range(0, len(data), chunk):
                part = data[start : start + chunk]
                response = service.client.put(
                    info["put_url"],
                    content=part,
                    headers={**tenant.headers, "Content-Range": f"bytes {start}-{start + len(part) - 1}/{len(data)}"},
                )
                assert response.status_code == 200, response.text
                assert response.json()["received_bytes"] == start + len(part)
        else:
            assert service.client.put(info["put_url"], content=data, headers=tenant.headers).status_code == 200
    else:  # presigned S3 PUT: straight to the storage server, no API key
        assert info["expires_in"] == service.runtime.settings.s3_presign_expiry_seconds
        response = httpx.put(info["put_url"], content=data, headers=info["put_headers"])
        assert response.status_code == 200, response.text
    return info


def test_two_step_upload(service):
    a = service.a
    product = service.product(a, "CH-1")
    info = _two_step(service, a, product["id"], CHAIR, chunk=64 * 1024)
    assert info["upload"]["state"] == "pending"
    complete = service.client.post(info["complete_url"], headers=a.headers)
    assert complete.status_code == 202, complete.text
    upload = complete.json()["upload"]
    assert upload["state"] == "stored" and upload["sha256"] == hashlib.sha256(CHAIR).hexdigest()
    assert service.wait_job(a, complete.json()["job"]["id"])["state"] == "succeeded"
    # Completing again is a replay, not a second job.
    again = service.client.post(info["complete_url"], headers=a.headers)
    assert again.status_code == 200 and again.json()["job"]["id"] == complete.json()["job"]["id"]
    assert not service.runtime.storage.exists(f"incoming/{upload['id']}")


def test_two_step_checks(service):
    a = service.a
    product = service.product(a, "CH-1")
    too_big = service.client.post(
        "/api/v1/uploads", json={"product_id": product["id"], "filename": "x.glb", "size": 10**12}, headers=a.headers
    )
    assert too_big.status_code == 413
    bad_option = service.client.post(
        "/api/v1/uploads", json={"product_id": product["id"], "filename": "x.glb", "unit": "parsec"}, headers=a.headers
    )
    assert bad_option.status_code == 422 and bad_option.json()["error"] == "invalid_option"
    created = service.client.post("/api/v1/uploads", json={"product_id": product["id"], "filename": "c.glb"}, headers=a.headers)
    early = service.client.post(created.json()["complete_url"], headers=a.headers)
    assert early.status_code == 409 and "no bytes" in early.json()["detail"]
    # Declared size and received bytes must agree.
    info = _two_step(service, a, product["id"], CHAIR[:-10] + b"", declared=False)
    declared = service.client.post(
        "/api/v1/uploads", json={"product_id": product["id"], "filename": "c.glb", "size": len(CHAIR)}, headers=a.headers
    ).json()
    if declared["put_url"].startswith(str(service.client.base_url)):
        service.client.put(declared["put_url"], content=CHAIR[:100], headers=a.headers)
        out_of_order = service.client.put(
            declared["put_url"], content=b"x" * 10, headers={**a.headers, "Content-Range": "bytes 500-509/1000"}
        )
        assert out_of_order.status_code == 409 and "100 bytes" in out_of_order.json()["detail"]
    else:
        httpx.put(declared["put_url"], content=CHAIR[:100])
    mismatch = service.client.post(declared["complete_url"], headers=a.headers)
    assert mismatch.status_code == 422 and "declared" in mismatch.json()["detail"]
    # A truncated GLB is refused at complete with the pipeline's reason.
    refused = service.client.post(info["complete_url"], headers=a.headers)
    assert refused.status_code == 422 and refused.json()["error"] == "corrupt_file"


def test_two_step_idempotency(service):
    a = service.a
    product = service.product(a, "CH-1")
    info = _two_step(service, a, product["id"], CHAIR, key="big-1")
    replay = service.client.post(
        "/api/v1/uploads", json={"product_id": product["id"], "filename": "chair.glb"}, headers={**a.headers, "Idempotency-Key": "big-1"}
    )
    assert replay.status_code == 200 and replay.json()["upload"]["id"] == info["upload"]["id"]
    done = service.client.post(info["complete_url"], headers=a.headers)
    assert done.status_code == 202
    after = service.client.post(
        "/api/v1/uploads", json={"product_id": product["id"], "filename": "chair.glb"}, headers={**a.headers, "Idempotency-Key": "big-1"}
    )
    assert after.status_code == 200 and after.json()["job"]["id"] == done.json()["job"]["id"]
