"""Geometric error between two surfaces: how far an optimized asset strays from its reference.

Both surfaces are sampled uniformly by area (world space, seeded, so the same pair always gives the same
numbers) and each sample's distance to the *other surface* (point-to-triangle, not point-to-point) is taken:
- Hausdorff = the larger of the two directions' maxima (symmetric; an estimate from the samples),
- mean = the average of the two directions' means,
both in metres and divided by the reference's bounding-box diagonal. The same metric scores our output and
gltfpack's / glTF Transform's in the benchmark, so it must not depend on how a tool indexes its vertices.

Distances come from open3d's RaycastingScene (Embree BVH); without open3d a KD-tree over triangle
centroids proposes nearby triangles whose exact point-triangle distances are taken.

`Reference` prepares a reference surface (and its BVH) on one measuring thread and queues measurements
behind it: one BVH serves every level, and the caller simplifies the next level while the last one is
measured (the numbers are those of `geometric_error`)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .asset import Asset
from .errors import InvalidGeometryError
from .metadata import GeometricError

# Triangles proposed per point by the KD-tree fallback (the exact distance is the minimum over them).
FALLBACK_CANDIDATES = 16


def bbox_diagonal(asset: Asset) -> float:
    """Length of the world-space bounding-box diagonal (metres after normalize)."""
    lo, hi = asset.bounds()
    return float(np.linalg.norm(hi - lo))


class Surface:
    """A triangle surface (world space) with its area-weighted sampler and a lazily built distance query,
    so one reference serves several candidates (every LOD) without rebuilding its BVH."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.vertices = np.ascontiguousarray(vertices, dtype=np.float64)
        self.faces = np.ascontiguousarray(faces, dtype=np.int64)
        self._query = None
        self._query_lock = threading.Lock()
        self._samples: dict[tuple[int, int], np.ndarray] = {}
        a = self.vertices[self.faces[:, 0]]
        e1 = self.vertices[self.faces[:, 1]] - a
        e2 = self.vertices[self.faces[:, 2]] - a
        cross = np.cross(e1, e2)
        self.areas = np.sqrt(np.einsum("ij,ij->i", cross, cross)) / 2

    @classmethod
    def of(cls, asset: Asset) -> "Surface":
        vertices, faces = asset.world_geometry()
        if len(faces) == 0:
            raise InvalidGeometryError("cannot measure a geometric error: the asset has no triangles")
        return cls(vertices, faces)

    @property
    def diagonal(self) -> float:
        mask = np.zeros(len(self.vertices), dtype=bool)
        mask[self.faces.ravel()] = True
        used = self.vertices[mask]
        return float(np.linalg.norm(used.max(axis=0) - used.min(axis=0))) if len(used) else 0.0

    def sample(self, count: int, seed: int) -> np.ndarray:
        """`count` points uniformly distributed by area (deterministic for a seed; kept, since a reference is
        sampled with the same seed for every candidate)."""
        key = (count, seed)
        if key not in self._samples:
            self._samples[key] = self._sample(count, seed)
        return self._samples[key]

    def _sample(self, count: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        cdf = np.cumsum(self.areas)
        if cdf[-1] <= 0:
            return self.vertices[self.faces[rng.integers(0, len(self.faces), count), 0]]
        face = np.minimum(np.searchsorted(cdf, rng.random(count) * cdf[-1], side="right"), len(cdf) - 1)
        u, v = rng.random(count), rng.random(count)
        outside = u + v > 1  # fold the unit square onto the triangle
        u[outside], v[outside] = 1 - u[outside], 1 - v[outside]
        tri = self.faces[face]
        a = self.vertices[tri[:, 0]]
        return a + u[:, None] * (self.vertices[tri[:, 1]] - a) + v[:, None] * (self.vertices[tri[:, 2]] - a)

    def distance(self, points: np.ndarray) -> np.ndarray:
        """Unsigned distance from each point to the nearest point of this surface."""
        return self.prepare()._query(points)

    def prepare(self) -> "Surface":
        """Build the distance query (the BVH) now rather than on the first `distance` call."""
        with self._query_lock:
            if self._query is None:
                self._query = _open3d_query(self) or _KDTreeQuery(self)
        return self


def geometric_error(reference: Asset | Surface, candidate: Asset | Surface, samples: int = 50_000, seed: int = 0) -> GeometricError:
    """Symmetric surface distance between `reference` and `candidate` (see the module docstring)."""
    ref = reference if isinstance(reference, Surface) else Surface.of(reference)
    cand = candidate if isinstance(candidate, Surface) else Surface.of(candidate)
    forward = ref.distance(cand.sample(samples, seed))  # candidate -> reference
    backward = cand.distance(ref.sample(samples, seed + 1))  # reference -> candidate
    hausdorff = float(max(forward.max(), backward.max()))
    mean = float((forward.mean() + backward.mean()) / 2)
    diagonal = ref.diagonal or 1.0
    return GeometricError(
        hausdorff=hausdorff, mean=mean, hausdorff_rel=hausdorff / diagonal, mean_rel=mean / diagonal, samples=samples
    )


_MEASURING: ThreadPoolExecutor | None = None
_MEASURING_LOCK = threading.Lock()


def _measuring_thread() -> ThreadPoolExecutor:
    """The process's one measuring thread. One, because open3d holds the GIL while it builds and queries a BVH:
    a second thread would only contend; this one overlaps with the caller's GIL-free work (meshoptimizer,
    numpy, encoders)."""
    global _MEASURING
    with _MEASURING_LOCK:
        if _MEASURING is None:
            _MEASURING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geometric-error")
        return _MEASURING


def _forget_measuring_thread() -> None:
    """In a forked child (an RQ work-horse): the parent's measuring thread does not exist here, and an executor
    that believes it does would queue work forever."""
    global _MEASURING, _MEASURING_LOCK
    _MEASURING = None
    _MEASURING_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_measuring_thread)


