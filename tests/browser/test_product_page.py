"""The product page /p/{merchant}/{sku} of every sample product in real headless Chromium (product_page.mjs):
poster first, then the model, asserted on the pixels of element screenshots (the model's frame against the
same frame with the model hidden); hotspots over the model; the dimensions overlay in metres and inches; the
sofa's variants; a mouse drag turning the camera; the page's analytics events at the service. Screenshots go to artifacts/ (product-SKU.png,
-poster, -dimensions, -variant-NAME)."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

from .support import SAMPLES_JSON, changed, pixels

pytestmark = pytest.mark.xdist_group("browser")

SKUS = [product["sku"] for product in json.loads(SAMPLES_JSON.read_text())["products"]]
INCH = 0.0254
# How far outside the model's projected bounding box a changed pixel may be: antialiased edges.
BOX_MARGIN_PX = 3


@pytest.fixture(scope="session")
def pages(service, scenario, artifacts_dir, tmp_path_factory) -> dict[str, dict]:
    """One Chromium run over every product page (see product_page.mjs); per SKU what the page showed."""
    work = tmp_path_factory.mktemp("product-pages")
    return scenario(
        "product_page.mjs",
        {"base": service.base, "merchant": service.merchant, "skus": SKUS, "artifacts": str(artifacts_dir), "work": str(work)},
    )


def page_of(pages: dict, sku: str) -> dict:
    page = pages[sku]
    assert "error" not in page, f"{sku}: {page['error']}"
    return page


def in_box(mask: np.ndarray, box: list[float], margin: float) -> np.ndarray:
    """The part of a mask inside a pixel rectangle [x0, y0, x1, y1] grown by `margin`."""
    h, w = mask.shape
    x0, y0 = max(int(box[0] - margin), 0), max(int(box[1] - margin), 0)
    x1, y1 = min(int(np.ceil(box[2] + margin)), w), min(int(np.ceil(box[3] + margin)), h)
    inside = np.zeros_like(mask)
    inside[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    return inside


def box_area(box: list[float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def test_every_sample_is_published(public):
    assert sorted(public) == sorted(SKUS)
    assert all(product["asset"] for product in public.values())


@pytest.mark.parametrize("sku", SKUS)
def test_poster_is_shown_before_the_model(pages, public, sku):
    page = page_of(pages, sku)
    poster = page["poster"]
    assert page["title"] == public[sku]["name"]
    assert poster["src"] == public[sku]["asset"]["poster_url"]
    assert not poster["hidden"] and poster["opacity"] == "1" and min(poster["natural"]) > 0
    assert not poster["modelShown"], "the model was on screen while its files were held back"
    marks = page["marks"]
    assert marks["immersive:poster"] < marks["immersive:first-model-frame"]
    # The poster's pixels: it differs from the empty stage over much of the element.
    shot, background = pixels(page["shots"]["poster"]), pixels(page["shots"]["background"])
    assert changed(shot, background).mean() > 0.01


@pytest.mark.parametrize("sku", SKUS)
def test_page_renders_the_model_at_true_scale(pages, public, sku):
    page = page_of(pages, sku)
    model = page["model"]
    assert model["level"] == 0, "the full-detail LOD replaced the coarse one"
    dims = public[sku]["asset"]["dimensions_m"]
    assert model["modelSize"] == pytest.approx([dims["width"], dims["height"], dims["depth"]], rel=0.01)

    box = model["box"]
    width, height = model["element"]
    assert box[0] >= 0 and box[1] >= 0 and box[2] <= width and box[3] <= height, (
        f"the first view cuts the product: its projected box {[round(v) for v in box]} is not inside the {width:.0f}x{height:.0f} element"
    )
    shot, background = pixels(page["shots"]["model"]), pixels(page["shots"]["background"])
    diff = changed(shot, background)
    inside = in_box(diff, box, BOX_MARGIN_PX)
    assert diff.sum() > 0.01 * diff.size, f"only {diff.mean():.2%} of the element changed when the model was shown"
    assert inside.sum() >= 0.99 * diff.sum(), "pixels changed outside the model's projected bounding box"
    coverage = inside.sum() / box_area(box)
    assert coverage > 0.03, f"the model covers {coverage:.1%} of its projected bounding box"
    # Real colours, shaded: not one flat colour.
    colours = shot[diff]
    assert colours.std(axis=0).max() > 8, f"the model's pixels are nearly uniform: std {colours.std(axis=0)}"


@pytest.mark.parametrize("sku", SKUS)
def test_hotspots_are_over_the_model_and_open(pages, public, sku):
    page = page_of(pages, sku)
    expected = public[sku]["hotspots"]
    if not expected:
        assert page["hotspots"] == []
        return
    assert [(h["id"], h["label"]) for h in page["hotspots"]] == [(h["id"], h["label"]) for h in expected]
    x0, y0, x1, y1 = page["model"]["box"]
    for spot in page["hotspots"]:
        assert not spot["hidden"], f"hotspot {spot['id']} hidden"
        x, y = spot["centre"]
        assert x0 - BOX_MARGIN_PX <= x <= x1 + BOX_MARGIN_PX and y0 - BOX_MARGIN_PX <= y <= y1 + BOX_MARGIN_PX, (
            f"hotspot {spot['id']} at {spot['centre']} is outside the model's box {page['model']['box']}"
        )
    assert any(not spot["behind"] for spot in page["hotspots"]), "every hotspot faces away at the first view"
    opened = page["openedHotspot"]
    assert opened["hit"] == "hotspot-dot", f"a tap on hotspot {opened['id']}'s dot reaches {opened['hit']!r}, not the hotspot"
    text = next(h["text"] for h in expected if h["id"] == opened["id"])
    assert opened["expanded"] == "true" and opened["text"] == text


@pytest.mark.parametrize("sku", SKUS)
def test_orbit_drag_turns_the_camera(pages, sku):
    orbit = page_of(pages, sku)["orbit"]
    assert orbit["hit"] == "canvas", f"a pointer on the model reaches {orbit['hit']!r}, not the viewer's canvas"
    assert orbit["moved"] > 0.05 * orbit["distance"], f"a 120 px drag moved the camera by {orbit['moved']:.4f} m at {orbit['distance']:.3f} m"


METRIC = re.compile(r"^(\d+\.\d+) m$")
IMPERIAL = re.compile(r"^(\d+\.\d) in$")


@pytest.mark.parametrize("sku", SKUS)
def test_dimensions_overlay_shows_the_real_size_in_metres_and_inches(pages, public, sku):
    page = page_of(pages, sku)
    dims = public[sku]["asset"]["dimensions_m"]
    overlay = page["dimensions"]
    assert overlay["offered"]
    for axis in ("width", "height", "depth"):
        metric, imperial = overlay["metric"][axis], overlay["imperial"][axis]
        assert metric["visible"] and imperial["visible"]
        metres = METRIC.match(metric["text"])
        inches = IMPERIAL.match(imperial["text"])
        assert metres and inches, f"{axis}: {metric['text']!r} / {imperial['text']!r}"
        assert float(metres[1]) == pytest.approx(dims[axis], abs=0.0051)
        assert float(inches[1]) == pytest.approx(dims[axis] / INCH, abs=0.051)
    # The overlay is drawn: its lines and labels change the frame.
    assert changed(pixels(page["shots"]["dimensions"]), pixels(page["shots"]["page"])).sum() > 500


@pytest.mark.parametrize("sku", [p["sku"] for p in json.loads(SAMPLES_JSON.read_text())["products"] if p["variants"]])
def test_variant_switch_changes_the_pixels(pages, public, sku):
    page = page_of(pages, sku)
    names = public[sku]["asset"]["variants"]
    assert page["variants"] == names and len(names) >= 2
    shots = {name: pixels(page["shots"]["variants"][name]) for name in names}
    model_pixels = changed(pixels(page["shots"]["model"]), pixels(page["shots"]["background"]))
    for a, b in itertools.pairwise(names):
        diff = changed(shots[a], shots[b]) & model_pixels
        assert diff.sum() > 0.3 * model_pixels.sum(), f"{a} -> {b}: {diff.sum()} of {model_pixels.sum()} model pixels changed"
        mean_a, mean_b = shots[a][model_pixels].mean(axis=0), shots[b][model_pixels].mean(axis=0)
        assert np.abs(mean_a - mean_b).max() > 20, f"{a} {mean_a} vs {b} {mean_b}"


@pytest.mark.parametrize("sku", SKUS)
def test_page_events_reach_the_service(service, pages, public, sku):
    page = page_of(pages, sku)
    events = service.events(session=page["session"])
    assert {e["sku"] for e in events} == {sku}
    types = [e["type"] for e in events]
    expected = {"view", "poster_shown", "model_loaded", "lod_loaded", "dimensions_shown"}
    if public[sku]["asset"]["variants"]:
        expected.add("variant_switched")
    if page.get("openedHotspot", {}).get("expanded") == "true":
        expected.add("hotspot_opened")
    assert expected <= set(types), f"missing {expected - set(types)} in {types}"
    assert types.count("view") == 1
    levels = sorted(e["props"]["level"] for e in events if e["type"] == "model_loaded")
    assert levels[0] == 0
