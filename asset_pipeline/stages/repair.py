"""Repair: make every primitive a clean indexed triangle mesh before anything else looks at it.

Per triangle primitive, in this order (each step is counted in the report):
1. validate: NaN/inf positions or faces past the vertex list raise `InvalidGeometryError`;
2. weld vertices whose position (within `weld_tolerance` x bounding-box diagonal) *and* every attribute
   (normal, tangent, UVs, colour, within `attribute_tolerance`) are equal, so UV seams and hard edges stay split;
3. drop unreferenced vertices, degenerate faces (a repeated corner or zero area) and duplicate faces;
4. remove scanner debris: small disconnected pieces (see `RepairOptions.debris_fraction`);
5. make winding consistent across each edge-connected piece and outward (agreeing with the file's normals
   when it has them, else with the piece's signed volume);
6. compute area-weighted normals where they are missing (hard at creases; `Primitive.normals_crease_angle`
   marks them as computed, so the simplifier recomputes them on the simplified surface).

Connectivity (pieces, shared edges, winding) is computed on *positions* only, so a seam where UVs or normals
split a vertex does not cut the surface in two. Point clouds only lose NaN and exactly duplicated points."""

from __future__ import annotations

import sys
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field
from scipy.sparse import coo_matrix  # a core dependency, used on every mesh: imported with the module, not mid-stage
from scipy.sparse.csgraph import connected_components

from ..asset import Asset, Primitive
from ..errors import InvalidGeometryError
from . import StageReport


class RepairOptions(BaseModel):
    weld_tolerance: float = Field(
        default=1e-6,
        ge=0,
        description="vertices closer than this fraction of the bounding-box diagonal (and with equal attributes) are welded",
    )
    attribute_tolerance: float = Field(
        default=1e-5, ge=0, description="normals/tangents/UVs/colours closer than this (absolute) count as equal when welding"
    )
    debris_fraction: float = Field(
        default=0.001,
        ge=0,
        description="a disconnected piece with fewer than this fraction of the asset's triangles AND an extent below "
        "debris_extent is scanner debris and is removed",
    )
    debris_extent: float = Field(
        default=0.05, ge=0, description="largest debris piece extent, as a fraction of the asset's bounding-box diagonal"
    )
    debris_max_total: float = Field(
        default=0.01,
        ge=0,
        description="safety cap: when the debris candidates add up to more than this fraction of a primitive's triangles "
        "they are structure (beads, studs), not noise, and nothing is removed",
    )
    debris_textured: bool = Field(
        default=False,
        description="also look for debris in primitives with texture coordinates; off by default because authored, "
        "UV-mapped models have small separate parts (screws, gems, nose pads) on purpose",
    )
    fix_winding: bool = Field(default=True, description="make triangle winding consistent and outward")
    recompute_normals: Literal["missing", "always", "never"] = Field(
        default="missing", description="compute area-weighted vertex normals: where missing or invalid, always, or never"
    )
    crease_angle: float = Field(
        default=60.0,
        ge=0,
        le=180,
        description="when a whole primitive gets computed normals, edges whose faces meet at more than this angle "
        "(degrees) stay hard: their vertices are split (a cube stays a cube; 180 = smooth everywhere)",
    )