class Reference:
    """A reference surface built and indexed on the measuring thread from the moment it is created, so the
    first candidate finds its BVH ready; `measure` queues a candidate's error behind it (same numbers as
    `geometric_error`). One reference serves LOD0 and every LOD."""

    def __init__(self, source: Asset | Surface):
        self._surface: Future[Surface] = _measuring_thread().submit(_prepared, source)

    @property
    def surface(self) -> Surface:
        return self._surface.result()

    def measure(self, candidate: Asset | Surface, samples: int = 50_000, seed: int = 0) -> Future[GeometricError]:
        """The error of `candidate` against this reference, measured on the measuring thread. The candidate's
        geometry is copied now, so the asset may change (or be encoded) meanwhile."""
        snapshot = candidate if isinstance(candidate, Surface) else Surface.of(candidate)
        return _measuring_thread().submit(lambda: geometric_error(self.surface, snapshot, samples, seed))


def _prepared(source: Asset | Surface) -> Surface:
    surface = source if isinstance(source, Surface) else Surface.of(source)
    return surface.prepare()


def _open3d_query(surface: Surface):
    try:
        import open3d as o3d
    except ImportError:
        return None
    # Embree works in float32: measure relative to the surface's centre so large offsets keep their precision.
    centre = (surface.vertices.max(axis=0) + surface.vertices.min(axis=0)) / 2
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(
        o3d.core.Tensor(np.ascontiguousarray(surface.vertices - centre, dtype=np.float32)),
        o3d.core.Tensor(np.ascontiguousarray(surface.faces, dtype=np.uint32)),
    )

    def query(points: np.ndarray) -> np.ndarray:
        tensor = o3d.core.Tensor(np.ascontiguousarray(points - centre, dtype=np.float32))
        return scene.compute_distance(tensor).numpy().astype(np.float64)

    return query


class _KDTreeQuery:
    """Exact point-triangle distance over the triangles whose centroids are nearest to each point."""

    def __init__(self, surface: Surface):
        from scipy.spatial import cKDTree

        self.surface = surface
        tri = surface.vertices[surface.faces]
        self.tree = cKDTree(tri.mean(axis=1))
        self.k = min(FALLBACK_CANDIDATES, len(surface.faces))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        _, candidates = self.tree.query(points, k=self.k)
        candidates = candidates.reshape(len(points), -1)
        v = self.surface.vertices
        tri = self.surface.faces[candidates]  # (P, k, 3)
        d = point_triangle_distance(points[:, None, :], v[tri[..., 0]], v[tri[..., 1]], v[tri[..., 2]])
        return d.min(axis=1)


def point_triangle_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Exact distance from points to triangles (broadcasting), by the closest-feature regions of Ericson's
    Real-Time Collision Detection 5.1.5."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    bp = p - b
    d3, d4 = _dot(ab, bp), _dot(ac, bp)
    cp = p - c
    d5, d6 = _dot(ab, cp), _dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v_face = vb / denom
        w_face = vc / denom
        t_ab = d1 / (d1 - d3)
        t_ac = d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    closest = a + v_face[..., None] * ab + w_face[..., None] * ac
    # Ericson tests A, B, AB, C, AC, BC, then the face; applied here in reverse so the first test wins.
    region_bc = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
    closest = np.where(region_bc[..., None], b + t_bc[..., None] * (c - b), closest)
    region_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    closest = np.where(region_ac[..., None], a + t_ac[..., None] * ac, closest)
    closest = np.where(((d6 >= 0) & (d5 <= d6))[..., None], c, closest)
    region_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    closest = np.where(region_ab[..., None], a + t_ab[..., None] * ab, closest)
    closest = np.where(((d3 >= 0) & (d4 <= d3))[..., None], b, closest)
    closest = np.where(((d1 <= 0) & (d2 <= 0))[..., None], a, closest)
    closest = np.where(np.isfinite(closest), closest, a)  # degenerate triangles: fall back to a corner
    return np.linalg.norm(p - closest, axis=-1)


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.einsum("...i,...i->...", x, y)
