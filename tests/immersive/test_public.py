"""Public delivery (no key): published products of a merchant with their current asset and file URLs."""

from __future__ import annotations

import hashlib

from .conftest import fetch


def test_published_products_with_file_urls(service):
    a = service.a
    service.ingest(a, "GL-1", "glasses.glb", name="Round glasses", category="glasses", status="published", price="129.00", currency="USD")
    service.ingest(a, "CH-1", "chair.glb", name="Oak chair", category="chair", status="published")
    service.product(a, "DRAFT-1", name="Secret lamp", category="lamp")  # draft: invisible
    service.product(a, "NO-AR", name="Plain vase", category="vase", status="published")  # published, no model yet

    listing = service.client.get(f"/api/v1/public/products/{a.slug}").json()
    assert listing["total"] == 3 and {p["sku"] for p in listing["items"]} == {"GL-1", "CH-1", "NO-AR"}
    assert service.client.get(f"/api/v1/public/products/{a.slug}", params={"has_ar": True}).json()["total"] == 2
    tryon = service.client.get(f"/api/v1/public/products/{a.slug}", params={"has_tryon": True}).json()
    assert [p["sku"] for p in tryon["items"]] == ["GL-1"]
    assert service.client.get(f"/api/v1/public/products/{a.slug}", params={"q": "oak"}).json()["items"][0]["sku"] == "CH-1"

    glasses = service.client.get(f"/api/v1/public/products/{a.slug}/GL-1").json()
    assert glasses["merchant"] == a.slug and glasses["price"] == "129.00" and glasses["placement"] == "face"
    assert glasses["tryon"] and glasses["has_tryon"] and "id" not in glasses and "status" not in glasses
    asset = glasses["asset"]
    assert asset["placement"] == "face" and asset["version"] == 1
    assert [lod["file"] for lod in asset["lods"]] == ["model.glb", "model.lod1.glb", "model.lod2.glb"]
    assert asset["dimensions_m"]["width"] > 0.1
    for name, info in asset["files"].items():
        response = fetch(service, info["url"])
        assert response.status_code == 200, name
        assert hashlib.sha256(response.content).hexdigest() == info["sha256"]
        assert response.headers["content-type"] == info["content_type"]
    assert asset["model_url"] == asset["files"]["model.glb"]["url"]

    assert service.client.get(f"/api/v1/public/products/{a.slug}/NO-AR").json()["asset"] is None
    assert service.client.get(f"/api/v1/public/products/{a.slug}/DRAFT-1").status_code == 404
    assert service.client.get("/api/v1/public/products/nobody").status_code == 404
    assert service.client.get(f"/api/v1/public/products/{service.b.slug}").json()["total"] == 0


def test_public_base_url_setting(settings_factory):
    from .conftest import Service, running

    with running(settings_factory(public_base_url="https://cdn.shop.example/")) as client:
        service = Service(client)
        service.ingest(service.a, "CH-1", status="published")
        asset = client.get(f"/api/v1/public/products/{service.a.slug}/CH-1").json()["asset"]
        if service.runtime.settings.storage == "local":
            assert asset["model_url"].startswith("https://cdn.shop.example/files/assets/")
        else:  # S3 URLs come from the storage (presigned), not from the service's address
            assert "X-Amz-Signature" in asset["model_url"]


def test_public_cache_follows_changes(service):
    """Public answers are cached per process and validated by the catalogue version: changes made through
    this process show at once, changes by another process within public_cache_seconds."""
    import time

    from sqlalchemy import text

    a = service.a
    product, _ = service.ingest(a, "CH-1", status="published", name="Oak chair")
    url = f"/api/v1/public/products/{a.slug}/CH-1"
    assert service.client.get(url).json()["name"] == "Oak chair"
    assert service.client.get(url).json()["name"] == "Oak chair"  # from the cache

    service.client.patch(f"/api/v1/products/{product['id']}", json={"status": "draft"}, headers=a.headers)
    assert service.client.get(url).status_code == 404
    service.client.patch(f"/api/v1/products/{product['id']}", json={"status": "published", "name": "Ash chair"}, headers=a.headers)
    assert service.client.get(url).json()["name"] == "Ash chair"
    listing = service.client.get(f"/api/v1/public/products/{a.slug}").json()
    assert [p["name"] for p in listing["items"]] == ["Ash chair"]

    # Another process (another API node) changes the catalogue: its own commit hook is not ours.
    with service.runtime.engine.begin() as connection:
        connection.execute(text("UPDATE products SET name = 'Elm chair' WHERE id = :id"), {"id": product["id"]})
        connection.execute(text("UPDATE merchants SET catalog_version = catalog_version + 1 WHERE slug = :s"), {"s": a.slug})
    deadline = time.monotonic() + service.runtime.settings.public_cache_seconds + 2
    while service.client.get(url).json()["name"] != "Elm chair":
        assert time.monotonic() < deadline, "another process's change never showed"
        time.sleep(0.05)
