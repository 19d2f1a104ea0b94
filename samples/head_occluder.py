"""The head-and-neck occluder: a closed, generic head and neck that renderers draw into the depth buffer only,
so the parts of a try-on product behind the wearer (glasses temples, a hat's brim at the back, an earring
behind the jaw, a necklace's chain at the back of the neck) are hidden.

    python -m samples.head_occluder [OUTDIR]      (default: this folder; needs scripts/setup.sh's face model)

writes `head_occluder.glb` (asset_pipeline's own GLB writer; deterministic bytes). Its frame is the one the
MediaPipe Face Landmarker's facial transformation matrix maps from: the canonical face's, +X the face's left,
+Y up, +Z out of the face, here in metres (MediaPipe's matrix is in centimetres: scale its translation by
0.01, or the occluder by 100). Placed with that matrix, it sits on the tracked face.

How it is made (nothing is downloaded; the face comes from the installed, SHA-256-checked face_landmarker.task):
- the face: MediaPipe's canonical face mesh (468 vertices, Apache-2.0), read by immersive.tryon.models;
- the head: a surface around a centre inside the skull, one radius per direction on a latitude-longitude grid.
  Where a ray from the centre meets the canonical face, the radius is that distance less 2 mm (an occluder
  slightly inside the skin does not clip a frame resting on the nose); elsewhere it is a superellipsoid with a
  semi-axis per direction from adult head measurements (breadth 15.2 cm, vertex 13.6 cm above the face's
  origin, glabella to the back of the head 19.3 cm), scaled near the face's edge to meet it smoothly;
- the neck: an elliptic cylinder 34.6 cm around from inside the head down to 22 cm below the face's origin.
Both are closed. An adult head varies by a centimetre or so around these sizes; the fit places the occluder
with the face's own pose and scale."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asset_pipeline.asset import Asset, Mesh, Node, Primitive  # noqa: E402
from samples.generate import _grid_faces, _q  # noqa: E402

HERE = Path(__file__).resolve().parent
FILE = "head_occluder.glb"

CENTRE = np.array([0.0, 0.022, -0.035])
"""Inside the skull, behind the eyes: every direction from it meets the face or the cranium once."""
SEMI_AXES = {"+X": 0.076, "-X": 0.076, "+Y": 0.114, "-Y": 0.095, "+Z": 0.09, "-Z": 0.098}
"""Cranium semi-axes from CENTRE per direction (metres): breadth 15.2 cm, vertex at y = 0.136, back of
the head at z = -0.133 (19.3 cm behind the glabella), the underside meeting the neck."""
ROUNDNESS = 2.4
"""Superellipsoid exponent of the cranium: a skull is fuller than an ellipsoid behind the ears (2 = ellipsoid)."""
FACE_INSET = 0.002
BLEND_DEGREES = 25.0
"""Angular width over which the cranium is scaled to meet the edge of the face."""
NECK = {"radius_x": 0.052, "radius_z": 0.058, "centre_z": -0.045, "top_y": -0.03, "bottom_y": -0.22}
LONGITUDES, LATITUDES = 96, 64


def _directions() -> tuple[np.ndarray, np.ndarray]:
    """Unit directions on a latitude-longitude grid about +Y (rows from the top pole to the bottom one),
    and the grid's (u, v) in [0, 1]."""
    polar = np.linspace(0.0, math.pi, LATITUDES + 1)
    azimuth = np.linspace(0.0, 2 * math.pi, LONGITUDES + 1)  # 0 = +Z (the face), towards +X
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    d = np.stack([np.sin(p) * np.sin(a), np.cos(p), np.sin(p) * np.cos(a)], axis=-1)
    return d.reshape(-1, 3), np.stack([a / (2 * math.pi), p / math.pi], axis=-1).reshape(-1, 2)


