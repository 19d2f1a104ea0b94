"""Storage implementations: local (atomic writes, ranges, safe keys) and S3 against a real moto_server
(put/get/range/move/delete, multipart for big streams, presigned PUT and GET with plain HTTP)."""

from __future__ import annotations

import hashlib
import io
import uuid

import httpx
import pytest

from immersive.errors import NotFound
from immersive.storage import bundle_key, check_key
from immersive.storage.local import LocalStorage
from immersive.storage.s3 import S3Storage


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "store", chunk_bytes=1000)
    endpoint = request.getfixturevalue("moto_server")
    store = S3Storage(
        f"st-{uuid.uuid4().hex[:10]}", endpoint_url=endpoint, access_key_id="test", secret_access_key="test", chunk_bytes=1000
    )
    store.ensure_bucket()
    return store


def test_round_trip(storage):
    data = bytes(range(256)) * 40
    key = bundle_key(hashlib.sha256(data).hexdigest(), "model.glb")
    assert not storage.exists(key)
    storage.put(key, data)
    assert storage.exists(key) and storage.size(key) == len(data) and storage.get(key) == data
    assert b"".join(storage.open_range(key, 100, 199)) == data[100:200]
    assert b"".join(storage.open_range(key, 10_000)) == data[10_000:]
    storage.put("sources/abc", io.BytesIO(data))
    storage.move("sources/abc", "sources/def")
    assert not storage.exists("sources/abc") and storage.get("sources/def") == data
    storage.delete(key)
    storage.delete(key)  # deleting twice is fine
    assert not storage.exists(key)
    with pytest.raises(NotFound):
        storage.get(key)
    with pytest.raises(NotFound):
        storage.size(key)
    with pytest.raises(NotFound):
        storage.move("sources/missing", "sources/x")


def test_keys_are_checked():
    for bad in ("", "/etc/passwd", "assets/../../x", "a//b", "a\\b", "./a"):
        with pytest.raises(ValueError):
            check_key(bad)
    assert check_key("assets/ab/abc/model.glb")


def test_local_write_is_atomic(tmp_path):
    store = LocalStorage(tmp_path / "store")
    store.put("sources/k", b"first version")

    class Broken(io.RawIOBase):
        def readinto(self, buffer):
            raise OSError("client went away")

    with pytest.raises(OSError):
        store.put("sources/k", io.BufferedReader(Broken()))
    assert store.get("sources/k") == b"first version"  # never half-written
    assert not list((tmp_path / "store" / ".tmp").iterdir())
    store.delete("sources/k")
    assert not (tmp_path / "store" / "sources").exists()  # emptied folders go too


def test_s3_multipart_presigned_put_and_get(moto_server):
    store = S3Storage(f"mp-{uuid.uuid4().hex[:10]}", endpoint_url=moto_server, access_key_id="test", secret_access_key="test")
    store.ensure_bucket()
    big = (hashlib.sha256(b"seed").digest() * 1024) * 640  # 20 MiB: above the 16 MiB multipart threshold
    store.put("sources/big", io.BytesIO(big))
    head = store.client.head_object(Bucket=store.bucket, Key="sources/big")
    assert head["ContentLength"] == len(big) and "-" in head["ETag"]  # a multipart object's ETag is "md5-parts"

    url = store.presigned_put("incoming/u1")
    assert "X-Amz-Signature" in url and "X-Amz-Expires=3600" in url
    assert httpx.put(url, content=b"uploaded by the client").status_code == 200
    assert store.get("incoming/u1") == b"uploaded by the client"

    key = bundle_key("ab" * 32, "poster.webp")
    store.put(key, b"RIFF....WEBP")
    get_url = store.url(key)
    response = httpx.get(get_url)
    assert response.status_code == 200 and response.content == b"RIFF....WEBP"
    assert response.headers["content-type"] == "image/webp"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    ranged = httpx.get(get_url, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206 and ranged.content == b"RIFF"

    cdn = S3Storage(store.bucket, endpoint_url=moto_server, access_key_id="t", secret_access_key="t", public_base_url="https://cdn.example/")
    assert cdn.url(key) == f"https://cdn.example/{key}"


def test_files_route_redirects_to_s3(moto_server, tmp_path):
    """With S3 the service never proxies asset bytes: /files/{key} redirects to a presigned URL."""
    from fastapi.testclient import TestClient

    from immersive.app import create_app

    from .conftest import Service, make_settings

    with TestClient(create_app(make_settings(tmp_path / "data", "s3", moto_server))) as client:
        service = Service(client)
        product, _ = service.ingest(service.a, "CH-1", status="published")
        info = client.get(f"/api/v1/public/products/{service.a.slug}/CH-1").json()["asset"]["files"]["model.glb"]
        key = "assets/" + info["url"].split("/assets/", 1)[1].split("?")[0]
        redirect = client.get(f"/files/{key}", follow_redirects=False)
        assert redirect.status_code == 307 and "X-Amz-Signature" in redirect.headers["location"]
        assert hashlib.sha256(httpx.get(redirect.headers["location"]).content).hexdigest() == info["sha256"]
