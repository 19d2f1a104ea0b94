"""Accuracy of tracking + fit against ground truth (issue 5, first "Done when" point).

Synthetic: a textured head with known shape, pose and PD (synthetic_head.py) rendered with pyrender, three head
shapes x two distances x 13 poses (yaw to +-20, pitch to +-10, roll to +-10 degrees), run through the real
Face Landmarker and fit.py. Real photos: on the astronaut and on Grace Hopper's portrait the glasses' lens
centres land inside the detected eye openings.

The figures are written to artifacts/tryon/accuracy.json with overlay images (green: truth, red: estimate,
blue: the sample glasses' frame placed by the fit) for people to look at."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from matplotlib.path import Path as PolygonPath  # a dependency of mediapipe
from PIL import Image, ImageDraw

from immersive.tryon import fit

from .conftest import astronaut, grace_hopper
from .synthetic_head import LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR, SyntheticHead, euler_rotation, rotation_error_deg

CAMERA = fit.Camera.for_image(640, 480, 60)
SHAPES = {"canonical": (1.0, 1.0, 1.0), "narrow-deep": (0.93, 1.05, 1.10), "wide-flat": (1.06, 0.96, 0.92)}
DISTANCES_M = (0.35, 0.5)
POSES = [(0, 0, 0), (10, 0, 0), (-10, 0, 0), (20, 0, 0), (-20, 0, 0), (0, 10, 0), (0, -10, 0), (0, 0, 10), (0, 0, -10),
         (10, -10, 5), (-15, 10, -5), (20, 10, 10), (-20, -10, -10)]  # yaw, pitch, roll in degrees
FRONTAL_DEG = 10  # PD is an optician's measurement: the person faces the camera
# The sample glasses (samples/generate.py, spec frame: bridge midpoint at the origin): lenses 50 x 40 mm
# centred 34 mm out and 8 mm below the bridge, hinges at x +-69 mm, temples ~145 mm.
LENS_CENTRE_M, LENS_HALF_M, HINGE_M, TEMPLE_M = (0.034, -0.008), (0.025, 0.020), (0.069, 0.004, -0.006), 0.145


def glasses_outline(transform: np.ndarray) -> dict[str, np.ndarray]:
    """Camera-space polylines of the sample frame placed by `transform`."""
    angle = np.linspace(0, 2 * np.pi, 48)
    parts = {}
    for side, sign in (("lens_left", 1), ("lens_right", -1)):
        parts[side] = np.stack([sign * LENS_CENTRE_M[0] + LENS_HALF_M[0] * np.cos(angle),
                                LENS_CENTRE_M[1] + LENS_HALF_M[1] * np.sin(angle), 0 * angle], 1)
        hinge = np.array([sign * HINGE_M[0], HINGE_M[1], HINGE_M[2]])
        parts[f"temple_{side[5:]}"] = np.array([hinge, hinge - (0, 0, TEMPLE_M)])
    parts["lens_centres"] = np.array([[-LENS_CENTRE_M[0], LENS_CENTRE_M[1], 0], [LENS_CENTRE_M[0], LENS_CENTRE_M[1], 0]])
    return {k: v @ transform[:3, :3].T + transform[:3, 3] for k, v in parts.items()}


def draw_glasses(draw: ImageDraw.ImageDraw, camera: fit.Camera, transform: np.ndarray) -> np.ndarray:
    parts = glasses_outline(transform)
    for name, points in parts.items():
        if name != "lens_centres":
            draw.line([tuple(p) for p in camera.project(points)], fill=(40, 90, 255), width=2)
    centres = camera.project(parts["lens_centres"])
    for x, y in centres:
        draw.line([(x - 4, y), (x + 4, y)], fill=(40, 90, 255), width=2)
        draw.line([(x, y - 4), (x, y + 4)], fill=(40, 90, 255), width=2)
    return centres


def mark(draw: ImageDraw.ImageDraw, point, colour, radius: float = 3.0) -> None:
    x, y = point
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=colour, width=2)


@pytest.fixture(scope="module")
def synthetic_results(face_tracker, artifacts_dir):
    """Every render's errors, plus overlays of a few renders."""
    photo = astronaut()
    photo_face = face_tracker.detect_one(photo)
    assert photo_face is not None
    out_dir = artifacts_dir / "tryon"
    out_dir.mkdir(exist_ok=True)
    rows, sheet = [], []
    from .synthetic_head import _pyrender

    renderer = _pyrender().OffscreenRenderer(CAMERA.width, CAMERA.height)
    try:
        for shape, stretch in SHAPES.items():
            head = SyntheticHead(photo, photo_face, stretch=stretch)
            for distance in DISTANCES_M:
                for yaw, pitch, roll in POSES:
                    rotation = euler_rotation(yaw, pitch, roll)
                    # The point between the pupils a little off the optical axis, at `distance`.
                    translation = np.array([0.015, -0.01, -distance]) - rotation @ head.pupils.mean(0)
                    render = head.render(rotation, translation, CAMERA, renderer)
                    face = face_tracker.detect_one(render.image)
                    row = {"shape": shape, "distance_m": distance, "yaw": yaw, "pitch": pitch, "roll": roll,
                           "true_pd_mm": head.pd_mm, "detected": face is not None}
                    rows.append(row)
                    if face is None:
                        continue
                    result = fit.fit_face(face, CAMERA)
                    glasses = fit.glasses_transform(result)
                    error = glasses[:3, 3] - render.bridge_camera
                    ray = render.bridge_camera / np.linalg.norm(render.bridge_camera)
                    row.update(
                        rotation_error_deg=rotation_error_deg(result.pose.rotation, rotation),
                        bridge_lateral_error_mm=float(np.linalg.norm(error - (error @ ray) * ray) * 1000),
                        bridge_depth_error_mm=float((error @ ray) * 1000),
                        bridge_error_3d_mm=float(np.linalg.norm(error) * 1000),
                        pd_mm=result.pd.value_mm,
                        pd_uncertainty_mm=result.pd.uncertainty_mm,
                        pd_error_mm=result.pd.value_mm - head.pd_mm,
                    )
                    if distance == DISTANCES_M[0] and (yaw, pitch, roll) in POSES[::4]:
                        image = Image.fromarray(render.image)
                        draw = ImageDraw.Draw(image)
                        draw_glasses(draw, CAMERA, glasses)
                        for truth, estimate in zip(CAMERA.project(render.pupils_camera),
                                                   CAMERA.project(result.pose.to_camera(result.pupils_canonical))):
                            mark(draw, truth, (0, 220, 0), 5)
                            mark(draw, estimate, (255, 40, 40), 3)
                        mark(draw, CAMERA.project(render.bridge_camera), (0, 220, 0), 5)
                        mark(draw, CAMERA.project(glasses[:3, 3]), (255, 40, 40), 3)
                        draw.text((8, 8), f"{shape} yaw {yaw} pitch {pitch} roll {roll}: rot err {row['rotation_error_deg']:.1f} deg, "
                                  f"PD {result.pd.value_mm:.1f} (true {head.pd_mm:.1f}) mm", fill=(255, 255, 255))
                        sheet.append(image)
    finally:
        renderer.delete()
    columns = 4
    contact = Image.new("RGB", (CAMERA.width * columns, CAMERA.height * math.ceil(len(sheet) / columns)))
    for i, image in enumerate(sheet):
        contact.paste(image, ((i % columns) * CAMERA.width, (i // columns) * CAMERA.height))
    contact.save(out_dir / "synthetic_overlays.png")
    detected = [r for r in rows if r["detected"]]
    frontal = [r for r in detected if abs(r["yaw"]) <= FRONTAL_DEG and abs(r["pitch"]) <= FRONTAL_DEG]
    summary = {
        "renders": len(rows),
        "detected": len(detected),
        "rotation_error_deg": _stats([r["rotation_error_deg"] for r in detected]),
        "bridge_lateral_error_mm": _stats([r["bridge_lateral_error_mm"] for r in detected]),
        "bridge_depth_error_mm": _stats([abs(r["bridge_depth_error_mm"]) for r in detected]),
        "bridge_error_3d_mm": _stats([r["bridge_error_3d_mm"] for r in detected]),
        "pd_error_mm_frontal": _stats([abs(r["pd_error_mm"]) for r in frontal]),
        "pd_error_mm_signed_mean_by_shape": {
            s: float(np.mean([r["pd_error_mm"] for r in frontal if r["shape"] == s])) for s in SHAPES
        },
    }
    (out_dir / "accuracy.json").write_text(json.dumps({"summary": summary, "renders": rows}, indent=1))
    return rows, summary


def _stats(values) -> dict[str, float]:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "p90": float(np.percentile(values, 90)), "max": float(values.max())}


def test_every_synthetic_render_is_detected(synthetic_results):
    rows, summary = synthetic_results
    assert summary["detected"] == summary["renders"] == len(SHAPES) * len(DISTANCES_M) * len(POSES)


def test_glasses_bridge_position(synthetic_results):
    """Where the glasses appear: the bridge error across the line of sight, in millimetres at the face (along
    the line of sight the distance comes from the iris size, see the PD test; a renderer draws the same image
    for a bridge further away and scaled alike). Measured: mean 2.3, 90% within 2.8, max 3.3 mm; the truth is
    the photo's own landmark 168 carried onto the head, itself a point on a featureless ridge."""
    _, summary = synthetic_results
    assert summary["bridge_lateral_error_mm"]["p90"] <= 3.0
    assert summary["bridge_lateral_error_mm"]["max"] <= 3.6


def test_head_rotation(synthetic_results):
    """Measured: mean 2.2 degrees, 90% within 3.5; the worst renders are the stretched head shapes."""
    _, summary = synthetic_results
    assert summary["rotation_error_deg"]["mean"] <= 2.5
    assert summary["rotation_error_deg"]["p90"] <= 3.6
    assert summary["rotation_error_deg"]["max"] <= 6.5


def test_pd_within_its_stated_uncertainty(synthetic_results):
    """Frontal renders: the PD error stays within twice the reported one-sigma uncertainty (the iris's
    population spread). MediaPipe's iris landmarks scale with the eye's size as well as the iris's, so the
    error depends on the head shape (see the strict target below)."""
    rows, summary = synthetic_results
    frontal = [r for r in rows if r["detected"] and abs(r["yaw"]) <= FRONTAL_DEG and abs(r["pitch"]) <= FRONTAL_DEG]
    assert frontal
    for row in frontal:
        assert abs(row["pd_error_mm"]) <= 2 * row["pd_uncertainty_mm"], row
    assert summary["pd_error_mm_frontal"]["max"] <= 6.0


@pytest.mark.xfail(strict=True, reason="issue 5 targets not met on every render: rotation <= 3 degrees, bridge <= 3 mm, "
                   "PD +-1 mm. Measured (accuracy.json): rotation max ~5.9 deg on stretched heads, bridge max ~3.3 mm, "
                   "frontal PD error up to ~5.5 mm, biased by head shape (MediaPipe's iris size follows the eye opening)")
def test_issue_targets_on_every_render(synthetic_results):
    _, summary = synthetic_results
    assert summary["rotation_error_deg"]["max"] <= 3.0
    assert summary["bridge_lateral_error_mm"]["max"] <= 3.0
    assert summary["pd_error_mm_frontal"]["max"] <= 1.0


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper"])
def test_glasses_land_on_the_eyes_of_real_photos(name, face_tracker, artifacts_dir):
    """The sample frame placed by the fit: each lens covers its pupil, and each lens centre lies in the eye's
    region (within half the eye's corner-to-corner width of the eye's centre; the spec's frames centre their
    lenses a few millimetres below the pupils, below a narrow eye's opening)."""
    photo = astronaut() if name == "astronaut" else grace_hopper()
    face = face_tracker.detect_one(photo)
    assert face is not None
    camera = fit.Camera.for_image(face.image_width, face.image_height)
    result = fit.fit_face(face, camera)
    image = Image.fromarray(photo)
    draw = ImageDraw.Draw(image)
    transform = fit.glasses_transform(result)
    centres = draw_glasses(draw, camera, transform)
    for earring in fit.earring_transforms(result):
        mark(draw, camera.project(earring.transform[:3, 3]), (255, 200, 0) if earring.visible else (120, 120, 120), 4)
    hat = fit.hat_transform(result)
    mark(draw, camera.project(hat[:3, 3]), (255, 0, 255), 5)
    necklace = fit.necklace_transform(result)
    mark(draw, camera.project(necklace[:3, 3]), (0, 255, 255), 5)
    for pupil in face.pixels([468, 473]):
        mark(draw, pupil, (0, 220, 0), 3)
    (artifacts_dir / "tryon").mkdir(exist_ok=True)
    image.save(artifacts_dir / "tryon" / f"photo_{name}.png")
    # centres[0] is at -X of the frame: the wearer's right, the right eye's contour.
    for centre, contour, corners in zip(centres, (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR), ((33, 133), (263, 362))):
        eye = face.pixels(contour)
        half_width = np.linalg.norm(face.pixels(corners[0]) - face.pixels(corners[1])) / 2
        assert np.linalg.norm(centre - eye.mean(0)) < half_width, (name, centre)
    lenses = glasses_outline(transform)
    for pupil, lens in zip(face.pixels([468, 473]), (lenses["lens_right"], lenses["lens_left"])):
        assert PolygonPath(camera.project(lens)).contains_point(pupil)