def repair(asset: Asset, options: RepairOptions) -> StageReport:
    prims = list(asset.primitives())
    if not prims:
        raise InvalidGeometryError("the file has no geometry: no meshes with triangles or points")
    bounds = _finite_bounds(asset)
    diagonal = float(np.linalg.norm(bounds[1] - bounds[0]))
    total_triangles = sum(p.triangle_count for p in prims)
    scales = asset.mesh_world_scales()

    totals: dict[str, int] = {
        "vertices_before": sum(p.vertex_count for p in prims),
        "faces_before": total_triangles,
        "welded_vertices": 0,
        "unreferenced_vertices_removed": 0,
        "degenerate_faces_removed": 0,
        "duplicate_faces_removed": 0,
        "debris_components_removed": 0,
        "debris_faces_removed": 0,
        "faces_flipped": 0,
        "components": 0,
        "components_turned_outward": 0,
        "non_manifold_edges": 0,
        "boundary_edges": 0,
        "normals_computed": 0,
        "vertices_split_at_creases": 0,
        "points_removed": 0,
    }
    warnings: list[str] = []
    for mesh_index, mesh in enumerate(asset.meshes):
        kept: list[Primitive] = []
        for prim_index, prim in enumerate(mesh.primitives):
            where = f"mesh {mesh.name or mesh_index!r} primitive {prim_index}"
            if prim.mode == "points":
                out = _repair_points(prim, totals)
            else:
                # Tolerances and debris extents are in world terms; convert to this mesh's local units.
                local_diagonal = diagonal / scales.get(mesh_index, 1.0)
                out = _repair_triangles(prim, options, local_diagonal, total_triangles, totals, warnings, where)
            if out is not None:
                kept.append(out)
        mesh.primitives = kept
    drop_empty_meshes(asset)

    if asset.triangle_count == 0 and not any(p.mode == "points" and p.vertex_count for p in asset.primitives()):
        raise InvalidGeometryError(
            f"no triangles left after repair ({totals['degenerate_faces_removed']:,} degenerate, "
            f"{totals['debris_faces_removed']:,} debris faces removed): the file has no usable surface"
        )
    prims = list(asset.primitives())
    totals["vertices_after"] = sum(p.vertex_count for p in prims)
    totals["faces_after"] = sum(p.triangle_count for p in prims)
    if totals["non_manifold_edges"]:
        warnings.append(
            f"{totals['non_manifold_edges']:,} non-manifold edges (shared by more than two triangles) were kept as they are"
        )
    return StageReport(stage="repair", changes=totals, warnings=warnings)


# ---- triangles ---------------------------------------------------------------------------------


