"""Simplify: bring the asset under a triangle budget with meshoptimizer, keeping what the eye sees.

- The budget is spread over primitives in proportion to the triangles they draw (an instanced mesh counts once
  per instance), which is one common ratio for every primitive.
- Each primitive goes through `meshopt_simplifyWithAttributes` with normals, UVs and colours as weighted
  attributes; vertices split by UV or normal seams stay split (the index buffer keeps referring to them).
- Normals that repair computed (`Primitive.normals_crease_angle` set) are not the author's: the simplifier sees
  them welded across creases and lightly weighted (`computed_normal_weight`), and they are computed again, with
  the same crease angle, on the simplified surface (a scan's LOD0 then matches gltfpack's surface error).
- A primitive kept at `split_above` triangles or more is cut in two across its longest axis and both halves are
  simplified at once on two threads, the vertices on the cut locked (meshoptimizer runs without the GIL).
- The error bound is absolute and shared: `target_error` x the asset's bounding-box diagonal, converted to
  each mesh's local units, so a small part is not allowed to deform more than a large one.
- When the bound stops a primitive above its share, the bound is relaxed (x4, x16) and, as a last resort,
  `meshopt_simplifySloppy` (grid clustering) is used; every fallback is reported.
- Then unreferenced vertices go and the index/vertex order is optimized for the GPU's vertex cache and fetch.
- The geometric error against the surface before simplification is measured (measure.py) and stored in
  `asset.extras["geometric_error"]`; the pipeline measures it with the LODs' instead (`record_error`), off the
  GLB's path."""

from __future__ import annotations

import ctypes
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from ..asset import Asset, Primitive
from ..errors import MissingDependencyError
from ..measure import Surface, geometric_error
from ..metadata import GeometricError
from . import StageReport
from .repair import compute_normals, drop_empty_meshes, vertex_remap

RELAXED_ERRORS = (4.0, 16.0)  # multipliers of target_error tried before falling back to sloppy clustering
MAX_ATTRIBUTE_FLOATS = 16  # meshoptimizer's attribute limit (conservative across versions)


class SimplifyOptions(BaseModel):
    target_triangles: int | None = Field(default=None, ge=1, description="triangle budget; None = do not simplify")
    target_error: float = Field(
        default=0.01, gt=0, description="largest deviation allowed, as a fraction of the bounding-box diagonal (relaxed if the budget needs it)"
    )
    attribute_weights: dict[str, float] = Field(
        default_factory=lambda: {"NORMAL": 0.5, "TEXCOORD": 0.5, "COLOR": 1.0},
        description="how much attribute change counts against position error (gltfpack weighs normals 0.5, colours 1)",
    )
    computed_normal_weight: float = Field(
        default=0.1,
        ge=0,
        description="weight of normals that repair computed (not the file's): low, so the surface decides, yet enough "
        "to keep thin features (tips, ridges) that position error alone lets collapse; they are recomputed afterwards",
    )
    split_above: int = Field(
        default=100_000,
        ge=0,
        description="a primitive simplified to at least this many triangles is cut in two across its longest axis and "
        "the halves simplified at once on two threads, the vertices on the cut kept in place (0 = never)",
    )
    lock_border: bool = Field(default=False, description="keep open borders in place (for meshes that tile)")
    measure_error: bool = Field(default=True, description="measure the geometric error against the input surface")
    error_samples: int = Field(default=50_000, ge=100, description="points sampled on each surface for the error")


def simplify(asset: Asset, options: SimplifyOptions) -> StageReport:
    return simplify_against(asset, options, reference=None)


