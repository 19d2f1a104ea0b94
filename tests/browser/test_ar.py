"""WebXR in real headless Chromium with an emulated device (npm iwer + @iwer/sem and one of its recorded
rooms, see xr_runtime.mjs): AR on a phone through the product page (hit test on the room's floor, true
scale, turn, move, events at the service), AR on a phone that cannot hit-test (ar_failed with its reason),
and the headset view (immersive-vr frames with the model, controller and hand grabs, passthrough
immersive-ar).

Screenshots of the frames go to artifacts/: ar_frame.png (the AR frame: the room as the emulator's camera
passthrough, the placed product and the reticle), xr_vr_frame.png, xr_passthrough_frame.png."""

from __future__ import annotations

import math
import time

import pytest

from .support import changed, pixels

pytestmark = pytest.mark.xdist_group("browser")

FLOOR_PRODUCT = "CH-5001"  # the chair: placement "floor"
SIZE_TOLERANCE = 0.01  # 1 % of each real dimension
FLOOR_TOLERANCE_M = 0.01


def changed_fraction(path_a: str, path_b: str) -> float:
    """Share of the frame that differs between two screenshots."""
    return float(changed(pixels(path_a), pixels(path_b)).mean())


def real_size(dimensions: dict) -> list[float]:
    return [dimensions["width"], dimensions["height"], dimensions["depth"]]


def assert_size(measured: list[float], expected: list[float], what: str) -> None:
    errors = [abs(m - e) / e for m, e in zip(measured, expected, strict=True)]
    assert max(errors) <= SIZE_TOLERANCE, f"{what}: {measured} m vs real {expected} m (errors {[f'{e:.3%}' for e in errors]})"


def events_by_type(service, session: str) -> dict[str, list[dict]]:
    """The events of one pseudonymous session at the service, grouped by type."""
    grouped: dict[str, list[dict]] = {}
    for event in service.events(session=session):
        grouped.setdefault(event["type"], []).append(event)
    return grouped


def test_webxr_ar_places_the_product_at_true_scale_on_the_captured_floor(service, scenario, sample_products, artifacts_dir):
    started = time.monotonic()
    result = scenario("ar_phone.mjs", {
        "base": service.base, "merchant": service.merchant, "sku": FLOOR_PRODUCT, "artifacts": str(artifacts_dir),
    })
    seconds = time.monotonic() - started
    sample = next(p for p in sample_products if p["sku"] == FLOOR_PRODUCT)
    real = real_size(sample["dimensions_m"])
    assert real_size(result["dimensions"]) == pytest.approx(real)

    # The page offered WebXR AR; the session is immersive-ar on horizontal surfaces for a floor product.
    assert result["offeredMode"] == "webxr"
    assert result["session"] == {"blend": "alpha-blend", "surface": "horizontal", "referenceSpace": "local-floor"}
    assert result["hint"] == "Tap to place"  # the reticle is on a surface, as the overlay tells the shopper

    # Placed by the hit test on the room's floor, at true scale, its front towards the phone.
    placed, floor_y = result["placed"], result["floorY"]
    floor_error = abs(placed["min"][1] - floor_y)
    assert floor_error <= FLOOR_TOLERANCE_M, f"the product's bottom at y={placed['min'][1]:.4f}, the floor at {floor_y:.4f}"
    assert abs(placed["position"][1] - floor_y) <= FLOOR_TOLERANCE_M
    assert_size(placed["size"], real, "placed world-space bounding box")
    assert placed["scale"] == pytest.approx([1, 1, 1], abs=1e-6)
    to_phone = [0 - placed["position"][0], 0, 0 - placed["position"][2]]
    norm = math.hypot(to_phone[0], to_phone[2])
    assert (placed["front"][0] * to_phone[0] + placed["front"][2] * to_phone[2]) / norm > 0.99
    assert abs(placed["front"][1]) < 1e-6  # upright

    # A drag of a third of the screen turned it a quarter turn: width and depth swap, nothing is scaled.
    turned = result["turned"]
    assert_size(turned["size"], [real[2], real[1], real[0]], "world box after a quarter turn")
    assert turned["scale"] == pytest.approx([1, 1, 1], abs=1e-6)
    assert turned["position"] == pytest.approx(placed["position"], abs=1e-9)

    # A second tap elsewhere moved it, still on the floor, still turned.
    moved = result["moved"]
    assert math.dist(moved["position"], placed["position"]) > 0.2
    assert abs(moved["min"][1] - floor_y) <= FLOOR_TOLERANCE_M
    assert_size(moved["size"], [real[2], real[1], real[0]], "world box after moving")

    # The exit button ended the session; the overlay is gone.
    assert result["afterExit"] == {"presenting": False, "overlayShown": False}

    # The AR frame shows the product: hiding it changes a good part of the picture.
    assert changed_fraction(result["screenshots"]["frame"], result["screenshots"]["without"]) > 0.03

    # The events reached the service, with their details.
    events = events_by_type(service, result["analyticsSession"])
    assert {"view", "ar_offered", "ar_started", "ar_placed", "ar_ended"} <= events.keys()
    assert "ar_failed" not in events
    assert events["ar_offered"][0]["props"]["mode"] == "webxr"
    assert events["ar_started"][0]["props"]["placement"] == "floor"
    placed_event = events["ar_placed"][0]
    assert placed_event["sku"] == FLOOR_PRODUCT
    assert placed_event["props"]["surface"] == "horizontal"
    assert 0 < placed_event["props"]["time_to_place_ms"] < 60_000
    ended = events["ar_ended"][0]["props"]
    assert (ended["placed"], ended["moves"], ended["turned"]) == (True, 1, True)

    print(
        f"\nAR: floor error {floor_error * 1000:.4f} mm, bbox errors "
        f"{[f'{abs(m - e) / e:.4%}' for m, e in zip(placed['size'], real, strict=True)]}, reticle after "
        f"{result['reticleFoundMs']:.0f} ms, time to place {placed_event['props']['time_to_place_ms']} ms, "
        f"{placed['frames']} AR frames, scenario {seconds:.1f} s"
    )


