"""What the live try-on page loads from the service: the page /tryon/{merchant}/{sku} (the product's JSON inlined,
404 page for an unknown product), the head occluder GLB, and tasks-vision's module and wasm under
/viewer/vendor/tasks-vision/ (nothing else of the npm package)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from immersive.tryon.render import head_occluder_bytes

from ..conftest import Service, make_settings, running


@pytest.fixture(scope="module")
def pages_service(tmp_path_factory):
    with running(make_settings(tmp_path_factory.mktemp("tryon-pages"), "local")) as client:
        service = Service(client)
        service.ingest(service.a, "GL-1", "glasses.glb", name="Round <glasses>", category="glasses", status="published")
        yield service


def test_tryon_page_inlines_the_product(pages_service):
    client, slug = pages_service.client, pages_service.a.slug
    response = client.get(f"/tryon/{slug}/GL-1?mode=kiosk")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    page = response.text
    assert "<title>Try on: Round &lt;glasses&gt;</title>" in page
    inlined = re.search(r'<script type="application/json" id="product-data">(.*?)</script>', page, re.DOTALL)[1]
    product = json.loads(inlined)
    assert product["sku"] == "GL-1" and product["category"] == "glasses" and product["asset"]["anchor"]["sizes_m"]["frame_width_m"] > 0
    importmap = json.loads(re.search(r'<script type="importmap">(.*?)</script>', page, re.DOTALL)[1])
    assert importmap["imports"]["three"].endswith("/viewer/vendor/three/build/three.module.js")
    assert 'src="http://testserver/viewer/pages/tryon.js"' in page and "{{" not in page
    for name in ("tryon.js", "tryon.css"):
        assert client.get(f"/viewer/pages/{name}").status_code == 200
    missing = client.get(f"/tryon/{slug}/NOPE")
    assert missing.status_code == 404 and "NOPE" in missing.text


def test_head_occluder_is_served_with_a_strong_etag(pages_service):
    client = pages_service.client
    response = client.get("/api/v1/tryon/occluders/head.glb")
    assert response.status_code == 200 and response.headers["content-type"] == "model/gltf-binary"
    assert response.content == head_occluder_bytes() and response.content[:4] == b"glTF"
    etag = response.headers["etag"]
    assert etag == f'"{hashlib.sha256(response.content).hexdigest()}"'
    assert client.get("/api/v1/tryon/occluders/head.glb", headers={"If-None-Match": etag}).status_code == 304


def test_tasks_vision_module_and_wasm_only(pages_service):
    client = pages_service.client
    module = client.get("/viewer/vendor/tasks-vision/vision_bundle.mjs")
    assert module.status_code == 200 and module.headers["content-type"].startswith("text/javascript")
    assert "FaceLandmarker" in module.text and module.headers["cache-control"] == "public, max-age=86400"
    wasm = client.get("/viewer/vendor/tasks-vision/wasm/vision_wasm_internal.wasm")
    assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm" and wasm.content[:4] == b"\0asm"
    loader = client.get("/viewer/vendor/tasks-vision/wasm/vision_wasm_internal.js")
    assert loader.status_code == 200 and loader.headers["content-type"].startswith("text/javascript")
    for path in (
        "package.json",
        "vision_bundle.cjs",
        "README.md",
        "wasm/../package.json",
        "wasm/%2E%2E/package.json",
        "wasm",
    ):
        assert client.get(f"/viewer/vendor/tasks-vision/{path}").status_code == 404, path
