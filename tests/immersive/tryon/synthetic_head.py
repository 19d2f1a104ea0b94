"""A textured synthetic face with known geometry, pose and pupillary distance, rendered with the project's
renderer (pyrender on EGL, as asset_pipeline/io/poster.py), for accuracy tests against ground truth.

- Geometry: MediaPipe's canonical face mesh (468 vertices, from the installed face_landmarker.task), optionally
  stretched per axis to be a face that is not the canonical one.
- Texture: skimage.data.astronaut() (a public portrait), mapped with UVs = the landmarks the real Face
  Landmarker finds on that photo, so the photo's eyes, nose and mouth land on the mesh's eyes, nose and mouth.
  The photo is cropped to the face and upscaled; its irises (about 8 px across in the photo) are repainted
  crisply as discs whose size and centre are known on the mesh: IRIS_DIAMETER_MM across, seen straight on
  (gaze ahead, iris facing +Z), clipped by the eyelids (the photo's eye contours).
- Ground truth: the painted iris centres on the mesh (their distance is the PD), the photo's nose bridge
  (landmark 168) carried onto the mesh, the head rotation and translation of each render, the camera
  intrinsics."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

from immersive.tryon import fit, models

IRIS_DIAMETER_MM = fit.IRIS_DIAMETER_MM  # the synthetic person's true iris size
UPSCALE = 6
RIGHT_EYE_CONTOUR = [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7]
LEFT_EYE_CONTOUR = [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249]
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149,
             150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
# Rings of extra vertices around the face oval, carrying the photo's hair, ears and neck: without them the
# mesh ends at the face outline and the landmarker misplaces the outline landmarks on the bare edge.
SURROUND_RINGS = 3
SURROUND_STEP = 0.15  # each ring is this much wider than the last, relative to the oval
SURROUND_SETBACK_M = 0.02  # and this much further back (a head curving away)


def _srgb_encode_table() -> np.ndarray:
    linear = np.arange(256) / 255.0
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.round(srgb * 255).astype(np.uint8)


# pyrender decodes sRGB textures to linear and writes linear values: encoding them again gives the photo's
# own colours back (unlit rendering).
_SRGB_ENCODE = _srgb_encode_table()


def _pyrender():
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]  # pyrender 0.1.45 under numpy 2
    import pyrender

    return pyrender


def euler_rotation(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Yaw about +Y, then pitch about +X, then roll about +Z (intrinsic), in the camera frame."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler("YXZ", [yaw_deg, pitch_deg, roll_deg], degrees=True).as_matrix()


def rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = (np.trace(a @ b.T) - 1) / 2
    return math.degrees(math.acos(float(np.clip(cos, -1.0, 1.0))))


@dataclass(frozen=True)
class Render:
    image: np.ndarray  # (h, w, 3) uint8
    camera: fit.Camera
    rotation: np.ndarray  # face -> camera
    translation_m: np.ndarray  # camera position of the face frame's origin
    head: "SyntheticHead"

    def to_camera(self, face_points) -> np.ndarray:
        return self.translation_m + np.asarray(face_points) @ self.rotation.T

    @property
    def pupils_camera(self) -> np.ndarray:
        return self.to_camera(self.head.pupils)

    @property
    def bridge_camera(self) -> np.ndarray:
        """Where the glasses' bridge belongs (the spec: the nose bridge, landmark 168) on this head."""
        return self.to_camera(self.head.nose_bridge)


