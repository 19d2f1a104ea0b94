"""Analytics events: POST /api/v1/events (public, batched, JSON or text/plain as sendBeacon sends it),
refusals with reasons, the merchant's listing with filters and keyset pages, CORS for other sites."""

from __future__ import annotations

import json
import re

from immersive.api.events import MAX_BODY_BYTES
from immersive.api.schemas import EVENT_TYPES
from immersive.config import REPO_WEB_VIEWER

SESSION = "3f9c2a7be1d04c55a1b2c3d4e5f60718"


def event(merchant: str, type_: str = "view", sku: str | None = "CH-1", session: str = SESSION, **props) -> dict:
    return {"type": type_, "session": session, "merchant": merchant, "sku": sku, "ts": 1764000000000.5, "props": props}


def post(service, events, content_type: str = "application/json", **headers):
    body = json.dumps({"events": events}).encode()
    return service.client.post("/api/v1/events", content=body, headers={"Content-Type": content_type, **headers})


def listing(service, tenant, **params) -> dict:
    response = service.client.get("/api/v1/events", params=params, headers=tenant.reader_headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_batches_are_stored_and_listed(service):
    a, b = service.a, service.b
    service.product(a, "CH-1", status="published")
    service.product(b, "GL-1", category="glasses", status="published")
    other = "session_B-0001"
    batch = [
        event(a.slug, "view", page="product"),
        event(a.slug, "model_loaded", ms=812, level=0, bytes=1234567),
        {**event(a.slug, "ar_failed", reason="no_surface", detail="no floor found", placed=False, gone=None), "ip": "203.0.113.9", "user": "x"},
        event(a.slug, "hotspot_opened", session=other, hotspot="seat"),
        event(a.slug, "view", sku=None),
        event(b.slug, "variant_switched", sku="GL-1", variant="Tortoise", **{"from": "Black"}),
    ]
    response = post(service, batch)
    assert response.status_code == 202 and response.json() == {"accepted": 6}

    mine = listing(service, a)
    assert [e["type"] for e in mine["items"]] == ["view", "model_loaded", "ar_failed", "hotspot_opened", "view"]
    assert mine["next_after"] is None
    first = mine["items"][0]
    assert first["merchant"] == a.slug and first["sku"] == "CH-1" and first["session"] == SESSION
    assert first["ts"] == 1764000000000.5 and first["props"] == {"page": "product"} and first["received_at"].endswith("Z")
    failed = mine["items"][2]
    assert failed["props"] == {"reason": "no_surface", "detail": "no floor found", "placed": False, "gone": None}
    assert "ip" not in json.dumps(failed) and "203.0.113.9" not in json.dumps(mine)  # unknown fields are dropped
    assert mine["items"][1]["props"] == {"ms": 812, "level": 0, "bytes": 1234567}
    ids = [e["id"] for e in mine["items"]]
    assert ids == sorted(ids)

    assert [e["type"] for e in listing(service, a, type="view")["items"]] == ["view", "view"]
    assert [e["props"]["hotspot"] for e in listing(service, a, session=other)["items"]] == ["seat"]
    assert len(listing(service, a, sku="CH-1")["items"]) == 4
    theirs = listing(service, b)["items"]
    assert len(theirs) == 1 and theirs[0]["props"] == {"variant": "Tortoise", "from": "Black"}

    # Keyset pages.
    page1 = listing(service, a, limit=2)
    page2 = listing(service, a, limit=2, after=page1["next_after"])
    page3 = listing(service, a, limit=2, after=page2["next_after"])
    assert [e["id"] for e in page1["items"] + page2["items"] + page3["items"]] == ids
    assert page1["next_after"] == ids[1] and page3["next_after"] is None and len(page3["items"]) == 1

    assert service.client.get("/api/v1/events").status_code == 401
    bad_filter = service.client.get("/api/v1/events", params={"type": "nope"}, headers=a.headers)
    assert bad_filter.status_code == 422 and "view" in bad_filter.text


def test_text_plain_beacon_body(service):
    """navigator.sendBeacon and no-preflight fetches send the JSON string as text/plain."""
    a = service.a
    service.product(a, "CH-1", status="published")
    response = post(service, [event(a.slug, "ar_ended", duration_ms=5400, placed=True)], "text/plain;charset=UTF-8", Origin="https://shop.example")
    assert response.status_code == 202 and response.json() == {"accepted": 1}
    assert response.headers["access-control-allow-origin"] == "*"
    assert listing(service, a)["items"][0]["props"] == {"duration_ms": 5400, "placed": True}


def test_refused_batches_say_why_and_store_nothing(service):
    a = service.a
    service.product(a, "CH-1", status="published")
    service.product(service.b, "GL-1", category="glasses")
    good = event(a.slug)

    def refused(events, status: int, reason: str, *, body: bytes | None = None, content_type: str = "application/json"):
        data = json.dumps({"events": events}).encode() if body is None else body
        response = service.client.post("/api/v1/events", content=data, headers={"Content-Type": content_type} if content_type else {})
        assert response.status_code == status, (reason, response.text)
        assert reason in json.dumps(response.json()["detail"]), (reason, response.text)
        return response.json()

    detail = refused([good, event(a.slug, "teleported")], 422, "Input should be 'view'")
    assert detail["detail"][0]["loc"] == ["body", "events", 1, "type"] and detail["error"] == "invalid_request"
    refused([good, event("nobody")], 422, "events[1]: no merchant 'nobody'")
    refused([good, event(a.slug, sku="CH-404")], 422, f"events[1]: merchant '{a.slug}' has no product with SKU 'CH-404'")
    refused([event(a.slug, sku="GL-1")], 422, "has no product with SKU 'GL-1'")  # another merchant's SKU
    refused([event(a.slug, session="short")], 422, "String should match pattern")
    refused([event(a.slug, session="has space in it")], 422, "String should match pattern")
    refused([{**good, "ts": -1}], 422, "greater than or equal to 0")
    refused([{k: v for k, v in good.items() if k != "session"}], 422, "Field required")
    refused([event(a.slug, **{f"p{i}": i for i in range(21)})], 422, "at most 20 items")
    refused([event(a.slug, note="x" * 201)], 422, "props.note: a string of 201 characters; at most 200")
    refused([event(a.slug, nested={"a": 1})], 422, "props.nested: a string, number, boolean or null, not dict")
    refused([event(a.slug, listed=[1])], 422, "not list")
    refused([event(a.slug, big=2**60)], 422, "beyond 2^53")
    refused([event(a.slug, **{"bad key": 1})], 422, "String should match pattern")
    refused([], 422, "at least 1 item")
    refused([good] * 101, 422, "at most 100 items")
    refused([], 422, "Input should be a valid number", body=b'{"events": [{"type": "view", "session": "abcdefgh", "merchant": "m", "ts": "soon"}]}')
    refused([], 422, "finite", body=b'{"events": [{"type": "view", "session": "abcdefgh", "merchant": "m", "ts": NaN}]}')
    refused([], 422, "json_invalid", body=b'{"events": [')
    refused([], 415, "text/plain", content_type="application/xml")
    refused([], 415, "text/plain", content_type="")
    refused([], 413, f"at most {MAX_BODY_BYTES:,} bytes", body=b" " * (MAX_BODY_BYTES + 1))
    assert listing(service, a)["items"] == [] and listing(service, service.b)["items"] == []


def test_cors_preflight_for_events(service):
    preflight = service.client.options(
        "/api/v1/events",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "content-type" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    # Reading events needs the merchant's key: other sites get no CORS for it.
    listing_preflight = service.client.options(
        "/api/v1/events",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"},
    )
    assert listing_preflight.status_code == 400 and "Disallowed CORS method, headers" in listing_preflight.text
    listed = service.client.get("/api/v1/events", headers={"Origin": "https://shop.example", **service.a.headers})
    assert listed.status_code == 200 and "access-control-allow-origin" not in listed.headers


def test_every_type_the_viewer_emits_is_known():
    """The browser side and the service agree on event types (web_viewer/js emits, EVENT_TYPES accepts)."""
    emitted = set()
    for path in (REPO_WEB_VIEWER / "js").rglob("*.js"):
        emitted |= set(re.findall(r"emit\('([a-z_]+)'", path.read_text()))
    assert emitted and emitted <= set(EVENT_TYPES), emitted - set(EVENT_TYPES)
