"""WebXR AR of a wall product (the framed print, placement "wall") on an emulated phone in a recorded room
(ar_wall.mjs): no reticle on the floor, the reticle on the wall the phone faces, a tap hangs the print with
its back on the capture's wall plane, its front into the room, at true scale; a drag turns it about the
wall's normal; ar_placed {surface: vertical} reaches the service.

The print is measured along the wall's own axes (taken from the capture): a wall a fraction of a degree off
the room's axes would make a world-axis box of a 0.5 m wide, 3 cm deep frame several millimetres deeper.
Screenshot: artifacts/ar_wall_frame.png (and ar_wall_frame_without_model.png)."""

from __future__ import annotations

import math
import time

import pytest

from .test_ar import assert_size, changed_fraction, events_by_type, real_size

pytestmark = pytest.mark.xdist_group("browser")

WALL_PRODUCT = "AP-8001"  # the framed print: category "art", placement "wall"
WALL_TOLERANCE_M = 0.01


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def from_wall(point: list[float], wall: dict) -> float:
    """Signed distance (metres) of a point from the wall plane, positive on the room's side."""
    return dot([p - o for p, o in zip(point, wall["origin"], strict=True)], wall["normal"])


def extents(measured: dict) -> list[float]:
    """The placed product's size along the wall's right, up and normal axes."""
    return [measured[axis][1] - measured[axis][0] for axis in ("right", "up", "normal")]


def test_webxr_ar_hangs_a_wall_product_on_the_captured_wall(service, scenario, sample_products, artifacts_dir):
    started = time.monotonic()
    result = scenario("ar_wall.mjs", {
        "base": service.base, "merchant": service.merchant, "sku": WALL_PRODUCT, "artifacts": str(artifacts_dir),
    })
    seconds = time.monotonic() - started
    real = real_size(next(p for p in sample_products if p["sku"] == WALL_PRODUCT)["dimensions_m"])
    assert result["product"]["placement"] == "wall"
    assert real_size(result["product"]["dimensions"]) == pytest.approx(real)
    wall = result["wall"]

    # WebXR AR on vertical surfaces; pointed at the floor the phone finds nothing to hang the print on.
    assert result["offeredMode"] == "webxr"
    assert result["session"] == {"blend": "alpha-blend", "surface": "vertical", "referenceSpace": "local-floor"}
    assert result["atFloor"] == {"status": "searching", "hint": "Point your phone at the wall", "reticleShown": False}

    # Facing the wall: the reticle lies on it where the phone's centre ray meets it, facing the phone.
    at_wall = result["atWall"]
    reticle = at_wall["reticle"]
    assert at_wall["hint"] == "Tap to place" and reticle["visible"]
    assert abs(from_wall(reticle["position"], wall)) <= WALL_TOLERANCE_M
    assert math.dist(reticle["position"], wall["rayPoint"]) <= WALL_TOLERANCE_M
    assert dot(reticle["normal"], wall["normal"]) > 0.999
    assert dot(reticle["normal"], [e - r for e, r in zip(result["device"]["position"], reticle["position"], strict=True)]) > 0

    # Placed: back on the wall, front into the room, upright, at true scale, centred on the reticle.
    placed = result["placed"]
    back = placed["normal"][0]
    assert abs(back) <= WALL_TOLERANCE_M, f"the print's back is {back * 1000:.2f} mm from the wall plane"
    assert dot(placed["front"], wall["normal"]) > 0.999
    assert dot(placed["upright"], [0, 1, 0]) > 0.999
    assert placed["scale"] == pytest.approx([1, 1, 1], abs=1e-6)
    assert_size(extents(placed), real, "placed size along the wall's axes")
    assert placed["position"] == pytest.approx(reticle["position"], abs=1e-6)
    offset = [p - o for p, o in zip(placed["position"], wall["origin"], strict=True)]
    for axis in ("right", "up"):  # the back's centre is at the reticle
        assert sum(placed[axis]) / 2 == pytest.approx(dot(offset, wall[axis]), abs=0.001)

    # A drag of a third of the screen turned it a quarter turn about the wall's normal: still on the wall,
    # width and height swap, nothing is scaled.
    turned = result["turned"]
    assert abs(turned["normal"][0]) <= WALL_TOLERANCE_M
    assert_size(extents(turned), [real[1], real[0], real[2]], "size along the wall's axes after a quarter turn")
    assert dot(turned["front"], wall["normal"]) > 0.999 and abs(dot(turned["upright"], [0, 1, 0])) < 1e-3
    assert turned["scale"] == pytest.approx([1, 1, 1], abs=1e-6)
    assert turned["position"] == pytest.approx(placed["position"], abs=1e-9)

    # The AR frame shows the print: hiding it changes a good part of the picture (it covers ~8 % of it).
    assert changed_fraction(result["screenshots"]["frame"], result["screenshots"]["without"]) > 0.04

    # The events reached the service, with their details.
    events = events_by_type(service, result["analyticsSession"])
    assert {"view", "ar_offered", "ar_started", "ar_placed", "ar_ended"} <= events.keys()
    assert "ar_failed" not in events
    assert events["ar_started"][0]["props"]["placement"] == "wall"
    placed_event = events["ar_placed"][0]
    assert placed_event["sku"] == WALL_PRODUCT
    assert placed_event["props"]["surface"] == "vertical" and placed_event["props"]["placement"] == "wall"
    ended = events["ar_ended"][0]["props"]
    assert (ended["placed"], ended["moves"], ended["turned"]) == (True, 0, True)

    errors = [abs(m - e) / e for m, e in zip(extents(placed), real, strict=True)]
    print(
        f"\nAR wall: back {back * 1000:.2f} mm from the wall plane, size along the wall {[round(v, 5) for v in extents(placed)]} m "
        f"(errors {[f'{e:.3%}' for e in errors]}), world-axis box {[round(v, 4) for v in placed['worldBoxSize']]} m, "
        f"time to place {placed_event['props']['time_to_place_ms']} ms, scenario {seconds:.1f} s"
    )
