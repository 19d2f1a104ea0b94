"""Procedural sample products: real-structured, real-sized product models for demos, tests and the service's
seed catalogue.

    python -m samples.generate [OUTDIR]        (or: python samples/generate.py [OUTDIR])

writes one GLB per product (asset_pipeline's own GLB writer), a vertex-coloured "scanned" vase point cloud
as binary PLY, and `products.json` (sku, name, category, file, price, real dimensions, variants, hotspots) into OUTDIR
(default: this folder). Output is deterministic: fixed seeds, no timestamps, coordinates rounded to 0.1 um
before float32 so last-bit differences between maths libraries cannot change a byte.

Conventions (the pipeline's): metres, +Y up, product front +Z, origin at the bottom centre; try-on products
follow their category's try-on spec instead (asset_pipeline/tryon.py): the origin at the anchor (glasses: the
bridge midpoint, lenses facing +Z, temples along -Z; hat: the head opening; earrings: between the hook
points, each earring node's origin at its hook point; necklace: the neck centre at the chain's top; ring: the
centre of the hole, finger axis Z; watch: the centre of the strap loop, wrist axis X), found on the built
geometry by the spec's own rules, with the spec's node names. Every scene has one root node with an identity
transform. Geometry is built here with numpy
(lathes, sweeps, rounded boxes) with analytic smooth normals, so it does not depend on a mesh library's
tessellation; metals have metallic 1 and sRGB base colours from the 3D Commerce guidelines' tables, non-metals
stay within 30-243 sRGB."""

from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asset_pipeline.asset import Asset, Mesh, Node, Primitive, Texture, texture_refs  # noqa: E402
from asset_pipeline.tryon import inspect  # noqa: E402

HERE = Path(__file__).resolve().parent
GL_REPEAT = 10497
GL_LINEAR = 9729
GL_LINEAR_MIPMAP_LINEAR = 9987


# --- geometry kit -------------------------------------------------------------------------------------------
@dataclass
class Part:
    """Triangles with smooth normals and optional UVs, in the owning node's space (float64 until written)."""

    positions: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray | None = None

    def transformed(self, matrix: np.ndarray) -> "Part":
        normal_matrix = np.linalg.inv(matrix[:3, :3]).T
        n = self.normals @ normal_matrix.T
        n /= np.linalg.norm(n, axis=1, keepdims=True)
        return Part(self.positions @ matrix[:3, :3].T + matrix[:3, 3], n, self.faces, self.uvs)


def merge(parts: list[Part]) -> Part:
    offsets = np.cumsum([0] + [len(p.positions) for p in parts[:-1]])
    has_uv = all(p.uvs is not None for p in parts)
    return Part(
        np.concatenate([p.positions for p in parts]),
        np.concatenate([p.normals for p in parts]),
        np.concatenate([p.faces + o for p, o in zip(parts, offsets)]),
        np.concatenate([p.uvs for p in parts]) if has_uv else None,
    )