def _repair_triangles(
    prim: Primitive,
    options: RepairOptions,
    diagonal: float,
    asset_triangles: int,
    totals: dict[str, int],
    warnings: list[str],
    where: str,
) -> Primitive | None:
    positions = prim.positions
    if prim.indices is None or len(prim.indices) == 0:
        totals["unreferenced_vertices_removed"] += prim.vertex_count
        return None
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        raise InvalidGeometryError(f"{where}: {int(bad.sum()):,} vertex positions are NaN or infinite")
    indices = np.asarray(prim.indices).reshape(-1, 3)
    if int(indices.max()) >= len(positions):
        raise InvalidGeometryError(
            f"{where}: faces refer to vertex {int(indices.max()):,} but there are only {len(positions):,} vertices"
        )
    weld_step = options.weld_tolerance * diagonal

    # 1. weld: one key per vertex from quantized position + attributes; unreferenced vertices get no slot.
    referenced = np.zeros(len(positions), dtype=bool)
    referenced[indices.ravel()] = True
    referenced_count = int(np.count_nonzero(referenced))
    key = _weld_key(prim, weld_step, options.attribute_tolerance)
    remap, unique = vertex_remap(key, indices)
    totals["unreferenced_vertices_removed"] += len(positions) - referenced_count
    totals["welded_vertices"] += referenced_count - unique
    representative = np.empty(unique, dtype=np.int64)
    representative[remap[referenced]] = np.flatnonzero(referenced)
    prim = prim.take_vertices(representative)
    faces = remap[indices]

    # Position-only identity of each new vertex: the topology that seams must not cut. Without attributes
    # the weld key is the position, so every welded vertex is its own position.
    if len(prim.attribute_arrays()) == 1:
        topo_of_vertex = np.arange(prim.vertex_count, dtype=np.int64)
        topo = faces
    else:
        topo_of_vertex, _ = vertex_remap(_quantize(prim.positions, weld_step), None)
        topo = topo_of_vertex[faces]

    # 2. degenerate faces: a repeated corner (after welding) or zero area.
    p = prim.positions.astype(np.float64)
    cross = _face_cross(p, faces)
    area2 = np.einsum("ij,ij->i", cross, cross)
    repeated = (topo[:, 0] == topo[:, 1]) | (topo[:, 1] == topo[:, 2]) | (topo[:, 0] == topo[:, 2])
    degenerate = repeated | (area2 <= (weld_step * weld_step) ** 2)
    totals["degenerate_faces_removed"] += int(np.count_nonzero(degenerate))
    keep = ~degenerate

    # 3. duplicate faces: the same vertices in the same cyclic order (opposite-facing twins are kept: with
    # their own vertices they are a deliberate two-sided card).
    same = _repeats(_canonical_rotation(faces), prim.vertex_count)
    totals["duplicate_faces_removed"] += int(np.count_nonzero(same & keep))
    keep &= ~same
    if not keep.all():
        faces, topo, cross = _take_faces(keep, faces, topo, cross)
    if len(faces) == 0:
        return None

    edges = _EdgeTable(topo)
    totals["non_manifold_edges"] += edges.non_manifold
    totals["boundary_edges"] += edges.boundary

    # 4. debris: pieces connected through shared edges.
    piece_count, piece = _components(len(faces), edges.all_pairs)
    if options.debris_fraction > 0 and piece_count > 1 and (options.debris_textured or not prim.uvs):
        drop = _debris_faces(p, faces, piece, piece_count, options, diagonal, asset_triangles)
        if drop is not None:
            removed_faces = int(drop.sum())
            if removed_faces > options.debris_max_total * len(faces):
                warnings.append(
                    f"{where}: {int(np.unique(piece[drop]).size):,} small separate pieces ({removed_faces:,} triangles) "
                    "kept: together they are too large to be scanner debris"
                )
            else:
                totals["debris_components_removed"] += int(np.unique(piece[drop]).size)
                totals["debris_faces_removed"] += removed_faces
                faces, topo, cross = _take_faces(~drop, faces, topo, cross)
                edges = _EdgeTable(topo)
                piece_count, piece = _components(len(faces), edges.all_pairs)

    # 5. winding.
    if options.fix_winding:
        # Without non-manifold edges, pieces through any shared edge are pieces through manifold edges.
        known = (piece_count, piece) if edges.non_manifold == 0 else None
        flip, components, turned = _orient(p, faces, cross, edges, prim.normals, known)
        totals["components"] += components
        totals["components_turned_outward"] += turned
        if flip.any():
            totals["faces_flipped"] += int(flip.sum())
            faces[flip] = faces[flip][:, ::-1]
            if topo is not faces:
                topo[flip] = topo[flip][:, ::-1]
            cross[flip] = -cross[flip]

    # Compact: vertices only referenced by removed faces go too.
    used_mask = np.zeros(prim.vertex_count, dtype=bool)
    used_mask[faces.ravel()] = True
    if not used_mask.all():
        used = np.flatnonzero(used_mask)
        new_index = np.full(prim.vertex_count, -1, dtype=np.int64)
        new_index[used] = np.arange(len(used))
        prim = prim.take_vertices(used)
        faces = new_index[faces]
        topo_of_vertex = topo_of_vertex[used]
    prim.indices = faces.astype(np.uint32)

    # 6. normals.
    if options.recompute_normals == "always" or (options.recompute_normals == "missing" and prim.normals is None):
        vertices = prim.vertex_count
        prim = _creased_normals(prim, topo, topo_of_vertex, cross, edges, options.crease_angle)
        prim.normals_crease_angle = options.crease_angle
        totals["vertices_split_at_creases"] += prim.vertex_count - vertices
        totals["normals_computed"] += prim.vertex_count
    elif options.recompute_normals == "missing":
        totals["normals_computed"] += _repair_normals(prim, cross, topo_of_vertex)
    return prim


def _take_faces(keep: np.ndarray, faces: np.ndarray, topo: np.ndarray, cross: np.ndarray):
    """The kept rows of the per-face arrays; `topo` may be `faces` itself (no attributes) and stays so."""
    kept = faces[keep]
    return kept, (kept if topo is faces else topo[keep]), cross[keep]


def _weld_key(prim: Primitive, position_step: float, attribute_step: float) -> np.ndarray:
    parts = [_quantize(prim.positions, position_step)]
    for name, values in prim.attribute_arrays().items():
        if name != "POSITION":
            parts.append(_quantize(np.nan_to_num(values), attribute_step))
    return np.ascontiguousarray(np.concatenate(parts, axis=1))


def _quantize(values: np.ndarray, step: float) -> np.ndarray:
    """Snap to a grid of `step` (exact comparison when step is 0): equal keys mean equal within tolerance."""
    v = np.asarray(values, dtype=np.float64)
    if step <= 0:
        return np.ascontiguousarray(v)
    return np.ascontiguousarray(np.floor(v / step + 0.5).astype(np.int64))


