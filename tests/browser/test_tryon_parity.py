"""The browser's try-on fit (web_viewer/js/features/tryon.js, on-device mode) against the service's
(immersive/tryon/fit.py): the same real landmarks (the Face Landmarker on skimage's astronaut moving across a
kiosk frame) through both give the same transforms, head matrix, measurements,
frame-size advice, projection and One Euro-smoothed head pose. Run under node: the fit is plain math."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
from PIL import Image

from immersive.tryon import fit
from immersive.tryon.smoothing import OneEuroFilter, PoseFilter
from immersive.tryon.stream import EARRING_NODES, column_major
from immersive.tryon.tracking import FaceTracker
from tests.immersive.tryon.conftest import astronaut

from .support import HERE, ROOT

FRAME_WIDTH_MM = 138.0
POSITION_TOLERANCE_M = 1e-5  # 0.01 mm
ROTATION_TOLERANCE = 1e-5  # matrix entries (~0.0006 degrees)
MM_TOLERANCE = 1e-3


def frames() -> list[tuple[np.ndarray, float]]:
    """The portrait moving and growing in a 640x480 frame, with the time of each frame (30 fps)."""
    out = []
    for i, (photo, dx, dy, size) in enumerate(  # the last one is seen with another field of view below
        [(astronaut(), 0, 0, 420), (astronaut(), 14, 3, 424), (astronaut(), 30, -4, 430), (astronaut(), 44, -8, 436)]
    ):
        canvas = Image.new("RGB", (640, 480), (70, 80, 90))
        canvas.paste(Image.fromarray(photo).resize((size, size)), (110 + dx, 30 + dy))
        out.append((np.asarray(canvas), i / 30))
    return out


@pytest.fixture(scope="module")
def recorded() -> dict:
    """Landmarks of each frame (VIDEO mode, as a stream), the Python fit of each, and the node run's answer."""
    faces, python = [], []
    head_filter, scale_filter = PoseFilter(), OneEuroFilter(min_cutoff_hz=0.5, beta=0.0)
    with FaceTracker("video") as tracker:
        for (frame, time_s), fov in zip(frames(), (60.0, 60.0, 60.0, 72.0)):
            face = tracker.detect_one(frame, timestamp_ms=int(time_s * 1000))
            assert face is not None
            camera = fit.Camera.for_image(face.image_width, face.image_height, fov)
            result = fit.fit_face(face, camera)
            rigid = np.eye(4)
            rigid[:3, :3], rigid[:3, 3] = result.pose.rotation, result.pose.translation_m
            smoothed_rigid = head_filter(rigid, time_s)
            smoothed_head = smoothed_rigid.copy()
            smoothed_head[:3, :3] *= float(scale_filter([result.pose.scale], time_s)[0])
            faces.append(
                {
                    "landmarks": face.landmarks.tolist(),
                    "matrix": column_major(face.transformation_matrix),
                    "width": face.image_width,
                    "height": face.image_height,
                    "fov": fov,
                    "time": time_s,
                }
            )
            python.append({"camera": camera, "fit": result, "smoothed_head": smoothed_head})
    data = {"params": fit.fit_parameters(), "frameWidthMm": FRAME_WIDTH_MM, "faces": faces}
    done = subprocess.run(
        ["node", str(HERE / "tryon_fit_parity.mjs"), "/dev/stdin"],
        input=json.dumps(data), capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    return {"python": python, "js": json.loads(done.stdout)["faces"]}


def as_matrix(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(4, 4).T


def assert_same_transform(js: list[float], python: np.ndarray, what: str) -> None:
    found = as_matrix(js)
    assert np.abs(found[:3, :3] - python[:3, :3]).max() < ROTATION_TOLERANCE, f"{what}: rotation"
    assert np.abs(found[:3, 3] - python[:3, 3]).max() < POSITION_TOLERANCE_M, f"{what}: position {found[:3, 3]} vs {python[:3, 3]}"
    assert np.allclose(found[3], [0, 0, 0, 1])


def test_the_same_landmarks_give_the_same_transforms(recorded):
    for python, js in zip(recorded["python"], recorded["js"]):
        result = python["fit"]
        assert math.isclose(js["rms_px"], result.pose.rms_px, abs_tol=1e-4)
        assert_same_transform(js["items"]["glasses"][0]["matrix"], fit.glasses_transform(result), "glasses")
        assert_same_transform(js["items"]["hat"][0]["matrix"], fit.hat_transform(result), "hat")
        assert_same_transform(js["items"]["necklace"][0]["matrix"], fit.necklace_transform(result), "necklace")
        for js_earring, earring in zip(js["items"]["earrings"], fit.earring_transforms(result)):
            assert js_earring["node"] == EARRING_NODES[earring.side] and js_earring["visible"] == earring.visible
            assert_same_transform(js_earring["matrix"], earring.transform, f"earring {earring.side}")
        head = as_matrix(js["head"])
        assert np.abs(head - result.pose.matrix()).max() < POSITION_TOLERANCE_M
        assert np.allclose(as_matrix(js["projection"]), python["camera"].projection_matrix(0.01, 10.0), atol=1e-9)


def test_the_same_measurements_and_advice(recorded):
    for python, js in zip(recorded["python"], recorded["js"]):
        result = python["fit"]
        for name in ("pd", "far_pd", "face_width"):
            measured = getattr(result, name)
            assert math.isclose(js[name]["mm"], measured.value_mm, abs_tol=MM_TOLERANCE), name
            assert math.isclose(js[name]["sd_mm"], measured.uncertainty_mm, abs_tol=MM_TOLERANCE), name
        assert math.isclose(js["distance_m"], result.distance_m, abs_tol=POSITION_TOLERANCE_M)
        advice = fit.frame_size_advice(result.face_width, FRAME_WIDTH_MM)
        assert js["frame_size"]["size"] == advice.size
        assert math.isclose(js["frame_size"]["difference_mm"], advice.difference_mm, abs_tol=MM_TOLERANCE)
        assert math.isclose(js["frame_size"]["tolerance_mm"], advice.tolerance_mm, abs_tol=MM_TOLERANCE)


def test_the_same_smoothing(recorded):
    """One Euro over the moving sequence: the browser's HeadPoseFilter is the stream's PoseFilter + scale filter."""
    smoothed = [as_matrix(js["smoothed_head"]) for js in recorded["js"]]
    for found, python in zip(smoothed, recorded["python"]):
        assert np.abs(found - python["smoothed_head"]).max() < POSITION_TOLERANCE_M
    raw = [python["fit"].pose.matrix() for python in recorded["python"]]
    assert np.abs(smoothed[2][:3, 3] - raw[2][:3, 3]).max() > 1e-4, "the sequence moves: smoothing lags it"