def simplify_against(asset: Asset, options: SimplifyOptions, reference: Surface | None) -> StageReport:
    """`simplify`, measuring the error against `reference` (default: the asset as it was before)."""
    before = asset.triangle_count
    target = options.target_triangles
    if target is None:
        return StageReport(stage="simplify", skipped=True, changes={"triangles": before, "reason": "no triangle budget"})
    if before <= target:
        return StageReport(
            stage="simplify",
            skipped=True,
            changes={"triangles": before, "target_triangles": target, "reason": "already within the budget"},
        )
    try:
        import meshoptimizer  # noqa: F401
    except ImportError:  # pragma: no cover - a declared dependency
        raise MissingDependencyError("simplification needs the meshoptimizer package (pip install meshoptimizer)") from None

    if options.measure_error and reference is None:
        reference = Surface.of(asset)
    vertices_before = asset.vertex_count
    ratio = target / before
    lo, hi = asset.bounds()
    world_error = options.target_error * float(np.linalg.norm(hi - lo))
    scales = asset.mesh_world_scales()

    start = time.perf_counter()
    methods: dict[str, int] = {}
    worst_error = 0.0
    warnings: list[str] = []
    for mesh_index, scale in scales.items():
        for prim in asset.meshes[mesh_index].primitives:
            if prim.mode != "triangles" or prim.triangle_count == 0:
                continue
            share = max(1, math.floor(prim.triangle_count * ratio))
            if share >= prim.triangle_count:
                continue
            # Computed normals are not the author's: the simplifier sees them welded across creases (no seams) and
            # lightly weighted, and they are computed again on what is left, as a client would shade it.
            crease_angle = prim.normals_crease_angle if prim.normals is not None else None
            work, weights = prim, options.attribute_weights
            if crease_angle is not None:
                work, weights = _welded_across_creases(prim), {**weights, "NORMAL": options.computed_normal_weight}
            indices, method, error, cache_ordered = _simplify_primitive(work, share, world_error / scale, options, weights)
            methods[method] = methods.get(method, 0) + 1
            worst_error = max(worst_error, error * scale)
            if len(indices) > share:
                warnings.append(
                    f"mesh {asset.meshes[mesh_index].name!r}: kept {len(indices):,} triangles, over its share of {share:,}"
                )
            _compact(work, indices, cache_ordered)
            if crease_angle is not None:
                _install(prim, compute_normals(work, crease_angle))
    drop_empty_meshes(asset)  # a tiny part whose share rounded to nothing
    simplify_ms = (time.perf_counter() - start) * 1000

    after = asset.triangle_count
    changes: dict[str, Any] = {
        "triangles_before": before,
        "triangles_after": after,
        "target_triangles": target,
        "vertices_before": vertices_before,
        "vertices_after": asset.vertex_count,
        "target_error_rel": options.target_error,
        "methods": methods,
        "simplifier_error_m": worst_error,
        "simplify_ms": round(simplify_ms, 1),
    }
    if "sloppy" in methods:
        warnings.append(
            f"{methods['sloppy']} primitive(s) could not reach the budget within {RELAXED_ERRORS[-1]:g}x the error bound "
            "and were clustered with meshopt_simplifySloppy (coarser, may merge nearby parts)"
        )
    if "relaxed" in methods:
        warnings.append(f"{methods['relaxed']} primitive(s) needed a relaxed error bound to reach the budget")
    if after > target:
        warnings.append(f"{after:,} triangles remain, over the budget of {target:,}")
    report = StageReport(stage="simplify", changes=changes, warnings=warnings)
    if options.measure_error and reference is not None:
        record_error(asset, report, geometric_error(reference, Surface.of(asset), samples=options.error_samples))
    return report


def record_error(asset: Asset, report: StageReport, error: GeometricError) -> None:
    """Store the simplified asset's geometric error where the bundle reads it (also for an error measured
    after the stage, on the measuring thread)."""
    asset.extras["geometric_error"] = error
    report.changes.update(
        error_hausdorff_m=error.hausdorff,
        error_mean_m=error.mean,
        error_hausdorff_rel=error.hausdorff_rel,
        error_mean_rel=error.mean_rel,
    )


def _simplify_primitive(
    prim: Primitive, share: int, local_error: float, options: SimplifyOptions, weights: dict[str, float]
) -> tuple[np.ndarray, str, float, bool]:
    """(new triangles (K, 3), method used, error reached in local units, whether the triangles are already in
    vertex cache order)."""
    import meshoptimizer

    positions = np.ascontiguousarray(prim.positions, dtype=np.float32)
    indices = np.ascontiguousarray(prim.indices, dtype=np.uint32).ravel()
    attributes, weights = _attribute_stream(prim, weights)
    flags = meshoptimizer.SIMPLIFY_ERROR_ABSOLUTE | (meshoptimizer.SIMPLIFY_LOCK_BORDER if options.lock_border else 0)
    if options.split_above and share >= options.split_above and _usable_cpus() >= 2:
        halves = _in_halves(indices, positions, attributes, weights, share, local_error, flags)
        if halves is not None:
            return halves[0].reshape(-1, 3), "attributes", halves[1], True
    result = indices
    error = 0.0
    for attempt, factor in enumerate((1.0, *RELAXED_ERRORS)):
        # Relaxed attempts may also drop tiny disconnected pieces that no collapse can remove.
        attempt_flags = flags
        result, error = _with_attributes(indices, positions, attributes, weights, share * 3, local_error * factor, attempt_flags)
        if len(result) <= share * 3:
            return result.reshape(-1, 3), "attributes" if attempt == 0 else "relaxed", error, False
    destination = np.zeros(len(indices), dtype=np.uint32)
    reached = np.zeros(1, dtype=np.float32)
    count = meshoptimizer.simplify_sloppy(
        destination, indices, positions, target_index_count=share * 3, target_error=1.0, result_error=reached
    )
    if count == 0 or count > len(result):  # sloppy made it worse (or erased it): keep the bounded result
        return result.reshape(-1, 3), "relaxed", error, False
    extent = float(meshoptimizer.simplify_scale(positions))  # sloppy reports error relative to the mesh extent
    return destination[:count].reshape(-1, 3).copy(), "sloppy", float(reached[0]) * extent, False


