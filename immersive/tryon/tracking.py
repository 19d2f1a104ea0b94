"""MediaPipe Tasks wrappers: the Face Landmarker (478 landmarks with irises, 52 blendshapes, the 4x4 facial
transformation matrix) and the Hand Landmarker (21 image + 21 metric world landmarks, handedness), in IMAGE
mode (photos) or VIDEO mode (a stream: timestamps must increase; the landmarker tracks between frames).

Frames go in as RGB uint8 arrays and come out as plain numpy observations for fit.py; nothing is stored.
There is no Pose Landmarker: no pinned registry package carries its model (see models.py)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..errors import DomainError, InvalidRequest
from . import models
from .fit import FaceObservation, HandObservation

Mode = Literal["image", "video"]


class TrackingError(DomainError):
    code = "tryon_tracking_failed"
    status = 500


@dataclass(frozen=True)
class TrackedFace(FaceObservation):
    blendshapes: dict[str, float] = field(default_factory=dict)

    @property
    def area_px(self) -> float:
        """Bounding-box area of the landmarks in pixels: "the largest face" is the nearest one."""
        pixels = self.pixels()
        return float(np.prod(pixels.max(0) - pixels.min(0)))


def _image(frame: np.ndarray):
    import mediapipe as mp

    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
        raise InvalidRequest(f"expected an RGB(A) uint8 image, got shape {frame.shape} {frame.dtype}")
    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame[..., :3]))


def _vision():
    try:
        from mediapipe.tasks.python import BaseOptions, vision
    except ImportError as exc:  # the project depends on it; a broken install says so clearly
        raise TrackingError(f"mediapipe is not importable (pip install mediapipe==1.2.3): {exc}") from None
    return BaseOptions, vision


class _Landmarker:
    """One MediaPipe task instance. Calls are serialized: a task graph is not re-entrant, and VIDEO mode
    needs increasing timestamps from one caller at a time."""

    def __init__(self, task, mode: Mode):
        self._task = task
        self.mode = mode
        self._lock = threading.Lock()
        self._last_timestamp_ms = -1

    def _run(self, frame: np.ndarray, timestamp_ms: int | None):
        image = _image(frame)
        with self._lock:
            if self.mode == "image":
                return self._task.detect(image)
            if timestamp_ms is None:
                raise InvalidRequest("VIDEO mode needs a timestamp per frame")
            # MediaPipe aborts the graph on a non-increasing timestamp; keep the stream going instead.
            timestamp_ms = max(int(timestamp_ms), self._last_timestamp_ms + 1)
            self._last_timestamp_ms = timestamp_ms
            return self._task.detect_for_video(image, timestamp_ms)

    def close(self) -> None:
        with self._lock:
            if self._task is not None:
                self._task.close()
                self._task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FaceTracker(_Landmarker):
    """Face Landmarker. `detect` returns every face found (up to max_faces), largest first."""

    def __init__(self, mode: Mode = "image", max_faces: int = 1, min_confidence: float = 0.5):
        base_options, vision = _vision()
        options = vision.FaceLandmarkerOptions(
            base_options=base_options(model_asset_path=str(models.model_path(models.FACE_LANDMARKER))),
            running_mode=vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        super().__init__(vision.FaceLandmarker.create_from_options(options), mode)

    def detect(self, frame: np.ndarray, timestamp_ms: int | None = None) -> list[TrackedFace]:
        height, width = frame.shape[:2]
        result = self._run(frame, timestamp_ms)
        faces = []
        for i, landmarks in enumerate(result.face_landmarks):
            if len(landmarks) != 478 or i >= len(result.facial_transformation_matrixes):
                continue  # a model without irises or matrices is not the pinned bundle; models.py checks that
            shapes = result.face_blendshapes[i] if i < len(result.face_blendshapes) else []
            faces.append(
                TrackedFace(
                    landmarks=np.array([(p.x, p.y, p.z) for p in landmarks], dtype=np.float64),
                    transformation_matrix=np.asarray(result.facial_transformation_matrixes[i], dtype=np.float64),
                    image_width=width,
                    image_height=height,
                    blendshapes={c.category_name: float(c.score) for c in shapes},
                )
            )
        faces.sort(key=lambda f: f.area_px, reverse=True)
        return faces

    def detect_one(self, frame: np.ndarray, index: int = 0, timestamp_ms: int | None = None) -> TrackedFace | None:
        """The `index`-th largest face (0: the largest), or None when there are not that many faces."""
        faces = self.detect(frame, timestamp_ms)
        return faces[index] if index < len(faces) else None


class HandTracker(_Landmarker):
    """Hand Landmarker: up to max_hands hands, largest first."""

    def __init__(self, mode: Mode = "image", max_hands: int = 2, min_confidence: float = 0.5):
        base_options, vision = _vision()
        options = vision.HandLandmarkerOptions(
            base_options=base_options(model_asset_path=str(models.model_path(models.HAND_LANDMARKER))),
            running_mode=vision.RunningMode.IMAGE if mode == "image" else vision.RunningMode.VIDEO,
            num_hands=max_hands,
            min_hand_detection_confidence=min_confidence,
            min_hand_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
        )
        super().__init__(vision.HandLandmarker.create_from_options(options), mode)

    def detect(self, frame: np.ndarray, timestamp_ms: int | None = None) -> list[HandObservation]:
        height, width = frame.shape[:2]
        result = self._run(frame, timestamp_ms)
        hands = []
        for landmarks, world, handedness in zip(result.hand_landmarks, result.hand_world_landmarks, result.handedness):
            hands.append(
                HandObservation(
                    landmarks=np.array([(p.x, p.y, p.z) for p in landmarks], dtype=np.float64),
                    world_landmarks=np.array([(p.x, p.y, p.z) for p in world], dtype=np.float64),
                    handedness="Left" if handedness[0].category_name == "Left" else "Right",
                    image_width=width,
                    image_height=height,
                )
            )
        hands.sort(key=lambda h: float(np.prod(np.ptp(h.landmarks[:, :2], axis=0))), reverse=True)
        return hands
