"""/api/v1/products: create, read, list with pagination, filters and search, update, delete; roles."""

from __future__ import annotations

from urllib.parse import urlsplit


def test_create_read_update_delete(service):
    a = service.a
    created = service.product(
        a,
        "SOFA-3",
        name="Three-seat sofa",
        category="sofa",
        dimensions_m={"width": 2.0, "height": 0.85, "depth": 0.9},
        price="1299.00",
        currency="EUR",
        product_url="https://shop.example/sofa-3",
        variants=[{"name": "Oat"}, {"name": "Slate", "sku": "SOFA-3-SL", "price": "1349.00"}],
    )
    assert created["status"] == "draft" and created["placement"] == "floor" and not created["tryon"]
    assert created["price"] == "1299.00" and created["dimensions_m"] == {"width": 2.0, "height": 0.85, "depth": 0.9}
    assert created["has_ar"] is False and created["asset"] is None

    read = service.client.get(f"/api/v1/products/{created['id']}", headers=a.headers).json()
    assert read == created

    patched = service.client.patch(
        f"/api/v1/products/{created['id']}", json={"status": "published", "price": "1199.50"}, headers=a.headers
    )
    assert patched.status_code == 200
    assert patched.json()["status"] == "published" and patched.json()["price"] == "1199.50"
    assert patched.json()["name"] == "Three-seat sofa"  # untouched fields stay

    assert service.client.delete(f"/api/v1/products/{created['id']}", headers=a.headers).status_code == 204
    gone = service.client.get(f"/api/v1/products/{created['id']}", headers=a.headers)
    assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def test_validation_and_conflicts(service):
    a = service.a
    service.product(a, "RING-1", category="ring")
    dup = service.client.post("/api/v1/products", json={"sku": "RING-1", "name": "x"}, headers=a.headers)
    assert dup.status_code == 409 and dup.json()["error"] == "conflict"
    # The same SKU in another merchant's catalogue is fine.
    service.product(service.b, "RING-1", category="ring")

    bad = service.client.post("/api/v1/products", json={"sku": "X", "name": "x", "category": "spaceship"}, headers=a.headers)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_request"
    assert "unknown category" in str(bad.json()["detail"])
    for body in (
        {"sku": "has space", "name": "x"},
        {"sku": "X", "name": "x", "price": "-1"},
        {"sku": "X", "name": "x", "currency": "euro"},
        {"sku": "X", "name": "x", "dimensions_m": {"width": 0, "height": 1, "depth": 1}},
        {"sku": "X", "name": "x", "unknown_field": 1},
    ):
        response = service.client.post("/api/v1/products", json=body, headers=a.headers)
        assert response.status_code == 422, body
    product = service.product(a, "LAMP-1", category="lamp")
    null_name = service.client.patch(f"/api/v1/products/{product['id']}", json={"name": None}, headers=a.headers)
    assert null_name.status_code == 422
    clash = service.client.patch(f"/api/v1/products/{product['id']}", json={"sku": "RING-1"}, headers=a.headers)
    assert clash.status_code == 409