def translate(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def rotate_x(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    m = np.eye(4)
    m[1:3, 1:3] = [[c, -s], [s, c]]
    return m


def rotate_y(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = c, s, -s, c
    return m


def scale(x: float, y: float, z: float) -> np.ndarray:
    return np.diag([x, y, z, 1.0])


def _grid_faces(rows: int, cols: int) -> np.ndarray:
    """Two triangles per cell of a rows x cols vertex grid (row-major)."""
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij")
    a = (r * cols + c).ravel()
    b, d = a + 1, a + cols
    return np.concatenate([np.stack([a, d, b], 1), np.stack([b, d, d + 1], 1)])


def _orient_and_drop_degenerate(part: Part) -> Part:
    """Wind every triangle counter-clockwise around its vertex normals and drop zero-area triangles (lathe
    poles, closed sweep seams)."""
    tri = part.positions[part.faces]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area2 = np.linalg.norm(cross, axis=1)
    keep = area2 > 1e-14
    faces = part.faces.copy()
    flip = np.einsum("ij,ij->i", cross, part.normals[faces].sum(axis=1)) < 0
    faces[flip] = faces[flip][:, [0, 2, 1]]
    return Part(part.positions, part.normals, faces[keep], part.uvs)


def _polyline_normals_2d(points: np.ndarray, closed: bool) -> np.ndarray:
    """Smooth 2D normals (dy, -dx) of a polyline: the solid lies to the left of the walking direction."""
    if closed:
        tangent = np.roll(points, -1, axis=0) - np.roll(points, 1, axis=0)
    else:
        tangent = np.gradient(points, axis=0)
    n = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def lathe(profile: np.ndarray, sections: int = 48, closed: bool = False) -> Part:
    """Revolve a (radius, height) polyline about +Y. Walk the profile with the solid on the left (up the
    outside, down the inside); u runs around (u = 0 faces +Z), v along the profile."""
    profile = np.asarray(profile, dtype=np.float64)
    n2 = _polyline_normals_2d(profile, closed)
    if closed:
        profile, n2 = np.vstack([profile, profile[:1]]), np.vstack([n2, n2[:1]])
    theta = np.linspace(0.0, 2 * math.pi, sections + 1)
    sin, cos = np.sin(theta), np.cos(theta)
    r, y = profile[:, 0:1], profile[:, 1:2]
    pos = np.stack([r * sin, np.broadcast_to(y, (len(profile), sections + 1)), r * cos], axis=2)
    nor = np.stack([n2[:, 0:1] * sin, np.broadcast_to(n2[:, 1:2], (len(profile), sections + 1)), n2[:, 0:1] * cos], axis=2)
    seg = np.linalg.norm(np.diff(profile, axis=0), axis=1)
    v = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-12)
    uu, vv = np.meshgrid(theta / (2 * math.pi), 1.0 - v)
    part = Part(
        pos.reshape(-1, 3),
        nor.reshape(-1, 3),
        _grid_faces(len(profile), sections + 1),
        np.stack([uu.ravel(), vv.ravel()], axis=1),
    )
    return _orient_and_drop_degenerate(part)


def _frames(path: np.ndarray, closed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rotation-minimizing frames (tangent, normal, binormal) along a path; on a closed path the leftover
    twist is spread evenly so the last frame meets the first."""
    if closed:
        t = np.roll(path, -1, axis=0) - np.roll(path, 1, axis=0)
    else:
        t = np.gradient(path, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    helper = np.array([0.0, 1.0, 0.0]) if abs(t[0, 1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    n = np.zeros_like(path)
    n[0] = np.cross(helper, t[0])
    n[0] /= np.linalg.norm(n[0])
    for i in range(1, len(path)):
        v = n[i - 1] - np.dot(n[i - 1], t[i]) * t[i]
        n[i] = v / np.linalg.norm(v)
    if closed:
        back = n[-1] - np.dot(n[-1], t[0]) * t[0]
        back /= np.linalg.norm(back)
        twist = math.atan2(np.dot(np.cross(back, n[0]), t[0]), np.dot(back, n[0]))
        steps = np.arange(len(path)) / len(path) * twist
        b0 = np.cross(t, n)
        n = n * np.cos(steps)[:, None] + b0 * np.sin(steps)[:, None]
    b = np.cross(t, n)
    return t, n, b


def circle_2d(radius: float, points: int = 12) -> np.ndarray:
    a = np.linspace(0.0, 2 * math.pi, points, endpoint=False)
    return radius * np.stack([np.cos(a), np.sin(a)], axis=1)


def rounded_rect_2d(width: float, height: float, radius: float, corner_points: int = 4) -> np.ndarray:
    """Counter-clockwise rounded rectangle centred on the origin."""
    out = []
    for cx, cy, start in ((1, 1, 0), (-1, 1, 90), (-1, -1, 180), (1, -1, 270)):
        centre = (cx * (width / 2 - radius), cy * (height / 2 - radius))
        for a in np.linspace(math.radians(start), math.radians(start + 90), corner_points):
            out.append((centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a)))
    return np.asarray(out)


def sweep(path: np.ndarray, profile: np.ndarray, closed: bool = False, caps: bool = True) -> Part:
    """Sweep a closed counter-clockwise 2D profile (x along the frame normal, y along the binormal) along a
    3D path. Open paths get flat end caps."""
    path = np.asarray(path, dtype=np.float64)
    t, n, b = _frames(path, closed)
    prof_n = _polyline_normals_2d(profile, closed=True)  # outward: a counter-clockwise profile has its solid on the left
    ring = np.vstack([profile, profile[:1]])
    ring_n = np.vstack([prof_n, prof_n[:1]])
    if closed:
        path, t, n, b = (np.vstack([a, a[:1]]) for a in (path, t, n, b))
    pos = path[:, None, :] + n[:, None, :] * ring[None, :, 0:1] + b[:, None, :] * ring[None, :, 1:2]
    nor = n[:, None, :] * ring_n[None, :, 0:1] + b[:, None, :] * ring_n[None, :, 1:2]
    if closed:
        pos[-1] = pos[0]  # bit-identical seam: no crack where the loop closes
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    u = np.concatenate([[0.0], np.cumsum(seg)]) / max(seg.sum(), 1e-12)
    uu, vv = np.meshgrid(u, np.linspace(0.0, 1.0, len(ring)), indexing="ij")
    parts = [
        Part(pos.reshape(-1, 3), nor.reshape(-1, 3), _grid_faces(len(path), len(ring)), np.stack([uu.ravel(), vv.ravel()], 1))
    ]
    if caps and not closed:
        for end, sign in ((0, -1.0), (len(path) - 1, 1.0)):
            centre = path[end]
            rim = path[end] + n[end] * profile[:, 0:1] + b[end] * profile[:, 1:2]
            cap_pos = np.vstack([centre, rim])
            k = len(profile)
            cap_faces = np.stack([np.zeros(k, dtype=np.int64), 1 + np.arange(k), 1 + (np.arange(k) + 1) % k], axis=1)
            uv = np.vstack([[0.5, 0.5], 0.5 + 0.5 * profile / np.abs(profile).max()])
            parts.append(Part(cap_pos, np.tile(sign * t[end], (k + 1, 1)), cap_faces, uv))
    return _orient_and_drop_degenerate(merge(parts))


def rounded_box(size, radius: float, segments: int = 3, uv_scale: float | None = None) -> Part:
    """A box centred on the origin with rounded edges and corners (smooth normals). UVs are per face, in
    [0, 1] (uv_scale None) or in metres x uv_scale (for tiling textures)."""
    half = np.asarray(size, dtype=np.float64) / 2
    radius = min(radius, *(half * 0.999))
    phi = np.linspace(0.0, math.pi / 2, segments + 1)
    parts = []
    for axis in range(3):
        for sign in (1.0, -1.0):
            a1, a2 = [i for i in range(3) if i != axis]
            s1 = np.concatenate([-(half[a1] - radius) - radius * np.sin(phi[::-1]), (half[a1] - radius) + radius * np.sin(phi)])
            s2 = np.concatenate([-(half[a2] - radius) - radius * np.sin(phi[::-1]), (half[a2] - radius) + radius * np.sin(phi)])
            g1, g2 = np.meshgrid(s1, s2, indexing="ij")
            q = np.zeros(g1.shape + (3,))
            q[..., axis], q[..., a1], q[..., a2] = sign * half[axis], g1, g2
            inner = np.clip(q, -(half - radius), half - radius)
            d = q - inner
            nrm = d / np.linalg.norm(d, axis=-1, keepdims=True)
            pos = inner + radius * nrm
            if uv_scale is None:
                uv = np.stack([(g1 + half[a1]) / (2 * half[a1]), (g2 + half[a2]) / (2 * half[a2])], axis=-1)
            else:
                uv = np.stack([g1, g2], axis=-1) * uv_scale
            parts.append(
                _orient_and_drop_degenerate(
                    Part(pos.reshape(-1, 3), nrm.reshape(-1, 3), _grid_faces(len(s1), len(s2)), uv.reshape(-1, 2))
                )
            )
    return merge(parts)


def superellipse(a: float, b: float, exponent: float = 2.5, points: int = 48) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, points, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return np.stack([a * np.sign(c) * np.abs(c) ** (2 / exponent), b * np.sign(s) * np.abs(s) ** (2 / exponent)], 1)


def extrude_convex(outline: np.ndarray, thickness: float) -> Part:
    """A flat slab (lens) from a convex counter-clockwise XY outline, centred on z = 0, faces along +-Z, with
    planar UVs over the outline's bounds."""
    k = len(outline)
    lo, hi = outline.min(axis=0), outline.max(axis=0)
    uv_ring = (outline - lo) / (hi - lo)
    uv_ring[:, 1] = 1 - uv_ring[:, 1]
    parts = []
    for sign in (1.0, -1.0):
        pos = np.vstack([[0.0, 0.0], outline])
        pos3 = np.column_stack([pos, np.full(k + 1, sign * thickness / 2)])
        faces = np.stack([np.zeros(k, dtype=np.int64), 1 + np.arange(k), 1 + (np.arange(k) + 1) % k], axis=1)
        uv = np.vstack([[(0 - lo[0]) / (hi[0] - lo[0]), 1 - (0 - lo[1]) / (hi[1] - lo[1])], uv_ring])
        parts.append(Part(pos3, np.tile([0.0, 0.0, sign], (k + 1, 1)), faces, uv))
    ring = np.vstack([outline, outline[:1]])
    ring_n = _polyline_normals_2d(outline, closed=True)
    ring_n = np.vstack([ring_n, ring_n[:1]])
    z = np.array([-thickness / 2, thickness / 2])
    pos = np.stack([np.column_stack([ring, np.full(len(ring), zi)]) for zi in z])
    nor = np.stack([np.column_stack([ring_n, np.zeros(len(ring))]) for _ in z])
    uv = np.stack([np.column_stack([np.linspace(0, 1, len(ring)), np.full(len(ring), vi)]) for vi in (0.0, 1.0)])
    parts.append(Part(pos.reshape(-1, 3), nor.reshape(-1, 3), _grid_faces(2, len(ring)), uv.reshape(-1, 2)))
    return _orient_and_drop_degenerate(merge(parts))


def mitred_frame(width: float, height: float, profile) -> Part:
    """A picture-frame moulding whose outer edge is a width x height rectangle centred on the origin in the XY
    plane: the closed counter-clockwise `profile` ((d, z): d inwards from the outer edge, z from the back)
    runs along the four sides, which meet in 45-degree mitres (a closed solid). Flat normals per profile
    segment; UVs: u across the profile, v along the side (so a wood grain running along v follows each side)."""
    profile = np.asarray(profile, dtype=np.float64)
    step = np.roll(profile, -1, axis=0) - profile
    length = np.linalg.norm(step, axis=1)
    normal_2d = np.stack([step[:, 1], -step[:, 0]], axis=1) / length[:, None]  # outward: the solid is on the left
    u = np.concatenate([[0.0], np.cumsum(length)]) / length.sum()
    half = np.array([width / 2, height / 2])
    sides = []
    for outward, along in (((0, 1), (-1, 0)), ((-1, 0), (0, -1)), ((0, -1), (1, 0)), ((1, 0), (0, 1))):
        outward, along = np.array(outward, dtype=np.float64), np.array(along, dtype=np.float64)
        reach, half_length = abs(outward @ half), abs(along @ half)

        def corner(d: float, z: float, end: float) -> list[float]:  # the mitre at inset d: both sides share it
            x, y = outward * (reach - d) + along * end * (half_length - d)
            return [x, y, z]

        positions, normals, uvs = [], [], []
        for k in range(len(profile)):
            (d0, z0), (d1, z1) = profile[k], profile[(k + 1) % len(profile)]
            positions += [corner(d0, z0, -1), corner(d0, z0, 1), corner(d1, z1, -1), corner(d1, z1, 1)]
            normals += [[*(-outward * normal_2d[k, 0]), normal_2d[k, 1]]] * 4
            uvs += [[u[k], 0.0], [u[k], 1.0], [u[k + 1], 0.0], [u[k + 1], 1.0]]
        faces = np.concatenate([np.array([[0, 1, 3], [0, 3, 2]]) + 4 * k for k in range(len(profile))])
        sides.append(_orient_and_drop_degenerate(Part(np.array(positions), np.array(normals), faces, np.array(uvs))))
    return merge(sides)


def rotate_z(degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    return m


def flat(part: Part) -> Part:
    """Faceted shading (gem cuts): every triangle gets its own vertices and its face normal."""
    tri = part.positions[part.faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    uvs = None if part.uvs is None else part.uvs[part.faces].reshape(-1, 2)
    return Part(tri.reshape(-1, 3), np.repeat(n, 3, axis=0), np.arange(len(tri) * 3).reshape(-1, 3), uvs)


# --- images (own PNG encoder: bytes depend only on zlib, not on an imaging library's version) -------------
def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG of an 8-bit (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA array, 'Sub' filter, zlib level 9."""
    px = np.asarray(pixels, dtype=np.uint8)
    if px.ndim == 2:
        px = px[:, :, None]
    h, w, c = px.shape
    color_type = {1: 0, 3: 2, 4: 6}[c]
    rows = px.reshape(h, w * c).astype(np.int16)
    sub = (rows - np.pad(rows, ((0, 0), (c, 0)))[:, : w * c]) % 256
    raw = np.concatenate([np.ones((h, 1), dtype=np.uint8), sub.astype(np.uint8)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def value_noise(shape: tuple[int, int], cells: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth tileable noise in [0, 1]: random values on a coarse periodic grid, smoothstep-interpolated."""
    grid = rng.random(cells)
    y = np.arange(shape[0]) * cells[0] / shape[0]
    x = np.arange(shape[1]) * cells[1] / shape[1]
    y0, x0 = np.floor(y).astype(int), np.floor(x).astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    y1, x1 = (y0 + 1) % cells[0], (x0 + 1) % cells[1]
    g = lambda yy, xx: grid[yy][:, xx]  # noqa: E731
    return (g(y0, x0) * (1 - fx) + g(y0, x1) * fx) * (1 - fy) + (g(y1, x0) * (1 - fx) + g(y1, x1) * fx) * fy


def wood_texture(size: int = 256) -> bytes:
    """Oak-like grain running along v, in 80-170 sRGB (within the PBR-safe 30-243)."""
    rng = np.random.default_rng(7)
    warp = value_noise((size, size), (4, 8), rng)
    fine = value_noise((size, size), (64, 16), rng)
    u = np.arange(size)[None, :] / size
    rings = 0.5 + 0.5 * np.sin(2 * math.pi * (u * 9 + 1.6 * warp))
    t = np.clip(0.65 * rings ** 3 + 0.35 * fine, 0.0, 1.0)[..., None]
    light, dark = np.array([176.0, 128.0, 84.0]), np.array([112.0, 72.0, 42.0])
    return png_bytes(np.round(light * (1 - t) + dark * t))


def weave_texture(size: int = 64) -> bytes:
    """Tileable grey basket weave (multiplied by the upholstery colour), values 190-250."""
    y, x = np.mgrid[0:size, 0:size] / size
    threads = 8
    over = ((np.floor(x * threads) + np.floor(y * threads)) % 2).astype(bool)
    across = np.abs(np.sin(math.pi * x * threads))
    along = np.abs(np.sin(math.pi * y * threads))
    shade = np.where(over, 0.55 + 0.45 * along, 0.55 + 0.45 * across)
    return png_bytes(np.round(190 + 60 * shade ** 0.7))


def dial_texture(size: int = 256) -> bytes:
    """Ivory watch dial with hour markers and hands at 10:10, anti-aliased with distance fields."""
    y, x = (np.mgrid[0:size, 0:size] + 0.5) / size * 2 - 1  # [-1, 1], y down
    radius = np.hypot(x, y)
    ink = np.zeros_like(radius)
    px = 2.0 / size

    def segment(ax, ay, bx, by, width):
        dx, dy = bx - ax, by - ay
        h = np.clip(((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy), 0, 1)
        d = np.hypot(x - ax - h * dx, y - ay - h * dy) - width / 2
        return np.clip(0.5 - d / px, 0, 1)

    for hour in range(12):
        a = math.radians(hour * 30)
        s, c = math.sin(a), -math.cos(a)
        long = hour % 3 == 0
        ink = np.maximum(ink, segment(0.78 * s, 0.78 * c, (0.60 if long else 0.68) * s, (0.60 if long else 0.68) * c, 0.06 if long else 0.03))
    for angle, length, width in ((-60.0, 0.45, 0.06), (60.0, 0.70, 0.04)):  # hour hand at 10, minute hand at 2
        a = math.radians(angle)
        ink = np.maximum(ink, segment(0, 0, length * math.sin(a), -length * math.cos(a), width))
    ink = np.maximum(ink, np.clip(0.5 - (radius - 0.05) / px, 0, 1))
    base = np.array([228.0, 223.0, 212.0]) - 10 * radius[..., None] ** 2
    rgb = base * (1 - ink[..., None]) + np.array([38.0, 38.0, 42.0]) * ink[..., None]
    return png_bytes(np.round(rgb))


def landscape_texture(width: int = 256, height: int = 256, aspect: float = 0.297 / 0.42) -> bytes:
    """A mountain landscape print: a warm sky graded to the horizon, a low sun, five ridges fading with
    distance (atmospheric perspective) and a fine paper grain, in 32-240 sRGB. `aspect` is the print's
    width / height: the texels need not be square, the sun stays round on the print."""
    rng = np.random.default_rng(11)
    y, x = (np.mgrid[0:height, 0:width] + 0.5) / np.array([height, width])[:, None, None]  # y down, in [0, 1]
    sky, horizon = np.array([92.0, 118.0, 156.0]), np.array([236.0, 196.0, 150.0])
    t = 1 - (1 - np.clip(y / 0.62, 0, 1)[..., None]) ** 1.4
    rgb = sky * (1 - t) + horizon * t
    sun = np.hypot((x - 0.66) * aspect, y - 0.36)
    rgb += np.clip(1.4 - sun / 0.06, 0, 1)[..., None] * (np.array([243.0, 226.0, 182.0]) - rgb)
    far, near = np.array([176.0, 150.0, 158.0]), np.array([40.0, 62.0, 60.0])
    for layer in range(5):
        depth = layer / 4
        cells = 3 + 2 * layer
        outline = 0.6 * value_noise((1, width), (1, cells), rng)[0] + 0.12 * value_noise((1, width), (1, 4 * cells), rng)[0]
        ridge = 0.44 + 0.36 * depth ** 1.3 - 0.14 * (1 - 0.3 * depth) * (outline - 0.3)
        below = y - ridge[None, :]
        cover = np.clip(below * height, 0, 1)[..., None]  # anti-aliased ridge line
        shade = 1 - 0.12 * np.clip(below / 0.3, 0, 1)[..., None]
        rgb = rgb * (1 - cover) + (far * (1 - depth) + near * depth) * shade * cover
    grain = value_noise((height, width), (height // 2, width // 2), rng)[..., None]
    return png_bytes(np.clip(np.round(rgb * (0.97 + 0.06 * grain)), 32, 240))


# --- materials ------------------------------------------------------------------------------------------
def srgb_to_linear(value: float) -> float:
    c = value / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def pbr(name: str, srgb: tuple[int, int, int], *, metallic: float = 0.0, roughness: float = 0.5, **fields: Any) -> dict[str, Any]:
    """A glTF metal/rough material from an sRGB base colour (as the 3DC guideline tables give them)."""
    factor = [round(srgb_to_linear(c), 4) for c in srgb] + [1.0]
    mat: dict[str, Any] = {
        "name": name,
        "pbrMetallicRoughness": {"baseColorFactor": factor, "metallicFactor": metallic, "roughnessFactor": roughness},
    }
    mat.update(fields)
    return mat


def glass(name: str, srgb: tuple[int, int, int] = (255, 255, 255), *, ior: float = 1.5, transmission: float = 1.0) -> dict[str, Any]:
    """Clear or tinted glass/gem: KHR_materials_transmission (base colour is the transmission tint) + ior."""
    return pbr(
        name, srgb, roughness=0.04,
        extensions={"KHR_materials_transmission": {"transmissionFactor": transmission}, "KHR_materials_ior": {"ior": ior}},
    )


# sRGB values from the 3D Commerce guidelines' metal table
GOLD = (255, 226, 155)
PLATINUM = (213, 208, 200)
STEEL = (196, 199, 199)  # iron


# --- scene builder --------------------------------------------------------------------------------------
def _q(a: np.ndarray, decimals: int) -> np.ndarray:
    return np.round(np.asarray(a, dtype=np.float64), decimals)


@dataclass
class Scene:
    """Builds an `Asset` with one identity root node named after the product."""

    name: str
    asset: Asset = field(init=False)

    def __post_init__(self):
        self.asset = Asset(nodes=[Node(name=self.name)], roots=[0])

    def material(self, mat: dict[str, Any]) -> int:
        self.asset.materials.append(mat)
        return len(self.asset.materials) - 1

    def texture(self, data: bytes, name: str, sampler: dict[str, Any] | None = None) -> int:
        self.asset.textures.append(Texture(data=data, mime_type="image/png", name=name, sampler=sampler))
        return len(self.asset.textures) - 1

    def mesh(self, name: str, primitives: list[tuple[Part, int]], *, variant_mappings=None) -> int:
        """A mesh with one primitive per (part, material); UVs are kept only where the material (or one of
        its variants) samples a texture."""
        textured = {
            m for m in range(len(self.asset.materials)) if next(texture_refs(self.asset.materials[m]), None) is not None
        }
        prims = []
        for part, material in primitives:
            used = {material} | {mp["material"] for mp in variant_mappings or []}
            uvs = bool(used & textured)
            normals = part.normals / np.linalg.norm(part.normals, axis=1, keepdims=True)
            prims.append(
                Primitive(
                    positions=_q(part.positions, 7).astype(np.float32),
                    indices=np.ascontiguousarray(part.faces, dtype=np.uint32),
                    normals=_q(normals, 6).astype(np.float32),
                    uvs=[_q(part.uvs, 6).astype(np.float32)] if uvs and part.uvs is not None else [],
                    material=material,
                    variant_mappings=list(variant_mappings or []),
                )
            )
        self.asset.meshes.append(Mesh(name=name, primitives=prims))
        return len(self.asset.meshes) - 1

    def node(self, name: str, mesh: int | None = None, matrix: np.ndarray | None = None, parent: int = 0) -> int:
        self.asset.nodes.append(Node(name=name, mesh=mesh, matrix=np.eye(4) if matrix is None else matrix))
        index = len(self.asset.nodes) - 1
        self.asset.nodes[parent].children.append(index)
        return index

    def finish(self, tryon: str | None = None) -> Asset:
        """Move the product's origin (through the root's children, keeping the root itself an identity) and
        round node transforms. The origin goes where the try-on spec of category `tryon` puts it (the anchor,
        found on the built geometry by the spec's rules; nodes the spec gives their own origin, such as an
        earring's hook point, get it), else to the bottom centre: the bounding box on y = 0, centred on x and z."""
        if tryon is None:
            lo, hi = self.asset.bounds()
            origin = np.array([(lo[0] + hi[0]) / 2, lo[1], (lo[2] + hi[2]) / 2])
        else:
            found = inspect(self.asset, tryon)
            if found.turn is not None or found.anchor is None:
                raise ValueError(f"{self.name} does not follow the {tryon} try-on axes: {found.turn_reason or found.findings}")
            origin = found.anchor
            moved: dict[int, np.ndarray] = {}
            for index, point in found.node_origins.items():
                node = self.asset.nodes[index]
                local = point - node.matrix[:3, 3]  # built nodes only translate
                if node.mesh not in moved:
                    for prim in self.asset.meshes[node.mesh].primitives:
                        prim.positions = _q(prim.positions.astype(np.float64) - local, 7).astype(np.float32)
                    moved[node.mesh] = local
                if not np.allclose(moved[node.mesh], local, atol=1e-9):
                    raise ValueError(f"{node.name}: a shared mesh needs one origin for all its nodes")
                node.matrix = translate(*point)
        shift = translate(*-origin)
        for child in self.asset.nodes[0].children:
            self.asset.nodes[child].matrix = shift @ self.asset.nodes[child].matrix
        for node in self.asset.nodes:
            node.matrix = _q(node.matrix, 7)
        return self.asset


# --- products -------------------------------------------------------------------------------------------
def glasses(sun: bool = False) -> Asset:
    """Optical frame 140 mm wide (138 mm front): acetate front (rims, bridge, end pieces), gold metal temples
    about 150 mm long on hinge pivots, glass lenses (50 mm wide, 18 mm bridge) with transmission + ior. Bridge
    midpoint at the origin, lenses face +Z."""
    scene = Scene("Sunglasses" if sun else "Glasses")
    acetate = scene.material(pbr("Acetate black" if sun else "Acetate havana", (36, 34, 34) if sun else (72, 46, 30), roughness=0.22))
    metal = scene.material(pbr("Gold metal", GOLD, metallic=1.0, roughness=0.3))
    lens = scene.material(glass("Lens tinted", (60, 78, 62), transmission=0.35) if sun else glass("Lens clear"))

    lens_centre_x, lens_centre_y = 0.034, -0.008
    outline = superellipse(0.025, 0.020, 2.6, 48)
    wire = circle_2d(0.0015, 10)
    rims = []
    for side in (1.0, -1.0):
        rim = np.column_stack([side * lens_centre_x + 1.02 * outline[:, 0], lens_centre_y + 1.02 * outline[:, 1], np.zeros(len(outline))])
        rims.append(sweep(rim, wire, closed=True))
    bx = np.linspace(-0.0105, 0.0105, 13)
    bridge = sweep(np.column_stack([bx, -0.003 * (bx / 0.0100) ** 2, np.zeros_like(bx)]), wire)
    end_pieces = [rounded_box((0.009, 0.006, 0.008), 0.0015).transformed(translate(side * 0.0645, 0.004, -0.002)) for side in (1.0, -1.0)]
    frame = scene.mesh("Frame", [(merge(rims + [bridge] + end_pieces), acetate)])

    # Temple in hinge space: straight back along -Z for 110 mm, then the earpiece bends down 35 mm more.
    straight = np.column_stack([np.zeros(23), np.zeros(23), np.linspace(0.0, -0.110, 23)])
    a = np.linspace(0.0, math.radians(45), 12)[1:]
    bend_r = 0.035 / math.sin(math.radians(45))
    bend = np.column_stack([np.zeros_like(a), -bend_r * (1 - np.cos(a)), -0.110 - bend_r * np.sin(a)])
    temple = scene.mesh("Temple", [(sweep(np.vstack([straight, bend]), rounded_rect_2d(0.0016, 0.0040, 0.0007)), metal)])
    lens_mesh = scene.mesh("Lens", [(extrude_convex(outline, 0.002), lens)])

    scene.node("Frame", frame)
    scene.node("TempleL", temple, translate(0.069, 0.004, -0.006))
    scene.node("TempleR", temple, translate(-0.069, 0.004, -0.006))
    scene.node("LensL", lens_mesh, translate(lens_centre_x, lens_centre_y, 0.0))
    scene.node("LensR", lens_mesh, translate(-lens_centre_x, lens_centre_y, 0.0))
    return scene.finish(tryon="sunglasses" if sun else "glasses")


def hat() -> Asset:
    """Felt fedora: crown shell with a 57 cm head opening (inner radius 90.7 mm), brim and ribbon band; origin
    at the centre of the head opening."""
    scene = Scene("Hat")
    felt = scene.material(pbr("Wool felt", (112, 86, 64), roughness=0.9))
    ribbon = scene.material(pbr("Grosgrain ribbon", (46, 40, 40), roughness=0.6))
    opening = 0.57 / (2 * math.pi)
    wall = 0.003
    t = np.linspace(0.0, 1.0, 14)
    inner = np.column_stack([opening - 0.006 * t ** 2, 0.095 * t])[::-1]  # walked downwards: the inside
    dome = np.linspace(0.0, math.pi / 2, 10)
    inner_top = np.column_stack([(opening - 0.006) * np.cos(dome), 0.095 + 0.016 * np.sin(dome)])[::-1]
    outer = np.column_stack([opening + wall - 0.006 * t ** 2, 0.095 * t])
    outer_top = np.column_stack([(opening + wall - 0.006) * np.cos(dome), 0.095 + (0.016 + wall) * np.sin(dome)])
    crown_profile = np.vstack([inner_top, inner[1:], outer, outer_top[1:]])
    crown = lathe(crown_profile, 64)
    brim_section = rounded_rect_2d(0.070, 0.004, 0.0018, 4) + [opening + 0.035, 0.006]
    brim_section[:, 1] += 0.05 * np.clip(brim_section[:, 0] - opening - 0.05, 0.0, None) * 4  # snap brim lifts at the edge
    brim = lathe(brim_section, 64, closed=True)
    band = lathe(rounded_rect_2d(0.0016, 0.022, 0.0006, 3) + [opening + wall + 0.0008, 0.021], 64, closed=True)
    scene.node("Crown", scene.mesh("Crown", [(crown, felt)]))
    scene.node("Brim", scene.mesh("Brim", [(brim, felt)]))
    scene.node("Band", scene.mesh("Band", [(band, ribbon)]))
    return scene.finish(tryon="hat")


def earrings() -> Asset:
    """A pair of drop earrings: gold fish hook + cap, pearl teardrop; one mesh drawn by both nodes, whose
    origins are the hook points (the model's origin is between them)."""
    scene = Scene("Earrings")
    gold = scene.material(pbr("Gold", GOLD, metallic=1.0, roughness=0.25))
    pearl = scene.material(pbr("Pearl", (234, 226, 214), roughness=0.25))
    rise = np.column_stack([np.zeros(5), np.linspace(0.0155, 0.026, 5), np.zeros(5)])
    a = np.linspace(0.0, math.pi, 17)[1:]
    arc = np.column_stack([np.zeros_like(a), 0.026 + 0.005 * np.sin(a), -0.005 + 0.005 * np.cos(a)])
    s = np.linspace(0.0, 1.0, 9)[1:]
    tail = np.column_stack([np.zeros_like(s), 0.026 - 0.014 * s, -0.010 - 0.003 * s ** 2])
    hook = sweep(np.vstack([rise, arc, tail]), circle_2d(0.0004, 8))
    cap = lathe([(0.0012, 0.0128), (0.0020, 0.0138), (0.0021, 0.0148), (0.0012, 0.0157), (0.0, 0.0160)], 24)
    t = np.linspace(0.0, math.pi, 24)
    drop = lathe(np.column_stack([0.0048 * np.sin(t) * (1 - 0.3 * t / math.pi), 0.0075 * (1 - np.cos(t))]), 32)
    earring = scene.mesh("Earring", [(merge([hook, cap]), gold), (drop, pearl)])
    scene.node("EarringL", earring, translate(0.015, 0.0, 0.0))
    scene.node("EarringR", earring, translate(-0.015, 0.0, 0.0))
    return scene.finish(tryon="earrings")


def necklace() -> Asset:
    """A gold cable chain (alternating oval links along a 43 cm loop that dips at the front) with a
    sapphire pendant in a bezel setting; origin at the neck centre, at the height of the chain's top."""
    scene = Scene("Necklace")
    gold = scene.material(pbr("Gold", GOLD, metallic=1.0, roughness=0.2))
    sapphire = scene.material(glass("Sapphire", (40, 70, 190), ior=1.77, transmission=0.8))

    theta = np.linspace(0.0, 2 * math.pi, 2001)
    loop = np.column_stack([0.068 * np.sin(theta), 0.14 - 0.05 * ((1 + np.cos(theta)) / 2) ** 3, 0.062 * np.cos(theta)])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(loop, axis=0), axis=1))])
    pitch = 0.0075
    count = int(arc[-1] // pitch)
    at = (np.arange(count) + 0.5) * arc[-1] / count
    centres = np.column_stack([np.interp(at, arc, loop[:, k]) for k in range(3)])
    tangents = np.column_stack([np.interp(at + 1e-4, arc, loop[:, k]) - np.interp(at - 1e-4, arc, loop[:, k]) for k in range(3)])
    tangents /= np.linalg.norm(tangents, axis=1, keepdims=True)
    e = np.linspace(0.0, 2 * math.pi, 10, endpoint=False)
    link = sweep(np.column_stack([0.0042 * np.cos(e), 0.0024 * np.sin(e), np.zeros_like(e)]), circle_2d(0.0006, 6), closed=True)
    links = []
    for i, (c, t) in enumerate(zip(centres, tangents)):
        side = np.cross(t, [0.0, 1.0, 0.0]) if abs(t[1]) < 0.9 else np.cross(t, [1.0, 0.0, 0.0])
        side /= np.linalg.norm(side)
        across = side if i % 2 else np.cross(side, t)  # links alternate flat/upright, as in a cable chain
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = t, across, np.cross(t, across), c
        links.append(link.transformed(m))
    chain = scene.mesh("Chain", [(merge(links), gold)])

    front = loop[0]
    bail = sweep(
        np.column_stack([np.zeros(16), 0.0024 * np.sin(np.linspace(0, 2 * math.pi, 16, endpoint=False)), 0.0024 * np.cos(np.linspace(0, 2 * math.pi, 16, endpoint=False))]),
        circle_2d(0.0006, 6), closed=True,
    ).transformed(translate(0.0, -0.0024, 0.0))
    gem_profile = [(0.0, -0.0045), (0.0050, 0.0), (0.0036, 0.0022), (0.0, 0.0022)]
    gem = flat(lathe(gem_profile, 10)).transformed(translate(0.0, -0.0115, 0.0) @ rotate_x(90.0))
    girdle = np.linspace(0.0, 2 * math.pi, 24, endpoint=False)
    bezel = sweep(np.column_stack([0.0052 * np.cos(girdle), 0.0052 * np.sin(girdle), np.zeros(24)]), circle_2d(0.0006, 6), closed=True)
    bezel = bezel.transformed(translate(0.0, -0.0115, 0.0))
    pendant = scene.mesh("Pendant", [(merge([bail, bezel]), gold), (gem, sapphire)])
    scene.node("Chain", chain)
    scene.node("Pendant", pendant, translate(front[0], front[1], front[2] + 0.001))
    return scene.finish(tryon="necklace")


def ring() -> Asset:
    """Platinum solitaire, US size 7: comfort-fit band with a 17.3 mm inner diameter around the finger axis Z,
    and a round brilliant diamond in a cup setting on top (+Y); origin at the centre of the hole."""
    scene = Scene("Ring")
    platinum = scene.material(pbr("Platinum", PLATINUM, metallic=1.0, roughness=0.18))
    diamond = scene.material(glass("Diamond", ior=2.42))
    inner_radius, half_thickness, half_width = 0.0173 / 2, 0.0009, 0.00125
    phi = np.linspace(0.0, 2 * math.pi, 20, endpoint=False)
    section = np.column_stack([inner_radius + half_thickness + half_thickness * np.cos(phi), half_width * np.sin(phi)])
    band = lathe(section, 72, closed=True).transformed(rotate_x(90.0))
    top = inner_radius + 2 * half_thickness
    cup = lathe([(0.0010, top - 0.0004), (0.0020, top + 0.0012), (0.0026, top + 0.0022), (0.0022, top + 0.0024)], 16)
    stone = flat(lathe([(0.0, top + 0.0002), (0.0029, top + 0.0024), (0.0017, top + 0.0036), (0.0, top + 0.0036)], 16))
    scene.node("Band", scene.mesh("Band", [(band, platinum)]))
    scene.node("Stone", scene.mesh("Stone", [(cup, platinum), (stone, diamond)]))
    return scene.finish(tryon="ring")


def watch() -> Asset:
    """40 mm steel watch: case with crown (+X, towards the hand), printed dial (texture) facing +Z, leather
    strap closed as a loop around the wrist axis X whose inside measures 160 mm around (a 30 x 21 mm
    elliptical wrist); origin at the centre of the strap loop."""
    scene = Scene("Watch")
    steel = scene.material(pbr("Brushed steel", STEEL, metallic=1.0, roughness=0.35))
    dial_tex = scene.texture(dial_texture(), "dial", {"magFilter": GL_LINEAR, "minFilter": GL_LINEAR_MIPMAP_LINEAR})
    dial = pbr("Printed dial", (255, 255, 255), roughness=0.5)  # white factor: the texture is the colour
    dial["pbrMetallicRoughness"]["baseColorTexture"] = {"index": dial_tex}
    dial_index = scene.material(dial)
    leather = scene.material(pbr("Leather", (98, 62, 40), roughness=0.7))

    back = lathe([(0.0, 0.0), (0.0170, 0.0)], 64)
    side = lathe([(0.0170, 0.0), (0.0195, 0.0015), (0.0200, 0.0040), (0.0200, 0.0080), (0.0186, 0.0100), (0.0166, 0.0103), (0.0160, 0.0095)], 64)
    crown = lathe([(0.0, 0.0), (0.0022, 0.0), (0.0022, 0.0030), (0.0, 0.0030)], 16).transformed(translate(0.0196, 0.0, 0.005) @ rotate_z(-90.0))
    case = merge([back.transformed(rotate_x(90.0)), side.transformed(rotate_x(90.0)), crown])
    face = lathe([(0.0160, 0.0095), (0.0, 0.0095)], 64).transformed(rotate_x(90.0))
    lo, hi = face.positions[:, :2].min(axis=0), face.positions[:, :2].max(axis=0)
    face.uvs = np.column_stack([(face.positions[:, 0] - lo[0]) / (hi[0] - lo[0]), (hi[1] - face.positions[:, 1]) / (hi[1] - lo[1])])
    phi = np.linspace(0.0, 2 * math.pi, 72, endpoint=False)
    strap_path = np.column_stack([np.zeros_like(phi), 0.0315 * np.sin(phi), -0.024 + 0.0225 * np.cos(phi)])
    strap = sweep(strap_path, rounded_rect_2d(0.003, 0.020, 0.001, 3), closed=True)
    scene.node("Case", scene.mesh("Case", [(case, steel)]))
    scene.node("Face", scene.mesh("Face", [(face, dial_index)]))
    scene.node("Strap", scene.mesh("Strap", [(strap, leather)]))
    return scene.finish(tryon="watch")


def chair() -> Asset:
    """Dining chair 0.45 x 0.80 x 0.50 m: oak legs and back (textured, UVs in [0, 1]), upholstered seat."""
    scene = Scene("Chair")
    wood_tex = scene.texture(wood_texture(), "oak", {"magFilter": GL_LINEAR, "minFilter": GL_LINEAR_MIPMAP_LINEAR})
    oak = pbr("Oak", (255, 255, 255), roughness=0.6)
    oak["pbrMetallicRoughness"]["baseColorTexture"] = {"index": wood_tex}
    oak = scene.material(oak)
    fabric = scene.material(pbr("Sage upholstery", (104, 128, 106), roughness=0.85))
    post = 0.035
    legs = [
        rounded_box((post, 0.43, post), 0.004).transformed(translate(x, 0.215, z))
        for x in (-0.19, 0.19)
        for z in (-0.2075, 0.2075)
    ]
    # Parts overlap instead of touching face to face (coincident faces would make non-manifold edges):
    # the posts start inside the seat, the rails reach into the posts.
    back_posts = [rounded_box((post, 0.36, post), 0.004).transformed(translate(x, 0.62, -0.2075)) for x in (-0.19, 0.19)]
    rails = [rounded_box((0.36, h, 0.022), 0.004).transformed(translate(0.0, y, -0.2075)) for y, h in ((0.735, 0.10), (0.585, 0.05))]
    seat = rounded_box((0.45, 0.06, 0.50), 0.015, segments=4)
    scene.node("Legs", scene.mesh("Legs", [(merge(legs), oak)]))
    scene.node("Seat", scene.mesh("Seat", [(seat, fabric)]), translate(0.0, 0.46, 0.0))
    scene.node("Back", scene.mesh("Back", [(merge(back_posts + rails), oak)]))
    return scene.finish()


SOFA_VARIANTS = ["Oat", "Slate"]


def sofa() -> Asset:
    """Three-seat sofa 2.0 x 0.85 x 0.9 m with two upholstery colours as KHR_materials_variants ("Oat",
    "Slate"): a grey weave texture tiled by an explicit REPEAT sampler, tinted by each variant's colour."""
    scene = Scene("Sofa")
    scene.asset.variants = list(SOFA_VARIANTS)
    weave = scene.texture(weave_texture(), "weave", {"wrapS": GL_REPEAT, "wrapT": GL_REPEAT, "magFilter": GL_LINEAR, "minFilter": GL_LINEAR_MIPMAP_LINEAR})
    fabrics = []
    for name, rgb in (("Oat", (214, 202, 182)), ("Slate", (100, 106, 116))):
        mat = pbr(f"Upholstery {name}", rgb, roughness=0.9)
        mat["pbrMetallicRoughness"]["baseColorTexture"] = {"index": weave}
        fabrics.append(scene.material(mat))
    walnut = scene.material(pbr("Walnut", (92, 64, 46), roughness=0.55))
    mappings = [{"material": fabrics[i], "variants": [i]} for i in range(len(SOFA_VARIANTS))]
    tile = 8.0  # texture repeats per metre

    def cushion(size, radius, at, tilt=0.0):
        return rounded_box(size, radius, 4, uv_scale=tile).transformed(translate(*at) @ rotate_x(tilt))

    frame = [
        cushion((1.64, 0.22, 0.88), 0.02, (0.0, 0.21, 0.01)),
        cushion((0.18, 0.62, 0.90), 0.05, (0.91, 0.41, 0.0)),
        cushion((0.18, 0.62, 0.90), 0.05, (-0.91, 0.41, 0.0)),
        cushion((1.64, 0.62, 0.18), 0.04, (0.0, 0.41, -0.36)),
    ]
    seats = [cushion((0.545, 0.15, 0.66), 0.045, (x, 0.395, 0.11)) for x in (-0.547, 0.0, 0.547)]
    backs = [cushion((0.545, 0.40, 0.17), 0.06, (x, 0.6487, -0.19), tilt=-10.0) for x in (-0.547, 0.0, 0.547)]
    leg = lathe([(0.0, 0.0), (0.014, 0.0), (0.020, 0.10), (0.0, 0.10)], 24)
    legs = [leg.transformed(translate(x, 0.0, z)) for x in (-0.92, 0.92) for z in (-0.38, 0.38)]
    scene.node("Frame", scene.mesh("Frame", [(merge(frame), fabrics[0])], variant_mappings=mappings))
    scene.node("SeatCushions", scene.mesh("SeatCushions", [(merge(seats), fabrics[0])], variant_mappings=mappings))
    scene.node("BackCushions", scene.mesh("BackCushions", [(merge(backs), fabrics[0])], variant_mappings=mappings))
    scene.node("Legs", scene.mesh("Legs", [(merge(legs), walnut)]))
    return scene.finish()


def art_print() -> Asset:
    """Framed art print 0.50 x 0.70 x 0.03 m for the wall: a mitred oak moulding 40 mm wide with a rabbet at
    the back, an off-white mount board filling the rabbet (its back flush with the frame's), and an A3 print
    (297 x 420 mm, a procedural landscape) floated on the mount, a little above the middle. Front +Z."""
    scene = Scene("ArtPrint")
    wood_tex = scene.texture(wood_texture(), "oak", {"magFilter": GL_LINEAR, "minFilter": GL_LINEAR_MIPMAP_LINEAR})
    oak = pbr("Oak", (255, 255, 255), roughness=0.55)
    oak["pbrMetallicRoughness"]["baseColorTexture"] = {"index": wood_tex}
    oak = scene.material(oak)
    mount = scene.material(pbr("Mount board", (236, 232, 222), roughness=0.9))
    print_tex = scene.texture(landscape_texture(), "landscape", {"magFilter": GL_LINEAR, "minFilter": GL_LINEAR_MIPMAP_LINEAR})
    paper = pbr("Giclee print", (255, 255, 255), roughness=0.8)  # white factor: the texture is the colour
    paper["pbrMetallicRoughness"]["baseColorTexture"] = {"index": print_tex}
    paper = scene.material(paper)

    width, height, depth = 0.50, 0.70, 0.03
    rabbet, lip = 0.030, 0.020  # the rabbet reaches 30 mm in from the outer edge, 20 mm up from the back
    moulding = [  # (d, z), counter-clockwise: back, rabbet, sight edge, bevelled front, outer edge
        (0.0, 0.0), (rabbet, 0.0), (rabbet, lip), (0.040, lip), (0.040, 0.025), (0.0365, depth),
        (0.006, depth), (0.0015, 0.0285), (0.0, 0.024),
    ]
    frame = mitred_frame(width, height, moulding)
    # 0.5 mm of play in the rabbet (touching faces would weld into non-manifold edges)
    board = rounded_box((width - 2 * rabbet - 0.001, height - 2 * rabbet - 0.001, lip - 0.0005), 0.001, 2)
    board = board.transformed(translate(0.0, 0.0, (lip - 0.0005) / 2))
    paper_size = (0.297, 0.420)
    sheet = extrude_convex(np.array([[1, -1], [1, 1], [-1, 1], [-1, -1]]) * np.array(paper_size) / 2, 0.0004)
    sheet = sheet.transformed(translate(0.0, 0.012, lip - 0.0005 + 0.0003))
    scene.node("Frame", scene.mesh("Frame", [(frame, oak)]), translate(0.0, height / 2, 0.0))
    scene.node("Mount", scene.mesh("Mount", [(board, mount)]), translate(0.0, height / 2, 0.0))
    scene.node("Print", scene.mesh("Print", [(sheet, paper)]), translate(0.0, height / 2, 0.0))
    return scene.finish()


def lipstick() -> Asset:
    """Lipstick 21 mm across, 76 mm tall: gold metal case (tube) and a red bullet with the classic
    slanted tip."""
    scene = Scene("Lipstick")
    gold = scene.material(pbr("Gold case", GOLD, metallic=1.0, roughness=0.22))
    red = scene.material(pbr("Lipstick red", (176, 32, 56), roughness=0.35))
    bottom = lathe([(0.0, 0.0), (0.0100, 0.0)], 48)
    tube = lathe(
        [(0.0100, 0.0), (0.0105, 0.0008), (0.0105, 0.0540), (0.0101, 0.0550), (0.0093, 0.0550), (0.0090, 0.0540), (0.0090, 0.0450), (0.0, 0.0450)],
        48,
    )
    t = np.linspace(0.0, math.pi / 2, 8)
    bullet = lathe(np.vstack([[[0.0075, 0.0440]], np.column_stack([0.0075 * np.cos(t), 0.0700 + 0.009 * np.sin(t)])]), 48)
    # The slanted tip: everything above the plane y = 0.0735 - 0.55 z moves down onto it.
    cut = np.array([0.0, 1.0, 0.55]) / math.hypot(1.0, 0.55)
    plane_y = 0.0735 - 0.55 * bullet.positions[:, 2]
    above = bullet.positions[:, 1] > plane_y
    bullet.positions[above, 1] = plane_y[above]
    bullet.normals[above] = cut
    bullet = _orient_and_drop_degenerate(bullet)
    scene.node("Case", scene.mesh("Case", [(merge([bottom, tube]), gold)]))
    scene.node("Bullet", scene.mesh("Bullet", [(bullet, red)]))
    return scene.finish()


# --- the "scanned" vase (point cloud) --------------------------------------------------------------------
VASE_POINTS = 19_500
"""About 20k points, the most that keeps the binary PLY (15 bytes a point) under 300 KB."""


def vase_radius(y: np.ndarray) -> np.ndarray:
    """Outer profile of a 30 cm baluster vase: narrow foot, full belly at 10 cm, slim neck, flared lip."""
    return 0.028 + 0.050 * np.exp(-(((y - 0.10) / 0.07) ** 2)) + 0.012 * np.exp(-(((y - 0.30) / 0.025) ** 2))


def vase_points(count: int = VASE_POINTS, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Surface points of the vase as a scanner sees it (outside, plus the inside of the neck down 3 cm,
    nothing underneath), uniform by area, with 0.3 mm of range noise and a glazed blue/cream wave pattern
    with speckle. Returns positions (N, 3) float32 metres and sRGB colours (N, 3) uint8."""
    rng = np.random.default_rng(seed)
    height, wall, inner_depth = 0.30, 0.004, 0.03
    ys = np.linspace(0.0, height, 3001)
    r = vase_radius(ys)
    dr = np.gradient(r, ys)
    outer_weight = r * np.sqrt(1 + dr ** 2)  # surface area per unit height
    inside = ys >= height - inner_depth
    inner_weight = np.where(inside, (r - wall) * np.sqrt(1 + dr ** 2), 0.0)
    cdf = np.cumsum(np.concatenate([outer_weight, inner_weight]))
    pick = np.searchsorted(cdf, rng.random(count) * cdf[-1])
    is_inner = pick >= len(ys)
    row = pick % len(ys)
    y = np.clip(ys[row] + (rng.random(count) - 0.5) * (ys[1] - ys[0]), 0.0, height)
    radius = vase_radius(y) - np.where(is_inner, wall, 0.0)
    radius += (rng.random(count) + rng.random(count) - 1.0) * 0.0003  # triangular range noise, +-0.3 mm
    angle = rng.random(count) * 2 * math.pi
    positions = np.column_stack([radius * np.sin(angle), y, radius * np.cos(angle)])

    cobalt, cream = np.array([34.0, 62.0, 128.0]), np.array([232.0, 222.0, 200.0])
    wave = np.sin(2 * math.pi * y / 0.035 + 0.9 * np.sin(3 * angle))
    t = np.clip((wave - 0.55) * 4.0, 0.0, 1.0)
    t = np.where((y < 0.012) | is_inner, 1.0, t)  # unglazed foot and inside
    speckle = (rng.random(count) - 0.5) * 14.0
    colours = cobalt * (1 - t[:, None]) + cream * t[:, None] + speckle[:, None]
    return _q(positions, 7).astype(np.float32), np.clip(np.round(colours), 0, 255).astype(np.uint8)


def ply_bytes(positions: np.ndarray, colours: np.ndarray, comment: str) -> bytes:
    """Binary little-endian PLY with float xyz and uchar red/green/blue per vertex."""
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        f"comment {comment}\n"
        f"element vertex {len(positions)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        "end_header\n"
    ).encode("ascii")
    record = np.dtype([("xyz", "<f4", 3), ("rgb", "u1", 3)])
    body = np.empty(len(positions), dtype=record)
    body["xyz"], body["rgb"] = positions, colours
    return header + body.tobytes()


# --- hotspots -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hotspot:
    """An annotation on a part of the product. Its position is found on the built model: a ray travelling
    `direction` through the centre of the part's bounding box (moved by `offset`, metres) from outside the
    product; the first surface it meets must belong to `part` (nothing hides the marker from that side)."""

    id: str
    label: str
    text: str
    part: str
    direction: tuple[float, float, float]
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


def ray_hit(vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> tuple[int, float]:
    """(face index, distance) of the first triangle the ray meets (Moller-Trumbore on all faces at once);
    face -1 when it misses."""
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    e1, e2 = b - a, c - a
    p = np.cross(direction, e2)
    det = np.einsum("ij,ij->i", e1, p)
    ok = np.abs(det) > 1e-12
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    s = origin - a
    u = np.einsum("ij,ij->i", s, p) * inv
    q = np.cross(s, e1)
    v = (q @ direction) * inv
    t = np.einsum("ij,ij->i", e2, q) * inv
    hit = ok & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
    if not hit.any():
        return -1, math.inf
    face = int(np.flatnonzero(hit)[np.argmin(t[hit])])
    return face, float(t[face])


def place_hotspot(asset: Asset, spot: Hotspot) -> dict[str, Any]:
    """The hotspot as products.json carries it: position on the surface (0.1 mm) and the unit normal there."""
    vertices, faces, owners = [], [], []
    offset = 0
    for index, mesh, world in asset.mesh_instances():
        for prim in mesh.primitives:
            p = prim.positions.astype(np.float64) @ world[:3, :3].T + world[:3, 3]
            vertices.append(p)
            faces.append(prim.indices.astype(np.int64).reshape(-1, 3) + offset)
            owners.append(np.full(len(faces[-1]), index))
            offset += len(p)
    vertices, faces, owners = np.concatenate(vertices), np.concatenate(faces), np.concatenate(owners)
    names = [node.name for node in asset.nodes]
    part = np.isin(owners, [i for i, name in enumerate(names) if name == spot.part])
    if not part.any():
        raise ValueError(f"hotspot {spot.id!r}: no part {spot.part!r} in {asset.nodes[0].name}")
    used = vertices[np.unique(faces[part])]
    direction = np.asarray(spot.direction, dtype=np.float64) / np.linalg.norm(spot.direction)
    origin = (used.min(axis=0) + used.max(axis=0)) / 2 + spot.offset - 10.0 * direction
    face, distance = ray_hit(vertices, faces, origin, direction)
    if face < 0 or names[owners[face]] != spot.part:
        found = "nothing" if face < 0 else names[owners[face]]
        raise ValueError(f"hotspot {spot.id!r}: the ray meets {found}, not {spot.part!r}")
    a, b, c = vertices[faces[face]]
    normal = np.cross(b - a, c - a)
    normal /= np.linalg.norm(normal)
    if normal @ direction > 0:  # the side the ray came from
        normal = -normal
    position = origin + distance * direction
    return {
        "id": spot.id,
        "label": spot.label,
        "text": spot.text,
        "position": [round(float(x), 4) + 0.0 for x in position],
        "normal": [round(float(x), 4) + 0.0 for x in normal],
    }


DOWN, BACK, LEFT = (0.0, -1.0, 0.0), (0.0, 0.0, -1.0), (-1.0, 0.0, 0.0)
HOTSPOTS = {
    "chair": (
        Hotspot("seat", "Upholstered seat", "Sage wool-blend cover over 6 cm of foam; the cover zips off for cleaning.", "Seat", DOWN, (0.0, 0.0, 0.08)),
        Hotspot("back", "Oak back rail", "Solid oak, oiled; mortise-and-tenon joints into the back posts.", "Back", BACK, (0.0, 0.115, 0.0)),
        Hotspot("legs", "Solid oak legs", "3.5 cm square oak legs with felt pads; seat height 49 cm.", "Legs", BACK, (0.19, 0.0, 0.0)),
    ),
    "sofa": (
        Hotspot("cushions", "Seat cushions", "Pocket springs wrapped in foam; covers in Oat or Slate weave, removable.", "SeatCushions", DOWN),
        Hotspot("back", "Back cushions", "Feather-filled back cushions, tilted 10 degrees for a relaxed sit.", "BackCushions", BACK),
        Hotspot("arm", "Padded arms", "18 cm wide arms, firm enough to sit on.", "Frame", DOWN, (0.91, 0.0, 0.0)),
        Hotspot("legs", "Walnut legs", "Turned solid walnut, 10 cm: room for a robot vacuum underneath.", "Legs", BACK, (0.92, 0.0, 0.0)),
    ),
    "watch": (
        Hotspot("dial", "Printed dial", "Sunray dial with applied indices, sapphire crystal.", "Face", BACK),
        Hotspot("crown", "Screw-down crown", "Water resistant to 50 m.", "Case", LEFT),
        Hotspot("strap", "Leather strap", "Vegetable-tanned leather, fits a 16 cm wrist.", "Strap", DOWN),
    ),
    "hat": (
        Hotspot("crown", "Pinched crown", "Wool felt, 11 cm crown with a teardrop pinch.", "Crown", DOWN),
        Hotspot("band", "Grosgrain band", "2.2 cm grosgrain ribbon, stitched.", "Band", BACK),
        Hotspot("brim", "Snap brim", "7 cm brim that lifts at the edge.", "Brim", DOWN, (0.0, 0.0, 0.126)),
    ),
    "ring": (Hotspot("stone", "Round brilliant diamond", "0.3 carat, colour G, clarity VS1, in a platinum cup setting.", "Stone", DOWN),),
    "art": (
        Hotspot("print", "Giclee print", "A3 pigment print on 310 g cotton rag, floated on an acid-free mount.", "Print", BACK, (0.08, -0.12, 0.0)),
        Hotspot("frame", "Oak frame", "Mitred solid oak moulding, 40 mm wide, oiled.", "Frame", BACK, (0.0, 0.33, 0.0)),
    ),
    "lipstick": (
        Hotspot("bullet", "Satin bullet", "Slanted tip for a precise line.", "Bullet", DOWN),
        Hotspot("case", "Gold case", "Refillable metal case.", "Case", BACK),
    ),
}


# --- catalogue ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    category: str
    file: str
    price: str  # decimal string: money is never a float
    build: Callable[[], Asset] | None
    description: str


PRODUCTS = [
    Product("GL-1001", "Havana round optical glasses", "glasses", "glasses.glb", "129.00", glasses, "Acetate front, gold metal temples, clear lenses"),
    Product("SG-1002", "Black sunglasses", "sunglasses", "sunglasses.glb", "149.00", lambda: glasses(sun=True), "Black acetate, gold temples, green-grey tinted lenses"),
    Product("HT-2001", "Felt fedora", "hat", "hat.glb", "89.00", hat, "Wool felt, grosgrain band, 57 cm (M)"),
    Product("ER-3001", "Pearl drop earrings", "earrings", "earrings.glb", "59.00", earrings, "Gold fish hooks, teardrop pearls, pair"),
    Product("NK-3002", "Sapphire pendant necklace", "necklace", "necklace.glb", "199.00", necklace, "Gold cable chain 43 cm, bezel-set sapphire"),
    Product("RG-3003", "Platinum solitaire ring", "ring", "ring.glb", "1490.00", ring, "Comfort-fit band, US size 7 (17.3 mm), round diamond"),
    Product("WT-4001", "Steel dress watch", "watch", "watch.glb", "249.00", watch, "40 mm steel case, leather strap for a 16 cm wrist"),
    Product("CH-5001", "Oak dining chair", "chair", "chair.glb", "179.00", chair, "Solid oak, sage upholstered seat"),
    Product("SF-5002", "Three-seat sofa", "sofa", "sofa.glb", "1299.00", sofa, "Woven upholstery in Oat or Slate, walnut legs"),
    Product("LP-6001", "Classic red lipstick", "lipstick", "lipstick.glb", "28.00", lipstick, "Gold case, satin red bullet"),
    Product("AP-8001", "Framed mountain print", "art", "art_print.glb", "119.00", art_print, "A3 landscape print, oak frame 50 x 70 cm"),
    Product("VS-7001", "Glazed baluster vase (scan)", "vase", "vase.ply", "65.00", None, "Photogrammetry-style point cloud with colour, 30 cm"),
]


def _dimensions(lo: np.ndarray, hi: np.ndarray) -> dict[str, float]:
    size = hi - lo
    return {"width": round(float(size[0]), 3), "height": round(float(size[1]), 3), "depth": round(float(size[2]), 3)}


def generate(out_dir: Path = HERE) -> dict[str, bytes]:
    """Build every sample and write it (plus products.json) into `out_dir`; returns file name -> bytes."""
    from asset_pipeline.io.gltf import write_glb

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    catalogue = []
    for product in PRODUCTS:
        if product.build is not None:
            asset = product.build()
            data = write_glb(asset)
            lo, hi = asset.bounds()
            variants = list(asset.variants)
            hotspots = [place_hotspot(asset, spot) for spot in HOTSPOTS.get(product.category, ())]
        else:
            positions, colours = vase_points()
            data = ply_bytes(positions, colours, "procedural glazed vase scan, metres, +Y up (asset_pipeline samples)")
            lo, hi = positions.min(axis=0).astype(np.float64), positions.max(axis=0).astype(np.float64)
            variants, hotspots = [], []
        files[product.file] = data
        catalogue.append(
            {
                "sku": product.sku,
                "name": product.name,
                "category": product.category,
                "file": product.file,
                "price": product.price,
                "currency": "USD",
                "dimensions_m": _dimensions(lo, hi),
                "variants": variants,
                "description": product.description,
                "hotspots": hotspots,
            }
        )
    files["products.json"] = (json.dumps({"products": catalogue}, indent=2) + "\n").encode()
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    return files


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else HERE
    files = generate(out)
    for name, data in files.items():
        print(f"{name:18s} {len(data):>9,} bytes")
    print(f"{len(files)} files, {sum(map(len, files.values())):,} bytes in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
