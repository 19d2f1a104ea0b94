"""The MediaPipe wrappers on real public photos: skimage's astronaut and matplotlib's Grace Hopper portrait
(a US Navy photograph in the public domain, shipped in matplotlib's sample data)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from immersive.errors import InvalidRequest
from immersive.tryon import fit
from immersive.tryon.tracking import FaceTracker, HandTracker

from .conftest import astronaut, grace_hopper


def test_face_on_the_astronaut(face_tracker):
    faces = face_tracker.detect(astronaut())
    assert len(faces) == 1
    face = faces[0]
    assert face.landmarks.shape == (478, 3) and len(face.blendshapes) == 52
    assert face.transformation_matrix.shape == (4, 4)
    # The irises are inside the image and the right one (468) is on the image's left.
    assert 0 < face.landmarks[468, 0] < face.landmarks[473, 0] < 1
    result = fit.fit_face(face, fit.Camera.for_image(face.image_width, face.image_height))
    assert 50 < result.pd.value_mm < 75 and result.pose.rms_px < 6


def two_people(size: int = 560) -> np.ndarray:
    """The astronaut's head (left) and Grace Hopper's (right, the larger face) side by side. The Face
    Landmarker's detector is a short-range (selfie) model: faces must fill a good part of the frame."""
    canvas = np.full((size, size, 3), 128, np.uint8)
    for column, head in enumerate((astronaut()[20:280, 110:330], grace_hopper()[40:420, 110:420])):
        width = size // 2
        scaled = np.asarray(Image.fromarray(head).resize((width, round(width * head.shape[0] / head.shape[1]))))[:size]
        canvas[: scaled.shape[0], column * width : (column + 1) * width] = scaled
    return canvas


def test_largest_face_first_and_chosen_index():
    with FaceTracker("image", max_faces=3) as tracker:
        canvas = two_people()
        faces = tracker.detect(canvas)
        assert len(faces) == 2
        assert faces[0].area_px > faces[1].area_px
        assert faces[0].landmarks[1, 0] > 0.5  # the largest is Grace Hopper, on the right
        second = tracker.detect_one(canvas, index=1)
        assert second is not None and second.landmarks[1, 0] < 0.5
        assert tracker.detect_one(canvas, index=2) is None


def test_video_mode_tracks_and_tolerates_repeated_timestamps():
    with FaceTracker("video") as tracker:
        frame = astronaut()
        first = tracker.detect_one(frame, timestamp_ms=0)
        again = tracker.detect_one(frame, timestamp_ms=0)  # a repeated timestamp is moved on, not an abort
        later = tracker.detect_one(frame, timestamp_ms=33)
        assert first is not None and again is not None and later is not None
        assert np.abs(later.landmarks[:, :2] - first.landmarks[:, :2]).max() < 0.01
        with pytest.raises(InvalidRequest, match="timestamp"):
            tracker.detect(frame)


def test_no_face_no_hand_and_bad_frames(face_tracker):
    blank = np.full((240, 320, 3), 90, np.uint8)
    assert face_tracker.detect(blank) == []
    with HandTracker("image") as hands:
        assert hands.detect(astronaut()) == []  # her hands are out of the picture
    with pytest.raises(InvalidRequest, match="RGB"):
        face_tracker.detect(np.zeros((10, 10), np.uint8))