def vertex_remap(key: np.ndarray, indices: np.ndarray | None) -> tuple[np.ndarray, int]:
    """meshoptimizer's hash-based remap: new index per vertex (first occurrence order) and the unique count.
    With `indices`, unreferenced vertices get no new index (their entry is meaningless)."""
    import meshoptimizer

    key = np.ascontiguousarray(key)
    remap = np.zeros(len(key), dtype=np.uint32)
    # The binding passes index_count 0 for "no indices", which remaps nothing: spell the identity out.
    flat = np.arange(len(key), dtype=np.uint32) if indices is None else np.ascontiguousarray(indices, dtype=np.uint32).ravel()
    unique = meshoptimizer.generate_vertex_remap(
        remap,
        indices=flat,
        index_count=len(flat),
        vertices=key.view(np.uint8).reshape(len(key), -1),
        vertex_count=len(key),
        vertex_size=key.shape[1] * key.itemsize,
    )
    return remap.astype(np.int64), int(unique)


def _face_cross(p: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Per-face (b - a) x (c - a): direction is the face normal, length twice the area. Component arrays and
    in-place arithmetic: fewer 20 MB temporaries on a big scan."""
    columns = [np.ascontiguousarray(p[:, k]) for k in range(3)]
    corners = [np.ascontiguousarray(faces[:, j]) for j in range(3)]
    e1, e2 = [], []
    for k in range(3):
        a = columns[k][corners[0]]
        e1.append(np.subtract(columns[k][corners[1]], a))
        e2.append(np.subtract(columns[k][corners[2]], a, out=a))
    out = np.empty((len(faces), 3))
    for k in range(3):
        i, j = (k + 1) % 3, (k + 2) % 3
        np.multiply(e1[i], e2[j], out=out[:, k])
        out[:, k] -= e1[j] * e2[i]
    return out


def _repeats(rows: np.ndarray, bound: int) -> np.ndarray:
    """True for every row equal to an earlier-sorted row (all but one of each group of equal rows)."""
    if bound < 1 << 21:  # three 21-bit values pack into one int64: one sort instead of a lexsort
        key = (rows[:, 0] << 42) | (rows[:, 1] << 21) | rows[:, 2]
        ordered = np.sort(key)
        if not (ordered[1:] == ordered[:-1]).any():  # the usual case: no repeats, and a sort is cheaper than an argsort
            return np.zeros(len(rows), dtype=bool)
        order = np.argsort(key)
        equal = key[order[1:]] == key[order[:-1]]
    else:
        order = np.lexsort(rows.T[::-1])
        equal = (rows[order[1:]] == rows[order[:-1]]).all(axis=1)
    out = np.zeros(len(rows), dtype=bool)
    out[order[1:]] = equal
    return out


def _canonical_rotation(faces: np.ndarray) -> np.ndarray:
    """Each face rotated so its smallest index comes first (winding preserved; ties: the earliest corner)."""
    a, b, c = faces[:, 0], faces[:, 1], faces[:, 2]
    at_a = (a <= b) & (a <= c)
    at_b = ~at_a & (b <= c)
    return np.stack(
        [
            np.where(at_a, a, np.where(at_b, b, c)),
            np.where(at_a, b, np.where(at_b, c, a)),
            np.where(at_a, c, np.where(at_b, a, b)),
        ],
        axis=1,
    )


class _EdgeTable:
    """Undirected edges of a face list grouped, with the face pairs they connect.

    `all_pairs`: (face, face) pairs sharing any edge; `manifold`: pairs sharing an edge that has exactly two
    faces, with `consistent` telling whether they traverse it in opposite directions (consistent winding)."""

    def __init__(self, topo: np.ndarray):
        count = len(topo)
        self._vertex_bits = (int(topo.max()) + 1).bit_length()
        # In place where possible: on a big scan every temporary here is 20 MB of fresh memory.
        a = np.ascontiguousarray(topo, dtype=np.int64).ravel()
        b = np.empty((count, 3), dtype=np.int64)
        b[:, :2], b[:, 2] = topo[:, 1:], topo[:, 0]
        b = b.ravel()
        forward = a < b
        key = np.minimum(a, b)
        np.maximum(a, b, out=b)
        key <<= self._vertex_bits
        key |= b
        del b
        # One sort of (edge, face, direction) packed into an int64 when it fits (all but huge meshes): cheaper
        # than an argsort followed by three gathers.
        face_bits = count.bit_length()
        if 2 * self._vertex_bits + face_bits + 1 <= 63:
            packed = key
            packed <<= face_bits + 1
            entry = np.arange(count).repeat(3)
            entry <<= 1
            entry |= forward
            packed |= entry
            del entry
            packed.sort()
            lowest_byte = packed.view(np.uint8)[0 if sys.byteorder == "little" else 7 :: 8]  # no 20 MB `packed & 1`
            forward = (lowest_byte & 1).astype(bool)
            face = packed >> 1
            face &= (1 << face_bits) - 1
            key = packed
            key >>= face_bits + 1
        else:
            order = np.argsort(key)
            key, face, forward = key[order], order // 3, forward[order]
        new_group = np.empty(len(key), dtype=bool)
        new_group[0] = True
        np.not_equal(key[1:], key[:-1], out=new_group[1:])
        starts = np.flatnonzero(new_group)
        sizes = np.diff(starts, append=len(key))
        self.boundary = int(np.count_nonzero(sizes == 1))
        self.non_manifold = int(np.count_nonzero(sizes > 2))
        first = starts[sizes == 2]
        self.manifold = np.stack([face[first], face[first + 1]], axis=1)
        self.consistent = forward[first] != forward[first + 1]
        self._manifold_keys = key[first]
        if self.non_manifold:
            same_as_next = ~new_group[1:]
            self.all_pairs = np.stack([face[:-1][same_as_next], face[1:][same_as_next]], axis=1)
        else:  # every shared edge has exactly two faces
            self.all_pairs = self.manifold
        # Per face: does it touch a boundary or non-manifold edge (its piece is then not closed)? Few do.
        open_starts, open_sizes = starts[sizes != 2], sizes[sizes != 2]
        within = np.arange(int(open_sizes.sum())) - np.repeat(np.cumsum(open_sizes) - open_sizes, open_sizes)
        self.face_open = np.zeros(count, dtype=bool)
        self.face_open[face[np.repeat(open_starts, open_sizes) + within]] = True

    def manifold_end(self, k: int) -> np.ndarray:
        """For each manifold edge, its lower (k=0) or higher (k=1) vertex."""
        if k == 0:
            return self._manifold_keys >> self._vertex_bits
        return self._manifold_keys & ((1 << self._vertex_bits) - 1)


def _components(count: int, pairs: np.ndarray) -> tuple[int, np.ndarray]:
    graph = coo_matrix((np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    n, labels = connected_components(graph, directed=False)
    return int(n), labels


def _debris_faces(
    p: np.ndarray,
    faces: np.ndarray,
    piece: np.ndarray,
    piece_count: int,
    options: RepairOptions,
    diagonal: float,
    asset_triangles: int,
) -> np.ndarray | None:
    sizes = np.bincount(piece, minlength=piece_count)
    small = sizes < options.debris_fraction * asset_triangles
    small[np.argmax(sizes)] = False  # never the main surface
    if not small.any():
        return None
    candidate = np.flatnonzero(small[piece])  # extents only for the few faces in small pieces
    corner_piece = np.repeat(piece[candidate], 3)
    corners = p[faces[candidate].ravel()]
    lo = np.full((piece_count, 3), np.inf)
    hi = np.full((piece_count, 3), -np.inf)
    np.minimum.at(lo, corner_piece, corners)
    np.maximum.at(hi, corner_piece, corners)
    extent = np.linalg.norm(hi - lo, axis=1)
    debris = small & (extent < options.debris_extent * diagonal)
    if not debris.any():
        return None
    return debris[piece]


def _orient(
    p: np.ndarray,
    faces: np.ndarray,
    cross: np.ndarray,
    edges: _EdgeTable,
    normals: np.ndarray | None,
    known_pieces: tuple[int, np.ndarray] | None,
) -> tuple[np.ndarray, int, int]:
    """Which faces to flip so that each piece (connected through manifold edges) is consistently wound and
    faces outward. Returns (flip mask, pieces, pieces turned outward). `known_pieces` (count, label per face)
    are the pieces through manifold edges when the caller already has them.

    Consistency is a two-colouring: on the "orientation double cover" (face f as f+ kept / f- flipped), a
    consistent pair links f+~g+ and f-~g-, an inconsistent one f+~g- and f-~g+; f+ lands in the same
    component as its piece's first face's + copy exactly when it keeps its winding."""
    count = len(faces)
    pairs, consistent = edges.manifold, edges.consistent
    if consistent.all():  # the usual case: already consistent, only the pieces are needed
        piece_count, piece = known_pieces if known_pieces is not None else _components(count, pairs)
        pieces = np.arange(piece_count)
        flip = np.zeros(count, dtype=bool)
    else:
        f, g = pairs[:, 0], pairs[:, 1]
        g_same = np.where(consistent, g, g + count)
        g_other = np.where(consistent, g + count, g)
        cover = np.concatenate([np.stack([f, g_same], axis=1), np.stack([f + count, g_other], axis=1)])
        _, label = _components(2 * count, cover)
        plus, minus = label[:count], label[count:]
        cover_piece = np.minimum(plus, minus)  # the same pair of cover components for every face of a piece
        present = np.zeros(2 * count, dtype=bool)
        present[cover_piece] = True
        piece = (np.cumsum(present) - 1)[cover_piece]  # pieces numbered 0..n-1
        pieces = np.arange(int(present.sum()))
        root = np.zeros(len(pieces), dtype=np.int64)
        root[piece[::-1]] = np.arange(count)[::-1]  # first face of each piece
        flip = plus != plus[root[piece]]

    # Keep the majority's winding, then turn the piece outward.
    flips_per_piece = np.bincount(piece, weights=flip, minlength=len(pieces))
    faces_per_piece = np.bincount(piece, minlength=len(pieces))
    flip ^= (flips_per_piece > faces_per_piece / 2)[piece]
    signed_cross = np.where(flip[:, None], -cross, cross) if flip.any() else cross
    if normals is not None and np.isfinite(normals).all():
        corner_normals = normals[faces].astype(np.float64).sum(axis=1)
        agreement = np.einsum("ij,ij->i", signed_cross, corner_normals)
        inward = np.bincount(piece, weights=agreement, minlength=len(pieces)) < 0
    else:
        # Signed volume about each piece's centroid; trusted for closed pieces, and for open ones (scans with
        # holes) only when clearly one-sided. Flat or saddle-like open sheets are left as they are.
        corner = p[faces[:, 0]]
        centroid = np.stack([np.bincount(piece, weights=corner[:, k], minlength=len(pieces)) for k in range(3)], axis=1)
        centroid /= faces_per_piece[:, None]
        # (corner - centroid) . cross, without an (F, 3) difference; one piece (the usual scan) needs no gather
        if len(pieces) == 1:
            offset = sum(signed_cross[:, k] * centroid[0, k] for k in range(3))
        else:
            offset = np.einsum("ij,ij->i", centroid[piece], signed_cross)
        volume = np.einsum("ij,ij->i", corner, signed_cross) - offset
        net = np.bincount(piece, weights=volume, minlength=len(pieces))
        gross = np.bincount(piece, weights=np.abs(volume), minlength=len(pieces))
        closed = np.bincount(piece, weights=edges.face_open, minlength=len(pieces)) == 0
        inward = (net < 0) & (closed | (-net > 0.2 * gross))
    flip ^= inward[piece]
    return flip, len(pieces), int(inward.sum())


def compute_normals(prim: Primitive, crease_angle: float) -> Primitive:
    """Area-weighted normals for a clean indexed triangle primitive (as repair leaves it), hard at edges sharper
    than `crease_angle` (vertices there are split); returns the primitive with `normals_crease_angle` set.

    Used again after simplification: normals that were computed, not authored, should follow the surface the
    viewer sees."""
    if prim.triangle_count == 0:
        return prim
    faces = prim.indices.astype(np.int64)
    topo_of_vertex, _ = vertex_remap(np.ascontiguousarray(prim.positions, dtype=np.float32), None)
    topo = topo_of_vertex[faces]
    cross = _face_cross(prim.positions.astype(np.float64), faces)
    prim = _creased_normals(prim, topo, topo_of_vertex, cross, _EdgeTable(topo), crease_angle)
    prim.normals_crease_angle = crease_angle
    return prim


def _creased_normals(
    prim: Primitive, topo: np.ndarray, topo_of_vertex: np.ndarray, cross: np.ndarray, edges: _EdgeTable, crease_angle: float
) -> Primitive:
    """Area-weighted normals for a whole primitive that keep hard edges hard.

    Smooth across UV seams (faces are joined through positions), but at an edge whose faces meet at more than
    `crease_angle` the shading breaks: glTF clients draw flat normals for meshes without any, so hard edges are
    what the source looked like. Only corners at positions touching a sharp edge are grouped into smooth fans
    (two faces sharing a non-sharp manifold edge join their corners at both ends of it); a vertex whose corners
    fall into several fans is split, one copy per fan. Everywhere else a position is one fan."""
    slots = int(topo_of_vertex.max()) + 1
    f, g = edges.manifold[:, 0], edges.manifold[:, 1]
    length = np.sqrt(np.einsum("ij,ij->i", cross, cross))
    unit = (cross / np.maximum(length, 1e-300)[:, None]).T.astype(np.float32)  # per axis: contiguous gathers
    sharp = unit[0][f] * unit[0][g] + unit[1][f] * unit[1][g] + unit[2][f] * unit[2][g] < np.cos(np.radians(crease_angle))
    fan = topo  # per face corner: the smooth fan its normal comes from
    hot = np.zeros(0, dtype=np.int64)  # flat corner numbers (3 x face + corner) at positions on a crease
    if sharp.any():
        at_crease = np.zeros(slots, dtype=bool)
        at_crease[edges.manifold_end(0)[sharp]] = True
        at_crease[edges.manifold_end(1)[sharp]] = True
        hot = np.flatnonzero(at_crease[topo.ravel()])
        links = []
        for k in range(2):
            end = edges.manifold_end(k)
            chosen = ~sharp & at_crease[end]
            ff, gg, vv = f[chosen], g[chosen], end[chosen]
            corner_f = 3 * ff + np.argmax(topo[ff] == vv[:, None], axis=1)
            corner_g = 3 * gg + np.argmax(topo[gg] == vv[:, None], axis=1)
            links.append(np.stack([np.searchsorted(hot, corner_f), np.searchsorted(hot, corner_g)], axis=1))
        _, label = _components(len(hot), np.concatenate(links))
        fan = topo.copy()
        fan.ravel()[hot] = slots + label
    fans = int(fan.max()) + 1
    summed = _sum_per_slot(fan, cross, fans)
    norm = np.sqrt(np.einsum("ij,ij->i", summed, summed))[:, None]
    fan_normal = np.divide(summed, norm, out=np.tile([0.0, 1.0, 0.0], (fans, 1)), where=norm > 0).astype(np.float32)
    if len(hot) == 0:
        prim.normals = fan_normal[topo_of_vertex]
        return prim

    # Split: every (vertex, fan) at a crease becomes its own vertex; the originals there fall out unused.
    vertex = prim.indices.astype(np.int64).ravel()
    hot_fan = fan.ravel()[hot]
    _, first, new_index = np.unique(vertex[hot] * fans + hot_fan, return_index=True, return_inverse=True)
    count = prim.vertex_count
    vertex[hot] = count + new_index.ravel()  # now each corner's vertex after the split
    used = np.zeros(count + len(first), dtype=bool)
    used[vertex] = True
    keep = np.flatnonzero(used)
    source = np.concatenate([np.arange(count), prim.indices.ravel()[hot[first]]])[keep]
    out = prim.take_vertices(source)
    out.normals = np.concatenate([fan_normal[topo_of_vertex], fan_normal[hot_fan[first]]])[keep]
    renumber = np.full(len(used), -1, dtype=np.int64)
    renumber[keep] = np.arange(len(keep))
    out.indices = renumber[vertex].reshape(-1, 3).astype(np.uint32)
    return out


def _sum_per_slot(slot_of_corner: np.ndarray, per_face: np.ndarray, slots: int) -> np.ndarray:
    """(slots, 3): for every slot the sum of `per_face` over the face corners (F, 3) that name it."""
    columns = [np.ascontiguousarray(slot_of_corner[:, j]) for j in range(3)]
    out = np.empty((slots, 3))
    for k in range(3):
        weights = np.ascontiguousarray(per_face[:, k])
        out[:, k] = sum(np.bincount(column, weights=weights, minlength=slots) for column in columns)
    return out


def _repair_normals(prim: Primitive, cross: np.ndarray, topo_of_vertex: np.ndarray) -> int:
    """Replace NaN or zero-length normals by area-weighted smooth ones; returns how many were replaced."""
    n = np.nan_to_num(prim.normals)
    need = ~np.isfinite(prim.normals).all(axis=1) | (np.einsum("ij,ij->i", n, n) < 1e-12)
    if not need.any():
        return 0
    slots = int(topo_of_vertex.max()) + 1
    corner_slot = topo_of_vertex[prim.indices.astype(np.int64)].ravel()
    corner_cross = np.repeat(cross, 3, axis=0)
    summed = np.stack([np.bincount(corner_slot, weights=corner_cross[:, k], minlength=slots) for k in range(3)], axis=1)
    length = np.linalg.norm(summed, axis=1, keepdims=True)
    unit = np.divide(summed, length, out=np.tile([0.0, 1.0, 0.0], (slots, 1)), where=length > 0)
    prim.normals = prim.normals.copy()
    prim.normals[need] = unit[topo_of_vertex[need]]
    return int(need.sum())


# ---- points ------------------------------------------------------------------------------------


def _repair_points(prim: Primitive, totals: dict[str, int]) -> Primitive | None:
    finite = np.isfinite(prim.positions).all(axis=1)
    prim = prim.take_vertices(np.flatnonzero(finite))
    arrays = [np.asarray(a, dtype=np.float32).reshape(len(prim.positions), -1) for a in prim.attribute_arrays().values()]
    key = np.ascontiguousarray(np.concatenate(arrays, axis=1)) if arrays else np.zeros((0, 1), np.float32)
    if len(key):
        remap, _ = vertex_remap(key, None)
        # New ids are handed out in order of first occurrence: a first occurrence exceeds every earlier id.
        running = np.maximum.accumulate(remap)
        first = np.concatenate([[True], remap[1:] > running[:-1]])
        prim = prim.take_vertices(np.flatnonzero(first))
    totals["points_removed"] += int((~finite).sum()) + (len(key) - prim.vertex_count)
    return prim if prim.vertex_count else None


# ---- asset helpers -----------------------------------------------------------------------------


def _finite_bounds(asset: Asset) -> np.ndarray:
    """World bounds of finite positions (NaN vertices are reported per primitive, not here); the local box's
    corners are transformed, which can only over-estimate a rotated box - fine for a tolerance."""
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for _, mesh, world in asset.mesh_instances():
        for prim in mesh.primitives:
            p = prim.positions
            finite = np.isfinite(p).all(axis=1)
            if not finite.all():
                p = p[finite]
            if len(p):
                box = np.array([[p[:, k].min() for k in range(3)], [p[:, k].max() for k in range(3)]], dtype=np.float64)
                corners = np.array([[box[i, 0], box[j, 1], box[k, 2]] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
                corners = corners @ world[:3, :3].T + world[:3, 3]
                lo, hi = np.minimum(lo, corners.min(axis=0)), np.maximum(hi, corners.max(axis=0))
    return np.stack([lo, hi]) if np.isfinite(lo).all() else np.zeros((2, 3))


def drop_empty_meshes(asset: Asset) -> None:
    """Primitives left without triangles (or points) are removed; meshes left without primitives are removed and the nodes drawing them draw nothing."""
    for mesh in asset.meshes:
        mesh.primitives = [p for p in mesh.primitives if p.triangle_count or (p.mode == "points" and p.vertex_count)]
    keep = [i for i, m in enumerate(asset.meshes) if m.primitives]
    if len(keep) == len(asset.meshes):
        return
    new_index = {old: new for new, old in enumerate(keep)}
    for node in asset.nodes:
        if node.mesh is not None:
            node.mesh = new_index.get(node.mesh)
    asset.meshes = [asset.meshes[i] for i in keep]