def test_keys_and_roles(service):
    a = service.a
    assert service.client.get("/api/v1/products").status_code == 401
    assert service.client.get("/api/v1/products", headers={"Authorization": "Bearer imk_nope_nope"}).status_code == 401
    tampered = a.key[:-2] + ("AA" if not a.key.endswith("AA") else "BB")
    assert service.client.get("/api/v1/products", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    me = service.client.get("/api/v1/me", headers=a.reader_headers).json()
    assert me["merchant"]["slug"] == a.slug and me["key"]["role"] == "reader"
    # A reader key reads but never writes.
    assert service.client.get("/api/v1/products", headers=a.reader_headers).status_code == 200
    denied = service.client.post("/api/v1/products", json={"sku": "R", "name": "r"}, headers=a.reader_headers)
    assert denied.status_code == 403 and denied.json()["error"] == "forbidden"


def test_keys_are_stored_hashed(service):
    from immersive.catalog.models import ApiKey

    with service.runtime.sessions() as session:
        rows = session.query(ApiKey).all()
    secrets = {key.split("_", 2)[2] for key in (service.a.key, service.a.reader_key, service.b.key)}
    for row in rows:
        assert len(row.secret_hash) == 64 and row.secret_hash not in secrets
        assert all(secret not in (row.secret_hash, row.salt, row.id) for secret in secrets)


def test_list_pagination_filters_and_search(service):
    a = service.a
    service.ingest(a, "CH-1", "chair.glb", name="Oak dining chair", category="chair", status="published")
    service.ingest(a, "GL-1", "glasses.glb", name="Round optical glasses", category="glasses", description="acetate frame")
    for i in range(5):
        service.product(a, f"VASE-{i}", name=f"Vase {i}", category="vase")
    service.product(service.b, "CH-B", name="Beta chair", category="chair")  # another merchant: never listed

    def listing(**params):
        response = service.client.get("/api/v1/products", params=params, headers=a.headers)
        assert response.status_code == 200, response.text
        return response.json()

    everything = listing(per_page=3)
    assert everything["total"] == 7 and len(everything["items"]) == 3
    pages = [listing(per_page=3, page=p)["items"] for p in (1, 2, 3)]
    skus = [item["sku"] for page in pages for item in page]
    assert len(skus) == 7 and len(set(skus)) == 7 and "CH-B" not in skus

    assert {p["sku"] for p in listing(category="vase")["items"]} == {f"VASE-{i}" for i in range(5)}
    assert [p["sku"] for p in listing(status="published")["items"]] == ["CH-1"]
    assert {p["sku"] for p in listing(has_ar=True)["items"]} == {"CH-1", "GL-1"}
    assert listing(has_ar=False)["total"] == 5
    assert [p["sku"] for p in listing(has_tryon=True)["items"]] == ["GL-1"]
    assert [p["sku"] for p in listing(q="oak")["items"]] == ["CH-1"]
    assert [p["sku"] for p in listing(q="ACETATE")["items"]] == ["GL-1"]  # description, case-insensitive
    assert listing(q="100%")["total"] == 0  # LIKE wildcards are literal
    assert listing(q="vase-3")["items"][0]["sku"] == "VASE-3"

    glasses = next(p for p in listing(has_ar=True)["items"] if p["sku"] == "GL-1")
    assert glasses["has_tryon"] and glasses["placement"] == "face"
    assert glasses["asset"]["version"] == 1 and urlsplit(glasses["asset"]["model_url"]).path.endswith("/model.glb")
    assert service.client.get("/api/v1/products", params={"per_page": 500}, headers=a.headers).status_code == 422


def _hotspot(id_: str, position=(0.0, 0.49, 0.08), normal=(0.0, 1.0, 0.0), **fields) -> dict:
    return {"id": id_, "label": fields.pop("label", f"Spot {id_}"), "text": "", "position": list(position), "normal": normal, **fields}


def test_hotspots_are_kept_validated_and_public(service):
    a = service.a
    seat = _hotspot("seat", text="Sage wool-blend cover")
    legs = _hotspot("legs", (0.19, 0.215, 0.225), [0.0, 0.0, 0.9996])  # rounded: stored as a unit vector
    created = service.product(a, "CH-1", name="Oak chair", status="published", hotspots=[seat, legs])
    assert created["hotspots"] == [
        {"id": "seat", "label": "Spot seat", "text": "Sage wool-blend cover", "position": [0.0, 0.49, 0.08], "normal": [0.0, 1.0, 0.0]},
        {"id": "legs", "label": "Spot legs", "text": "", "position": [0.19, 0.215, 0.225], "normal": [0.0, 0.0, 1.0]},
    ]
    public = service.client.get(f"/api/v1/public/products/{a.slug}/CH-1").json()
    assert public["hotspots"] == created["hotspots"]

    # PATCH replaces the list; a hotspot without a normal is always shown.
    back = _hotspot("back", (0.0, 0.735, -0.1965), None)
    patched = service.client.patch(f"/api/v1/products/{created['id']}", json={"hotspots": [back]}, headers=a.headers)
    assert patched.status_code == 200 and [h["id"] for h in patched.json()["hotspots"]] == ["back"]
    assert patched.json()["hotspots"][0]["normal"] is None
    assert service.client.get(f"/api/v1/public/products/{a.slug}/CH-1").json()["hotspots"] == patched.json()["hotspots"]
    untouched = service.client.patch(f"/api/v1/products/{created['id']}", json={"name": "Ash chair"}, headers=a.headers)
    assert untouched.json()["hotspots"] == patched.json()["hotspots"]
    assert service.client.patch(f"/api/v1/products/{created['id']}", json={"hotspots": []}, headers=a.headers).json()["hotspots"] == []
    assert service.product(a, "CH-2")["hotspots"] == []

    def refused(hotspots, reason: str):
        response = service.client.patch(f"/api/v1/products/{created['id']}", json={"hotspots": hotspots}, headers=a.headers)
        assert response.status_code == 422, (hotspots, response.text)
        assert response.json()["error"] == "invalid_request" and reason in str(response.json()["detail"]), response.text

    refused([_hotspot("a"), _hotspot("b"), _hotspot("a")], "repeated: a")
    refused([_hotspot(f"h{i}") for i in range(51)], "at most 50")
    refused([_hotspot("a", normal=[0.0, 0.0, 0.0])], "unit vector")
    refused([_hotspot("a", normal=[0.0, 0.5, 0.0])], "unit vector")
    refused([_hotspot("a", position=[0.0, 1e9, 0.0])], "less than 10000")
    refused([_hotspot("a", position=[0.0, 1.0])], "position")
    refused([_hotspot("a", colour="red")], "Extra inputs are not permitted")
    refused([_hotspot("has space")], "pattern")
    refused([_hotspot("a", label="")], "label")
    refused(None, "hotspots cannot be null")
    # JSON itself has no NaN or Infinity, but Python's parser accepts them: they are refused, not stored.
    nan = service.client.patch(
        f"/api/v1/products/{created['id']}",
        content=b'{"hotspots": [{"id": "a", "label": "A", "position": [NaN, 0, 0]}]}',
        headers={**a.headers, "Content-Type": "application/json"},
    )
    assert nan.status_code == 422 and "finite" in nan.text
    assert service.client.get(f"/api/v1/products/{created['id']}", headers=a.headers).json()["hotspots"] == []