def _in_halves(
    indices: np.ndarray,
    positions: np.ndarray,
    attributes: np.ndarray,
    weights: np.ndarray,
    share: int,
    local_error: float,
    flags: int,
) -> tuple[np.ndarray, float] | None:
    """Both halves of the primitive (cut across its longest axis at the median of the triangles' first corners)
    simplified at once, one on another thread (meshoptimizer runs without the GIL), each to its part of the
    share, with the vertices on the cut locked so that the halves still meet. On the dragon this halves the
    time and lowers the error (a seam of ~1,000 vertices beside 150k triangles). None when a half stops above
    its part within the bound: the caller simplifies the whole, with its fallbacks."""
    import meshoptimizer

    faces = indices.reshape(-1, 3)
    extent = [float(positions[:, k].max() - positions[:, k].min()) for k in range(3)]
    key = positions[faces[:, 0], int(np.argmax(extent))]
    left = key < np.median(key)
    parts = [faces[left], faces[~left]]
    if min(len(part) for part in parts) == 0:
        return None
    in_part = np.zeros((2, len(positions)), dtype=bool)
    for side, part in enumerate(parts):
        in_part[side, part.ravel()] = True
    seam = np.ascontiguousarray(in_part[0] & in_part[1], dtype=np.uint8)
    targets = [share * len(part) // len(faces) for part in parts]
    sparse = flags | meshoptimizer.SIMPLIFY_SPARSE  # each call touches only its half's vertices
    run = [
        (np.ascontiguousarray(part, dtype=np.uint32).ravel(), positions, attributes, weights, 3 * target, local_error, sparse, seam)
        for part, target in zip(parts, targets)
    ]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="simplify") as other:
        second = other.submit(_simplified_half, *run[1])
        results = [_simplified_half(*run[0]), second.result()]
    if any(len(result) > 3 * target for (result, _), target in zip(results, targets)):
        return None
    return np.concatenate([result for result, _ in results]), max(error for _, error in results)


def _simplified_half(indices: np.ndarray, positions: np.ndarray, *rest) -> tuple[np.ndarray, float]:
    """One half simplified, then put in vertex cache order on the same thread (the halves follow each other)."""
    import meshoptimizer

    result, error = _with_attributes(indices, positions, *rest)
    ordered = np.zeros_like(result)
    if len(result):
        meshoptimizer.optimize_vertex_cache(ordered, result, index_count=len(result), vertex_count=len(positions))
    return ordered, error


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _welded_across_creases(prim: Primitive) -> Primitive:
    """A copy whose vertices are welded where they differed only by their normal (one fan's normal stays)."""
    others = [np.asarray(a, dtype=np.float32).reshape(len(a), -1) for name, a in prim.attribute_arrays().items() if name != "NORMAL"]
    remap, unique = vertex_remap(np.ascontiguousarray(np.concatenate(others, axis=1)), prim.indices)
    referenced = np.zeros(prim.vertex_count, dtype=bool)
    referenced[prim.indices.ravel()] = True
    representative = np.empty(unique, dtype=np.int64)
    representative[remap[referenced]] = np.flatnonzero(referenced)
    welded = prim.take_vertices(representative)
    welded.indices = remap[prim.indices].astype(np.uint32)
    return welded


def _install(prim: Primitive, source: Primitive) -> None:
    """Give `prim` the geometry of `source` (the object stays: meshes hold it)."""
    prim.positions, prim.indices, prim.normals, prim.tangents = source.positions, source.indices, source.normals, source.tangents
    prim.uvs, prim.colors, prim.normals_crease_angle = source.uvs, source.colors, source.normals_crease_angle


def _attribute_stream(prim: Primitive, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    columns: list[np.ndarray] = []
    column_weights: list[float] = []

    def add(values: np.ndarray | None, weight: float) -> None:
        if values is None or weight <= 0 or len(column_weights) + values.shape[1] > MAX_ATTRIBUTE_FLOATS:
            return
        columns.append(np.nan_to_num(np.asarray(values, dtype=np.float32)))
        column_weights.extend([weight] * values.shape[1])

    add(prim.normals, weights.get("NORMAL", 0.0))
    add(prim.colors, weights.get("COLOR", 0.0))
    for uv in prim.uvs:
        add(uv, weights.get("TEXCOORD", 0.0))
    if not columns:
        return np.zeros((prim.vertex_count, 0), dtype=np.float32), np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(columns, axis=1)), np.asarray(column_weights, dtype=np.float32)


