"""Viewer delivery: /viewer/ files of web_viewer/ (content types, ETag/304, cache policy), three.js from
npm under /viewer/vendor/three/ (build and examples/jsm only), the product page /p/{merchant}/{sku} with
the public product inlined safely, its 404 page, CORS for pages on other sites, and the startup check."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest

from immersive.api.viewer import PAGE_PLACEHOLDERS, PLACEHOLDER, fill_page
from immersive.app import create_app
from immersive.config import REPO_WEB_VIEWER, Settings

from .conftest import Service, running

THREE = REPO_WEB_VIEWER / "node_modules" / "three"
ORIGIN = {"Origin": "https://shop.example"}


class Page(HTMLParser):
    """What a browser would take from the page: the text of each <script> by id/type, <title>, meta tags."""

    def __init__(self, text: str):
        super().__init__()
        self.scripts: list[tuple[dict, str]] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in: tuple[str, dict] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "title"):
            self._in = (tag, attrs)
            if tag == "script":
                self.scripts.append((attrs, ""))
        elif tag == "meta" and "property" in attrs:
            self.meta[attrs["property"]] = attrs["content"]

    def handle_data(self, data):
        if self._in and self._in[0] == "script":
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
        elif self._in and self._in[0] == "title":
            self.title += data

    def handle_endtag(self, tag):
        self._in = None

    def script(self, **match) -> str:
        found = [text for attrs, text in self.scripts if all(attrs.get(k) == v for k, v in match.items())]
        assert len(found) == 1, (match, self.scripts)
        return found[0]


def test_product_page_inlines_the_public_product(settings_factory):
    with running(settings_factory(pipeline_poster=True)) as client:
        service = Service(client)
        a = service.a
        service.ingest(a, "CH-1", "chair.glb", name="Oak chair", category="chair", status="published", price="179.00", currency="USD")
        page = client.get(f"/p/{a.slug}/CH-1")
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache"
        public = client.get(f"/api/v1/public/products/{a.slug}/CH-1").json()
        parsed = Page(page.text)
        assert json.loads(parsed.script(type="application/json", id="product-data")) == public
        assert parsed.title == "Oak chair" and parsed.meta["og:title"] == "Oak chair"
        poster = public["asset"]["poster_url"]
        assert poster and parsed.meta["og:image"] == poster  # S3: a presigned URL with '&' survives the escaping
        base = str(client.base_url)
        assert json.loads(parsed.script(type="importmap")) == {
            "imports": {"three": f"{base}/viewer/vendor/three/build/three.module.js", "three/addons/": f"{base}/viewer/vendor/three/examples/jsm/"}
        }
        assert "{{" not in page.text
        # What the import map points at is there.
        assert client.get("/viewer/vendor/three/build/three.module.js").status_code == 200
        assert client.head(f"/p/{a.slug}/CH-1").status_code == 200


def test_hostile_names_stay_inside_the_inlined_json(service):
    a = service.a
    name = 'Chair </script><script>alert("name")</script> <!-- &amp;'
    description = "</SCRIPT ><img src=x onerror=alert(1)> <!--<script> \u2028\u2029 & ' \" {{title}}"
    service.product(a, "XSS-1", name=name, description=description, status="published")
    page = service.client.get(f"/p/{a.slug}/XSS-1")
    assert page.status_code == 200
    parsed = Page(page.text)
    assert [attrs.get("type") for attrs, _ in parsed.scripts] == ["importmap", "application/json", "module"]
    product = json.loads(parsed.script(type="application/json", id="product-data"))
    assert product["name"] == name and product["description"] == description
    assert parsed.title == name  # escaped in <title>, read back as the same text
    inline = page.text[page.text.index('id="product-data">') : page.text.index("</script>", page.text.index('id="product-data">'))]
    for dangerous in ("<", ">", "&", "\u2028", "\u2029"):
        assert dangerous not in inline.split(">", 1)[1]
    assert "{{title}}" in product["description"]  # inserted text is not filled again


def test_unknown_or_unpublished_products_get_a_404_page(service):
    a = service.a
    service.product(a, "DRAFT-1", name="Secret lamp", category="lamp")
    for url, reason in (
        ("/p/nobody/CH-1", "no merchant 'nobody'"),
        (f"/p/{a.slug}/CH-404", "no product with SKU 'CH-404'"),
        (f"/p/{a.slug}/DRAFT-1", "no product with SKU 'DRAFT-1'"),  # a draft is not disclosed
        (f"/p/{a.slug}/%3Cscript%3Ealert(1)", "no product with SKU '&lt;script&gt;alert(1)'"),
    ):
        page = service.client.get(url)
        assert page.status_code == 404 and page.headers["content-type"] == "text/html; charset=utf-8", url
        assert reason.replace("'", "&#x27;") in page.text and "<script>" not in page.text, page.text
        assert "Secret lamp" not in page.text


def test_viewer_files_types_etags_and_caching(settings_factory):
    with running(settings_factory()) as client:
        ours = client.get("/viewer/embed.js")
        assert ours.status_code == 200 and ours.content == (REPO_WEB_VIEWER / "embed.js").read_bytes()
        assert ours.headers["content-type"] == "text/javascript; charset=utf-8" and ours.headers["cache-control"] == "no-cache"
        again = client.get("/viewer/embed.js", headers={"If-None-Match": ours.headers["etag"]})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == ours.headers["etag"]
        head = client.head("/viewer/embed.js")
        assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(ours.content)

        wasm = client.get("/viewer/vendor/three/examples/jsm/libs/draco/draco_decoder.wasm")
        assert wasm.status_code == 200 and wasm.headers["content-type"] == "application/wasm"
        assert wasm.content == (THREE / "examples/jsm/libs/draco/draco_decoder.wasm").read_bytes()
        assert wasm.headers["cache-control"] == "public, max-age=86400"
        basis = client.get("/viewer/vendor/three/examples/jsm/libs/basis/basis_transcoder.wasm")
        assert basis.headers["content-type"] == "application/wasm"
        for path in ("build/three.module.js", "build/three.core.js", "examples/jsm/loaders/GLTFLoader.js", "examples/jsm/libs/meshopt_decoder.module.js"):
            response = client.get(f"/viewer/vendor/three/{path}")
            assert response.status_code == 200, path
            assert response.headers["content-type"] == "text/javascript; charset=utf-8", path
            assert response.content == (THREE / path).read_bytes()
        etag = client.get("/viewer/vendor/three/build/three.module.js").headers["etag"]
        cached = client.get("/viewer/vendor/three/build/three.module.js", headers={"If-None-Match": f'W/"other", {etag}'})
        assert cached.status_code == 304 and cached.headers["cache-control"] == "public, max-age=86400"
        stale = client.get("/viewer/vendor/three/build/three.module.js", headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200


def test_only_three_build_and_addons_are_reachable(settings_factory):
    with running(settings_factory()) as client:
        for path in (
            "/viewer/vendor/three/../../package.json",  # the client normalizes it to /viewer/package.json
            "/viewer/vendor/three/%2E%2E/%2E%2E/package.json",  # reaches the app as ../../package.json
            "/viewer/vendor/three/build/%2E%2E/package.json",
            "/viewer/vendor/three/build/..%2F..%2F..%2Fpackage.json",
            "/viewer/vendor/three/examples/jsm/%2E%2E/%2E%2E/src/Three.js",
            "/viewer/vendor/three/package.json",
            "/viewer/vendor/three/src/Three.js",
            "/viewer/vendor/three/build//three.module.js",
            "/viewer/vendor/three/build",
            "/viewer/vendor/iwer/lib/index.js",
            "/viewer/node_modules/three/build/three.module.js",
            "/viewer/js/%2E%2E/node_modules/three/build/three.module.js",
            "/viewer/package.json",
            "/viewer/package-lock.json",
            "/viewer/node_modules/.package-lock.json",
            "/viewer/%2E%2E/pyproject.toml",
            "/viewer/js/%2E%2E/%2E%2E/pyproject.toml",
            "/viewer/",
            "/viewer/js",
            "/viewer/js/nothing-here.js",
        ):
            response = client.get(path)
            assert response.status_code == 404, (path, response.status_code)
            assert response.json()["error"] == "not_found"


def test_page_placeholders_and_symlinks_out(settings_factory, tmp_path):
    """A web_viewer folder of our own: every placeholder is filled; a symlink out of the folder is not followed."""
    viewer = tmp_path / "web_viewer"
    (viewer / "pages").mkdir(parents=True)
    (viewer / "node_modules").mkdir()
    (viewer / "node_modules" / "three").symlink_to(THREE)
    (viewer / "pages" / "product.html").write_text("\n".join(f"{name}=[{{{{{name}}}}}]" for name in PAGE_PLACEHOLDERS))
    (tmp_path / "secret.txt").write_text("not for the web")
    (viewer / "pages" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with running(settings_factory(web_viewer_dir=viewer)) as client:
        service = Service(client)
        service.product(service.a, "A&B", name="Chair <b>", description='Tall "oak"', status="published")
        text = client.get(f"/p/{service.a.slug}/A&B").text
        values = dict(line.split("=", 1) for line in text.splitlines())
        base = str(client.base_url)
        assert values["title"] == "[Chair &lt;b&gt;]" and values["description"] == "[Tall &quot;oak&quot;]"
        assert values["sku"] == "[A&amp;B]" and values["merchant"] == f"[{service.a.slug}]" and values["base"] == f"[{base}]"
        assert values["og_image"] == "[]"  # no asset yet
        assert values["import_map"].startswith('[<script type="importmap">{"imports": {"three": ')
        assert json.loads(values["product_json"][1:-1])["sku"] == "A&B"
        assert client.get("/viewer/pages/leak.txt").status_code == 404
        assert client.get("/viewer/pages/product.html").status_code == 200
        assert client.get("/viewer/vendor/three/build/three.module.js").status_code == 200  # through node_modules/three -> npm's copy


def test_the_lead_template_uses_known_placeholders_only():
    template = (REPO_WEB_VIEWER / "pages" / "product.html").read_text()
    used = set(PLACEHOLDER.findall(template))
    assert {"title", "import_map", "product_json"} <= used <= set(PAGE_PLACEHOLDERS)
    assert '<script type="application/json" id="product-data">{{product_json}}</script>' in template
    with pytest.raises(RuntimeError, match=r"unknown placeholder \{\{price\}\}"):
        fill_page("<p>{{price}}</p>", {})


def test_startup_fails_without_three(tmp_path):
    with pytest.raises(RuntimeError, match="run scripts/setup.sh"):
        create_app(Settings(_env_file=None, data_dir=tmp_path / "data", web_viewer_dir=tmp_path / "web_viewer"))


def test_cors_for_pages_on_other_sites(service):
    a = service.a
    service.product(a, "CH-1", status="published")
    for path in ("/viewer/embed.js", "/viewer/vendor/three/build/three.module.js", f"/api/v1/public/products/{a.slug}/CH-1", f"/api/v1/public/products/{a.slug}"):
        response = service.client.get(path, headers=ORIGIN)
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*", path
        assert "access-control-allow-credentials" not in response.headers
    # Local storage answers itself; S3 redirects to the bucket (whose own CORS rules apply after that).
    file = service.client.get("/files/assets/00/" + "0" * 64 + "/model.glb", headers=ORIGIN, follow_redirects=False)
    assert file.status_code == (404 if service.runtime.settings.storage == "local" else 307)
    assert file.headers["access-control-allow-origin"] == "*"
    preflight = service.client.options(
        "/viewer/vendor/three/build/three.module.js", headers={**ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"}
    )
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    # The merchant API is for the merchant's own tools: no CORS.
    private = service.client.get("/api/v1/products", headers={**ORIGIN, **a.headers})
    assert private.status_code == 200 and "access-control-allow-origin" not in private.headers
    refused = service.client.options(
        "/api/v1/products", headers={**ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    )
    assert "access-control-allow-origin" not in refused.headers
