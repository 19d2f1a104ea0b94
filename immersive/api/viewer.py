"""The browser side, served by the service itself (a phone on the store's Wi-Fi needs no internet, nothing
comes from a CDN):

- /viewer/{path}: files of web_viewer/ (our modules, the pages' scripts and styles, embed.js), never its
  node_modules/, dotfiles or npm manifests. `Cache-Control: no-cache` with an ETag: a deploy shows at once,
  an unchanged file costs a 304.
- /viewer/vendor/three/{build|examples/jsm}/...: three.js, its addons and decoders (Draco, Basis, meshopt)
  from npm's copy in web_viewer/node_modules/three, and nothing else of it. Cached for a day (the URLs carry
  no version, so not for ever).
- /viewer/vendor/tasks-vision/{vision_bundle.mjs|wasm/...}: MediaPipe Tasks Vision (on-device try-on's Face
  Landmarker) from npm's @mediapipe/tasks-vision, its ES module and wasm only, cached like three.js.
- /p/{merchant}/{sku}: the product page, web_viewer/pages/product.html with its placeholders filled
  (PAGE_PLACEHOLDERS); the public product JSON is inlined so the poster shows without another request.
  Unknown merchant, SKU or an unpublished product: a 404 page saying which."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from ..errors import NotFound
from ..storage import content_type_for
from .deps import BaseUrlDep, RuntimeDep
from .files import etag_matches
from .public import published_product

router = APIRouter(tags=["viewer"])

THREE_DIRS = ("build", "examples/jsm")
TASKS_VISION_FILES = ("vision_bundle.mjs", "wasm/")  # a file, or a folder when it ends with /
NOT_SERVED = {"node_modules", "package.json", "package-lock.json"}
OUR_CACHE = "no-cache"
VENDOR_CACHE = "public, max-age=86400"
# Python's mimetypes reads /etc/mime.types, which may say application/javascript or lack wasm; browsers
# need application/wasm for streaming compilation and a JavaScript type for modules.
WEB_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".wasm": "application/wasm",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
    ".map": "application/json",
    ".txt": "text/plain",
    ".gz": "application/gzip",  # served as is (no Content-Encoding): js/studio-light.js gunzips it
}
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
PAGE_PLACEHOLDERS = {
    "title": "the product name (HTML-escaped)",
    "description": "the product description (HTML-escaped)",
    "og_image": "absolute URL of the poster, or empty (HTML-escaped)",
    "merchant": "merchant slug (HTML-escaped)",
    "sku": "product SKU (HTML-escaped)",
    "base": "the service base URL, no trailing slash (HTML-escaped)",
    "import_map": 'the whole <script type="importmap"> element mapping three and three/addons/ to /viewer/vendor/three/',
    "product_json": "the public product JSON, escaped for the inside of a <script> element",
}


def check_web_viewer(directory: Path) -> None:
    """Refuse to start without three.js: every viewer page would fail in the browser instead."""
    three = directory / "node_modules" / "three"
    if not (three / "build" / "three.module.js").is_file():
        raise RuntimeError(f"three.js is not installed in {three}: run scripts/setup.sh (it runs npm ci in web_viewer/)")


def import_map(base: str) -> dict:
    vendor = f"{base}/viewer/vendor/three"
    return {"imports": {"three": f"{vendor}/build/three.module.js", "three/addons/": f"{vendor}/examples/jsm/"}}


def script_json(text: str) -> str:
    """JSON text made safe inside a <script> element: no `</script>`, `<!--` or `&` can appear (each
    becomes its \\u escape, which only occurs inside JSON strings and parses back the same)."""
    for char in "&<>\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def fill_page(template: str, values: dict[str, str]) -> str:
    """Every {{name}} replaced in one pass (text inserted is never scanned again)."""

    def value(match: re.Match) -> str:
        if match[1] not in values:
            raise RuntimeError(f"web_viewer/pages: unknown placeholder {match[0]}; known: {', '.join(PAGE_PLACEHOLDERS)}")
        return values[match[1]]

    return PLACEHOLDER.sub(value, template)


def _resolve(root: Path, relative: str) -> Path:
    """root/relative if it is a file inside root; '..', empty and hidden segments are never followed."""
    parts = relative.split("/")
    if any(not p or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        raise NotFound(f"no file {relative!r}")
    path = root.joinpath(*parts)
    if not path.is_file() or not path.resolve().is_relative_to(root.resolve()):
        raise NotFound(f"no file {relative!r}")
    return path


def _file(request: Request, path: Path, cache_control: str) -> Response:
    stat = path.stat()
    headers = {"ETag": f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"', "Cache-Control": cache_control}
    if etag_matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    media_type = WEB_TYPES.get(path.suffix.lower()) or content_type_for(path.name)
    return FileResponse(path, headers=headers, media_type=media_type, stat_result=stat)


@router.head("/viewer/vendor/three/{path:path}", include_in_schema=False)
@router.get("/viewer/vendor/three/{path:path}", summary="three.js build and addons (from npm)")
async def vendor_three(path: str, request: Request, runtime: RuntimeDep):
    three = runtime.settings.web_viewer_dir / "node_modules" / "three"
    for folder in THREE_DIRS:
        if path.startswith(folder + "/"):
            return _file(request, _resolve(three / folder, path[len(folder) + 1 :]), VENDOR_CACHE)
    raise NotFound(f"no file {path!r}: only three's {' and '.join(f + '/' for f in THREE_DIRS)} are served")


@router.head("/viewer/vendor/tasks-vision/{path:path}", include_in_schema=False)
@router.get("/viewer/vendor/tasks-vision/{path:path}", summary="MediaPipe Tasks Vision module and wasm (from npm)")
async def vendor_tasks_vision(path: str, request: Request, runtime: RuntimeDep):
    package = runtime.settings.web_viewer_dir / "node_modules" / "@mediapipe" / "tasks-vision"
    if any(path == name or (name.endswith("/") and path.startswith(name)) for name in TASKS_VISION_FILES):
        return _file(request, _resolve(package, path), VENDOR_CACHE)
    raise NotFound(f"no file {path!r}: only tasks-vision's {' and '.join(TASKS_VISION_FILES)} are served")


@router.head("/viewer/{path:path}", include_in_schema=False)
@router.get("/viewer/{path:path}", summary="Web viewer files")
async def viewer_file(path: str, request: Request, runtime: RuntimeDep):
    if NOT_SERVED & set(path.split("/")):
        raise NotFound(f"no file {path!r}")
    return _file(request, _resolve(runtime.settings.web_viewer_dir, path), OUR_CACHE)


def not_found_page(reason: str) -> HTMLResponse:
    body = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        "<title>Product not found</title></head>\n"
        f"<body><h1>Product not found</h1><p>{html.escape(reason)}</p></body></html>\n"
    )
    return HTMLResponse(body, status_code=404, headers={"Cache-Control": "no-cache"})


async def published_product_page(request: Request, runtime, base: str, merchant_slug: str, sku: str, page: str) -> HTMLResponse:
    """web_viewer/pages/{page} filled for a published product (its text HTML-escaped, the import map, the public
    product JSON inlined), or the 404 page with the reason. The product page and the try-on page share it."""
    status, body = await published_product(request, runtime, base, merchant_slug, sku)
    if status != 200:
        return not_found_page(json.loads(body)["detail"])
    product = json.loads(body)
    template = (runtime.settings.web_viewer_dir / "pages" / page).read_text(encoding="utf-8")
    text = {
        "title": product["name"],
        "description": product["description"],
        "og_image": (product["asset"] or {}).get("poster_url") or "",
        "merchant": product["merchant"],
        "sku": product["sku"],
        "base": base,
    }
    values = {name: html.escape(value) for name, value in text.items()}
    values["import_map"] = f'<script type="importmap">{script_json(json.dumps(import_map(base)))}</script>'
    values["product_json"] = script_json(body.decode())
    return HTMLResponse(fill_page(template, values), headers={"Cache-Control": "no-cache"})


@router.head("/p/{merchant_slug}/{sku}", include_in_schema=False)
@router.get("/p/{merchant_slug}/{sku}", response_class=HTMLResponse, summary="Product page")
async def product_page(merchant_slug: str, sku: str, request: Request, runtime: RuntimeDep, base: BaseUrlDep):
    return await published_product_page(request, runtime, base, merchant_slug, sku, "product.html")
