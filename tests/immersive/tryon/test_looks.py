"""Saved looks and consents, in both deployments: a look is stored only with the session's active save_look
consent, and only the composited image the API answered (never the photo); it is fetched by its unguessable
id, deleted by its session, deleted with the consent's withdrawal, and purged by the janitor after the
retention. After every step the storage, every table and the data directory are scanned: nothing but the
consented looks is kept."""

from __future__ import annotations

import base64
import io
import json
from datetime import timedelta

import numpy as np
import pytest
from PIL import Image

from immersive.catalog.models import SavedLook
from immersive.janitor import clean

from .privacy import assert_nothing_kept
from .test_photo import png, portrait

SESSION = "tab-5f2b9c1e"
NOTICE = "2026-11-privacy-v3"


@pytest.fixture()
def shop(service):
    service.ingest(service.a, "LP-6001", "lipstick.glb", category="lipstick", status="published")
    return service


def consent(shop, session: str = SESSION, purposes=("save_look",)) -> dict:
    response = shop.client.post("/api/v1/consents", json={"session": session, "purposes": list(purposes), "notice_version": NOTICE})
    assert response.status_code == 201, response.text
    return response.json()


def save(shop, photo: bytes, session: str = SESSION, **headers):
    return shop.client.post(
        "/api/v1/tryon/looks",
        data={"merchant": shop.a.slug, "sku": "LP-6001", "session": session},
        files={"image": ("me.png", photo, "image/png")},
        headers=headers,
    )


def test_a_look_needs_consent_and_keeps_only_the_composite(shop):
    photo = png(portrait())
    refused = save(shop, photo)
    assert refused.status_code == 403 and refused.json()["error"] == "consent_required"
    assert_nothing_kept(shop.runtime)

    given = consent(shop)
    assert given["purposes"] == ["save_look"] and given["notice_version"] == NOTICE and given["withdrawn_at"] is None
    other = save(shop, photo, session="another-tab-1")  # another session's consent does not count
    assert other.status_code == 403

    response = save(shop, photo, Accept="image/jpeg")
    assert response.status_code == 201, response.text
    look = json.loads(response.headers["x-tryon-result"])["look"]
    assert len(look["id"]) >= 43 and look["url"].endswith(f"/api/v1/tryon/looks/{look['id']}")
    answered = response.content
    assert answered[:3] == b"\xff\xd8\xff" and answered != photo and look["bytes"] == len(answered)
    fetched = shop.client.get(look["url"])
    assert fetched.status_code == 200 and fetched.content == answered and fetched.headers["content-type"] == "image/jpeg"
    assert fetched.headers["cache-control"].startswith("private, max-age=")
    # The stored image is the composite: the lips are tinted, the photo is not what is kept.
    kept = np.asarray(Image.open(io.BytesIO(fetched.content)).convert("RGB")).astype(int)
    assert np.abs(kept - portrait().astype(int)).max(-1).mean() < 8  # the same picture...
    assert_nothing_kept(shop.runtime, {f"looks/{look['id']}": answered})  # ...and nothing else stored

    assert shop.client.get("/api/v1/tryon/looks/not-a-real-id-00000000000000000000000000000").status_code == 404
    wrong = shop.client.delete(look["url"], headers={"X-Session": "another-tab-1"})
    assert wrong.status_code == 404
    assert shop.client.delete(look["url"]).status_code == 422  # the session header is required
    assert shop.client.delete(look["url"], headers={"X-Session": SESSION}).status_code == 204
    assert shop.client.get(look["url"]).status_code == 404
    assert_nothing_kept(shop.runtime)


def test_withdrawing_consent_deletes_the_looks(shop):
    given = consent(shop)
    photo = png(portrait())
    looks = [save(shop, photo).json()["look"] for _ in range(2)]
    assert all(shop.client.get(look["url"]).status_code == 200 for look in looks)
    stranger = shop.client.post(f"/api/v1/consents/{given['id']}/withdraw", json={"session": "another-tab-1"})
    assert stranger.status_code == 404
    withdrawn = shop.client.post(f"/api/v1/consents/{given['id']}/withdraw", json={"session": SESSION})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["deleted_looks"] == 2 and withdrawn.json()["withdrawn_at"] is not None
    assert all(shop.client.get(look["url"]).status_code == 404 for look in looks)
    assert_nothing_kept(shop.runtime)
    again = save(shop, photo)
    assert again.status_code == 403 and "has not consented" in again.json()["detail"]


def test_expired_looks_are_refused_then_purged(shop):
    consent(shop)
    response = save(shop, png(portrait()))
    look = response.json()["look"]
    answered = base64.b64decode(response.json()["image"]["data"])
    runtime = shop.runtime
    with runtime.sessions() as session:
        row = session.get(SavedLook, look["id"])
        assert row.expires_at - row.created_at == timedelta(hours=runtime.settings.saved_look_retention_hours)
        row.expires_at = row.created_at - timedelta(seconds=1)
        session.commit()
    assert shop.client.get(look["url"]).status_code == 404  # past its retention: gone for clients at once
    assert_nothing_kept(runtime, {f"looks/{look['id']}": answered})  # the bytes wait for the janitor
    assert clean(runtime)["saved_looks"] == 1
    assert_nothing_kept(runtime)


def test_consent_requests_are_checked(shop):
    client = shop.client
    unknown = client.post("/api/v1/consents", json={"session": SESSION, "purposes": ["marketing"], "notice_version": NOTICE})
    assert unknown.status_code == 422 and "save_look" in unknown.json()["detail"]
    short = client.post("/api/v1/consents", json={"session": "abc", "purposes": ["save_look"], "notice_version": NOTICE})
    assert short.status_code == 422
    bad_session = save(shop, png(portrait()), session="not a session!")
    assert bad_session.status_code == 422 and "session" in bad_session.json()["detail"]
    assert client.post("/api/v1/consents/nope/withdraw", json={"session": SESSION}).status_code == 404
    assert_nothing_kept(shop.runtime)
