"""Helpers shared by the OBJ, PLY and STL readers: polygon and strip triangulation, splitting corners
into glTF vertices, colour conversion, the checks every reader applies (limits, finite coordinates,
index ranges) and finding the side files a model names. The array helpers are vectorized: the readers
parse millions of faces."""

from __future__ import annotations

import posixpath

import numpy as np

from ..errors import CorruptFileError, InvalidGeometryError, LimitExceededError
from ..limits import Limits


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded colour in [0, 1] -> linear (glTF COLOR_0 is linear)."""
    c = np.clip(values.astype(np.float32), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def fan_triangulate(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangulate polygons with `sizes[i]` corners, stored one after another in a flat corner list.

    Returns (triangles (T, 3) int64 indexing the flat corner list, polygon index of each triangle).
    A fan from the first corner: exact for convex polygons (all quads and n-gons a scanner or CAD export
    writes in practice); polygons with fewer than 3 corners yield nothing."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if len(sizes) and (sizes == 3).all():  # the common case: already triangles
        return np.arange(3 * len(sizes), dtype=np.int64).reshape(-1, 3), np.arange(len(sizes), dtype=np.int64)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) if len(sizes) else np.zeros(0, np.int64)
    per_polygon = np.maximum(sizes - 2, 0)
    polygon = np.repeat(np.arange(len(sizes)), per_polygon)
    first_triangle = np.concatenate(([0], np.cumsum(per_polygon)[:-1])) if len(sizes) else per_polygon
    step = np.arange(len(polygon)) - np.repeat(first_triangle, per_polygon) + 1
    base = starts[polygon]
    triangles = np.stack([base, base + step, base + step + 1], axis=1)
    return triangles, polygon


def strips_to_triangles(strip_indices: np.ndarray) -> np.ndarray:
    """Triangle strips as one index list with -1 restarts (PLY `tristrips`) -> (T, 3) triangles.

    Every other triangle of a strip is flipped to keep a consistent winding; degenerate triangles (a
    repeated index, which strips use to join runs) are dropped."""
    idx = np.asarray(strip_indices, dtype=np.int64)
    if len(idx) < 3:
        return np.zeros((0, 3), dtype=np.int64)
    a, b, c = idx[:-2], idx[1:-1], idx[2:]
    valid = (a >= 0) & (b >= 0) & (c >= 0)
    # Position of each triangle inside its own strip decides its winding: count since the last restart.
    restart = np.flatnonzero(idx < 0)
    last_restart = np.searchsorted(restart, np.arange(len(a)), side="right") - 1
    strip_start = np.where(last_restart >= 0, restart[np.maximum(last_restart, 0)] + 1, 0)
    odd = (np.arange(len(a)) - strip_start) % 2 == 1
    tris = np.stack([a, np.where(odd, c, b), np.where(odd, b, c)], axis=1)[valid]
    keep = (tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) & (tris[:, 0] != tris[:, 2])
    return tris[keep]


def split_corners(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """glTF vertices for corners that each name a combination of attribute sources (OBJ v/vt/vn indices,
    or a PLY vertex plus a per-corner UV): one vertex per distinct combination.

    `keys` is (C,) or (C, k) non-negative int64. Returns (the distinct keys in sorted order, same shape
    rules as `keys`; the new vertex index of each corner)."""
    keys = np.asarray(keys, dtype=np.int64)
    if keys.ndim == 1:
        return _dense_unique(keys) if len(keys) == 0 or int(keys.max()) <= 4 * len(keys) + 1024 else _sorted_unique(keys)
    spans = keys.max(axis=0) + 1 if len(keys) else np.ones(keys.shape[1], np.int64)
    if float(np.prod(spans.astype(np.float64))) >= 2**62:
        unique, inverse = np.unique(keys, axis=0, return_inverse=True)
        return unique, inverse.reshape(-1)
    # Mixed-radix packing into one int64 sorts far faster than np.unique(axis=0).
    packed = np.zeros(len(keys), dtype=np.int64)
    for column, span in zip(keys.T, spans):
        packed = packed * span + column
    unique_packed, inverse = (
        _dense_unique(packed) if len(packed) == 0 or int(packed.max()) <= 4 * len(packed) + 1024 else _sorted_unique(packed)
    )
    unique = np.empty((len(unique_packed), keys.shape[1]), dtype=np.int64)
    rest = unique_packed
    for i in range(keys.shape[1] - 1, -1, -1):
        rest, unique[:, i] = np.divmod(rest, spans[i])
    return unique, inverse


def _dense_unique(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique with return_inverse for small non-negative keys, by a lookup table (no sort)."""
    used = np.zeros(int(keys.max()) + 1 if len(keys) else 0, dtype=bool)
    used[keys] = True
    new_index = np.cumsum(used) - 1
    return np.flatnonzero(used), new_index[keys]


