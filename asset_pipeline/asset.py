"""The working model every stage reads and writes: a small glTF-shaped scene held as numpy arrays.

Readers turn any input format into an `Asset`; stages change it in memory; writers (GLB, USDZ, poster)
turn it into bytes. It is deliberately close to glTF 2.0 so that what glTF can say (node names and
hierarchy, PBR materials with their extensions, KHR_materials_variants, lights) survives every stage
without a translation layer, while geometry is plain arrays that numpy, meshoptimizer and open3d use directly.

Conventions:
- Geometry is triangle lists (`Primitive.indices` shape (M, 3)) or point clouds (`mode == "points"`,
  `indices is None`); positions float32 in the node's local space.
- Vertex colours are linear RGBA float32 in [0, 1] (glTF COLOR_0 semantics).
- Material JSON is glTF material JSON verbatim; every texture reference (`{"index": i, ...}`, also inside
  extensions) indexes `Asset.textures`, which bundle an image with its sampler.
- Units: `Asset.unit_scale` is metres per file unit when known (None = not stated by the file); after the
  normalize stage the asset is in metres, +Y up, front +Z, origin at the bottom centre
  (try-on items: their category's anchor, asset_pipeline/tryon.py).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

IDENTITY = np.eye(4, dtype=np.float64)


@dataclass
class Texture:
    """One image with its sampler. `data` is the encoded image; `fallback` an optional second encoding
    (PNG/JPEG) written as the core `source` when `data` is WebP (EXT_texture_webp)."""

    data: bytes
    mime_type: str  # image/png | image/jpeg | image/webp
    name: str = ""
    sampler: dict[str, Any] | None = None
    fallback: bytes | None = None
    fallback_mime_type: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Primitive:
    positions: np.ndarray  # (N, 3) float32
    indices: np.ndarray | None = None  # (M, 3) uint32; None for point clouds
    normals: np.ndarray | None = None  # (N, 3) float32
    tangents: np.ndarray | None = None  # (N, 4) float32
    uvs: list[np.ndarray] = field(default_factory=list)  # TEXCOORD_n, each (N, 2) float32
    colors: np.ndarray | None = None  # (N, 4) float32 linear
    material: int | None = None
    # KHR_materials_variants mappings, glTF-shaped: [{"material": m, "variants": [v, ...]}, ...]
    variant_mappings: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "triangles"  # "triangles" | "points"
    extras: dict[str, Any] = field(default_factory=dict)
    # Set when `normals` were computed (by repair) rather than read from the file: the crease angle in degrees they
    # were computed with. The simplifier then leaves them out and computes them again on the simplified surface.
    normals_crease_angle: float | None = None

    @property
    def vertex_count(self) -> int:
        return int(len(self.positions))

    @property
    def triangle_count(self) -> int:
        return 0 if self.indices is None else int(len(self.indices))

    def attribute_arrays(self) -> dict[str, np.ndarray]:
        """Per-vertex arrays by glTF attribute name (those present)."""
        out: dict[str, np.ndarray] = {"POSITION": self.positions}
        if self.normals is not None:
            out["NORMAL"] = self.normals
        if self.tangents is not None:
            out["TANGENT"] = self.tangents
        for i, uv in enumerate(self.uvs):
            out[f"TEXCOORD_{i}"] = uv
        if self.colors is not None:
            out["COLOR_0"] = self.colors
        return out

    def take_vertices(self, keep: np.ndarray) -> "Primitive":
        """A copy holding only vertices `keep` (an index array, in the new order); indices must already
        refer to the new numbering (callers remap them)."""
        out = copy.copy(self)
        out.positions = self.positions[keep]
        out.normals = None if self.normals is None else self.normals[keep]
        out.tangents = None if self.tangents is None else self.tangents[keep]
        out.uvs = [uv[keep] for uv in self.uvs]
        out.colors = None if self.colors is None else self.colors[keep]
        return out


@dataclass
class Mesh:
    name: str
    primitives: list[Primitive]
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Node:
    name: str
    matrix: np.ndarray = field(default_factory=lambda: IDENTITY.copy())  # local 4x4, column vectors
    mesh: int | None = None
    children: list[int] = field(default_factory=list)
    extensions: dict[str, Any] = field(default_factory=dict)  # e.g. KHR_lights_punctual {"light": i}
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Provenance:
    filename: str
    sha256: str
    size_bytes: int
    format: str  # obj | ply | stl | gltf | glb | zip:<inner format>
    notes: list[str] = field(default_factory=list)  # what the reader dropped or assumed


@dataclass
class Asset:
    nodes: list[Node] = field(default_factory=list)
    meshes: list[Mesh] = field(default_factory=list)
    materials: list[dict[str, Any]] = field(default_factory=list)
    textures: list[Texture] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)  # scene root node indices
    variants: list[str] = field(default_factory=list)  # KHR_materials_variants names
    # Root-level glTF extensions carried verbatim (e.g. KHR_lights_punctual's lights); the writer
    # regenerates KHR_materials_variants from `variants`, so it is not kept here.
    extensions: dict[str, Any] = field(default_factory=dict)
    unit_scale: float | None = None  # metres per file unit, when the file states it
    up_axis: str | None = None  # "+Y", "+Z", ... when the file states it
    provenance: Provenance | None = None
    # How the GLB writer encodes geometry, decided by the compress stage (None = plain float arrays):
    # {"method": "meshopt"|"draco"|"none", "quantize": bool, "position_bits": 14, "normal_bits": 10,
    #  "uv_bits": 12, "color_bits": 8}
    encoding: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    # ---- traversal -------------------------------------------------------------------------
    def walk(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (node index, world matrix) for every node reachable from the roots, parents first."""
        stack = [(r, IDENTITY) for r in reversed(self.roots)]
        seen: set[int] = set()
        while stack:
            index, parent = stack.pop()
            if index in seen:  # a cycle in a hostile file; readers reject these, stay safe anyway
                continue
            seen.add(index)
            node = self.nodes[index]
            world = parent @ node.matrix
            yield index, world
            for child in reversed(node.children):
                stack.append((child, world))

    def mesh_instances(self) -> Iterator[tuple[int, Mesh, np.ndarray]]:
        """(node index, mesh, world matrix) for every node that draws a mesh."""
        for index, world in self.walk():
            node = self.nodes[index]
            if node.mesh is not None:
                yield index, self.meshes[node.mesh], world

    def mesh_world_scales(self) -> dict[int, float]:
        """Mesh index -> the largest scale it is drawn at (largest singular value over its instances'
        world matrices), to turn a world-space tolerance into the mesh's local units."""
        scales: dict[int, float] = {}
        for index, world in self.walk():
            mesh = self.nodes[index].mesh
            if mesh is not None:
                s = float(np.linalg.svd(world[:3, :3], compute_uv=False)[0]) or 1.0
                scales[mesh] = max(scales.get(mesh, 0.0), s)
        return scales

    def primitives(self) -> Iterator[Primitive]:
        for mesh in self.meshes:
            yield from mesh.primitives

    # ---- measures ---------------------------------------------------------------------------
    @property
    def triangle_count(self) -> int:
        """Triangles drawn (instances counted once per instance, as a renderer sees them)."""
        return sum(p.triangle_count for _, mesh, _ in self.mesh_instances() for p in mesh.primitives)

    @property
    def vertex_count(self) -> int:
        return sum(p.vertex_count for _, mesh, _ in self.mesh_instances() for p in mesh.primitives)

    @property
    def draw_calls(self) -> int:
        return sum(len(mesh.primitives) for _, mesh, _ in self.mesh_instances())

    @property
    def is_point_cloud(self) -> bool:
        prims = list(self.primitives())
        return bool(prims) and all(p.mode == "points" for p in prims)

    def world_geometry(self, include_points: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """All drawn triangles in world space as one (vertices float64 (N,3), faces int64 (M,3)) pair.

        Used by measurements (bounds, geometric error, posters); never written back."""
        verts, faces, offset = [], [], 0
        for _, mesh, world in self.mesh_instances():
            for prim in mesh.primitives:
                if prim.mode != "triangles" and not include_points:
                    continue
                p = prim.positions.astype(np.float64)
                if not np.array_equal(world, IDENTITY):  # after normalize the common case is the identity
                    p = p @ world[:3, :3].T + world[:3, 3]
                verts.append(p)
                if prim.indices is not None:
                    faces.append(prim.indices.astype(np.int64) + offset)
                offset += len(p)
        if not verts:
            return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
        return np.concatenate(verts), (np.concatenate(faces) if faces else np.zeros((0, 3), dtype=np.int64))

    def bounds(self) -> np.ndarray:
        """World-space axis-aligned bounds [[minx,miny,minz],[maxx,maxy,maxz]] of everything drawn
        (points included)."""
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for _, mesh, world in self.mesh_instances():
            for prim in mesh.primitives:
                if len(prim.positions) == 0:
                    continue
                if np.array_equal(world, IDENTITY):  # the common case after normalize: no copy of the vertices
                    p = prim.positions
                else:
                    p = prim.positions.astype(np.float64) @ world[:3, :3].T + world[:3, 3]
                # Column by column: ~10x faster than a reduction along axis 0 of an (N, 3) array.
                lo = np.minimum(lo, [float(p[:, k].min()) for k in range(3)])
                hi = np.maximum(hi, [float(p[:, k].max()) for k in range(3)])
        if not np.isfinite(lo).all():
            return np.zeros((2, 3))
        return np.stack([lo, hi])

    def dimensions(self) -> np.ndarray:
        """World-space bounding-box size (x, y, z) in the asset's current unit."""
        b = self.bounds()
        return b[1] - b[0]

    def copy(self) -> "Asset":
        return copy.deepcopy(self)


def single_mesh_asset(
    positions: np.ndarray,
    indices: np.ndarray | None,
    *,
    name: str = "mesh",
    material: dict[str, Any] | None = None,
    **attributes: Any,
) -> Asset:
    """An asset with one node drawing one primitive: what OBJ/PLY/STL readers and tests start from.

    `attributes` are passed to `Primitive` (normals=, uvs=, colors=, mode=)."""
    prim = Primitive(
        positions=np.ascontiguousarray(positions, dtype=np.float32),
        indices=None if indices is None else np.ascontiguousarray(indices, dtype=np.uint32).reshape(-1, 3),
        **attributes,
    )
    asset = Asset(
        nodes=[Node(name=name, mesh=0)],
        meshes=[Mesh(name=name, primitives=[prim])],
        roots=[0],
    )
    if material is not None:
        asset.materials.append(material)
        prim.material = 0
    return asset


def texture_refs(material: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every textureInfo dict inside a glTF material JSON (core and extensions), so stages that
    renumber, merge or drop textures can rewrite their `index`."""
    stack: list[Any] = [material]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "index" in item and isinstance(item.get("index"), int) and item is not material:
                yield item
            stack.extend(v for k, v in item.items() if k != "extras")
        elif isinstance(item, list):
            stack.extend(item)