def _ray_distances(origin: np.ndarray, directions: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Distance along each ray to the nearest triangle it crosses (Moller-Trumbore), inf when none."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    e1, e2 = b - a, c - a
    s = origin - a
    q = np.cross(s, e1)
    out = np.full(len(directions), np.inf)
    for lo in range(0, len(directions), 256):
        d = directions[lo : lo + 256, None, :]
        p = np.cross(d, e2[None])
        det = np.einsum("rfk,fk->rf", p, e1)
        ok = np.abs(det) > 1e-12
        inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
        u = np.einsum("rfk,fk->rf", p, s) * inv
        v = np.einsum("rk,fk->rf", d[:, 0], q) * inv
        t = np.einsum("fk,fk->f", e2, q)[None] * inv
        hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        out[lo : lo + 256] = np.where(hit, t, np.inf).min(axis=1)
    return out


def _cranium_radius(directions: np.ndarray) -> np.ndarray:
    axes = np.stack(
        [np.where(directions[:, k] >= 0, SEMI_AXES["+" + n], SEMI_AXES["-" + n]) for k, n in enumerate("XYZ")], axis=1
    )
    return 1.0 / (np.abs(directions / axes) ** ROUNDNESS).sum(axis=1) ** (1 / ROUNDNESS)


def head_surface(face_vertices: np.ndarray, face_triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closed head: (vertices (N, 3), faces (M, 3), normals (N, 3)), the face region following
    `face_vertices` (metres, canonical frame) 2 mm inside."""
    directions, _ = _directions()
    to_face = _ray_distances(CENTRE, directions, face_vertices, face_triangles)
    on_face = np.isfinite(to_face)
    cranium = _cranium_radius(directions)
    radius = np.where(on_face, to_face - FACE_INSET, cranium)
    # Near the face's edge, scale the cranium by the edge's own ratio, fading out over BLEND_DEGREES.
    edge = on_face.reshape(LATITUDES + 1, LONGITUDES + 1)
    neighbours = np.zeros_like(edge)
    neighbours[1:] |= ~edge[:-1]
    neighbours[:-1] |= ~edge[1:]
    neighbours[:, 1:] |= ~edge[:, :-1]
    neighbours[:, :-1] |= ~edge[:, 1:]
    rim = (edge & neighbours).ravel()
    ratio = radius[rim] / cranium[rim]
    angle = np.arccos(np.clip(directions[~on_face] @ directions[rim].T, -1.0, 1.0))
    weight = np.exp(-((angle / math.radians(BLEND_DEGREES / 2)) ** 2))
    nearest = angle.min(axis=1)
    fade = np.exp(-((nearest / math.radians(BLEND_DEGREES)) ** 2))
    blended = (weight @ ratio) / np.maximum(weight.sum(axis=1), 1e-300)
    radius[~on_face] = cranium[~on_face] * (1 + fade * (blended - 1))
    vertices = CENTRE + directions * radius[:, None]
    faces = _grid_faces(LATITUDES + 1, LONGITUDES + 1)
    vertices, faces = _weld_grid(vertices, faces)
    faces = _outward(vertices, faces, CENTRE)
    return vertices, faces, _vertex_normals(vertices, faces)


def _weld_grid(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the grid's repeated vertices (the seam column, the pole rows) so the surface is closed, and drop
    the triangles that collapse at the poles."""
    key = np.round(vertices * 1e7).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep the first occurrence's order: deterministic and grid-like
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    faces = rank[inverse.ravel()][faces]
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    return vertices[np.sort(first)], faces[keep]


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], cross)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def _outward(vertices: np.ndarray, faces: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """Faces wound counter-clockwise seen from outside (away from the point `inside`)."""
    tri = vertices[faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    flip = np.einsum("ij,ij->i", cross, tri.mean(axis=1) - inside) < 0
    faces = faces.copy()
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return faces


def neck_surface(segments: int = 48, rings: int = 12) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A closed elliptic cylinder (capped) for the neck: (vertices, faces, normals)."""
    a = np.linspace(0.0, 2 * math.pi, segments, endpoint=False)
    ys = np.linspace(NECK["top_y"], NECK["bottom_y"], rings)
    x, z = NECK["radius_x"] * np.sin(a), NECK["centre_z"] + NECK["radius_z"] * np.cos(a)
    side = np.stack([np.tile(x, rings), np.repeat(ys, segments), np.tile(z, rings)], axis=1)
    r, c = np.meshgrid(np.arange(rings - 1), np.arange(segments), indexing="ij")
    i00 = (r * segments + c).ravel()
    i01 = (r * segments + (c + 1) % segments).ravel()
    i10, i11 = i00 + segments, i01 + segments
    faces = [np.stack([i00, i10, i01], 1), np.stack([i01, i10, i11], 1)]
    caps = np.array([[0.0, NECK["top_y"], NECK["centre_z"]], [0.0, NECK["bottom_y"], NECK["centre_z"]]])
    vertices = np.vstack([side, caps])
    top, bottom = len(side), len(side) + 1
    ring = np.arange(segments)
    faces.append(np.stack([np.full(segments, top), ring, (ring + 1) % segments], 1))
    last = (rings - 1) * segments
    faces.append(np.stack([np.full(segments, bottom), last + ring, last + (ring + 1) % segments], 1))
    faces = _outward(vertices, np.concatenate(faces), np.array([0.0, (NECK["top_y"] + NECK["bottom_y"]) / 2, NECK["centre_z"]]))
    # Flat-shaded caps would need their own vertices; the occluder is drawn to depth only, so the normals
    # are the smooth ones (they only matter to a debug view).
    return vertices, faces, _vertex_normals(vertices, faces)


def occluder_asset() -> Asset:
    """The occluder as an Asset: root "HeadOccluder" with "Head" and "Neck" meshes, one grey material."""
    from immersive.tryon.models import canonical_face_model

    face = canonical_face_model()
    head = head_surface(face.vertices_m, face.triangles)
    neck = neck_surface()
    material = {
        "name": "Occluder (draw to depth only)",
        "pbrMetallicRoughness": {"baseColorFactor": [0.5, 0.5, 0.5, 1.0], "metallicFactor": 0.0, "roughnessFactor": 1.0},
    }
    meshes = [
        Mesh(
            name,
            [
                Primitive(
                    positions=_q(v, 7).astype(np.float32),
                    indices=np.ascontiguousarray(f, dtype=np.uint32),
                    normals=_q(n, 6).astype(np.float32),
                    material=0,
                )
            ],
        )
        for name, (v, f, n) in (("Head", head), ("Neck", neck))
    ]
    nodes = [Node("HeadOccluder", children=[1, 2]), Node("Head", mesh=0), Node("Neck", mesh=1)]
    return Asset(nodes=nodes, meshes=meshes, materials=[material], roots=[0])


def generate(out_dir: Path = HERE) -> bytes:
    from asset_pipeline.io.gltf import write_glb

    data = write_glb(occluder_asset())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / FILE).write_bytes(data)
    return data


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else HERE
    data = generate(out)
    print(f"{FILE} {len(data):,} bytes in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