_SIMPLIFY_WITH_ATTRIBUTES = None


def _simplify_with_attributes_function():
    """meshopt_simplifyWithAttributes with a full C prototype. The Python binding (0.2.x) declares none, and
    ctypes cannot pass a Python float without one; a private function object keeps the library's own untouched."""
    global _SIMPLIFY_WITH_ATTRIBUTES
    if _SIMPLIFY_WITH_ATTRIBUTES is None:
        from meshoptimizer._loader import lib

        P = ctypes.POINTER
        function = lib["meshopt_simplifyWithAttributes"]
        function.argtypes = [
            P(ctypes.c_uint), P(ctypes.c_uint), ctypes.c_size_t,  # destination, indices, index_count
            P(ctypes.c_float), ctypes.c_size_t, ctypes.c_size_t,  # positions, vertex_count, stride
            P(ctypes.c_float), ctypes.c_size_t,  # attributes, stride
            P(ctypes.c_float), ctypes.c_size_t,  # attribute_weights, attribute_count
            P(ctypes.c_ubyte), ctypes.c_size_t, ctypes.c_float,  # vertex_lock, target_index_count, target_error
            ctypes.c_uint, P(ctypes.c_float),  # options, result_error
        ]  # fmt: skip
        function.restype = ctypes.c_size_t
        _SIMPLIFY_WITH_ATTRIBUTES = function
    return _SIMPLIFY_WITH_ATTRIBUTES


def _with_attributes(
    indices: np.ndarray,
    positions: np.ndarray,
    attributes: np.ndarray,
    weights: np.ndarray,
    target_index_count: int,
    target_error: float,
    flags: int,
    vertex_lock: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    if len(weights) == 0 and vertex_lock is None:
        import meshoptimizer

        destination = np.zeros(len(indices), dtype=np.uint32)
        reached = np.zeros(1, dtype=np.float32)
        count = meshoptimizer.simplify(
            destination, indices, positions, target_index_count=target_index_count, target_error=target_error,
            options=flags, result_error=reached,
        )  # fmt: skip
        return destination[:count].copy(), float(reached[0])
    function = _simplify_with_attributes_function()
    P = ctypes.POINTER
    destination = np.zeros(len(indices), dtype=np.uint32)
    reached = ctypes.c_float(0.0)
    count = function(
        destination.ctypes.data_as(P(ctypes.c_uint)),
        indices.ctypes.data_as(P(ctypes.c_uint)),
        len(indices),
        positions.ctypes.data_as(P(ctypes.c_float)),
        len(positions),
        positions.strides[0],
        attributes.ctypes.data_as(P(ctypes.c_float)),
        attributes.strides[0],
        weights.ctypes.data_as(P(ctypes.c_float)),
        len(weights),
        None if vertex_lock is None else vertex_lock.ctypes.data_as(P(ctypes.c_ubyte)),
        target_index_count,
        target_error,
        flags,
        ctypes.byref(reached),
    )
    return destination[:count].copy(), float(reached.value)


def _compact(prim: Primitive, triangles: np.ndarray, cache_ordered: bool = False) -> None:
    """Install the simplified triangles, reordered for the vertex cache (unless they already are), with the
    vertex buffer reduced to the vertices they use in first-use order (vertex fetch locality)."""
    import meshoptimizer

    flat = np.ascontiguousarray(triangles, dtype=np.uint32).ravel()
    optimized = flat
    if len(flat) and not cache_ordered:
        optimized = np.zeros_like(flat)
        meshoptimizer.optimize_vertex_cache(optimized, flat, index_count=len(flat), vertex_count=prim.vertex_count)
    remap = np.zeros(prim.vertex_count, dtype=np.uint32)
    used = meshoptimizer.optimize_vertex_fetch_remap(remap, optimized, index_count=len(optimized), vertex_count=prim.vertex_count)
    referenced = np.flatnonzero(remap != np.uint32(0xFFFFFFFF))
    order = np.empty(int(used), dtype=np.int64)
    order[remap[referenced]] = referenced
    compacted = prim.take_vertices(order)
    prim.positions, prim.normals, prim.tangents = compacted.positions, compacted.normals, compacted.tangents
    prim.uvs, prim.colors = compacted.uvs, compacted.colors
    prim.indices = remap[optimized].reshape(-1, 3).astype(np.uint32)