class SyntheticHead:
    def __init__(self, photo: np.ndarray, photo_face: fit.FaceObservation, stretch=(1.0, 1.0, 1.0), scale: float = 1.0):
        """`photo_face`: the Face Landmarker's result on `photo`. `stretch` scales the head per axis (a face
        that is not the canonical one), `scale` uniformly (another head size).

        The texture is projective: the canonical head (with its surround) is posed where the fit puts it in the
        photo, and each vertex takes the photo pixel it projects to. The photo's appearance thus sits on the
        head as seen from the photo's camera, so shading cues and geometry agree when the head turns."""
        canonical = models.canonical_face_model()
        oval = np.asarray(FACE_OVAL)
        centre = canonical.vertices_m[oval].mean(0)
        rings = []
        for k in range(1, SURROUND_RINGS + 1):
            grow = 1.0 + SURROUND_STEP * k
            ring = centre + (canonical.vertices_m[oval] - centre) * (grow, grow, 1.0)
            ring[:, 2] = canonical.vertices_m[oval, 2] - SURROUND_SETBACK_M * k
            rings.append(ring)
        geometry = np.concatenate([canonical.vertices_m] + rings)
        n_face, n_oval = len(canonical.vertices_m), len(oval)
        ring_index = [oval] + [n_face + (k - 1) * n_oval + np.arange(n_oval) for k in range(1, SURROUND_RINGS + 1)]
        nxt = np.roll(np.arange(n_oval), -1)
        quads = []
        for inner, outer in zip(ring_index, ring_index[1:]):
            quads.append(np.stack([inner, outer[nxt], outer], 1))  # counter-clockwise seen from +Z
            quads.append(np.stack([inner, inner[nxt], outer[nxt]], 1))
        self.face_triangles = canonical.triangles
        self.triangles = np.concatenate([canonical.triangles] + quads)

        height, width = photo.shape[:2]
        photo_camera = fit.Camera.for_image(width, height)
        photo_pose = fit.fit_face(photo_face, photo_camera).pose
        vertex_pixels = np.clip(photo_camera.project(photo_pose.to_camera(geometry)), 0, (width - 1, height - 1))
        x0, y0 = np.floor(vertex_pixels.min(0)).astype(int)
        x1, y1 = np.ceil(vertex_pixels.max(0)).astype(int) + 1
        crop = Image.fromarray(photo[y0:y1, x0:x1, :3])
        self.texture = np.array(crop.resize((crop.width * UPSCALE, crop.height * UPSCALE), Image.Resampling.BICUBIC))
        self.uv_pixels = (vertex_pixels - (x0, y0)) * UPSCALE  # vertex positions in texture pixels
        landmark_texels = (photo_face.pixels() - (x0, y0)) * UPSCALE
        self.vertices = geometry * np.asarray(stretch) * scale
        # Features are where the photo shows them, carried onto the mesh (the projective texture puts the photo's
        # nose bridge and pupils near, not exactly on, the canonical vertices of the same landmarks).
        self.pupils = self._texels_to_mesh(landmark_texels[[468, 473]])
        self.nose_bridge = self._texels_to_mesh(landmark_texels[[168]])[0]
        if np.isnan(self.pupils).any() or np.isnan(self.nose_bridge).any():
            raise ValueError("the photo's irises or nose bridge fall outside the face mesh")
        for pupil, contour in zip(self.pupils, (RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR)):
            self._paint_iris(pupil, landmark_texels[contour])

    @property
    def pd_mm(self) -> float:
        return float(np.linalg.norm(self.pupils[1] - self.pupils[0]) * 1000)

    def _texels_to_mesh(self, texels: np.ndarray) -> np.ndarray:
        """Mesh points (face coordinates) of texture pixels, by barycentric coordinates in the UV triangles."""
        out = np.full((len(texels), 3), np.nan)
        corners = self.uv_pixels[self.face_triangles]  # (t, 3, 2)
        edges = np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]], -1)  # (t, 2, 2)
        det = np.linalg.det(edges)
        usable = np.abs(det) > 1e-9
        inverse = np.zeros_like(edges)
        inverse[usable] = np.linalg.inv(edges[usable])
        for k in np.flatnonzero(usable):
            lam = (texels - corners[k, 0]) @ inverse[k].T
            inside = (lam[:, 0] >= 0) & (lam[:, 1] >= 0) & (lam.sum(1) <= 1) & np.isnan(out[:, 0])
            if inside.any():
                a, b, c = self.vertices[self.face_triangles[k]]
                out[inside] = a + lam[inside, :1] * (b - a) + lam[inside, 1:] * (c - a)
        return out

    def _paint_iris(self, centre: np.ndarray, eyelids: np.ndarray) -> None:
        """A brown iris with a black pupil and a dark limbal ring: texels whose mesh point is within the iris
        radius of `centre` seen along +Z, inside the eyelid contour."""
        from matplotlib.path import Path

        x0, y0 = np.floor(eyelids.min(0)).astype(int) - 1
        x1, y1 = np.ceil(eyelids.max(0)).astype(int) + 2
        ys, xs = np.mgrid[y0:y1, x0:x1]
        texels = np.stack([xs.ravel(), ys.ravel()], 1) + 0.5
        inside = Path(eyelids).contains_points(texels)
        offset = (self._texels_to_mesh(texels) - centre)[:, :2] * 1000.0  # mm in the face plane
        radius = np.linalg.norm(offset, axis=1)
        r_iris = IRIS_DIAMETER_MM / 2
        paint = inside & (radius <= r_iris)
        angle = np.arctan2(offset[:, 1], offset[:, 0])
        streaks = 0.85 + 0.2 * np.cos(angle * 23) * np.cos(angle * 7 + 1.0)
        shade = np.clip(1.15 - 0.45 * (radius / r_iris) ** 4, 0.4, 1.2)
        colour = np.array([104.0, 68.0, 42.0]) * (streaks * shade)[:, None]
        colour[radius > r_iris - 0.6] *= 0.45
        colour[radius <= 2.0] = (14, 11, 10)
        self.texture[ys.ravel()[paint], xs.ravel()[paint]] = np.clip(colour[paint], 0, 255).astype(np.uint8)

    @cached_property
    def _mesh(self):
        import trimesh

        pyrender = _pyrender()
        height, width = self.texture.shape[:2]
        uv = np.stack([self.uv_pixels[:, 0] / width, 1.0 - self.uv_pixels[:, 1] / height], 1)
        visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(self.texture))
        return pyrender.Mesh.from_trimesh(trimesh.Trimesh(self.vertices, self.triangles, visual=visual, process=False))

    def render(self, rotation: np.ndarray, translation_m, camera: fit.Camera, renderer=None) -> Render:
        """The head at (rotation, translation) seen by `camera`, unlit (the photo carries its own shading) on a
        grey-blue background."""
        pyrender = _pyrender()
        scene = pyrender.Scene(bg_color=[0.55, 0.6, 0.65, 1.0], ambient_light=[1.0, 1.0, 1.0])
        pose = np.eye(4)
        pose[:3, :3], pose[:3, 3] = rotation, translation_m
        scene.add(self._mesh, pose=pose)
        scene.add(
            pyrender.IntrinsicsCamera(camera.focal_px, camera.focal_px, camera.cx, camera.cy, znear=0.02, zfar=5.0),
            pose=np.eye(4),
        )
        own = renderer is None
        renderer = renderer or pyrender.OffscreenRenderer(camera.width, camera.height)
        try:
            color, _ = renderer.render(scene, flags=pyrender.RenderFlags.FLAT)
        finally:
            if own:
                renderer.delete()
        return Render(_SRGB_ENCODE[color[..., :3]], camera, rotation, np.asarray(translation_m, float), self)
