"""Fit math for try-on: landmarks in, metric head pose, face measurements and per-category product
transforms out. Pure math (numpy only, no MediaPipe), so the service, the benchmarks and a port to the
browser share one definition; `fit_parameters()` is every constant below as JSON for that port.

Frames and units
- Camera: OpenGL / three.js / pyrender convention, +X right, +Y up, the camera looks down -Z; metres.
  Pixels have their origin at the top-left corner, +v down (MediaPipe's normalized landmarks times the
  image size).
- Face: MediaPipe's canonical face frame (the facial transformation matrix maps from it): +X the face's left,
  +Y up, +Z out of the face; origin inside the head between the ears. Canonical points are MediaPipe's
  canonical face model (the geometry pipeline metadata inside face_landmarker.task) in metres; a person's
  face is that model scaled by `HeadPose.scale`.
- Products: the try-on spec's (asset_pipeline/tryon.py) convention, metres at real size, +Y up, front +Z,
  origin at the category's anchor. A transform returned here maps product coordinates to camera coordinates;
  it is a rigid motion (products keep their real size), so a renderer draws the product with the same camera
  intrinsics (`Camera.projection_matrix`) and the transform as its model-view matrix.

Metric scale comes from the iris: the horizontal visible iris diameter is 11.7 mm on average with a
population standard deviation of 0.42 mm (Rüfer et al. 2005, white-to-white 11.71 +- 0.42 mm), which sets
the size of the face and its distance. Sizes are reported with that spread (1 sigma) combined with the
disagreement of the two eyes.

Hand: MediaPipe's hand world landmarks are metric already (metres, origin near the hand's centre, axes of
the camera with +Y down); the hand's distance is solved so those points project onto the image landmarks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

# ---- constants ------------------------------------------------------------------------------

IRIS_DIAMETER_MM = 11.7
IRIS_DIAMETER_SD_MM = 0.42
# Distance from the eye's centre of rotation to the entrance pupil: the eyes turn in to look at a camera at
# distance D, which brings the pupils closer than the distance (far) PD by a factor (1 - r / D).
EYE_ROTATION_RADIUS_MM = 10.5
DEFAULT_HORIZONTAL_FOV_DEG = 60.0  # photos without intrinsics: a typical phone/webcam lens across the long side

# Canonical face points used here (MediaPipe canonical face model, metres; vertex i is landmark i). A test
# checks them against the model inside the installed face_landmarker.task.
# Rigid landmarks and weights of MediaPipe's own geometry pipeline (its Procrustes basis): the head pose is
# fitted to these.
POSE_LANDMARKS: dict[int, tuple[float, float, float, float]] = {  # index: (x, y, z, weight)
    4: (0.000000, -0.004632, 0.075866, 0.0709),
    6: (0.000000, 0.024733, 0.057886, 0.0321),
    10: (0.000000, 0.082618, 0.044815, 0.0084),
    33: (-0.044459, 0.026640, 0.031734, 0.0587),
    54: (-0.062793, 0.066154, 0.014259, 0.0077),
    67: (-0.035240, 0.080060, 0.037292, 0.0091),
    117: (-0.052587, 0.009458, 0.029743, 0.0098),
    119: (-0.033007, 0.008616, 0.038728, 0.0146),
    121: (-0.018207, 0.014680, 0.042241, 0.0186),
    127: (-0.077431, 0.023650, -0.020052, 0.0052),
    129: (-0.017858, -0.009783, 0.048505, 0.1206),
    132: (-0.072709, -0.028909, -0.022525, 0.0056),
    133: (-0.018564, 0.025852, 0.037579, 0.0533),
    136: (-0.050853, -0.071786, 0.007147, 0.0669),
    143: (-0.064076, 0.022360, 0.015608, 0.0148),
    147: (-0.062349, -0.019444, 0.016635, 0.0143),
    198: (-0.012468, 0.002303, 0.056810, 0.0255),
    205: (-0.038329, -0.015373, 0.041377, 0.0473),
    263: (0.044459, 0.026640, 0.031734, 0.0587),
    284: (0.062793, 0.066154, 0.014259, 0.0077),
    297: (0.035240, 0.080060, 0.037292, 0.0091),
    346: (0.052587, 0.009458, 0.029743, 0.0098),
    348: (0.033007, 0.008616, 0.038728, 0.0146),
    350: (0.018207, 0.014680, 0.042241, 0.0186),
    356: (0.077431, 0.023650, -0.020052, 0.0052),
    358: (0.017858, -0.009783, 0.048505, 0.1206),
    361: (0.072709, -0.028909, -0.022525, 0.0056),
    362: (0.018564, 0.025852, 0.037579, 0.0533),
    365: (0.050853, -0.071786, 0.007147, 0.0669),
    372: (0.064076, 0.022360, 0.015608, 0.0148),
    376: (0.062349, -0.019444, 0.016635, 0.0143),
    420: (0.012468, 0.002303, 0.056810, 0.0255),
    425: (0.038329, -0.015373, 0.041377, 0.0473),
}
# The glasses' bridge midpoint rests on the nose bridge, landmark 168 (asset_pipeline/tryon.py). With the
# spec's frames (lens centres ~8 mm below the bridge, as the sample glasses) the lenses then centre on the pupils.
NOSE_BRIDGE = {168: (0.000000, 0.032710, 0.052360)}
CHIN = {152: (0.000000, -0.094034, 0.042645)}  # menton
# Iris landmarks of the 478-point model: centre, then four boundary points (image right, up, left, down).
RIGHT_IRIS = (468, 469, 470, 471, 472)  # the person's right eye
LEFT_IRIS = (473, 474, 475, 476, 477)
# Mean canonical depth of the eyelid contours (16 landmarks per eye): the plane the irises are taken to lie in
# (gaze straight ahead, the iris facing +Z); and their mean height, the eyes' centre line.
EYE_PLANE_Z_M = 0.036261
EYE_CENTRE_Y_M = 0.026431
# Face width where the temples of a frame pass: the face's sides at eye level.
TEMPLE_LANDMARKS = (127, 356)

# Anthropometric approximations (no pose or ear model here): canonical-frame points, metres, for a face of
# canonical size; they scale with the face. Documented as approximations in the transforms using them.
# Hat: the head-opening plane of a hat worn straight passes round the forehead just above the brows and the
# back of the head; centre on the midline, mid-way between the glabella (z ~ +0.054) and the back of a head
# 0.195 m long; the front is higher than the back by ~6 degrees.
HAT_OPENING_CENTRE = (0.0, 0.058, -0.044)
HAT_OPENING_TILT_DEG = 6.0
# Ear lobes (piercing point): ~22 mm below the tragus (landmarks 234/454 sit just in front of it), ~12 mm
# behind it.
EARLOBES = {"left": (0.074, -0.016, -0.036), "right": (-0.074, -0.016, -0.036)}
# Necklace anchor (the spec: the neck axis at the height where the chain lies on the back of the neck): the
# suprasternal notch is ~95 mm below and ~75 mm behind the chin point (menton, landmark 152) with the head
# upright; the chain's top lies on the back of the neck ~40 mm higher, and the neck's axis is ~35 mm behind
# the notch (half a neck's depth). Applied in an upright frame that only follows the head's yaw: the torso
# does not nod or tilt with the head.
NECKLACE_FROM_CHIN = (0.0, -0.055, -0.110)
# An ear lobe stays in view until the ear has turned this far past edge-on (it hangs below and outside the
# head's outline).
EAR_VISIBLE_PAST_EDGE_ON_DEG = 45.0

# Hand landmarks (MediaPipe hand model, 21 points).
WRIST = 0
FINGERS = {"thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16), "pinky": (17, 18, 19, 20)}
RING_POSITION_ON_PHALANX = 0.4  # a ring sits on the proximal phalanx, 40% of the way from the knuckle (MCP)
WATCH_FROM_WRIST_M = 0.02  # a watch sits ~2 cm up the forearm from the wrist landmark

FRAME_FIT_TOLERANCE_MM = 5.0  # a frame within this of the face width (plus the measurement's uncertainty) fits


class FitError(ValueError):
    """The landmarks cannot give an answer (too few, degenerate, behind the camera)."""


# ---- camera ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Camera:
    """A pinhole camera: image size in pixels, focal length in pixels, principal point."""

    width: int
    height: int
    focal_px: float
    cx: float
    cy: float

    @classmethod
    def for_image(cls, width: int, height: int, horizontal_fov_deg: float = DEFAULT_HORIZONTAL_FOV_DEG) -> "Camera":
        """Centred principal point; `horizontal_fov_deg` across the longer side (the default is a guess for
        photos without intrinsics: it sets the distance, not the overlay, which stays consistent)."""
        focal = max(width, height) / 2 / math.tan(math.radians(horizontal_fov_deg) / 2)
        return cls(width, height, focal, width / 2, height / 2)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixels (u, v) of camera-space points (..., 3)."""
        depth = -points[..., 2]
        return np.stack([self.cx + self.focal_px * points[..., 0] / depth, self.cy - self.focal_px * points[..., 1] / depth], -1)

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Camera-space directions with z = -1 through pixels (..., 2)."""
        return np.stack(
            [(pixels[..., 0] - self.cx) / self.focal_px, -(pixels[..., 1] - self.cy) / self.focal_px, -np.ones(pixels.shape[:-1])], -1
        )

    def projection_matrix(self, near: float = 0.01, far: float = 10.0) -> np.ndarray:
        """The OpenGL projection matrix of these intrinsics (three.js camera.projectionMatrix)."""
        w, h = self.width, self.height
        return np.array(
            [
                [2 * self.focal_px / w, 0.0, 1 - 2 * self.cx / w, 0.0],
                [0.0, 2 * self.focal_px / h, 2 * self.cy / h - 1, 0.0],
                [0.0, 0.0, -(far + near) / (far - near), -2 * far * near / (far - near)],
                [0.0, 0.0, -1.0, 0.0],
            ]
        )


# ---- observations (what tracking hands over) --------------------------------------------------

@dataclass(frozen=True)
class FaceObservation:
    """One face from the Face Landmarker: 478 normalized landmarks (x, y in [0, 1] of the image width and
    height, z relative depth) and its facial transformation matrix (canonical face -> camera, used as the
    starting point of the pose fit)."""

    landmarks: np.ndarray  # (478, 3)
    transformation_matrix: np.ndarray  # (4, 4)
    image_width: int
    image_height: int

    def pixels(self, indices=slice(None)) -> np.ndarray:
        return self.landmarks[indices, :2] * (self.image_width, self.image_height)


@dataclass(frozen=True)
class HandObservation:
    """One hand from the Hand Landmarker: 21 normalized image landmarks, 21 world landmarks (metres, origin
    near the hand's centre, camera axes with +Y down as MediaPipe gives them) and the handedness label."""

    landmarks: np.ndarray  # (21, 3)
    world_landmarks: np.ndarray  # (21, 3)
    handedness: Literal["Left", "Right"]
    image_width: int
    image_height: int


# ---- head pose ------------------------------------------------------------------------------

@dataclass(frozen=True)
class HeadPose:
    """Canonical face -> camera: camera point = translation_m + scale * rotation @ canonical point.

    `scale` is the person's face size relative to MediaPipe's canonical face, from the iris; `rms_px` is the
    pose fit's reprojection error."""

    rotation: np.ndarray  # (3, 3)
    translation_m: np.ndarray  # (3,)
    scale: float
    rms_px: float

    def to_camera(self, canonical_points) -> np.ndarray:
        return self.translation_m + self.scale * (np.asarray(canonical_points, dtype=np.float64) @ self.rotation.T)

    def matrix(self) -> np.ndarray:
        """The 4x4 similarity canonical face -> camera (for a face occluder mesh in canonical coordinates)."""
        out = np.eye(4)
        out[:3, :3] = self.scale * self.rotation
        out[:3, 3] = self.translation_m
        return out


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])