def _sorted_unique(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique, inverse.reshape(-1)


def check_limits(vertices: int, triangles: int, limits: Limits, what: str) -> None:
    """Refuse inputs over the configured vertex/triangle limits, before big arrays are built."""
    if triangles > limits.max_input_triangles:
        raise LimitExceededError(
            f"{what} has {triangles:,} triangles; the limit is {limits.max_input_triangles:,}"
        )
    if vertices > limits.max_input_vertices:
        raise LimitExceededError(f"{what} has {vertices:,} vertices; the limit is {limits.max_input_vertices:,}")


def check_finite(positions: np.ndarray, what: str) -> None:
    """NaN or infinite coordinates poison every later measure (bounds, normals, simplification).
    `what` names the file in the message."""
    if positions.size == 0:
        return
    rows_ok = np.isfinite(positions.reshape(len(positions), -1)).all(axis=1)
    if not rows_ok.all():
        bad = np.flatnonzero(~rows_ok)
        count = f"{len(bad):,} vertices have" if len(bad) > 1 else "1 vertex has"
        raise InvalidGeometryError(
            f"{what}: {count} NaN or infinite coordinates, or beyond the float32 range "
            f"(first: vertex {int(bad[0]) + 1:,} in file order)"
        )


def to_float32(values: np.ndarray) -> np.ndarray:
    """float32 copy; values beyond float32's range become inf (and are refused by `check_finite`)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values).astype(np.float32)


def finite_uvs(uv: np.ndarray, notes: list[str]) -> np.ndarray:
    """Texture coordinates with NaN/inf replaced by 0 (a bad UV spoils a texel, not the model)."""
    bad = ~np.isfinite(uv)
    if bad.any():
        uv = np.where(bad, 0.0, uv).astype(np.float32)
        notes.append(f"{int(bad.any(axis=1).sum()):,} texture coordinates with NaN/infinite values set to 0")
    return uv


def check_indices(indices: np.ndarray, count: int, what: str) -> None:
    """Face indices must name existing vertices."""
    if len(indices) == 0:
        return
    low, high = int(indices.min()), int(indices.max())
    if low < 0 or high >= count:
        bad = high if high >= count else low
        raise CorruptFileError(f"{what} refer to vertex {bad:,} but only {count:,} vertices exist (numbered from 0)")


def unit_normals(normals: np.ndarray) -> tuple[np.ndarray | None, int]:
    """Normalize normals; returns (normals or None when any is zero-length or not finite, how many bad)."""
    n = normals.astype(np.float32)
    length = np.linalg.norm(n, axis=1)
    bad = ~np.isfinite(length) | (length < 1e-12)
    if bad.any():
        return None, int(bad.sum())
    return (n / length[:, None]).astype(np.float32), 0


def find_resource(name: str, resources: dict[str, bytes], directory: str = "") -> tuple[str, bytes] | None:
    """(key, bytes) of the side file (MTL, texture) a model names, or None.

    Looks relative to `directory` (the folder of the file that names it) and the model's folder, then
    ignoring case, then by file name alone: exporters write Windows separators and absolute paths of the
    artist's machine ("C:\\Users\\...\\wood.jpg") that only match by name."""
    wanted = name.strip().strip('"').replace("\\", "/")
    if not wanted:
        return None
    candidates = [posixpath.normpath(wanted)]
    if directory:
        candidates.insert(0, posixpath.normpath(posixpath.join(directory, wanted)))
    for candidate in candidates:
        if candidate in resources:
            return candidate, resources[candidate]
    lowered = {key.lower(): key for key in resources}
    for candidate in candidates:
        if candidate.lower() in lowered:
            key = lowered[candidate.lower()]
            return key, resources[key]
    basename = posixpath.basename(wanted).lower()
    matches = sorted((k for k in resources if posixpath.basename(k).lower() == basename), key=len)
    return (matches[0], resources[matches[0]]) if matches else None
