"""/api/v1/products/{id}/asset: versions, reprocess with another profile, rollback, delete (with files)."""

from __future__ import annotations

from .conftest import SAMPLES


def _asset(service, tenant, product_id):
    response = service.client.get(f"/api/v1/products/{product_id}/asset", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_versions_reprocess_rollback(service):
    a = service.a
    product, _ = service.ingest(a, "SO-1", "sofa.glb", category="sofa")
    v1 = _asset(service, a, product["id"])["versions"][0]
    assert v1["number"] == 1 and v1["current"] and v1["profile"] == "web-ar"

    detail = service.client.get(f"/api/v1/products/{product['id']}/asset/versions/1", headers=a.headers).json()
    assert detail["metadata"]["variants"] == ["Oat", "Slate"] and detail["metadata"]["category"] == "sofa"
    assert {t["target"] for t in detail["targets"]} == {t["target"] for t in detail["report"]["targets"]}

    job = service.client.post(
        f"/api/v1/products/{product['id']}/asset/versions/1/reprocess", json={"profile": "banner"}, headers=a.headers
    )
    assert job.status_code == 202 and job.json()["kind"] == "reprocess" and job.json()["profile"] == "banner"
    assert service.wait_job(a, job.json()["id"])["state"] == "succeeded"
    asset = _asset(service, a, product["id"])
    assert asset["current_version"] == 2
    v2 = asset["versions"][1]
    assert v2["profile"] == "banner" and v2["source_sha256"] == v1["source_sha256"] and v2["upload_id"] == v1["upload_id"]
    assert v2["files"]["metadata.json"]["sha256"] != v1["files"]["metadata.json"]["sha256"]
    v2_detail = service.client.get(f"/api/v1/products/{product['id']}/asset/versions/2", headers=a.headers).json()
    assert v2_detail["metadata"]["profile"] == "banner"

    public = service.client.get(f"/api/v1/products/{product['id']}", headers=a.headers).json()
    assert public["asset"]["version"] == 2 and public["asset"]["profile"] == "banner"

    rolled = service.client.post(f"/api/v1/products/{product['id']}/asset/rollback", json={"version": 1}, headers=a.headers)
    assert rolled.status_code == 200 and rolled.json()["current_version"] == 1
    assert service.client.get(f"/api/v1/products/{product['id']}", headers=a.headers).json()["asset"]["version"] == 1
    missing = service.client.post(f"/api/v1/products/{product['id']}/asset/rollback", json={"version": 9}, headers=a.headers)
    assert missing.status_code == 404
    bad = service.client.post(
        f"/api/v1/products/{product['id']}/asset/versions/1/reprocess", json={"profile": "nope"}, headers=a.headers
    )
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_option"


def test_delete_version_and_asset_remove_their_files(service):
    a = service.a
    storage = service.runtime.storage
    product, _ = service.ingest(a, "CH-1", "chair.glb")
    # The same source uploaded again: a second version; identical outputs share keys with the first.
    again = service.upload(a, product["id"], (SAMPLES / "chair.glb").read_bytes())
    service.wait_job(a, again.json()["job"]["id"])
    versions = _asset(service, a, product["id"])["versions"]
    keys = [{_key(f) for f in v["files"].values()} for v in versions]
    shared, only_v2 = keys[0] & keys[1], keys[1] - keys[0]
    assert shared and only_v2  # same geometry files; metadata.json differs (created_at)
    assert all(storage.exists(k) for k in keys[0] | keys[1])

    assert service.client.delete(f"/api/v1/products/{product['id']}/asset/versions/2", headers=a.headers).status_code == 204
    asset = _asset(service, a, product["id"])
    assert [v["number"] for v in asset["versions"]] == [1] and asset["current_version"] == 1
    assert not any(storage.exists(k) for k in only_v2)
    assert all(storage.exists(k) for k in keys[0])  # still used by version 1

    source = f"sources/{versions[0]['source_sha256']}"
    assert storage.exists(source)
    assert service.client.delete(f"/api/v1/products/{product['id']}/asset", headers=a.headers).status_code == 204
    assert not any(storage.exists(k) for k in keys[0])
    assert service.client.get(f"/api/v1/products/{product['id']}/asset", headers=a.headers).status_code == 404
    assert storage.exists(source)  # the upload still refers to it (the product remains)
    assert service.client.delete(f"/api/v1/products/{product['id']}", headers=a.headers).status_code == 204
    assert not storage.exists(source)


def test_deleting_a_product_keeps_files_another_merchant_uses(service):
    a, b = service.a, service.b
    product_a, _ = service.ingest(a, "CH-1", "chair.glb")
    product_b, _ = service.ingest(b, "CH-1", "chair.glb")
    source = f"sources/{_asset(service, b, product_b['id'])['versions'][0]['source_sha256']}"
    b_files = [_key(f) for f in _asset(service, b, product_b["id"])["versions"][0]["files"].values()]
    assert service.client.delete(f"/api/v1/products/{product_a['id']}", headers=a.headers).status_code == 204
    assert service.runtime.storage.exists(source)
    glb = next(k for k in b_files if k.endswith("/model.glb"))
    assert service.runtime.storage.exists(glb)


def _key(file_info: dict) -> str:
    """The storage key of a file from its URL (/files/{key} locally, the bucket path on S3)."""
    from urllib.parse import urlsplit

    path = urlsplit(file_info["url"]).path
    return "assets/" + path.split("/assets/", 1)[1]
