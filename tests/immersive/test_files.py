"""GET /files/{key} (local storage): content types from the pipeline's table, ETag = the content address,
If-None-Match -> 304, single ranges -> 206 with Content-Range, unsatisfiable -> 416, immutable caching,
HEAD, and sources never served."""

from __future__ import annotations

import hashlib

import pytest


@pytest.fixture()
def deployment():
    return "embedded"  # S3 hands out presigned URLs instead (test_storage.py)


@pytest.fixture()
def bundle(settings_factory):
    from fastapi.testclient import TestClient

    from immersive.app import create_app

    from .conftest import Service

    # With USDZ and posters, so every content type is served.
    with TestClient(create_app(settings_factory(pipeline_usdz=True, pipeline_poster=True))) as client:
        service = Service(client)
        product, _ = service.ingest(service.a, "WA-1", "watch.glb", category="watch")
        asset = client.get(f"/api/v1/products/{product['id']}/asset", headers=service.a.headers).json()
        yield service, asset["versions"][0]["files"]


def test_content_types_etag_and_caching(bundle):
    service, files = bundle
    expected = {
        "model.glb": "model/gltf-binary",
        "model.lod1.glb": "model/gltf-binary",
        "model.usdz": "model/vnd.usdz+zip",
        "poster.webp": "image/webp",
        "thumb.webp": "image/webp",
        "metadata.json": "application/json",
        "report.json": "application/json",
    }
    for name, content_type in expected.items():
        info = files[name]
        response = service.client.get(info["url"])
        assert response.status_code == 200, name
        assert response.headers["content-type"] == content_type == info["content_type"]
        assert response.headers["etag"] == f'"{info["sha256"]}"'
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["accept-ranges"] == "bytes"
        assert int(response.headers["content-length"]) == info["bytes"] == len(response.content)
        assert hashlib.sha256(response.content).hexdigest() == info["sha256"]
        assert f"/{info['sha256']}/{name}" in info["url"]  # content-addressed key


def test_conditional_and_head(bundle):
    service, files = bundle
    url, etag = files["model.glb"]["url"], f'"{files["model.glb"]["sha256"]}"'
    not_modified = service.client.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag and "immutable" in not_modified.headers["cache-control"]
    assert service.client.get(url, headers={"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert service.client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    head = service.client.head(url)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == files["model.glb"]["bytes"]


def test_ranges(bundle):
    service, files = bundle
    info = files["model.glb"]
    url, size = info["url"], info["bytes"]
    whole = service.client.get(url).content

    first = service.client.get(url, headers={"Range": "bytes=0-11"})
    assert first.status_code == 206 and first.content == whole[:12] and first.content[:4] == b"glTF"
    assert first.headers["content-range"] == f"bytes 0-11/{size}" and first.headers["content-length"] == "12"

    middle = service.client.get(url, headers={"Range": "bytes=100-199"})
    assert middle.status_code == 206 and middle.content == whole[100:200]
    open_end = service.client.get(url, headers={"Range": f"bytes={size - 10}-"})
    assert open_end.status_code == 206 and open_end.content == whole[-10:]
    suffix = service.client.get(url, headers={"Range": "bytes=-20"})
    assert suffix.status_code == 206 and suffix.content == whole[-20:]
    assert suffix.headers["content-range"] == f"bytes {size - 20}-{size - 1}/{size}"
    clipped = service.client.get(url, headers={"Range": f"bytes=10-{size * 2}"})
    assert clipped.status_code == 206 and clipped.content == whole[10:]

    past = service.client.get(url, headers={"Range": f"bytes={size}-{size + 10}"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{size}"
    assert past.json()["error"] == "range_not_satisfiable"
    assert service.client.get(url, headers={"Range": "bytes=5-2"}).status_code == 416
    # Several ranges: answered with the whole file (allowed by RFC 9110), not a multipart body.
    several = service.client.get(url, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == whole
    # If-Range with a stale validator: the whole file.
    stale = service.client.get(url, headers={"Range": "bytes=0-11", "If-Range": '"stale"'})
    assert stale.status_code == 200 and len(stale.content) == size
    fresh = service.client.get(url, headers={"Range": "bytes=0-11", "If-Range": f'"{info["sha256"]}"'})
    assert fresh.status_code == 206


def test_only_asset_keys_are_served(bundle):
    service, files = bundle
    with service.runtime.sessions() as session:
        from immersive.catalog.models import Upload

        source_key = session.query(Upload).one().source_key
    assert service.runtime.storage.exists(source_key)
    for path in (f"/files/{source_key}", "/files/assets/../sources/x", "/files/assets/ab/nothex/model.glb", "/files/.tmp/x"):
        assert service.client.get(path).status_code == 404, path
    missing = "/files/assets/00/" + "0" * 64 + "/model.glb"
    assert service.client.get(missing).status_code == 404