def _rotation_exp(w: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(w))
    if angle < 1e-12:
        return np.eye(3) + _skew(w)
    k = _skew(w / angle)
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


def _nearest_rotation(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


_POSE_INDEX = np.fromiter(POSE_LANDMARKS, dtype=np.int64)
_POSE_POINTS = np.array([v[:3] for v in POSE_LANDMARKS.values()])
_POSE_WEIGHTS = np.sqrt(np.array([v[3] for v in POSE_LANDMARKS.values()]))


def _skews(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices of the rows of v (n, 3) -> (n, 3, 3)."""
    out = np.zeros((len(v), 3, 3))
    out[:, 0, 1], out[:, 0, 2], out[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    out[:, 1, 0], out[:, 2, 0], out[:, 2, 1] = v[:, 2], -v[:, 1], v[:, 0]
    return out


def _translation_for(rays: np.ndarray, rotated: np.ndarray, sqrt_weights: np.ndarray) -> np.ndarray:
    """The translation t putting the points `rotated` + t on their rays (z = -1): for a fixed rotation the
    projection is linear in t (the x and y rows of (p + t) = depth * ray), solved by weighted least squares."""
    n = len(rays)
    a = np.zeros((2 * n, 3))
    a[0::2, 0], a[0::2, 2] = 1.0, rays[:, 0]
    a[1::2, 1], a[1::2, 2] = 1.0, rays[:, 1]
    b = np.empty(2 * n)
    b[0::2] = -(rotated[:, 0] + rays[:, 0] * rotated[:, 2])
    b[1::2] = -(rotated[:, 1] + rays[:, 1] * rotated[:, 2])
    w = np.repeat(sqrt_weights, 2)
    translation = np.linalg.lstsq(a * w[:, None], b * w, rcond=None)[0]
    if translation[2] >= 0:
        raise FitError("the landmarks put the model behind the camera")
    return translation


def _solve_pose(pixels: np.ndarray, points: np.ndarray, sqrt_weights: np.ndarray, camera: Camera, rotation: np.ndarray, iterations: int = 10):
    """Weighted Gauss-Newton on the reprojection error of the rigid `points` (object frame) seen at `pixels`,
    from `rotation` and the translation that best fits it: (rotation, translation, rms px)."""
    translation = _translation_for(camera.rays(pixels), points @ rotation.T, sqrt_weights)
    f = camera.focal_px
    w2 = np.repeat(sqrt_weights**2, 2)
    for _ in range(iterations):
        turned = points @ rotation.T
        cam = turned + translation
        depth = -cam[:, 2]
        if np.any(depth <= 0):
            raise FitError("the landmarks put the model behind the camera")
        residual = (camera.project(cam) - pixels).ravel()
        d_pixel = np.zeros((len(points), 2, 3))  # d(u, v) / d(camera point)
        d_pixel[:, 0, 0] = f / depth
        d_pixel[:, 0, 2] = f * cam[:, 0] / depth**2
        d_pixel[:, 1, 1] = -f / depth
        d_pixel[:, 1, 2] = -f * cam[:, 1] / depth**2
        # Camera point = exp(w) R p + t: d/dw = -[R p]x, d/dt = I.
        jac = np.concatenate([-np.einsum("nij,njk->nik", d_pixel, _skews(turned)), d_pixel], 2).reshape(-1, 6)
        weighted = jac * w2[:, None]
        step = np.linalg.solve(weighted.T @ jac, -(weighted.T @ residual))  # normal equations, 6x6
        rotation = _rotation_exp(step[:3]) @ rotation
        translation = translation + step[3:]
        if np.abs(step[:3]).max() < 1e-5 and np.abs(step[3:]).max() < 1e-5 * -translation[2]:
            break  # 0.0006 degrees, 0.001% of the distance
    cam = points @ rotation.T + translation
    rms = float(np.sqrt(np.mean(np.sum((camera.project(cam) - pixels) ** 2, -1))))
    return rotation, translation, rms


def _on_face_plane(camera: Camera, pixels: np.ndarray, rotation: np.ndarray, translation: np.ndarray, plane_z: float) -> np.ndarray:
    """Canonical-frame points where the rays through `pixels` meet the face plane z = plane_z (for a pose at
    canonical scale)."""
    rays = camera.rays(pixels)
    normal = rotation[:, 2]
    depth = (normal @ translation + plane_z) / (rays @ normal)
    if np.any(depth <= 0):
        raise FitError("a landmark ray misses the face plane (face seen edge-on)")
    return (rays * depth[:, None] - translation) @ rotation


@dataclass(frozen=True)
class Measurement:
    value_mm: float
    uncertainty_mm: float  # one standard deviation


@dataclass(frozen=True)
class FaceFit:
    """Everything fitted to one face: the metric head pose and the measurements."""

    pose: HeadPose
    pd: Measurement  # pupillary distance as seen (the eyes looking at the camera)
    far_pd: Measurement  # the same eyes looking into the distance (the optician's PD)
    face_width: Measurement  # across the temples at eye level (landmarks 127 - 356), where a frame's temples pass
    iris_diameter_px: float  # mean over both eyes and both axes, in the image
    distance_m: float  # camera to the point between the pupils
    pupils_canonical: np.ndarray  # (2, 3) right, left pupil in canonical coordinates (before scaling)
    nose_bridge_canonical: np.ndarray  # (3,) the nose bridge (landmark 168's place), canonical coordinates


def fit_face(face: FaceObservation, camera: Camera) -> FaceFit:
    """Head pose (Gauss-Newton on MediaPipe's rigid landmarks against the canonical face, started from the
    landmarker's own transformation matrix), metric scale from the irises, PD and face width."""
    if face.landmarks.shape != (478, 3):
        raise FitError(f"expected 478 face landmarks (with irises), got {face.landmarks.shape[0]}")
    start = _nearest_rotation(np.asarray(face.transformation_matrix, dtype=np.float64)[:3, :3])
    rotation, translation, rms = _solve_pose(face.pixels(_POSE_INDEX), _POSE_POINTS, _POSE_WEIGHTS, camera, start)

    # Irises: centre and boundary points on the eye plane, in canonical units.
    iris = _on_face_plane(camera, face.pixels(list(RIGHT_IRIS + LEFT_IRIS)), rotation, translation, EYE_PLANE_Z_M)
    right, left = iris[:5], iris[5:]
    diameters = np.array([np.linalg.norm(e[1] - e[3]) for e in (right, left)] + [np.linalg.norm(e[2] - e[4]) for e in (right, left)])
    canonical_iris = float(diameters.mean())
    if canonical_iris <= 0:
        raise FitError("the iris landmarks have no extent")
    scale = IRIS_DIAMETER_MM / 1000.0 / canonical_iris
    spread = float(diameters.std(ddof=1) / canonical_iris / math.sqrt(len(diameters)))
    relative = math.hypot(IRIS_DIAMETER_SD_MM / IRIS_DIAMETER_MM, spread)

    pupils = np.array([right[0], left[0]])
    # The nose bridge from the pupils, the best-tracked points: on the midline between them, as far above
    # them as landmark 168 is above the eyes' centre line in the canonical face, at 168's depth. (Landmark 168
    # itself sits on a featureless ridge: on the synthetic heads it was off by up to 5.6 mm, this by 2.8.)
    bridge = np.array([pupils[:, 0].mean(), pupils[:, 1].mean() + NOSE_BRIDGE[168][1] - EYE_CENTRE_Y_M, NOSE_BRIDGE[168][2]])
    pd_mm = scale * float(np.linalg.norm(pupils[1] - pupils[0])) * 1000.0
    temples = _on_face_plane(camera, face.pixels(list(TEMPLE_LANDMARKS)), rotation, translation, POSE_LANDMARKS[127][2])
    width_mm = scale * float(abs(temples[1, 0] - temples[0, 0])) * 1000.0

    pose = HeadPose(rotation=rotation, translation_m=translation * scale, scale=scale, rms_px=rms)
    distance = float(np.linalg.norm(pose.to_camera(pupils.mean(0))))
    far_pd_mm = pd_mm / (1.0 - EYE_ROTATION_RADIUS_MM / 1000.0 / distance)
    iris_px = float(np.mean(
        [np.linalg.norm(face.pixels(i) - face.pixels(j)) for i, j in ((469, 471), (470, 472), (474, 476), (475, 477))]
    ))
    return FaceFit(
        pose=pose,
        pd=Measurement(pd_mm, pd_mm * relative),
        far_pd=Measurement(far_pd_mm, far_pd_mm * relative),
        face_width=Measurement(width_mm, width_mm * relative),
        iris_diameter_px=iris_px,
        distance_m=distance,
        pupils_canonical=pupils,
        nose_bridge_canonical=bridge,
    )


# ---- frame size -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FrameSizeAdvice:
    """How a frame's real width compares with the face: "narrow" (the frame is too narrow for this face),
    "medium" (it fits) or "wide" (too wide), with the numbers behind it."""

    size: Literal["narrow", "medium", "wide"]
    frame_width_mm: float
    face_width_mm: float
    difference_mm: float  # frame - face
    tolerance_mm: float


def frame_size_advice(face_width: Measurement, frame_width_mm: float) -> FrameSizeAdvice:
    """A frame fits when its total width is within FRAME_FIT_TOLERANCE_MM of the face width across the temples,
    widened by the measurement's uncertainty (advice never claims more than the measurement can tell)."""
    if frame_width_mm <= 0:
        raise FitError(f"frame width {frame_width_mm} mm: expected a positive real width")
    tolerance = FRAME_FIT_TOLERANCE_MM + face_width.uncertainty_mm
    difference = frame_width_mm - face_width.value_mm
    size: Literal["narrow", "medium", "wide"] = "narrow" if difference < -tolerance else "wide" if difference > tolerance else "medium"
    return FrameSizeAdvice(size, frame_width_mm, face_width.value_mm, difference, tolerance)


# ---- product transforms ---------------------------------------------------------------------

def _transform(rotation: np.ndarray, position: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = position
    return out


def glasses_transform(fit: FaceFit) -> np.ndarray:
    """Glasses (bridge midpoint at the origin, lenses facing +Z, temples along -Z, TempleL at +X): the bridge on
    the nose bridge (landmark 168's place, found from the pupils), turned with the head so the temples run back
    to the ears."""
    return _transform(fit.pose.rotation, fit.pose.to_camera(fit.nose_bridge_canonical))


def hat_transform(fit: FaceFit) -> np.ndarray:
    """Hat (origin at the centre of the head-opening plane, crown +Y, front +Z): on the head, tilted so the
    front of the opening sits higher than the back (HAT_OPENING_* approximations)."""
    tilt = _rotation_exp(np.array([-math.radians(HAT_OPENING_TILT_DEG), 0.0, 0.0]))
    return _transform(fit.pose.rotation @ tilt, fit.pose.to_camera(HAT_OPENING_CENTRE))


def _square(exact: np.ndarray, hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit `exact`, and the unit part of `hint` square to it (two axes of a frame)."""
    a = exact / np.linalg.norm(exact)
    b = hint - (hint @ a) * a
    norm = float(np.linalg.norm(b))
    if norm < 1e-9:
        raise FitError("degenerate frame: two directions are parallel")
    return a, b / norm


def _frame(z: np.ndarray, y_hint: np.ndarray) -> np.ndarray:
    """A rotation with +Y exactly along `y_hint` and +Z as close to `z` as that allows (gravity first: an
    upright phone or kiosk has the camera's +Y up)."""
    y, z = _square(y_hint, z)
    return np.stack([np.cross(y, z), y, z], 1)


def _upright_yaw_frame(rotation: np.ndarray) -> np.ndarray:
    """A rotation that follows the head's yaw only, with +Y straight up in the image (gravity is taken as the
    camera's down: an upright phone or kiosk)."""
    return _frame(z=rotation[:, 2], y_hint=np.array([0.0, 1.0, 0.0]))


@dataclass(frozen=True)
class EarringPlacement:
    side: Literal["left", "right"]  # the person's: node EarringL / EarringR
    transform: np.ndarray  # 4x4 of the earring NODE (its origin is its hook point): on the lobe, hanging down
    visible: bool  # the ear faces the camera enough to be seen


def earring_transforms(fit: FaceFit) -> list[EarringPlacement]:
    """Earrings (spec: each earring node's origin is its hook point, it hangs along -Y, its ornament faces +Z out
    of the ear side): each node on its lobe (EARLOBES approximation), hanging under gravity (+Y up the image)
    with +Z turned horizontally out of that side of the head. An ear turned away is marked not visible."""
    up = np.array([0.0, 1.0, 0.0])
    out = []
    for side, point in EARLOBES.items():
        position = fit.pose.to_camera(point)
        outward = fit.pose.rotation[:, 0] * (1.0 if side == "left" else -1.0)
        towards_camera = -position / np.linalg.norm(position)
        visible = outward @ towards_camera > -math.sin(math.radians(EAR_VISIBLE_PAST_EDGE_ON_DEG))
        out.append(EarringPlacement(side, _transform(_frame(z=outward, y_hint=up), position), bool(visible)))  # type: ignore[arg-type]
    return out


def necklace_transform(fit: FaceFit) -> np.ndarray:
    """Necklace (origin where the chain meets the suprasternal notch, front +Z): derived from the FACE, not a
    body pose (no pose model is installed): the notch is placed NECKLACE_FROM_CHIN from the chin in a frame that
    follows the head's yaw only, for an upright head and torso. It drifts when the head nods or the torso turns."""
    frame = _upright_yaw_frame(fit.pose.rotation)
    chin = fit.pose.to_camera(CHIN[152])
    return _transform(frame, chin + fit.pose.scale * (frame @ np.asarray(NECKLACE_FROM_CHIN)))


# ---- hands ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HandFit:
    points_m: np.ndarray  # (21, 3) the hand's landmarks in camera space, metres
    handedness: Literal["Left", "Right"]
    rms_px: float


def fit_hand(hand: HandObservation, camera: Camera) -> HandFit:
    """The hand in camera space: MediaPipe's metric world landmarks (turned to this module's axes), moved to
    where they project onto the image landmarks."""
    if hand.landmarks.shape != (21, 3) or hand.world_landmarks.shape != (21, 3):
        raise FitError("expected 21 hand landmarks and 21 world landmarks")
    world = np.asarray(hand.world_landmarks, dtype=np.float64) * (1.0, -1.0, -1.0)
    pixels = hand.landmarks[:, :2] * (hand.image_width, hand.image_height)
    translation = _translation_for(camera.rays(pixels), world, np.ones(21))
    points = world + translation
    rms = float(np.sqrt(np.mean(np.sum((camera.project(points) - pixels) ** 2, -1))))
    return HandFit(points, hand.handedness, rms)


def _back_of_hand(hand: HandFit) -> np.ndarray:
    """The normal of the back of the hand, from the palm plane (wrist, index and pinky knuckles) and the
    handedness label. MediaPipe labels hands as if the image were mirrored, and either way a hand labelled
    "Right" held fingers up with its thumb towards image left shows the camera its back; (index - wrist) x
    (pinky - wrist) then points away from the camera, so "Right" takes the opposite sign."""
    p = hand.points_m
    normal = np.cross(p[5] - p[WRIST], p[17] - p[WRIST])
    normal = -normal if hand.handedness == "Right" else normal
    return normal / np.linalg.norm(normal)


def ring_transform(hand: HandFit, finger: str = "ring") -> np.ndarray:
    """Ring (spec: origin at the centre of the hole, +Z the finger axis towards the fingertip, +Y the top, worn
    on the back of the finger): on the proximal phalanx of `finger`, RING_POSITION_ON_PHALANX from the knuckle."""
    if finger not in FINGERS or finger == "thumb":
        raise FitError(f"unknown ring finger {finger!r}; expected index, middle, ring or pinky")
    knuckle, middle_joint = (hand.points_m[i] for i in FINGERS[finger][:2])
    z, y = _square(middle_joint - knuckle, _back_of_hand(hand))  # the finger axis exactly, the top square to it
    return _transform(np.stack([np.cross(y, z), y, z], 1), knuckle + RING_POSITION_ON_PHALANX * (middle_joint - knuckle))


def watch_transform(hand: HandFit) -> np.ndarray:
    """Watch or bracelet (spec: origin at the centre of the strap loop, +X along the wrist towards the hand, +Z
    out of the dial on the back of the wrist, +Y = Z x X towards 12 o'clock): WATCH_FROM_WRIST_M up the forearm
    from the wrist landmark (a watch sits above the wrist joint, not on it), the forearm taken as the line from
    the middle finger's knuckle through the wrist."""
    p = hand.points_m
    x, z = _square(p[9] - p[WRIST], _back_of_hand(hand))
    return _transform(np.stack([x, np.cross(z, x), z], 1), p[WRIST] - WATCH_FROM_WRIST_M * x)


def fit_parameters() -> dict:
    """Every constant of the fit as JSON-ready data, for the browser port (on-device try-on)."""
    return {
        "iris_diameter_mm": IRIS_DIAMETER_MM,
        "iris_diameter_sd_mm": IRIS_DIAMETER_SD_MM,
        "eye_rotation_radius_mm": EYE_ROTATION_RADIUS_MM,
        "default_horizontal_fov_deg": DEFAULT_HORIZONTAL_FOV_DEG,
        "pose_landmarks": {str(k): list(v) for k, v in POSE_LANDMARKS.items()},
        "nose_bridge": {str(k): list(v) for k, v in NOSE_BRIDGE.items()},
        "chin": {str(k): list(v) for k, v in CHIN.items()},
        "right_iris": list(RIGHT_IRIS),
        "left_iris": list(LEFT_IRIS),
        "eye_plane_z_m": EYE_PLANE_Z_M,
        "eye_centre_y_m": EYE_CENTRE_Y_M,
        "temple_landmarks": list(TEMPLE_LANDMARKS),
        "hat_opening_centre": list(HAT_OPENING_CENTRE),
        "hat_opening_tilt_deg": HAT_OPENING_TILT_DEG,
        "earlobes": {k: list(v) for k, v in EARLOBES.items()},
        "necklace_from_chin": list(NECKLACE_FROM_CHIN),
        "ear_visible_past_edge_on_deg": EAR_VISIBLE_PAST_EDGE_ON_DEG,
        "fingers": {k: list(v) for k, v in FINGERS.items()},
        "ring_position_on_phalanx": RING_POSITION_ON_PHALANX,
        "watch_from_wrist_m": WATCH_FROM_WRIST_M,
        "frame_fit_tolerance_mm": FRAME_FIT_TOLERANCE_MM,
    }
