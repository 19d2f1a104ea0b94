"""Shared fixtures of the try-on tests: one Face Landmarker per session, the public photos."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from immersive.tryon.tracking import FaceTracker


@cache
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@cache
def grace_hopper() -> np.ndarray:
    """matplotlib's sample portrait (public domain US Navy photograph), a dependency of mediapipe."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="session")
def face_tracker():
    with FaceTracker("image") as tracker:
        yield tracker
