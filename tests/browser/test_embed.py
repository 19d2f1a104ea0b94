"""<immersive-product> on a merchant's own page from another origin (embed_third_party.mjs): the page includes
only {service}/viewer/embed.js and the elements; the import map is injected, both elements render their
model (pixels), the `variant` attribute is honoured, and the events reach the service cross-origin."""

from __future__ import annotations

import pytest

from .support import changed, pixels

pytestmark = pytest.mark.xdist_group("browser")

EMBEDDED = [
    {"sku": "CH-5001"},
    {"sku": "SF-5002", "attributes": {"variant": "Slate", "auto-rotate": "false"}},
]


@pytest.fixture(scope="session")
def shop(service, scenario, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("embed")
    return scenario("embed_third_party.mjs", {"base": service.base, "merchant": service.merchant, "products": EMBEDDED, "work": str(work)})


def test_embed_script_adds_the_import_map_of_the_service(shop, service):
    assert shop["shopOrigin"] != shop["serviceOrigin"] == service.base
    assert shop["importMap"] == [{
        "imports": {
            "three": f"{service.base}/viewer/vendor/three/build/three.module.js",
            "three/addons/": f"{service.base}/viewer/vendor/three/examples/jsm/",
        }
    }]
    assert shop["viewers"] == len(EMBEDDED)


@pytest.mark.parametrize("index", range(len(EMBEDDED)), ids=[e["sku"] for e in EMBEDDED])
def test_embedded_element_renders_its_model(shop, public, index):
    element = shop["elements"][index]
    sku = EMBEDDED[index]["sku"]
    assert element["sku"] == sku and element["model"]["level"] == 0
    dims = public[sku]["asset"]["dimensions_m"]
    assert element["model"]["modelSize"] == pytest.approx([dims["width"], dims["height"], dims["depth"]], rel=0.01)
    diff = changed(pixels(element["shots"]["model"]), pixels(element["shots"]["background"]))
    assert diff.mean() > 0.02, f"{sku}: {diff.mean():.2%} of the element changed with the model shown"
    expected_variant = EMBEDDED[index].get("attributes", {}).get("variant")
    assert element["pressedVariant"] == expected_variant


def test_embedded_elements_send_their_events_cross_origin(shop, service):
    sessions = {e["session"] for e in shop["elements"]}
    assert len(sessions) == 1, "the elements of one tab share its session id"
    events = service.events(session=sessions.pop())
    for embedded in EMBEDDED:
        types = [e["type"] for e in events if e["sku"] == embedded["sku"]]
        assert {"view", "poster_shown", "model_loaded"} <= set(types), f"{embedded['sku']}: {types}"
        views = [e for e in events if e["sku"] == embedded["sku"] and e["type"] == "view"]
        assert [v["props"].get("page") for v in views] == ["embed"]
