"""A synthetic hand photo for ring and watch try-on: no registry package ships a photo of a hand, so the tests
render one with the project's renderer (pyrender on EGL): an adult right hand seen from its back, fingers up,
thumb out, and the forearm, made of skin-coloured capsules and a rounded palm under studio light. The real
MediaPipe Hand Landmarker finds it (21 landmarks) and labels it "Right" (which side faces the camera follows
from that label: a label flipped by a change of shape turns rings and dials away, and the tests say so).
The try-on runs on what the landmarker reports,
as with a photo. It is a stand-in, not a realistic hand: a real photo's skin, creases and lighting are not
tested."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

SIZE = 768
SKIN = (0.80, 0.58, 0.47, 1.0)
BACKGROUND = (0.35, 0.45, 0.55, 1.0)
# Finger: (knuckle x, phalanx lengths, radius, splay in degrees), metres, knuckles along y ~ 0.085.
FINGERS = {
    "index": (-0.027, (0.040, 0.024, 0.020), 0.0095, 6.0),
    "middle": (-0.008, (0.045, 0.028, 0.021), 0.0100, 1.0),
    "ring": (0.011, (0.042, 0.026, 0.020), 0.0095, -4.0),
    "pinky": (0.028, (0.033, 0.019, 0.018), 0.0085, -10.0),
}
THUMB = ((0.045, (-0.6, 0.8, 0.25)), (0.032, (-0.45, 0.9, 0.2)), (0.028, (-0.3, 0.95, 0.15)))


def _capsule(start, end, radius: float):
    import trimesh

    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    length = float(np.linalg.norm(end - start))
    mesh = trimesh.creation.capsule(height=length, radius=radius, count=[24, 24])
    mesh.vertices[:, 2] -= mesh.vertices[:, 2].min() + radius  # the segment from z = 0 to z = length
    z = (end - start) / length
    x = np.cross([0.0, 1.0, 0.0] if abs(z[1]) < 0.9 else [1.0, 0.0, 0.0], z)
    x /= np.linalg.norm(x)
    transform = np.eye(4)
    transform[:3, :3] = np.stack([x, np.cross(z, x), z], 1)
    transform[:3, 3] = start
    mesh.apply_transform(transform)
    return mesh


@cache
def hand_photo() -> np.ndarray:
    """SIZE x SIZE RGB uint8."""
    import trimesh

    from asset_pipeline.io.poster import _light_rotation, _pyrender

    parts = []
    for name, (x0, lengths, radius, splay) in FINGERS.items():
        point = np.array([x0, 0.078 if name == "pinky" else 0.085, 0.0])
        direction = np.array([math.sin(math.radians(-splay)), math.cos(math.radians(splay)), 0.0])
        for i, length in enumerate(lengths):
            bent = direction + np.array([0.0, 0.0, 0.15 * i])  # fingers curl a little towards the camera
            end = point + bent / np.linalg.norm(bent) * length
            parts.append(_capsule(point, end, radius * (1 - 0.08 * i)))
            point = end
    point = np.array([-0.032, 0.02, 0.005])
    for i, (length, direction) in enumerate(THUMB):
        d = np.asarray(direction) / np.linalg.norm(direction)
        parts.append(_capsule(point, point + d * length, 0.0115 * (1 - 0.08 * i)))
        point = point + d * length
    palm = trimesh.creation.box(extents=[0.078, 0.095, 0.026]).subdivide().subdivide()  # smooth normals round its edges
    palm.apply_translation([0.0, 0.045, 0.0])
    parts.append(palm)
    parts.append(_capsule([0.0, 0.0, 0.0], [0.0, -0.25, -0.02], 0.03))  # wrist and forearm

    pyrender = _pyrender()
    scene = pyrender.Scene(bg_color=list(BACKGROUND), ambient_light=[0.35] * 3)
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=list(SKIN), metallicFactor=0.0, roughnessFactor=0.6)
    scene.add(pyrender.Mesh.from_trimesh(trimesh.util.concatenate(parts), material=material, smooth=True))
    camera_pose = np.eye(4)
    camera_pose[:3, 3] = [0.0, 0.03, 0.45]
    scene.add(pyrender.PerspectiveCamera(yfov=math.radians(40)), pose=camera_pose)
    for towards, intensity in (((-0.5, 0.6, 0.8), 2.5), ((0.7, 0.1, 0.6), 1.0)):
        light = np.eye(4)
        light[:3, :3] = _light_rotation(np.asarray(towards, dtype=np.float64))
        scene.add(pyrender.DirectionalLight(intensity=intensity), pose=light)
    renderer = pyrender.OffscreenRenderer(SIZE, SIZE)
    try:
        colour, _ = renderer.render(scene)
    finally:
        renderer.delete()
    return np.ascontiguousarray(colour[..., :3])
