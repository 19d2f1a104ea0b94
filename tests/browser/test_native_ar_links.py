"""AR on phones without WebXR AR, by user-agent emulation on the product page (native_ar_links.mjs): iOS gets
the AR Quick Look link (`<a rel="ar">` with an image, the pipeline's USDZ, Apple's banner parameters, content
scaling off), other Android browsers the Scene Viewer intent URL; both files are fetched and checked, and the
pages' `ar_offered` events reach the service."""

from __future__ import annotations

import io
import urllib.request
import zipfile
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

pytestmark = pytest.mark.xdist_group("browser")

SKU = "CH-5001"  # the chair: a floor product with a USDZ


@pytest.fixture(scope="session")
def links(service, scenario) -> dict:
    return scenario("native_ar_links.mjs", {"base": service.base, "merchant": service.merchant, "sku": SKU})


def fetch(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.headers["content-type"], response.read()


def single(query: dict[str, list[str]]) -> dict[str, str]:
    assert all(len(values) == 1 for values in query.values()), f"repeated parameters: {query}"
    return {name: values[0] for name, values in query.items()}


def test_ios_gets_a_quick_look_link_with_the_usdz_and_banner(links, public, service):
    product = public[SKU]
    ios = links["ios"]
    assert ios["mode"] == "quick-look"
    quick_look = ios["quickLook"]
    assert quick_look["firstChild"] == "img" and quick_look["imageLoaded"], "Quick Look needs an <img> as the link's first child"

    usdz_url, _, fragment = quick_look["href"].partition("#")
    assert usdz_url == product["asset"]["usdz_url"]
    assert "+" not in fragment, "Quick Look reads %20 for spaces"
    banner = single(parse_qs(fragment, keep_blank_values=True, strict_parsing=True))
    assert banner["allowsContentScaling"] == "0"
    assert banner["checkoutTitle"] == product["name"]
    assert banner["checkoutSubtitle"] == product["description"].split("\n")[0][:80]
    assert banner["price"] == f"${product['price']}"  # USD in an en-US browser
    assert banner["callToAction"] == "Add to cart"
    assert banner["canonicalWebPageURL"] == links["pageUrl"]

    content_type, body = fetch(usdz_url)
    assert content_type == "model/vnd.usdz+zip"
    with zipfile.ZipFile(io.BytesIO(body)) as usdz:
        names = usdz.namelist()
        assert names[0].endswith((".usdc", ".usda")), f"a USDZ starts with its USD layer: {names}"
        assert all(info.compress_type == zipfile.ZIP_STORED for info in usdz.infolist()), "USDZ members are stored, not deflated"

    offered = [e for e in service.events(session=ios["session"]) if e["type"] == "ar_offered"]
    assert [e["props"]["mode"] for e in offered] == ["quick-look"]


def test_android_without_webxr_gets_a_well_formed_scene_viewer_intent(links, public, service):
    product = public[SKU]
    android = links["android"]
    assert android["mode"] == "scene-viewer"
    intent = urlsplit(android["intent"])
    assert (intent.scheme, intent.netloc, intent.path) == ("intent", "arvr.google.com", "/scene-viewer/1.0")
    query = single(parse_qs(intent.query, keep_blank_values=True, strict_parsing=True))
    assert query["file"] == product["asset"]["model_url"]
    assert query["mode"] in ("ar_preferred", "ar_only")
    assert query["title"] == product["name"]
    assert query["resizable"] == "false"
    assert "link" in query, f"no link parameter (the page the Scene Viewer's button opens): {sorted(query)}"
    assert query["link"] == (product["product_url"] or links["pageUrl"])

    assert intent.fragment.startswith("Intent;") and intent.fragment.endswith(";end;")
    extras = dict(part.split("=", 1) for part in intent.fragment.removeprefix("Intent;").removesuffix(";end;").split(";"))
    assert extras["scheme"] == "https"
    assert extras["package"] == "com.google.ar.core"
    assert extras["action"] == "android.intent.action.VIEW"
    assert unquote(extras["S.browser_fallback_url"]) == links["pageUrl"]

    content_type, body = fetch(query["file"])
    assert content_type == "model/gltf-binary" and body[:4] == b"glTF"

    offered = [e for e in service.events(session=android["session"]) if e["type"] == "ar_offered"]
    assert [e["props"]["mode"] for e in offered] == ["scene-viewer"]