def test_ar_that_cannot_start_reports_why_and_keeps_the_3d_view(service, scenario):
    result = scenario("ar_failure.mjs", {"base": service.base, "merchant": service.merchant, "sku": FLOOR_PRODUCT})
    assert result["status"] == "AR could not start on this device"
    assert result["after"] == {"presenting": False, "running": False, "overlayShown": False, "viewerDraws": True}
    events = events_by_type(service, result["analyticsSession"])
    assert [e["props"]["reason"] for e in events["ar_failed"]] == ["hit_test"]
    assert events["ar_failed"][0]["props"]["detail"]  # the browser's own words, for support
    assert "ar_started" not in events and "ar_ended" not in events


def test_headset_view_renders_the_product_and_hands_grab_it(service, scenario, sample_products, artifacts_dir):
    started = time.monotonic()
    result = scenario("xr_headset.mjs", {
        "base": service.base, "merchant": service.merchant, "sku": FLOOR_PRODUCT, "artifacts": str(artifacts_dir),
    })
    seconds = time.monotonic() - started
    real = real_size(next(p for p in sample_products if p["sku"] == FLOOR_PRODUCT)["dimensions_m"])

    assert result["vr"] == {"mode": "immersive-vr", "referenceSpace": "local-floor", "blend": "opaque"}
    placed = result["placed"]
    # On the floor (local-floor: y = 0), in front of the shopper (who looks along -Z), facing them.
    assert abs(placed["min"][1]) <= FLOOR_TOLERANCE_M
    assert_size(placed["size"], real, "world-space bounding box in VR")
    assert placed["position"][2] < -0.5 and abs(placed["position"][0]) < 0.01
    assert placed["front"] == pytest.approx([0, 0, 1], abs=1e-6)

    # Frames advance and draw the product: more draw calls and different pixels with it than without.
    frames = result["frames"]
    frames_per_second = frames["count"] * 1000 / frames["ms"]
    assert frames["count"] >= 20 and frames_per_second >= 5, frames
    assert result["drawCalls"]["with"] > result["drawCalls"]["without"] > 0
    assert changed_fraction(result["screenshots"]["frame"], result["screenshots"]["without"]) > 0.01

    # A controller (trigger) and a hand (pinch) each grabbed it and carried it; let go, it settles on the
    # floor, upright, where it was carried, at the same size.
    for name, delta in (("controller", (0.5, 0.3, 0.0)), ("hand", (-0.3, 0.2, -0.2))):
        grab = result[name]
        assert grab["grabbed"], f"the {name} did not grab the product"
        before = placed["position"] if name == "controller" else result["controller"]["released"]["position"]
        assert grab["held"]["position"] == pytest.approx([b + d for b, d in zip(before, delta, strict=True)], abs=0.005)
        released = grab["released"]
        assert abs(released["min"][1]) <= FLOOR_TOLERANCE_M and abs(released["front"][1]) < 1e-6
        assert released["position"][0] == pytest.approx(before[0] + delta[0], abs=0.005)
        assert released["position"][2] == pytest.approx(before[2] + delta[2], abs=0.005)
        assert released["scale"] == pytest.approx([1, 1, 1], abs=1e-6)
    assert result["grabs"] == 2
    assert result["viewerFramesAfterEnd"] == {"presenting": False, "drew": True}

    # A passthrough headset (Quest 3) gets immersive-ar: the product on the recorded room's floor.
    assert result["passthrough"] == {"mode": "immersive-ar", "blend": "alpha-blend"}
    assert abs(result["passthroughPlaced"]["min"][1]) <= FLOOR_TOLERANCE_M
    assert_size(result["passthroughPlaced"]["size"], real, "world-space bounding box in passthrough")

    for key, mode in (("vr", "immersive-vr"), ("passthrough", "immersive-ar")):
        events = events_by_type(service, result["analyticsSessions"][key])
        assert events["xr_started"][0]["props"]["mode"] == mode
        ended = events["xr_ended"][0]["props"]
        assert ended["mode"] == mode and ended["duration_ms"] > 0
    assert events_by_type(service, result["analyticsSessions"]["vr"])["xr_ended"][0]["props"]["grabs"] == 2

    print(
        f"\nheadset: {frames_per_second:.0f} frames/s in immersive-vr, draw calls {result['drawCalls']}, "
        f"bbox errors {[f'{abs(m - e) / e:.4%}' for m, e in zip(placed['size'], real, strict=True)]}, scenario {seconds:.1f} s"
    )
